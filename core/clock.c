/* clock.c — monotonic microseconds and RFC 3339 wall-clock text (see clock.h). */
#include "clock.h"

#include <stdio.h>

uint64_t clock_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

double clock_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void clock_rfc3339_at(const struct timespec *ts, int millis, char out[CLOCK_RFC3339_LEN])
{
    struct tm tm;
    time_t t = ts->tv_sec;
    gmtime_r(&t, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (millis)
        snprintf(out, CLOCK_RFC3339_LEN, "%.19s.%03uZ", base,
                 (unsigned)(ts->tv_nsec / 1000000) % 1000u);
    else
        snprintf(out, CLOCK_RFC3339_LEN, "%.19sZ", base);
}

void clock_rfc3339(int millis, char out[CLOCK_RFC3339_LEN])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    clock_rfc3339_at(&ts, millis, out);
}
