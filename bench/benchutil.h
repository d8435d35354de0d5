/* benchutil.h — the clock and the median helper shared by the single-file C benchmarks
 * (forward.c, parse_body.c). Header-only: each benchmark still builds with one cc line. */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <time.h>

static inline double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* qsort comparator for doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
