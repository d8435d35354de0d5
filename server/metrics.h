/* metrics.h — Prometheus metrics (text exposition format 0.0.4) for GET /metrics: HTTP requests
 * by route pattern, method and status code, a request duration histogram by route, inference
 * requests and instances by model, the batcher's forward passes and rows, training epochs, open
 * connections and resident memory.
 *
 * A leaf: the counters know no service. Route labels come from the route table handed to
 * metrics_init; the gauges of the services (runs by state, queue depth, models loaded) are read
 * by the caller at scrape time (api/prom.c) and handed to metrics_render as numbers.
 *
 * Owns: process-wide counters (static storage; nothing to create or free).
 * Threading: metrics_init runs once, before any other call from another thread (main.c, before
 * http_start). Every update is one or a few relaxed atomic additions, lock-free, callable from
 * any thread; the inference table claims a slot per (model, version) with a compare-and-swap.
 * metrics_render may run concurrently with updates (it reads each counter once). */
#ifndef METRICS_H
#define METRICS_H

#include "router.h"

#include <stddef.h>
#include <stdint.h>

/* Most routes a table handed to metrics_init may have. */
#define METRICS_MAX_ROUTES 256

/* One labelled gauge value: the label value is borrowed for the metrics_render call. */
typedef struct {
    const char *label; /* e.g. a run state name, "queued" */
    long value;
} metrics_value;

/* The gauges the services know, filled by the caller at scrape time. */
typedef struct {
    /* mlpd_runs{state=label}, in this order; runs == NULL leaves the metric out. */
    const metrics_value *runs;
    size_t n_runs;
    int queue_depth;   /* mlpd_run_queue_depth; < 0 leaves it out */
    int models_loaded; /* mlpd_models_loaded; < 0 leaves it out */
} metrics_gauges;

/* Names the request rows: route_idx of metrics_request indexes table, whose pattern and method
 * label its series. table is borrowed for the life of the process; n <= METRICS_MAX_ROUTES.
 * Until it is called every request counts as unmatched. */
void metrics_init(const route *table, size_t n);
/* Counts one answered request. route_idx indexes the metrics_init table (-1 when no route
 * matched; then method buckets it). status is the HTTP status, us the time from headers to the
 * response being queued. */
void metrics_request(int route_idx, const char *method, int status, uint64_t us);
/* Counts one inference request of `instances` rows on (model, version). */
void metrics_inference(const char *model, int version, long instances);
/* Counts one batched forward pass of `rows` rows (server/batcher.h). */
void metrics_batch(long rows);
/* Counts one finished training epoch. */
void metrics_epoch(void);
/* Open connections: +1 when one opens, -1 when it closes. */
void metrics_connection(int delta);

/* The whole exposition (new, free(); NUL-terminated, *len bytes): the counters, the gauges of g
 * (borrowed; NULL = none of them), resident memory and open connections. NULL when out of
 * memory. */
char *metrics_render(const metrics_gauges *g, size_t *len);

#endif
