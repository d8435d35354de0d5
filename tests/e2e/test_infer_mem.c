/* test_infer_mem.c — a request's per-thread inference buffers are given back when it ends if they
 * grew past INFER_BUFS_KEEP_BYTES (64 MiB, api/infer.h), so one large request does not keep its
 * memory for the life of the request thread. The daemon (one request thread, so both requests
 * meet the same buffers) serves a /v2 binary infer whose network scratch needs about 100 MiB;
 * its peak RSS (VmHWM) must show that, and its RSS afterwards must be back near where it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static srv S;

static int setup(void **state)
{
    (void)state;
    /* An ASan build keeps freed memory in quarantine; the test is about what the daemon frees. */
    const char *asan = getenv("ASAN_OPTIONS");
    char opts[512];
    snprintf(opts, sizeof opts, "%s%squarantine_size_mb=0", asan ? asan : "", asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    const char *extra[] = {"--threads", "1", "--max-instances", "1000000", NULL};
    if (srv_start(&S, extra) != 0) return -1;
    char *csv = malloc(16384), *p = csv;
    if (!csv) return -1;
    p += sprintf(p, "a,b,kind\n");
    for (int i = 0; i < 200; i++)
        p += sprintf(p, "%d.%d,%d,%s\n", i % 7, i % 10, i % 3, i % 2 ? "odd" : "even");
    hresp r;
    long st =
        http_do(&S, "POST", "/api/v1/datasets?name=m", "text/csv", csv, strlen(csv), NULL, &r);
    free(csv);
    json_t *j = hresp_json(&r);
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"model_name\":\"wide\",\"task\":\"classification\","
             "\"target\":\"kind\",\"params\":{\"hidden\":[64],\"epochs\":1}}",
             json_string_value(json_object_get(j, "id")));
    json_decref(j);
    hresp_free(&r);
    if (st != 201) return -1;
    json_t *run = post_json(&S, "/api/v1/runs", body, &st);
    char rid[64];
    snprintf(rid, sizeof rid, "%s", st == 202 ? json_string_value(json_object_get(run, "id")) : "");
    json_decref(run);
    if (st != 202) return -1;
    json_t *done = wait_run(&S, rid, 120);
    int ok = done && strcmp(json_string_value(json_object_get(done, "status")), "succeeded") == 0;
    json_decref(done);
    return ok ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int rc = srv_stop(&S, SIGTERM);
    srv_cleanup(&S);
    return rc == 0 ? 0 : -1;
}

/* POSTs n rows of zeros as a binary FP32 tensor, the label output binary. Returns the status. */
static long infer_rows(int n)
{
    char hdr[400];
    int hl = snprintf(hdr, sizeof hdr,
                      "{\"inputs\":[{\"name\":\"input\",\"shape\":[%d,2],\"datatype\":\"FP32\","
                      "\"parameters\":{\"binary_data_size\":%zu}}],\"outputs\":[{\"name\":"
                      "\"label\",\"parameters\":{\"binary_data\":true}}]}",
                      n, (size_t)n * 8);
    size_t len = (size_t)hl + (size_t)n * 8;
    char *body = calloc(1, len);
    if (!body) return -1;
    memcpy(body, hdr, (size_t)hl);
    char h[80];
    snprintf(h, sizeof h, "Inference-Header-Content-Length: %d", hl);
    hresp r;
    long st =
        http_do(&S, "POST", "/v2/models/wide/infer", "application/octet-stream", body, len, h, &r);
    free(body);
    hresp_free(&r);
    return st;
}

static void large_request_gives_memory_back(void **state)
{
    (void)state;
    assert_int_equal(infer_rows(100), 200); /* warm: the small buffers exist */
    long rss0 = proc_status_kb(S.pid, "VmRSS");
    assert_true(rss0 > 0);
    /* 400,000 rows x (2 inputs + 64 hidden) floats of network scratch: about 100 MiB */
    assert_int_equal(infer_rows(400000), 200);
    long hwm = proc_status_kb(S.pid, "VmHWM"), rss1 = proc_status_kb(S.pid, "VmRSS");
    assert_int_equal(infer_rows(100), 200); /* a small request after it still answers */
    long rss2 = proc_status_kb(S.pid, "VmRSS");
    fprintf(stderr, "RSS before %ld kB, peak %ld kB, after %ld kB, after a small one %ld kB\n",
            rss0, hwm, rss1, rss2);
    assert_true(hwm - rss0 > 80 * 1024); /* the large request did need the memory */
    assert_true(rss1 - rss0 < 32 * 1024);
    assert_true(rss2 - rss0 < 32 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(large_request_gives_memory_back),
    };
    return cmocka_run_group_tests_name("e2e/infer_mem", tests, setup, teardown);
}
