/* clock.h — the one clock of mlpd: monotonic microseconds for durations, rates and deadlines
 * (epoch seconds, request times, the inference-busy window), and the wall clock as RFC 3339 UTC
 * text for stored timestamps (created_at, metric points). In core/ because the trainer times
 * its epochs with it; the daemon uses the same functions.
 *
 * Threading: pure functions of the system clocks, reentrant. */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>
#include <time.h>

/* Room for "YYYY-MM-DDTHH:MM:SS.mmmZ" and its NUL, with margin. */
#define CLOCK_RFC3339_LEN 32

/* CLOCK_MONOTONIC in microseconds (never goes back; unrelated to the wall clock). */
uint64_t clock_now_us(void);
/* The same in seconds, for durations reported as doubles (epoch_seconds). */
double clock_now_s(void);
/* Wall time `ts` (CLOCK_REALTIME) as RFC 3339 UTC into out: "2026-12-06T18:40:00Z", or with
 * millis != 0 "2026-12-06T18:40:00.123Z" (truncated, not rounded, so it never reads later
 * than the clock). */
void clock_rfc3339_at(const struct timespec *ts, int millis, char out[CLOCK_RFC3339_LEN]);
/* The wall clock now, as clock_rfc3339_at formats it. */
void clock_rfc3339(int millis, char out[CLOCK_RFC3339_LEN]);

#endif
