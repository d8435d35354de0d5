/* parse_body.c — api/fastjson's fj_rows on an inference body (e.g. the peers' body_1.json /
 * body_64.json from make_bodies.py): medians of 11 batches of N reads, in one piece and (for a
 * body the split would take) split between two threads (fj_rows_split), batches alternating.
 * Not part of CI.
 *
 *   parse_body BODY.json D N        D = values per row (784 for Fashion-MNIST) */
#include "benchutil.h"
#include "fastjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s BODY.json D N\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    static char buf[16 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int d = atoi(argv[2]), N = atoi(argv[3]), n = 0, columnar = 0;
    fj_floats X = {NULL, 0};
    double one[11], two[11];
    for (int k = 0; k < 11; k++) {
        for (int split = 0; split < 2; split++) {
            double t0 = bench_now();
            for (int i = 0; i < N; i++)
                if (fj_rows_split(buf, len, d, FJ_NO_LIMIT, split ? 1 : 0, &X, &n, &columnar) !=
                    FJ_ROWS) {
                    fprintf(stderr, "the fast reader does not take %s\n", argv[1]);
                    return 1;
                }
            (split ? two : one)[k] = (bench_now() - t0) / N * 1e6;
        }
    }
    qsort(one, 11, sizeof *one, bench_cmp_double);
    qsort(two, 11, sizeof *two, bench_cmp_double);
    printf("{\"body\": \"%s\", \"bytes\": %zu, \"rows\": %d, \"us\": %.2f, \"MB_per_s\": %.0f, "
           "\"split_us\": %.2f, \"split_MB_per_s\": %.0f, \"split_used_by_fj_rows\": %s}\n",
           argv[1], len, n, one[5], (double)len / one[5], two[5], (double)len / two[5],
           len >= FJ_SPLIT_MIN ? "true" : "false");
    free(X.p);
    return 0;
}
