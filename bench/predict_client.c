/* predict_client.c — keep-alive latency client for mlpd (bench only, not part of `make`).
 *
 * Sends N requests over one libcurl handle (one kept-alive connection) and prints the median,
 * p90, p99 and max latency in microseconds, as one JSON line. With a model name it POSTs
 * {"instances": [[784 pixels]]} of the first Fashion-MNIST test image (scaled to [0,1]) to
 * /v1/models/NAME:predict; with "-" it GETs /healthz.
 *
 * Build: cc -O2 -o build/bench/predict_client bench/predict_client.c $(pkg-config --cflags --libs
 * libcurl zlib) Run:   build/bench/predict_client PORT MODEL|- [N [IDX-DIR]] */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static size_t sink(char *p, size_t size, size_t n, void *ctx)
{
    size_t *got = ctx;
    *got += size * n;
    (void)p;
    return size * n;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT MODEL|- [N [IDX-DIR]]\n", argv[0]);
        return 2;
    }
    const char *port = argv[1], *model = argv[2];
    int n = argc > 3 ? atoi(argv[3]) : 2000;
    const char *dir = argc > 4 ? argv[4] : "/usr/share/datasets/fashion-mnist";
    if (n < 1) n = 2000;
    char url[256], *body = NULL;
    if (strcmp(model, "-") == 0) {
        snprintf(url, sizeof url, "http://127.0.0.1:%s/healthz", port);
    } else {
        snprintf(url, sizeof url, "http://127.0.0.1:%s/v1/models/%s:predict", port, model);
        char path[512];
        snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
        gzFile f = gzopen(path, "rb");
        unsigned char hdr[16], px[784];
        if (!f || gzread(f, hdr, 16) != 16 || gzread(f, px, 784) != 784) {
            fprintf(stderr, "cannot read %s\n", path);
            return 1;
        }
        gzclose(f);
        body = malloc(784 * 12 + 64);
        if (!body) return 1;
        size_t len = (size_t)sprintf(body, "{\"instances\": [[");
        for (int i = 0; i < 784; i++)
            len += (size_t)sprintf(body + len, "%s%.6g", i ? "," : "", px[i] / 255.0);
        sprintf(body + len, "]]}");
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    size_t got = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    double *t = malloc((size_t)n * sizeof *t);
    if (!t) return 1;
    long code = 0;
    int fails = 0;
    for (int i = -50; i < n; i++) { /* 50 warm-up requests (model load, connection) */
        double t0 = now();
        CURLcode rc = curl_easy_perform(c);
        double dt = now() - t0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (rc != CURLE_OK || code != 200) {
            if (++fails > 5) {
                fprintf(stderr, "request failed: %s, HTTP %ld\n", curl_easy_strerror(rc), code);
                return 1;
            }
            continue;
        }
        if (i >= 0) t[i] = dt * 1e6;
    }
    long conns = 0;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
    qsort(t, (size_t)n, sizeof *t, cmp);
    printf("{\"url\": \"%s\", \"n\": %d, \"median_us\": %.0f, \"p90_us\": %.0f, \"p99_us\": %.0f, "
           "\"max_us\": %.0f, \"bytes_per_response\": %zu}\n",
           url, n, t[n / 2], t[n * 9 / 10], t[n * 99 / 100], t[n - 1], got / (size_t)(n + 50));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    free(t);
    free(body);
    return 0;
}
