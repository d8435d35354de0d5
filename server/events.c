/* events.c — the event hub (see events.h): per-run logs of published events, subscribers woken
 * by callback, one ticker thread for keepalives.
 *
 * A run's record (hrun) exists while it has subscribers or has not published done; it is freed
 * when both are over. Everything is under one mutex: publishes are a few per run per epoch and
 * fetches copy a handful of short strings, so one lock is not a bottleneck at hundreds of
 * listeners (bench/RESULTS.md, "SSE listeners"). */
#include "events.h"
#include "hmutex.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct events_sub {
    struct events_sub *next;
    struct hrun *run;
    events_wake_fn wake;
    void *ctx;
};

typedef struct hrun {
    struct hrun *next;
    char id[24];
    ev_item log[EVENTS_KEEP]; /* ring */
    int head, n;
    long last_seq;     /* highest seq appended */
    long trimmed_upto; /* highest seq dropped from the ring, 0 = none */
    int done;          /* done was published */
    events_sub *subs;
    int n_subs;
} hrun;

struct events {
    hmutex mu;
    pthread_cond_t cv; /* ticker sleep; close waits for subscribers */
    hrun *runs;
    int n_subs;
    int closing, stopping;
    int keepalive_s;
    pthread_t ticker;
    int have_ticker;
};

static hrun *find_run(events *h, const char *id, int create)
{
    for (hrun *r = h->runs; r; r = r->next)
        if (strcmp(r->id, id) == 0) return r;
    if (!create) return NULL;
    hrun *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    snprintf(r->id, sizeof r->id, "%s", id);
    r->next = h->runs;
    h->runs = r;
    return r;
}

static void free_run(hrun *r)
{
    for (int i = 0; i < r->n; i++) free(r->log[(r->head + i) % EVENTS_KEEP].data);
    free(r);
}

/* Unlinks and frees r when nothing needs it any more. */
static void maybe_drop(events *h, hrun *r)
{
    if (r->n_subs > 0 || !r->done) return;
    for (hrun **p = &h->runs; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    free_run(r);
}

const char *events_kind_name(ev_kind k)
{
    return k == EV_STATUS ? "status" : k == EV_EPOCH ? "epoch" : "done";
}

long events_seq_epoch(int epoch)
{
    return 2 + (long)epoch;
}

long events_seq_final(int epochs_done)
{
    return 3 + (long)epochs_done;
}

long events_seq_done(int epochs_done)
{
    return 4 + (long)epochs_done;
}

/* Appends ,"name":value for each present finite metric of m at buf + *len. 0 when it does not
 * fit. */
static int metric_members(char *buf, size_t cap, size_t *len, const run_metrics *m)
{
    for (int k = 0; k < MET_ALL; k++) {
        double x;
        if (!run_metrics_get(m, (metric_id)k, &x) || !isfinite(x)) continue;
        int w = snprintf(buf + *len, cap - *len, ",\"%s\":", metric_name((metric_id)k));
        if (w < 0 || (size_t)w >= cap - *len) return 0;
        *len += (size_t)w;
        size_t v = events_metric_number(buf + *len, cap - *len, x);
        if (!v) return 0;
        *len += v;
    }
    return 1;
}

size_t events_metric_number(char *buf, size_t cap, double v)
{
    int w = -1;
    for (int digits = 15; digits <= 17; digits++) {
        w = snprintf(buf, cap, "%.*g", digits, v);
        if (w < 0 || (size_t)w >= cap) return 0;
        if (strtod(buf, NULL) == v) break;
    }
    return (size_t)w;
}

size_t events_metrics_json(char *buf, size_t cap, const run_metrics *m)
{
    if (cap < 3) return 0;
    size_t len = 0;
    if (!metric_members(buf, cap, &len, m) || len + 2 > cap) return 0;
    if (len == 0) len = 1; /* no members: "{}" */
    buf[0] = '{';          /* the first member's comma */
    buf[len++] = '}';
    buf[len] = '\0';
    return len;
}

size_t events_epoch_json(char *buf, size_t cap, int epoch, const run_metrics *m)
{
    int w = snprintf(buf, cap, "{\"epoch\":%d", epoch);
    if (w < 0 || (size_t)w >= cap) return 0;
    size_t len = (size_t)w;
    if (!metric_members(buf, cap, &len, m) || len + 2 > cap) return 0;
    buf[len++] = '}';
    buf[len] = '\0';
    return len;
}

size_t events_status_json(char *buf, size_t cap, const char *run_id, run_state st)
{
    int w = snprintf(buf, cap, "{\"id\":\"%s\",\"status\":\"%s\"}", run_id, run_state_name(st));
    return w < 0 || (size_t)w >= cap ? 0 : (size_t)w;
}

/* Appends (seq, kind, data) to run_id's log unless seq is not new; wakes its subscribers.
 * Caller holds h->mu. */
static void append(events *h, const char *run_id, long seq, ev_kind kind, const char *data)
{
    assert(hmutex_held(&h->mu));
    hrun *r = find_run(h, run_id, 1);
    if (!r || seq <= r->last_seq) return;
    char *d = strdup(data);
    if (!d) return; /* a stream that misses it re-reads the store at its next gap or reconnect */
    if (r->n == EVENTS_KEEP) {
        ev_item *old = &r->log[r->head];
        r->trimmed_upto = old->seq;
        free(old->data);
        r->head = (r->head + 1) % EVENTS_KEEP;
        r->n--;
    }
    ev_item *it = &r->log[(r->head + r->n) % EVENTS_KEEP];
    it->seq = seq;
    it->kind = kind;
    it->data = d;
    r->n++;
    r->last_seq = seq;
    if (kind == EV_DONE) r->done = 1;
    for (events_sub *s = r->subs; s; s = s->next) s->wake(s->ctx, EV_WAKE_EVENT);
    maybe_drop(h, r);
}

void events_publish_status(events *h, store *st, const char *run_id)
{
    if (!h) return;
    store_run r;
    memset(&r, 0, sizeof r);
    if (store_run_get(st, run_id, &r) != MLP_OK) return;
    char data[128];
    events_status_json(data, sizeof data, r.id, r.status);
    hmutex_lock(&h->mu);
    if (r.status == RUN_QUEUED) {
        append(h, r.id, 1, EV_STATUS, data);
    } else if (r.status == RUN_RUNNING) {
        append(h, r.id, 2, EV_STATUS, data);
    } else {
        append(h, r.id, events_seq_final(r.epoch), EV_STATUS, data);
        append(h, r.id, events_seq_done(r.epoch), EV_DONE, "");
    }
    hmutex_unlock(&h->mu);
    store_run_clear(&r);
}

void events_publish_epoch(events *h, const char *run_id, int epoch, const run_metrics *m)
{
    if (!h) return;
    char data[EVENTS_METRICS_JSON_MAX];
    if (!events_epoch_json(data, sizeof data, epoch, m)) return;
    hmutex_lock(&h->mu);
    append(h, run_id, events_seq_epoch(epoch), EV_EPOCH, data);
    hmutex_unlock(&h->mu);
}

mlp_err events_subscribe(events *h, const char *run_id, events_wake_fn wake, void *ctx,
                         events_sub **out)
{
    *out = NULL;
    events_sub *s = calloc(1, sizeof *s);
    if (!s) return MLP_ENOMEM;
    s->wake = wake;
    s->ctx = ctx;
    hmutex_lock(&h->mu);
    mlp_err rc = MLP_OK;
    hrun *r = h->closing ? NULL : find_run(h, run_id, 1);
    if (!r) {
        rc = h->closing ? MLP_EBUSY : MLP_ENOMEM;
    } else {
        s->run = r;
        s->next = r->subs;
        r->subs = s;
        r->n_subs++;
        h->n_subs++;
    }
    hmutex_unlock(&h->mu);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return MLP_OK;
}

void events_unsubscribe(events *h, events_sub *sub)
{
    if (!h || !sub) return;
    hmutex_lock(&h->mu);
    hrun *r = sub->run;
    for (events_sub **p = &r->subs; *p; p = &(*p)->next)
        if (*p == sub) {
            *p = sub->next;
            break;
        }
    r->n_subs--;
    h->n_subs--;
    maybe_drop(h, r);
    pthread_cond_broadcast(&h->cv);
    hmutex_unlock(&h->mu);
    free(sub);
}

int events_fetch(events *h, events_sub *sub, long after, ev_item *items, int max, int *gap)
{
    int got = 0;
    hmutex_lock(&h->mu);
    hrun *r = sub->run;
    *gap = after < r->trimmed_upto;
    for (int i = 0; i < r->n && got < max; i++) {
        const ev_item *e = &r->log[(r->head + i) % EVENTS_KEEP];
        if (e->seq <= after) continue;
        char *d = strdup(e->data);
        if (!d) {
            *gap = 1; /* let the caller fall back to the store */
            break;
        }
        items[got].seq = e->seq;
        items[got].kind = e->kind;
        items[got].data = d;
        got++;
    }
    hmutex_unlock(&h->mu);
    return got;
}

void events_items_clear(ev_item *items, int n)
{
    for (int i = 0; i < n; i++) {
        free(items[i].data);
        items[i].data = NULL;
    }
}

int events_closing(events *h)
{
    hmutex_lock(&h->mu);
    int c = h->closing;
    hmutex_unlock(&h->mu);
    return c;
}

static void wake_all(events *h, int why)
{
    for (hrun *r = h->runs; r; r = r->next)
        for (events_sub *s = r->subs; s; s = s->next) s->wake(s->ctx, why);
}

static void *ticker_main(void *arg)
{
    events *h = arg;
    hmutex_lock(&h->mu);
    struct timespec next;
    clock_gettime(CLOCK_REALTIME, &next);
    while (!h->stopping) {
        next.tv_sec += h->keepalive_s;
        int rc = 0;
        while (!h->stopping && rc != ETIMEDOUT) rc = hmutex_timedwait(&h->cv, &h->mu, &next);
        if (h->stopping) break;
        if (!h->closing) wake_all(h, EV_WAKE_KEEPALIVE);
    }
    hmutex_unlock(&h->mu);
    return NULL;
}

mlp_err events_new(int keepalive_s, events **out)
{
    *out = NULL;
    events *h = calloc(1, sizeof *h);
    if (!h) return MLP_ENOMEM;
    hmutex_init(&h->mu);
    pthread_cond_init(&h->cv, NULL);
    h->keepalive_s = keepalive_s;
    if (keepalive_s > 0) {
        if (pthread_create(&h->ticker, NULL, ticker_main, h) != 0) {
            events_free(h);
            return MLP_ENOMEM;
        }
        h->have_ticker = 1;
    }
    *out = h;
    return MLP_OK;
}

void events_close(events *h, int timeout_ms)
{
    if (!h) return;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    hmutex_lock(&h->mu);
    h->closing = 1;
    wake_all(h, EV_WAKE_CLOSE);
    int rc = 0;
    while (h->n_subs > 0 && rc != ETIMEDOUT) rc = hmutex_timedwait(&h->cv, &h->mu, &until);
    hmutex_unlock(&h->mu);
}

void events_free(events *h)
{
    if (!h) return;
    if (h->have_ticker) {
        hmutex_lock(&h->mu);
        h->stopping = 1;
        pthread_cond_broadcast(&h->cv);
        hmutex_unlock(&h->mu);
        pthread_join(h->ticker, NULL);
    }
    while (h->runs) {
        hrun *r = h->runs;
        h->runs = r->next;
        while (r->subs) { /* only when a subscriber outlived close: detach it */
            events_sub *s = r->subs;
            r->subs = s->next;
            free(s);
        }
        free_run(r);
    }
    hmutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}
