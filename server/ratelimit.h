/* ratelimit.h — --rate-limit N/s: one token bucket per caller (an API key, or the client IP of an
 * anonymous caller) on the inference routes. A bucket holds at most `burst` tokens and refills at
 * `rate` tokens per second; a request takes one token or is answered 429 with Retry-After.
 *
 * The table is striped: 64 stripes, each a small open-addressed table under its own mutex, so
 * two callers rarely contend. It holds up to 64 x 1024 callers; when a probe window is full the
 * bucket idle the longest is reused (that caller starts again with a full bucket).
 *
 * rl_take_rate gives each caller its own rate (server/quota.h: predict_per_second per user).
 *
 * Owns: the table. Threading: rl_take may be called from any thread. */
#ifndef RATELIMIT_H
#define RATELIMIT_H

#include "mlp.h"

#include <stddef.h>

typedef struct rl rl;

/* A limiter of rate tokens/s with buckets of burst tokens (burst >= 1). *out new. */
mlp_err rl_new(double rate, double burst, rl **out);
/* NULL-tolerant. */
void rl_free(rl *r);
/* Takes one token from the bucket of caller id (any bytes) at monotonic time now_s. Returns 0
 * when the request may go on, else the whole seconds (>= 1) until a token is available. */
int rl_take(rl *r, const void *id, size_t len, double now_s);
/* rl_take with this caller's own rate and burst (>= 1) instead of the limiter's: per-user quotas
 * (server/quota.h) whose limits differ by user. */
int rl_take_rate(rl *r, const void *id, size_t len, double now_s, double rate, double burst);
/* The tokens caller id's bucket would hold at now_s with this rate and burst (burst for a caller
 * with no bucket), taking none. */
double rl_tokens(rl *r, const void *id, size_t len, double now_s, double rate, double burst);

#endif
