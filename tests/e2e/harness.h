/* harness.h — end-to-end test support: starts the real build/mlpd ($MLPD_BIN) on an ephemeral
 * loopback port with a temporary data dir, talks to it with libcurl (anonymously or with an API
 * key: http_keyed), checks the SVG documents it answers (svg_check), and stops it with a
 * signal.
 *
 * Owns: the child process, the temporary directory (removed by srv_cleanup), response bodies.
 * Threading: one srv per test thread. */
#ifndef HARNESS_H
#define HARNESS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    int port;
    char dir[256]; /* temporary data dir */
    char log[300]; /* the daemon's stderr */
} srv;

typedef struct {
    long status;
    char *body; /* NUL-terminated, owned */
    size_t len;
    char location[256];
    char allow[128];
    char content_type[128];
    char retry_after[32];
    char infer_header_len[32]; /* Inference-Header-Content-Length (/v2 binary responses) */
    char headers[4096];        /* the final response's raw header lines (hresp_header) */
    size_t hlen;
} hresp;

/* Creates a fresh data dir and starts the daemon; extra flags may be NULL-terminated. 0 ok. */
int srv_start(srv *s, const char *const *extra);
/* Starts again on an existing data dir (after a stop or kill). */
int srv_restart(srv *s, const char *const *extra);
/* Sends sig and waits; returns the exit status (or 128+signal). */
int srv_stop(srv *s, int sig);
/* Stops a started daemon with SIGTERM for a teardown: 0 and the data dir removed on a clean exit
 * (status 0: no sanitizer report, no crash); else its status, printed with the log's path, and
 * the dir kept for a look. No daemon (pid 0): 0. */
int srv_finish(srv *s);
/* Removes the data dir. */
void srv_cleanup(srv *s);

/* One request. body may be NULL; content_type may be NULL (then application/json when body).
 * extra_header may be NULL ("Content-Encoding: gzip"). Returns the status. */
long http_do(srv *s, const char *method, const char *path, const char *content_type,
             const void *body, size_t len, const char *extra_header, hresp *r);
/* A request as the holder of API key `key` (NULL: anonymous), with an Origin header when origin
 * is not NULL; body is NUL-terminated text of content_type (NULL: application/json), or NULL.
 * HEAD asks for no body. Returns the status (-1 when the request failed). */
long http_keyed(const srv *s, const char *method, const char *path, const char *key,
                const char *origin, const char *content_type, const char *body, hresp *r);
/* The value of response header `name` (case-insensitive; a static copy), or NULL. */
const char *hresp_header(const hresp *r, const char *name);
void hresp_free(hresp *r);
/* libcurl write callback appending to an hresp's body (userdata: the hresp), for tests that
 * drive curl themselves. */
size_t hresp_body_cb(char *p, size_t sz, size_t n, void *ud);
/* Convenience: JSON body parsed (new reference, NULL if not JSON). */
json_t *hresp_json(const hresp *r);
/* POST JSON text, return parsed JSON and status. */
json_t *post_json(srv *s, const char *path, const char *json_text, long *status);
json_t *get_json(srv *s, const char *path, long *status);
/* Waits until the run reaches a final state (or timeout_s), returns its JSON. */
json_t *wait_run(srv *s, const char *run_id, double timeout_s);
/* Waits until the run has at least `epoch` epochs done. Returns 0 when it got there. */
int wait_epoch(srv *s, const char *run_id, int epoch, double timeout_s);
/* Uploads csv as dataset `name` (text/csv): its id into id (cap bytes; "" unless 201). Returns
 * the status (-1 when a 201 has no id). */
long h_upload_csv(srv *s, const char *name, const char *csv, char *id, size_t cap);
/* POSTs the run request body to /api/v1/runs and waits up to timeout_s: 0 when the run
 * succeeded, else -1 with the step that failed on stderr. */
int h_train(srv *s, const char *body, double timeout_s);
/* Uploads csv as dataset `name` (text/csv), then runs {"dataset_id": its id, "model_name": name,
 * <run_tail>} and waits up to timeout_s: 0 when the run succeeded (one new version of model
 * `name`), else -1 with the step that failed on stderr. */
int train_csv(srv *s, const char *name, const char *csv, const char *run_tail, double timeout_s);
/* Deterministic pseudo-random numbers in [0,1) for generated test data: an LCG on *state. */
double h_urand(unsigned *state);

/* ---- a strict XML well-formedness checker for what an SVG needs: one root <svg>, matched
 * tags, quoted attributes without '<' and without duplicates, only the five predefined or
 * numeric entities, no stray '&' or '<' in text, no control characters ---- */
typedef struct {
    char series[32], run[32]; /* data-series and data-run */
    int points;               /* pairs in points */
} svg_poly;
typedef struct {
    const char *p, *end; /* where the check is (borrowed from the document) */
    int depth;
    svg_poly polys[32]; /* the document's first 32 <polyline> elements */
    int n_polys;
    const char *err; /* why the check failed */
} svg_doc;
/* 0 when doc is well-formed with one root <svg>; fills x (pointing into doc). */
int svg_check(const char *doc, size_t len, svg_doc *x);
/* GETs path: 0 when it answers 200 with an image/svg+xml document svg_check accepts (x points
 * into r->body, to free with hresp_free), else -1 with the reason on stderr. */
int svg_get(srv *s, const char *path, svg_doc *x, hresp *r);

/* A field of /proc/<pid>/status in kB ("VmRSS", "VmHWM"), or -1. */
long proc_status_kb(pid_t pid, const char *field);
/* Resets pid's peak RSS (VmHWM) to its current RSS ("5" to /proc/<pid>/clear_refs, Linux 4.0+)
 * and returns that RSS in kB; -1 when the kernel cannot (the caller fails rather than measure an
 * earlier peak), with the reason on stderr. */
long proc_reset_peak_kb(pid_t pid);

#endif
