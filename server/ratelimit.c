/* ratelimit.c — striped token buckets (see ratelimit.h). */
#include "ratelimit.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define RL_STRIPES 64
#define RL_SLOTS   1024 /* per stripe, a power of two */
#define RL_PROBE   8

typedef struct {
    uint64_t id;   /* hash of the caller; 0 = empty */
    double tokens; /* tokens left at `last` */
    double last;   /* monotonic seconds of the last refill */
} rl_bucket;

typedef struct {
    pthread_mutex_t mu;
    rl_bucket slots[RL_SLOTS];
} rl_stripe;

struct rl {
    double rate, burst;
    rl_stripe stripes[RL_STRIPES];
};

/* FNV-1a, then a final mix so that the stripe and slot bits are well spread. Never 0. */
static uint64_t rl_hash(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;
}

mlp_err rl_new(double rate, double burst, rl **out)
{
    *out = NULL;
    if (!(rate > 0) || !(burst >= 1)) return MLP_EINVAL;
    rl *r = calloc(1, sizeof *r);
    if (!r) return MLP_ENOMEM;
    r->rate = rate;
    r->burst = burst;
    for (int i = 0; i < RL_STRIPES; i++) pthread_mutex_init(&r->stripes[i].mu, NULL);
    *out = r;
    return MLP_OK;
}

void rl_free(rl *r)
{
    if (!r) return;
    for (int i = 0; i < RL_STRIPES; i++) pthread_mutex_destroy(&r->stripes[i].mu);
    free(r);
}

double rl_tokens(rl *r, const void *id, size_t len, double now_s, double rate, double burst)
{
    uint64_t h = rl_hash(id, len);
    rl_stripe *st = &r->stripes[h & (RL_STRIPES - 1)];
    size_t home = (size_t)(h >> 6) & (RL_SLOTS - 1);
    double tokens = burst;
    pthread_mutex_lock(&st->mu);
    for (size_t k = 0; k < RL_PROBE; k++) {
        const rl_bucket *c = &st->slots[(home + k) & (RL_SLOTS - 1)];
        if (c->id == h) {
            tokens = fmin(burst, c->tokens + fmax(0.0, now_s - c->last) * rate);
            break;
        }
    }
    pthread_mutex_unlock(&st->mu);
    return tokens;
}

int rl_take(rl *r, const void *id, size_t len, double now_s)
{
    return rl_take_rate(r, id, len, now_s, r->rate, r->burst);
}

int rl_take_rate(rl *r, const void *id, size_t len, double now_s, double rate, double burst)
{
    assert(rate > 0 && burst >= 1);
    uint64_t h = rl_hash(id, len);
    rl_stripe *st = &r->stripes[h & (RL_STRIPES - 1)];
    size_t home = (size_t)(h >> 6) & (RL_SLOTS - 1);
    int wait = 0;
    pthread_mutex_lock(&st->mu);
    rl_bucket *b = NULL, *victim = NULL;
    for (size_t k = 0; k < RL_PROBE; k++) {
        rl_bucket *c = &st->slots[(home + k) & (RL_SLOTS - 1)];
        if (c->id == h) {
            b = c;
            break;
        }
        /* Victim: the first empty slot, else the one idle the longest. */
        if (c->id == 0) {
            if (!victim || victim->id != 0) victim = c;
        } else if (!victim || (victim->id != 0 && c->last < victim->last)) {
            victim = c;
        }
    }
    if (!b) { /* new caller, or one evicted: a full bucket */
        b = victim;
        b->id = h;
        b->tokens = burst;
        b->last = now_s;
    }
    if (now_s > b->last) {
        b->tokens = fmin(burst, b->tokens + (now_s - b->last) * rate);
        b->last = now_s;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        wait = (int)ceil((1.0 - b->tokens) / rate);
        if (wait < 1) wait = 1;
    }
    pthread_mutex_unlock(&st->mu);
    return wait;
}
