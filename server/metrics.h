/* metrics.h — Prometheus metrics (text exposition format 0.0.4) for GET /metrics: HTTP requests
 * by route pattern, method and status code, a request duration histogram by route, inference
 * requests and instances by model, training epochs, and gauges read at scrape time (runs by
 * state, queue depth, models loaded, resident memory, open connections).
 *
 * Owns: process-wide counters (static storage; nothing to create or free).
 * Threading: every update is one or a few relaxed atomic additions, lock-free, callable from any
 * thread; the inference table claims a slot per (model, version) with a compare-and-swap.
 * metrics_render may run concurrently with updates (it reads each counter once). */
#ifndef METRICS_H
#define METRICS_H

#include "jobs.h"
#include "registry.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* Counts one answered request. route_idx indexes route_table (-1 when no route matched; then
 * method buckets it). status is the HTTP status, us the time from headers to the response being
 * queued. */
void metrics_request(int route_idx, const char *method, int status, uint64_t us);
/* Counts one inference request of `instances` rows on (model, version). */
void metrics_inference(const char *model, int version, long instances);
/* Counts one finished training epoch. */
void metrics_epoch(void);
/* Open connections: +1 when one opens, -1 when it closes. */
void metrics_connection(int delta);

/* The whole exposition (new, free(); NUL-terminated, *len bytes). Reads runs by state from the
 * store, the queue depth and the loaded models; each source may be NULL (its metric is left
 * out). NULL when out of memory. */
char *metrics_render(store *st, jobs *jb, registry *reg, size_t *len);

#endif
