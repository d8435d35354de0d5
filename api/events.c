/* events.c — GET /api/v1/runs/{id}/events: a run's history and live progress as Server-Sent
 * Events (event: status | epoch | done, id: the sequence number of server/events.h).
 *
 * A stream subscribes to the hub first, then replays the run from the store after the client's
 * Last-Event-ID (header, or ?last_event_id=), then sends the hub's events with a higher number:
 * an event stored before the subscription is in the replay, one published after it is in the
 * hub, and the sequence numbers (derived from stored data) drop what both hold. A finished run's
 * stream ends after done. When the hub has nothing new the connection is suspended (no thread,
 * no polling) until a publish, a keepalive tick (": keepalive" comment) or shutdown wakes it.
 *
 * Threading: sse_read runs on the connection's MHD thread, sse_wake on publishing threads.
 * `mu` guards only `suspended` and `wake`; sse_read never holds it while calling the hub, and
 * the hub calls sse_wake with its own lock held, so the lock order is always hub -> stream. */
#include "events.h"
#include "handlers.h"
#include "runs.h"
#include "problem.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_MAX 64

typedef struct {
    pthread_mutex_t mu;
    int suspended; /* under mu: http_suspend was called and no resume yet */
    int wake;      /* under mu: EV_WAKE_* bits not yet handled */
    struct MHD_Connection *conn;
    app *app;
    events_sub *sub;
    char run_id[24];
    long cursor;     /* the last sequence number sent */
    int need_replay; /* read the store after cursor before using the hub */
    int ended;       /* done sent (or the stream must stop): END once `out` drains */
    char *out;       /* bytes not yet handed to MHD: out[off, len) */
    size_t off, len, cap;
} sse_stream;

static int out_add(sse_stream *s, const char *data, size_t n)
{
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n) cap *= 2;
        char *b = realloc(s->out, cap);
        if (!b) return -1;
        s->out = b;
        s->cap = cap;
    }
    memcpy(s->out + s->len, data, n);
    s->len += n;
    return 0;
}

/* Appends one event frame when seq is new. -1 on out of memory. */
static int frame(sse_stream *s, long seq, ev_kind kind, const char *data)
{
    if (seq <= s->cursor) return 0;
    char head[96];
    int n = snprintf(head, sizeof head, "id: %ld\nevent: %s\ndata: ", seq, events_kind_name(kind));
    if (out_add(s, head, (size_t)n) || out_add(s, data, strlen(data)) || out_add(s, "\n\n", 2))
        return -1;
    s->cursor = seq;
    if (kind == EV_DONE) s->ended = 1;
    return 0;
}

/* The done frame: the final run object, from the store. */
static int frame_done(sse_stream *s, long seq, const store_run *known)
{
    if (seq <= s->cursor) return 0;
    store_run r;
    memset(&r, 0, sizeof r);
    const store_run *use = known;
    if (!use) {
        if (store_run_get(s->app->store, s->run_id, &r) != MLP_OK) return -1;
        use = &r;
    }
    char *txt = run_json(use); /* as GET /api/v1/runs/{id} answers it */
    store_run_clear(&r);
    int rc = txt ? frame(s, seq, EV_DONE, txt) : -1;
    free(txt);
    return rc;
}

/* Appends every stored event after s->cursor. -1 on a store or memory error. */
static int replay(sse_stream *s)
{
    store_run r;
    memset(&r, 0, sizeof r);
    store_metric *pts = NULL;
    int n = 0, rc = -1;
    char data[EVENTS_METRICS_JSON_MAX];
    if (store_run_get(s->app->store, s->run_id, &r) != MLP_OK) goto out;
    int finished = r.status != RUN_QUEUED && r.status != RUN_RUNNING;
    if (events_status_json(data, sizeof data, r.id, RUN_QUEUED) && frame(s, 1, EV_STATUS, data))
        goto out;
    if ((r.started_at[0] || r.status == RUN_RUNNING) &&
        events_status_json(data, sizeof data, r.id, RUN_RUNNING) && frame(s, 2, EV_STATUS, data))
        goto out;
    long after = s->cursor - 2 > 0 ? s->cursor - 2 : 0;
    if (after > r.epoch && finished) after = r.epoch;
    if (store_run_metrics(s->app->store, r.id, NULL, (int)after, &pts, &n) != MLP_OK) goto out;
    for (int i = 0; i < n;) {
        int step = pts[i].step;
        run_metrics m;
        memset(&m, 0, sizeof m);
        for (; i < n && pts[i].step == step; i++) run_metrics_set(&m, pts[i].name, pts[i].value);
        if (finished && step > r.epoch) break;
        if (!events_epoch_json(data, sizeof data, step, &m) ||
            frame(s, events_seq_epoch(step), EV_EPOCH, data))
            goto out;
    }
    if (finished) {
        if (events_status_json(data, sizeof data, r.id, r.status) &&
            frame(s, events_seq_final(r.epoch), EV_STATUS, data))
            goto out;
        if (frame_done(s, events_seq_done(r.epoch), &r)) goto out;
        s->ended = 1; /* also when the client's Last-Event-ID was past done */
    }
    rc = 0;
out:
    free(pts);
    store_run_clear(&r);
    return rc;
}

static void sse_wake(void *ctx, int why)
{
    sse_stream *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->wake |= why;
    if (s->suspended) {
        s->suspended = 0;
        http_resume(s->conn);
    }
    pthread_mutex_unlock(&s->mu);
}

static ssize_t sse_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sse_stream *s = ctx;
    events *hub = s->app->events;
    for (;;) {
        if (s->off < s->len) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(buf, s->out + s->off, n);
            s->off += n;
            return (ssize_t)n;
        }
        s->off = s->len = 0;
        if (s->ended) {
            events_unsubscribe(hub, s->sub);
            s->sub = NULL;
            return HTTP_STREAM_END;
        }
        pthread_mutex_lock(&s->mu);
        int why = s->wake;
        s->wake = 0;
        pthread_mutex_unlock(&s->mu);
        if ((why & EV_WAKE_CLOSE) || events_closing(hub)) {
            s->ended = 1; /* shutting down: the client reconnects with Last-Event-ID */
            continue;
        }
        if (s->need_replay) {
            s->need_replay = 0;
            if (replay(s) != 0) s->ended = 1;
            continue;
        }
        ev_item items[FETCH_MAX];
        int gap = 0;
        int n = events_fetch(hub, s->sub, s->cursor, items, FETCH_MAX, &gap);
        int bad = 0;
        for (int i = 0; i < n && !bad && !gap; i++)
            bad = items[i].kind == EV_DONE ? frame_done(s, items[i].seq, NULL)
                                           : frame(s, items[i].seq, items[i].kind, items[i].data);
        events_items_clear(items, n);
        if (bad) s->ended = 1;
        if (gap) { /* fell behind the hub's log: the store has everything */
            s->need_replay = 1;
            continue;
        }
        if (s->len || n == FETCH_MAX) continue;
        if (why & EV_WAKE_KEEPALIVE) {
            if (out_add(s, ": keepalive\n\n", 13)) s->ended = 1;
            continue;
        }
        pthread_mutex_lock(&s->mu);
        if (s->wake) {
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        s->suspended = 1;
        http_suspend(s->conn);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
}

static void sse_free(void *ctx)
{
    sse_stream *s = ctx;
    if (!s) return;
    events_unsubscribe(s->app->events, s->sub);
    pthread_mutex_destroy(&s->mu);
    free(s->out);
    free(s);
}

/* Parses a Last-Event-ID value: a decimal integer >= 0. */
static int parse_last_id(const char *v, long *out)
{
    if (!v) return 0;
    while (*v == ' ') v++;
    if (*v == '\0') return 0; /* an empty header means "from the start" */
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end != '\0' || x < 0) return -1;
    *out = x;
    return 0;
}

void runs_events(http_req *req, http_resp *resp)
{
    store_run r;
    if (runs_load(req, resp, &r)) return;
    long last = 0;
    const char *q = http_query(req, "last_event_id");
    const char *h = http_header(req, "Last-Event-ID");
    if (parse_last_id(q, &last) || (!q && parse_last_id(h, &last))) {
        api_failf(req, resp, 400, q ? "last_event_id" : "Last-Event-ID",
                  "%s must be a non-negative integer (the id: of the last event received)",
                  q ? "last_event_id" : "Last-Event-ID");
        store_run_clear(&r);
        return;
    }
    sse_stream *s = calloc(1, sizeof *s);
    if (!s) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        store_run_clear(&r);
        return;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->conn = req->conn;
    s->app = req->app;
    snprintf(s->run_id, sizeof s->run_id, "%s", r.id);
    store_run_clear(&r);
    s->cursor = last;
    s->need_replay = 1;
    mlp_err rc = events_subscribe(req->app->events, s->run_id, sse_wake, s, &s->sub);
    if (rc) {
        sse_free(s);
        if (rc == MLP_EBUSY) {
            api_failf(req, resp, 503, NULL, "server is shutting down");
            resp->retry_after = 5;
        } else {
            api_fail(req, resp, rc, NULL);
        }
        return;
    }
    /* Reconnect delay for EventSource clients, before the first event. */
    if (out_add(s, "retry: 2000\n\n", 13)) {
        sse_free(s);
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return;
    }
    resp->status = 200;
    resp->content_type = "text/event-stream; charset=utf-8";
    snprintf(resp->hdr_name, sizeof resp->hdr_name, "Cache-Control");
    snprintf(resp->hdr_value, sizeof resp->hdr_value, "no-cache");
    resp->stream_read = sse_read;
    resp->stream_free = sse_free;
    resp->stream_ctx = s;
}
