/* multipart_parse.c — server/multipart.c against libmicrohttpd's MHD_PostProcessor on the same
 * upload, chunked as libmicrohttpd delivers it. Not part of CI.
 *
 * A tiny MHD daemon on a loopback port receives one multipart/form-data POST (a "file" part of
 * MB megabytes of CSV with CRLF line ends, posted by libcurl) per run; its handler hands every
 * upload chunk to both parsers in turn, timing each, and checks that both saw every part byte.
 * Prints, per run, the chunk count and each parser's CPU seconds and MB/s; then the medians.
 * With --probe it posts instead the malformed bodies of tests/server/test_multipart.c (and a
 * nested multipart/mixed part) and prints what each parser makes of them.
 *
 *   multipart_parse [MB [runs]]       (defaults: 50 MB, 5 runs; bench/multipart_parse.sh)
 *   multipart_parse --probe */
#include "benchutil.h"
#include "multipart.h"

#include <curl/curl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOUNDARY "----mlpdBench7MA4YWxkTrZu0gW"

typedef struct {
    multipart *mp;
    struct MHD_PostProcessor *pp;
    size_t ours_bytes, mhd_bytes; /* part body bytes each parser delivered */
    double ours_s, mhd_s;         /* seconds inside each parser */
    long chunks;
    size_t max_chunk;
    int ours_ok, mhd_ok;
    int mhd_feed_ok; /* every MHD_post_process call said MHD_YES */
    char ours_msg[160];
    char mhd_log[256]; /* the parts MHD reported: key[filename]:bytes ... */
} run_state;

static run_state g_run;

static mlp_err mp_begin(void *ctx, const char *name, const char *filename, const char *ct,
                        mlp_error *err)
{
    (void)ctx, (void)name, (void)filename, (void)ct, (void)err;
    return MLP_OK;
}

static mlp_err mp_data(void *ctx, const unsigned char *d, size_t n, mlp_error *err)
{
    (void)d, (void)err;
    ((run_state *)ctx)->ours_bytes += n;
    return MLP_OK;
}

static mlp_err mp_end(void *ctx, mlp_error *err)
{
    (void)ctx, (void)err;
    return MLP_OK;
}

static const multipart_callbacks cbs = {mp_begin, mp_data, mp_end};

static enum MHD_Result pp_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    (void)kind, (void)key, (void)filename, (void)content_type, (void)transfer_encoding, (void)data,
        (void)off;
    run_state *r = cls;
    r->mhd_bytes += size;
    size_t l = strlen(r->mhd_log);
    if (off == 0 && l + 64 < sizeof r->mhd_log)
        snprintf(r->mhd_log + l, sizeof r->mhd_log - l, " %s%s%s%s:%zu", key ? key : "(null)",
                 filename ? "[" : "", filename ? filename : "", filename ? "]" : "", size);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version;
    run_state *r = &g_run;
    if (*con_cls == NULL) {
        *con_cls = r;
        char b[80];
        if (multipart_boundary(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"), b,
                               sizeof b, NULL) != MLP_OK ||
            multipart_new(b, &cbs, r, &r->mp) != MLP_OK)
            return MHD_NO;
        r->pp = MHD_create_post_processor(c, 65536, pp_iter, r);
        return r->pp ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        r->chunks++;
        if (n > r->max_chunk) r->max_chunk = n;
        double t0 = bench_now();
        mlp_error e;
        mlp_error_clear(&e);
        mlp_err rc = multipart_feed(r->mp, (const unsigned char *)upload, n, &e);
        double t1 = bench_now();
        enum MHD_Result m = MHD_post_process(r->pp, upload, n);
        double t2 = bench_now();
        r->ours_s += t1 - t0;
        r->mhd_s += t2 - t1;
        if (rc != MLP_OK && !r->ours_msg[0]) snprintf(r->ours_msg, sizeof r->ours_msg, "%s", e.msg);
        if (m != MHD_YES) r->mhd_feed_ok = 0;
        *upload_size = 0;
        return MHD_YES;
    }
    double t0 = bench_now();
    mlp_error e;
    mlp_error_clear(&e);
    r->ours_ok = multipart_finish(r->mp, &e) == MLP_OK;
    if (!r->ours_ok && !r->ours_msg[0]) snprintf(r->ours_msg, sizeof r->ours_msg, "%s", e.msg);
    double t1 = bench_now();
    r->mhd_ok = MHD_destroy_post_processor(r->pp) == MHD_YES;
    double t2 = bench_now();
    r->pp = NULL;
    r->ours_s += t1 - t0;
    r->mhd_s += t2 - t1;
    r->mhd_ok = r->mhd_ok && r->mhd_feed_ok;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p, (void)u;
    return size * n;
}

/* Posts body to url; 0 on a 200 answer. */
static int post(const char *url, const char *body, size_t len)
{
    memset(&g_run, 0, sizeof g_run);
    g_run.mhd_feed_ok = 1;
    CURL *h = curl_easy_init();
    struct curl_slist *hd =
        curl_slist_append(NULL, "Content-Type: multipart/form-data; boundary=" BOUNDARY);
    hd = curl_slist_append(hd, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    multipart_free(g_run.mp);
    if (g_run.pp) MHD_destroy_post_processor(g_run.pp);
    return cc == CURLE_OK && status == 200 ? 0 : -1;
}

/* The malformed bodies of tests/server/test_multipart.c, with boundary B. */
static void probe(const char *url)
{
#define B "--" BOUNDARY
    static const char *const cases[][2] = {
        {"no closing boundary", B "\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nabc"},
        {"no name", B "\r\nContent-Disposition: form-data\r\n\r\nabc\r\n" B "--"},
        {"no Content-Disposition", B "\r\nContent-Type: text/csv\r\n\r\nabc\r\n" B "--"},
        {"junk after a boundary", B "junk\r\n\r\n" B "--"},
        {"not form-data", B "\r\nContent-Disposition: attachment; name=\"f\"\r\n\r\nx\r\n" B "--"},
        {"header without colon", B "\r\nbroken header\r\n\r\nx\r\n" B "--"},
        {"no boundary at all", "just some text"},
        {"no space after the colon",
         B "\r\nContent-Disposition:form-data; name=\"file\"\r\n\r\nabc\r\n" B "--"},
        {"nested multipart/mixed",
         B "\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Type: "
           "multipart/mixed; boundary=inner\r\n\r\n--inner\r\nContent-Disposition: file; "
           "filename=\"a.csv\"\r\n\r\n1,2\r\n--inner\r\nContent-Disposition: file; "
           "filename=\"b.csv\"\r\n\r\n3,4\r\n--inner--\r\n" B "--"},
    };
#undef B
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        post(url, cases[i][1], strlen(cases[i][1]));
        run_state *r = &g_run;
        printf("%-26s multipart.c: %-70s | MHD: %s, parts:%s\n", cases[i][0],
               r->ours_ok ? "accepted" : r->ours_msg, r->mhd_ok ? "MHD_YES" : "MHD_NO",
               r->mhd_log[0] ? r->mhd_log : " none");
    }
    /* a part header line longer than the post processor's buffer */
    size_t n = 70000;
    char *big = malloc(n + 200);
    if (!big) return;
    int h = snprintf(big, 200, "--%s\r\nX-Long: ", BOUNDARY);
    memset(big + h, 'a', n);
    int t = snprintf(big + h + n, 200,
                     "\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--%s--",
                     BOUNDARY);
    post(url, big, (size_t)h + n + (size_t)t);
    printf("%-26s multipart.c: %-70s | MHD: %s, parts:%s\n", "70 KB header line",
           g_run.ours_ok ? "accepted" : g_run.ours_msg, g_run.mhd_ok ? "MHD_YES" : "MHD_NO",
           g_run.mhd_log[0] ? g_run.mhd_log : " none");
    free(big);
}

static int cmp(const void *a, const void *b)
{
    return bench_cmp_double(a, b);
}

int main(int argc, char **argv)
{
    int probing = argc > 1 && strcmp(argv[1], "--probe") == 0;
    size_t mb = argc > 1 ? (size_t)atol(argv[1]) : 50;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (probing) mb = 1, runs = 1;
    if (runs < 1 || runs > 64 || mb < 1) return 2;
    /* body: one "file" part of CSV rows "123,45,...\r\n" */
    const char *head = "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"file\"; "
                       "filename=\"train.csv\"\r\nContent-Type: text/csv\r\n\r\n";
    const char *tail = "\r\n--" BOUNDARY "--\r\n";
    size_t payload = mb << 20, hl = strlen(head), tl = strlen(tail);
    char *body = malloc(hl + payload + tl);
    if (!body) return 1;
    memcpy(body, head, hl);
    for (size_t i = 0; i < payload; i++) {
        size_t k = i % 64;
        body[hl + i] = k == 62 ? '\r' : k == 63 ? '\n' : k % 4 == 3 ? ',' : (char)('0' + i % 10);
    }
    memcpy(body + hl + payload, tail, tl);
    size_t len = hl + payload + tl;

    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, NULL,
                         MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
    if (!d) return 1;
    unsigned port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/upload", port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (probing) {
        probe(url);
        curl_global_cleanup();
        MHD_stop_daemon(d);
        free(body);
        return 0;
    }
    double ours[64], mhd[64];
    int failed = 0;
    for (int k = 0; k < runs; k++) {
        int posted = post(url, body, len);
        run_state *r = &g_run;
        int ok = posted == 0 && r->ours_ok && r->mhd_ok && r->ours_bytes == payload &&
                 r->mhd_bytes == payload;
        if (!ok) failed = 1;
        ours[k] = r->ours_s;
        mhd[k] = r->mhd_s;
        printf("run %d: %ld chunks (max %zu B)  multipart.c %.4f s (%.0f MB/s)  "
               "MHD_PostProcessor %.4f s (%.0f MB/s)  bytes %zu/%zu%s\n",
               k + 1, r->chunks, r->max_chunk, r->ours_s, (double)mb / r->ours_s, r->mhd_s,
               (double)mb / r->mhd_s, r->ours_bytes, r->mhd_bytes, ok ? "" : "  MISMATCH");
    }
    qsort(ours, (size_t)runs, sizeof ours[0], cmp);
    qsort(mhd, (size_t)runs, sizeof mhd[0], cmp);
    printf("median of %d runs, %zu MB part: multipart.c %.0f MB/s, MHD_PostProcessor %.0f MB/s "
           "(ratio %.2f)\n",
           runs, mb, (double)mb / ours[runs / 2], (double)mb / mhd[runs / 2],
           mhd[runs / 2] / ours[runs / 2]);
    curl_global_cleanup();
    MHD_stop_daemon(d);
    free(body);
    return failed;
}
