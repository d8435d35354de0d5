/* csv_parse.c — timing harness for the upload parsers.
 *
 * 1. CSV: reads a CSV file (default /tmp/fmnist_train.csv from bench/make_fmnist_csv.sh) into
 *    memory and pushes it through the full text/csv ingest path (gunzip sniff, CSV parser,
 *    table builder, statistics) in 64 KiB chunks, several times; prints the median MB/s.
 * 2. IDX: builds a multipart/form-data body from the Fashion-MNIST images + labels .gz files, as
 *    a browser would send them, and times the whole ingest (inflate, IDX parse, label attach).
 *
 * Build (not part of `make`; it links the parser sources directly):
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Icore -Iserver -Iapi -o build/csv_parse bench/csv_parse.c \
 *      core/mlp.c server/dataset.c server/dsnum.c server/csv.c server/idx.c server/gunzip.c \
 *      server/multipart.c api/ingest.c api/jsonrows.c server/sbuf.c \
 *      $(pkg-config --cflags --libs jansson zlib) -lm
 * Run: ./build/csv_parse [csv-file [runs [idx-dir]]]; the body size is passed as the size hint
 * (as the daemon passes Content-Length) unless NO_HINT is set in the environment. */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_s; /* CPU seconds of the last run_ingest */

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Feeds body in 64 KiB chunks; returns seconds, or -1 on error. */
static double run_ingest(const char *ct, const unsigned char *body, size_t len, size_t hint,
                         ds_table **out)
{
    ingest_opts o = {CSV_HEADER_AUTO, (size_t)1 << 31, 0, hint};
    ingest *in = NULL;
    mlp_error e = {0};
    char *name = NULL;
    double t0 = now(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    mlp_err rc = ingest_new(ct, NULL, &o, &in, &e);
    for (size_t i = 0; rc == MLP_OK && i < len; i += 65536)
        rc = ingest_feed(in, body + i, len - i < 65536 ? len - i : 65536, &e);
    if (rc == MLP_OK) rc = ingest_finish(in, out, &name, &e);
    double dt = now() - t0;
    cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    ingest_free(in);
    free(name);
    if (rc != MLP_OK) {
        fprintf(stderr, "ingest failed: %s: %s\n", mlp_strerror(rc), e.msg);
        return -1;
    }
    return dt;
}

static void append(unsigned char **p, size_t *len, const void *d, size_t n)
{
    *p = realloc(*p, *len + n);
    if (!*p) abort();
    memcpy(*p + *len, d, n);
    *len += n;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/tmp/fmnist_train.csv";
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    const char *dir = argc > 3 ? argv[3] : "/usr/share/datasets/fashion-mnist";
    if (runs < 1 || runs > 50) runs = 5;
    int hint = !getenv("NO_HINT"); /* pass the body size as the daemon passes Content-Length */
    size_t len;
    unsigned char *csv = slurp(path, &len);
    if (!csv) {
        fprintf(stderr, "cannot read %s (run bench/make_fmnist_csv.sh)\n", path);
        return 1;
    }
    double *t = calloc((size_t)runs, sizeof *t), *c = calloc((size_t)runs, sizeof *c);
    if (!t || !c) return 1;
    ds_table *tab = NULL;
    for (int r = 0; r < runs; r++) {
        t[r] = run_ingest("text/csv", csv, len, hint ? len : 0, &tab);
        c[r] = cpu_s;
        if (t[r] < 0) return 1;
        if (r + 1 < runs) {
            ds_table_free(tab);
            tab = NULL;
        }
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    qsort(c, (size_t)runs, sizeof *c, cmp_double);
    printf("csv%s: %s, %.1f MB, %ld rows x %d cols, %d runs: wall median %.3f s = %.0f MB/s (min "
           "%.3f s = %.0f MB/s); CPU median %.3f s = %.0f MB/s\n",
           hint ? " (size hint)" : " (no size hint)", path, (double)len / 1e6, tab->rows, tab->cols,
           runs, t[runs / 2], (double)len / 1e6 / t[runs / 2], t[0], (double)len / 1e6 / t[0],
           c[runs / 2], (double)len / 1e6 / c[runs / 2]);
    ds_table_free(tab);
    free(csv);

    char ip[512], lp[512];
    snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte.gz", dir);
    size_t il, ll;
    unsigned char *img = slurp(ip, &il), *lab = slurp(lp, &ll);
    if (!img || !lab) {
        fprintf(stderr, "cannot read %s / %s: skipping the IDX timing\n", ip, lp);
        return 0;
    }
    unsigned char *body = NULL;
    size_t bl = 0;
    const char *h1 = "--B0UND\r\nContent-Disposition: form-data; name=\"images\"; "
                     "filename=\"train-images-idx3-ubyte.gz\"\r\n"
                     "Content-Type: application/gzip\r\n\r\n";
    const char *h2 = "\r\n--B0UND\r\nContent-Disposition: form-data; name=\"labels\"; "
                     "filename=\"train-labels-idx1-ubyte.gz\"\r\n"
                     "Content-Type: application/gzip\r\n\r\n";
    append(&body, &bl, h1, strlen(h1));
    append(&body, &bl, img, il);
    append(&body, &bl, h2, strlen(h2));
    append(&body, &bl, lab, ll);
    append(&body, &bl, "\r\n--B0UND--\r\n", 13);
    for (int r = 0; r < runs; r++) {
        t[r] = run_ingest("multipart/form-data; boundary=B0UND", body, bl, bl, &tab);
        c[r] = cpu_s;
        if (t[r] < 0) return 1;
        if (r + 1 < runs) {
            ds_table_free(tab);
            tab = NULL;
        }
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    qsort(c, (size_t)runs, sizeof *c, cmp_double);
    printf("idx: multipart images.gz + labels.gz, %.1f MB compressed, %ld rows x %d cols, label "
           "levels %d: wall median %.3f s (min %.3f s); CPU median %.3f s\n",
           (double)bl / 1e6, tab->rows, tab->cols, tab->columns[tab->cols - 1].n_levels,
           t[runs / 2], t[0], c[runs / 2]);
    ds_table_free(tab);
    free(body);
    free(img);
    free(lab);
    free(t);
    free(c);
    return 0;
}
