/* sse_listeners.c — N concurrent Server-Sent Events listeners on one run, in one thread (libcurl
 * multi), for bench/sse_listeners.sh. Usage: sse_listeners PORT RUN_ID N. Reads every stream to
 * its end (done) and prints one line: listeners, streams that ended with done, epoch events
 * received in all, and the largest lag (ms) between the first and the last listener receiving
 * the same epoch. Exit 1 unless every listener got done. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_EPOCHS 1000

typedef struct {
    int epochs, done;
    char tail[16]; /* last bytes seen, to find "event: " split across chunks */
} lis;

static double first_seen[MAX_EPOCHS], last_seen[MAX_EPOCHS];

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    lis *l = ud;
    size_t len = sz * n;
    double t = now_ms();
    for (const char *s = p; (s = memmem(s, (size_t)(p + len - s), "data: {\"epoch\":", 15));) {
        s += 15;
        int k = atoi(s);
        if (k > 0 && k < MAX_EPOCHS) { /* an epoch event's data (a frame is written whole) */
            l->epochs++;
            if (first_seen[k] == 0 || t < first_seen[k]) first_seen[k] = t;
            if (t > last_seen[k]) last_seen[k] = t;
        }
    }
    if (memmem(p, len, "event: done", 11)) l->done = 1;
    return len;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT RUN_ID N\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[3]);
    curl_global_init(CURL_GLOBAL_ALL);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    lis *ls = calloc((size_t)n, sizeof *ls);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%s/api/v1/runs/%s/events", argv[1], argv[2]);
    for (int i = 0; i < n; i++) {
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &ls[i]);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
        curl_multi_add_handle(m, c);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running) curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
        curl_multi_remove_handle(m, msg->easy_handle);
        curl_easy_cleanup(msg->easy_handle);
    }
    int done = 0;
    long events = 0;
    double lag = 0;
    for (int i = 0; i < n; i++) {
        done += ls[i].done;
        events += ls[i].epochs;
    }
    for (int k = 1; k < MAX_EPOCHS; k++)
        if (last_seen[k] - first_seen[k] > lag) lag = last_seen[k] - first_seen[k];
    printf("listeners %d done %d epoch_events %ld max_spread_ms %.1f\n", n, done, events, lag);
    curl_multi_cleanup(m);
    free(ls);
    return done == n ? 0 : 1;
}
