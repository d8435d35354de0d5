/* rng.h — explicit, seedable random state (xoshiro256**), so that the same seed and thread
 * count give the same weights, shuffles, dropout masks and noise. No hidden global state.
 *
 * Threading: an rng is owned by one thread at a time; copy it to fork a stream. */
#ifndef RNG_H
#define RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4]; /* xoshiro256** state; never all zero */
    double spare;  /* cached second normal deviate of the Box-Muller pair */
    int has_spare; /* 1 when spare is valid */
} rng;

/* Seeds *r from a 64-bit seed through splitmix64. */
void rng_seed(rng *r, uint64_t seed);
/* Next raw 64-bit value. */
uint64_t rng_u64(rng *r);
/* Uniform double in [0, 1). */
double rng_uniform(rng *r);
/* Uniform integer in [0, n), n >= 1, without modulo bias. */
uint64_t rng_below(rng *r, uint64_t n);
/* Standard normal deviate (Box-Muller). */
double rng_normal(rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void rng_shuffle(rng *r, int *idx, int n);

#endif
