/* events.h — the in-process event hub behind GET /api/v1/runs/{id}/events (Server-Sent Events).
 *
 * Per run, an ordered log of the events published since the process started (status changes,
 * finished epochs, done), each with a sequence number, and a list of subscribers that are woken
 * (a callback, within microseconds of the publish) when something is appended. A subscriber
 * then fetches the events after the last one it sent. The log keeps the last EVENTS_KEEP events
 * of a run; a subscriber that fell further behind is told so (a gap) and re-reads the store.
 *
 * Sequence numbers are derived from stored data only, so that a replay from the store (a new
 * stream, a reconnect with Last-Event-ID, a restarted daemon) and a live event agree:
 *   1          status "queued"   (every run)
 *   2          status "running"  (once started)
 *   2 + k      epoch k           (k = 1 .. E, E = the run's completed epochs)
 *   3 + E      the final status  ("succeeded", "failed" or "cancelled")
 *   4 + E      done
 * Numbers increase along a run's history but may skip (a run cancelled while queued goes 1, 3,
 * 4).
 *
 * Publishers: each event is published by the module that made its store write (see
 * server/runsvc.h): runsvc publishes "queued" (and "failed" when a run could not be queued);
 * jobs publishes "running", every epoch and every final state, the "cancelled" of a cancel it
 * records included. Handlers publish nothing. The hub still drops a publish whose number is not
 * above the last one it holds for that run, because events_publish_status renders the state the
 * store has at publish time, not the one its caller wrote: a cancel that lands between a
 * worker's write and its publish makes both publishers see the same final state. The filter
 * keeps each run's log strictly increasing, which events_fetch's "seq > after" cursor needs.
 *
 * Event data is built here, by one function for the live and the replayed case:
 * status {"id":"run_7","status":"running"}, epoch {"epoch":3,"train_loss":0.41,...} (the
 * metrics present, as JSON numbers). done carries no data in the hub: the stream renders the
 * final run object from the store.
 *
 * Owns: the per-run logs, the subscriber records and one ticker thread that wakes every
 * subscriber each keepalive period (for the ": keepalive" comment). Borrows: the store.
 * Threading: every function may be called from any thread. Wake callbacks run on the
 * publishing (or ticker) thread with the hub's lock held: they must be short, must not call
 * back into the hub, and may take only locks that are never held while calling into the hub. */
#ifndef EVENTS_H
#define EVENTS_H

#include "mlp.h"
#include "store.h"

#include <stddef.h>

#define EVENTS_KEEP 256 /* events kept per run for live subscribers */

typedef struct events events;
typedef struct events_sub events_sub;

typedef enum { EV_STATUS = 0, EV_EPOCH, EV_DONE } ev_kind;

typedef struct {
    long seq;
    ev_kind kind;
    char *data; /* owned; JSON text ("" for done) */
} ev_item;

/* Why a subscriber is woken. */
enum { EV_WAKE_EVENT = 1, EV_WAKE_KEEPALIVE = 2, EV_WAKE_CLOSE = 4 };
typedef void (*events_wake_fn)(void *ctx, int why);

/* Starts a hub; keepalive_s > 0 is the period of EV_WAKE_KEEPALIVE wakes. *out new. */
mlp_err events_new(int keepalive_s, events **out);
/* Wakes every subscriber with EV_WAKE_CLOSE, refuses new subscribers, and waits up to
 * timeout_ms for them to unsubscribe. NULL-tolerant. */
void events_close(events *h, int timeout_ms);
/* Stops the ticker and frees everything; subscribers must be gone. NULL-tolerant. */
void events_free(events *h);

/* Publishes the status event of run_id's current state as the store has it: queued (seq 1),
 * running (2), or a final state (3 + E) followed by done (4 + E). Call after the store write.
 * NULL-tolerant (h); errors reading the store are ignored: a stream re-reads the store anyway. */
void events_publish_status(events *h, store *st, const char *run_id);
/* Publishes epoch `epoch` (its metrics already stored). NULL-tolerant (h). */
void events_publish_epoch(events *h, const char *run_id, int epoch, const run_metrics *m);

/* The one rendering of run metrics as JSON, for every path that shows them (the SSE epoch
 * event, the run object of GET /api/v1/runs/{id} and its list, the done event): the present,
 * finite metrics in metric id order, each in the fewest significant digits (15, 16 or 17) that
 * read back to the same double, as Python's repr and JavaScript print them. Metric values are
 * doubles (run_metrics, the store's REAL), so every path shows the same digits for the same
 * value, and 0.41 prints as 0.41, not 0.41000000000000003. Writes {"train_loss":0.41,...}
 * ("{}" when none) into buf, NUL-terminated; returns its length, or 0 when it does not fit. */
size_t events_metrics_json(char *buf, size_t cap, const run_metrics *m);
/* Room for any events_metrics_json or events_epoch_json output: every fixed and per-layer
 * metric of RUN_LAYERS layers at 17 significant digits. */
#define EVENTS_METRICS_JSON_MAX 8192
/* One metric value as events_metrics_json prints it (shortest round trip; finite v), for the
 * paths that list single values (GET /api/v1/runs/{id}/metrics). Same contract. */
size_t events_metric_number(char *buf, size_t cap, double v);
/* Formats the data of an epoch event, {"epoch":3, then the members of events_metrics_json},
 * into buf (NUL-terminated); returns its length, or 0 when it does not fit. */
size_t events_epoch_json(char *buf, size_t cap, int epoch, const run_metrics *m);
/* Formats the data of a status event. Same contract. */
size_t events_status_json(char *buf, size_t cap, const char *run_id, run_state st);
/* Sequence numbers of the scheme above. */
long events_seq_epoch(int epoch);
long events_seq_final(int epochs_done);
long events_seq_done(int epochs_done);
const char *events_kind_name(ev_kind k); /* "status", "epoch", "done" */

/* Subscribes to run_id: wake(ctx, why) is called on each publish to it, each keepalive period
 * and at close. MLP_EBUSY after events_close. *out new (events_unsubscribe frees it). */
mlp_err events_subscribe(events *h, const char *run_id, events_wake_fn wake, void *ctx,
                         events_sub **out);
/* After it returns, wake is never called again for sub. NULL-tolerant. */
void events_unsubscribe(events *h, events_sub *sub);
/* Copies up to max events with seq > after into items (each data new; free with
 * events_items_clear) and returns how many. *gap is set to 1 when events after `after` may
 * have been trimmed from the log (the caller must re-read the store), else 0. */
int events_fetch(events *h, events_sub *sub, long after, ev_item *items, int max, int *gap);
void events_items_clear(ev_item *items, int n);
/* 1 once events_close has run. */
int events_closing(events *h);

#endif
