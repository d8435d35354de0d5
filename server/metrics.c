/* metrics.c — Prometheus counters and the text exposition (see metrics.h).
 *
 * Request counters are a dense [route][status] array of relaxed atomics (status 100..599, so a
 * code is counted exactly, without a lookup); the zeroed storage lives in .bss, so only the pages
 * of counters that move are ever touched. The histogram keeps per-bucket (not cumulative) counts
 * and a sum in microseconds; cumulation happens at render. Requests that matched no route are
 * counted per method under route="(unmatched)", methods outside the common ones as "OTHER", so
 * label cardinality stays bounded whatever clients send. */
#include "metrics.h"

#include "sbuf.h"

#include <assert.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ROUTES METRICS_MAX_ROUTES
static const char *const unmatched_methods[] = {"GET",  "POST",    "PUT",   "DELETE",
                                                "HEAD", "OPTIONS", "PATCH", "OTHER"};
#define N_UNMATCHED (sizeof unmatched_methods / sizeof unmatched_methods[0])
#define N_ROWS      (MAX_ROUTES + N_UNMATCHED)
#define CODE_MIN    100
#define N_CODES     500

/* Upper bounds in seconds (Prometheus default buckets, plus finer ones for fast inference). */
static const double bucket_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
#define N_BUCKETS (sizeof bucket_le / sizeof bucket_le[0])

/* The route table of metrics_init: row i < n_routes is table[i]. */
static const route *routes;
static size_t n_routes;

static atomic_uint_fast64_t req_count[N_ROWS][N_CODES];
static atomic_uint_fast64_t dur_bucket[N_ROWS][N_BUCKETS + 1]; /* last = +Inf only */
static atomic_uint_fast64_t dur_sum_us[N_ROWS];
static atomic_uint_fast64_t epochs_total;
static atomic_uint_fast64_t batches_total, batched_rows_total;
static atomic_long open_conns;

/* Inference by (model, version): open addressing, slots claimed once and never freed. */
#define INF_SLOTS 512
typedef struct {
    atomic_int state; /* 0 empty, 1 being claimed, 2 ready */
    char model[72];
    int version;
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t instances;
} inf_slot;
static inf_slot inf_table[INF_SLOTS];
static atomic_uint_fast64_t inf_overflow_requests, inf_overflow_instances;

void metrics_init(const route *table, size_t n)
{
    assert(table || n == 0);
    assert(n <= MAX_ROUTES);
    routes = table;
    n_routes = n;
}

static int row_of(int route_idx, const char *method)
{
    if (route_idx >= 0 && (size_t)route_idx < n_routes) return route_idx;
    size_t i = 0;
    for (; method && i < N_UNMATCHED - 1; i++)
        if (strcmp(method, unmatched_methods[i]) == 0) break;
    return MAX_ROUTES + (int)i;
}

void metrics_request(int route_idx, const char *method, int status, uint64_t us)
{
    int row = row_of(route_idx, method);
    int c = status - CODE_MIN;
    if (c < 0 || c >= N_CODES) c = 599 - CODE_MIN; /* nonsense status: counted as 599 */
    atomic_fetch_add_explicit(&req_count[row][c], 1, memory_order_relaxed);
    double s = (double)us * 1e-6;
    size_t b = 0;
    while (b < N_BUCKETS && s > bucket_le[b]) b++;
    atomic_fetch_add_explicit(&dur_bucket[row][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&dur_sum_us[row], us, memory_order_relaxed);
}

static uint32_t hash_key(const char *model, int version)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)model; *p; p++) h = (h ^ *p) * 16777619u;
    return (h ^ (uint32_t)version) * 16777619u;
}

void metrics_inference(const char *model, int version, long instances)
{
    if (!model) return;
    uint64_t n = instances > 0 ? (uint64_t)instances : 0;
    uint32_t h = hash_key(model, version);
    for (uint32_t probe = 0; probe < INF_SLOTS; probe++) {
        inf_slot *s = &inf_table[(h + probe) % INF_SLOTS];
        int st = atomic_load_explicit(&s->state, memory_order_acquire);
        if (st == 0) {
            int expect = 0;
            if (atomic_compare_exchange_strong(&s->state, &expect, 1)) {
                snprintf(s->model, sizeof s->model, "%s", model);
                s->version = version;
                atomic_store_explicit(&s->state, 2, memory_order_release);
                st = 2;
            } else {
                st = expect;
            }
        }
        while (st == 1) { /* another thread is writing this slot's key: a few stores away */
            sched_yield();
            st = atomic_load_explicit(&s->state, memory_order_acquire);
        }
        if (s->version == version && strncmp(s->model, model, sizeof s->model - 1) == 0) {
            atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&s->instances, n, memory_order_relaxed);
            return;
        }
    }
    atomic_fetch_add_explicit(&inf_overflow_requests, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&inf_overflow_instances, n, memory_order_relaxed);
}

void metrics_batch(long rows)
{
    atomic_fetch_add_explicit(&batches_total, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&batched_rows_total, rows > 0 ? (uint64_t)rows : 0,
                              memory_order_relaxed);
}

void metrics_epoch(void)
{
    atomic_fetch_add_explicit(&epochs_total, 1, memory_order_relaxed);
}

void metrics_connection(int delta)
{
    atomic_fetch_add_explicit(&open_conns, delta, memory_order_relaxed);
}

/* ---- rendering ---- */

/* A label value with \, " and newline escaped as the text format requires. */
static void sb_label(sbuf *b, const char *v)
{
    char tmp[256];
    size_t k = 0;
    for (; *v && k + 2 < sizeof tmp; v++) {
        if (*v == '\\' || *v == '"') {
            tmp[k++] = '\\';
            tmp[k++] = *v;
        } else if (*v == '\n') {
            tmp[k++] = '\\';
            tmp[k++] = 'n';
        } else {
            tmp[k++] = *v;
        }
    }
    tmp[k] = '\0';
    sb_printf(b, "%s", tmp);
}

static void row_labels(sbuf *b, int row, int with_method)
{
    sb_printf(b, "route=\"");
    if (row < MAX_ROUTES)
        sb_label(b, routes[row].pattern);
    else
        sb_printf(b, "(unmatched)");
    sb_printf(b, "\"");
    if (with_method)
        sb_printf(b, ",method=\"%s\"",
                  row < MAX_ROUTES ? routes[row].method : unmatched_methods[row - MAX_ROUTES]);
}

static int row_used(int row)
{
    return row < MAX_ROUTES ? (size_t)row < n_routes : 1;
}

static long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long size = 0, rss = -1;
    if (fscanf(f, "%ld %ld", &size, &rss) != 2) rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

char *metrics_render(const metrics_gauges *g, size_t *len)
{
    sbuf b = {0};

    sb_printf(&b, "# HELP mlpd_http_requests_total HTTP requests answered, by route pattern, "
                  "method and status code.\n# TYPE mlpd_http_requests_total counter\n");
    for (int row = 0; row < (int)N_ROWS; row++) {
        if (!row_used(row)) continue;
        for (int c = 0; c < N_CODES; c++) {
            uint64_t v = atomic_load_explicit(&req_count[row][c], memory_order_relaxed);
            if (!v) continue;
            sb_printf(&b, "mlpd_http_requests_total{");
            row_labels(&b, row, 1);
            sb_printf(&b, ",code=\"%d\"} %llu\n", c + CODE_MIN, (unsigned long long)v);
        }
    }

    sb_printf(&b, "# HELP mlpd_http_request_duration_seconds Time from request headers to the "
                  "response queued, by route pattern.\n"
                  "# TYPE mlpd_http_request_duration_seconds histogram\n");
    for (int row = 0; row < (int)N_ROWS; row++) {
        if (!row_used(row)) continue;
        uint64_t cnt[N_BUCKETS + 1], total = 0;
        for (size_t i = 0; i <= N_BUCKETS; i++) {
            cnt[i] = atomic_load_explicit(&dur_bucket[row][i], memory_order_relaxed);
            total += cnt[i];
        }
        if (!total) continue;
        uint64_t cum = 0;
        for (size_t i = 0; i < N_BUCKETS; i++) {
            cum += cnt[i];
            sb_printf(&b, "mlpd_http_request_duration_seconds_bucket{");
            row_labels(&b, row, 0);
            sb_printf(&b, ",le=\"%g\"} %llu\n", bucket_le[i], (unsigned long long)cum);
        }
        sb_printf(&b, "mlpd_http_request_duration_seconds_bucket{");
        row_labels(&b, row, 0);
        sb_printf(&b, ",le=\"+Inf\"} %llu\n", (unsigned long long)total);
        sb_printf(&b, "mlpd_http_request_duration_seconds_sum{");
        row_labels(&b, row, 0);
        sb_printf(&b, "} %.6f\n",
                  (double)atomic_load_explicit(&dur_sum_us[row], memory_order_relaxed) * 1e-6);
        sb_printf(&b, "mlpd_http_request_duration_seconds_count{");
        row_labels(&b, row, 0);
        sb_printf(&b, "} %llu\n", (unsigned long long)total);
    }

    /* Inference: requests by (model, version); instances summed per model. */
    sb_printf(&b, "# HELP mlpd_inference_requests_total Inference requests answered with 200, "
                  "by model and version.\n# TYPE mlpd_inference_requests_total counter\n");
    for (int i = 0; i < INF_SLOTS; i++) {
        inf_slot *s = &inf_table[i];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != 2) continue;
        sb_printf(&b, "mlpd_inference_requests_total{model=\"");
        sb_label(&b, s->model);
        sb_printf(&b, "\",version=\"%d\"} %llu\n", s->version,
                  (unsigned long long)atomic_load_explicit(&s->requests, memory_order_relaxed));
    }
    uint64_t ovr = atomic_load_explicit(&inf_overflow_requests, memory_order_relaxed);
    if (ovr)
        sb_printf(&b, "mlpd_inference_requests_total{model=\"(other)\",version=\"\"} %llu\n",
                  (unsigned long long)ovr);
    sb_printf(&b, "# HELP mlpd_inference_instances_total Rows (instances) inferred, by model.\n"
                  "# TYPE mlpd_inference_instances_total counter\n");
    for (int i = 0; i < INF_SLOTS; i++) {
        inf_slot *s = &inf_table[i];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != 2) continue;
        int first = 1; /* sum every version of this model, printed at its first slot */
        for (int j = 0; j < i && first; j++)
            if (atomic_load_explicit(&inf_table[j].state, memory_order_acquire) == 2 &&
                strcmp(inf_table[j].model, s->model) == 0)
                first = 0;
        if (!first) continue;
        uint64_t sum = 0;
        for (int j = i; j < INF_SLOTS; j++)
            if (atomic_load_explicit(&inf_table[j].state, memory_order_acquire) == 2 &&
                strcmp(inf_table[j].model, s->model) == 0)
                sum += atomic_load_explicit(&inf_table[j].instances, memory_order_relaxed);
        sb_printf(&b, "mlpd_inference_instances_total{model=\"");
        sb_label(&b, s->model);
        sb_printf(&b, "\"} %llu\n", (unsigned long long)sum);
    }
    uint64_t ovi = atomic_load_explicit(&inf_overflow_instances, memory_order_relaxed);
    if (ovr)
        sb_printf(&b, "mlpd_inference_instances_total{model=\"(other)\"} %llu\n",
                  (unsigned long long)ovi);

    sb_printf(&b,
              "# HELP mlpd_inference_batches_total Forward passes run by the request batcher.\n"
              "# TYPE mlpd_inference_batches_total counter\nmlpd_inference_batches_total %llu\n"
              "# HELP mlpd_inference_batched_rows_total Rows computed by the request batcher.\n"
              "# TYPE mlpd_inference_batched_rows_total counter\n"
              "mlpd_inference_batched_rows_total %llu\n",
              (unsigned long long)atomic_load_explicit(&batches_total, memory_order_relaxed),
              (unsigned long long)atomic_load_explicit(&batched_rows_total, memory_order_relaxed));

    if (g && g->runs) {
        sb_printf(&b, "# HELP mlpd_runs Training runs in the store, by state.\n"
                      "# TYPE mlpd_runs gauge\n");
        for (size_t i = 0; i < g->n_runs; i++) {
            sb_printf(&b, "mlpd_runs{state=\"");
            sb_label(&b, g->runs[i].label);
            sb_printf(&b, "\"} %ld\n", g->runs[i].value);
        }
    }
    if (g && g->queue_depth >= 0)
        sb_printf(&b,
                  "# HELP mlpd_run_queue_depth Runs waiting for a training worker.\n"
                  "# TYPE mlpd_run_queue_depth gauge\nmlpd_run_queue_depth %d\n",
                  g->queue_depth);
    sb_printf(&b,
              "# HELP mlpd_training_epochs_total Training epochs finished by this process.\n"
              "# TYPE mlpd_training_epochs_total counter\nmlpd_training_epochs_total %llu\n",
              (unsigned long long)atomic_load_explicit(&epochs_total, memory_order_relaxed));
    if (g && g->models_loaded >= 0)
        sb_printf(&b,
                  "# HELP mlpd_models_loaded Model versions loaded in the serving cache.\n"
                  "# TYPE mlpd_models_loaded gauge\nmlpd_models_loaded %d\n",
                  g->models_loaded);
    long rss = resident_bytes();
    if (rss >= 0)
        sb_printf(&b,
                  "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                  "# TYPE process_resident_memory_bytes gauge\n"
                  "process_resident_memory_bytes %ld\n",
                  rss);
    sb_printf(&b,
              "# HELP mlpd_open_connections HTTP connections currently open.\n"
              "# TYPE mlpd_open_connections gauge\nmlpd_open_connections %ld\n",
              atomic_load_explicit(&open_conns, memory_order_relaxed));
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
