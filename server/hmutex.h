/* hmutex.h — a mutex that knows which thread holds it, so that "caller holds mu" is written as
 * assert(hmutex_held(&mu)), as SQLite asserts sqlite3_mutex_held(). Used where a module has
 * helpers that must run under its lock (registry, events, cpusched).
 *
 * Owns: the pthread mutex inside. Threading: lock, unlock and the waits are those of the pthread
 * mutex; hmutex_held answers only for the calling thread (another thread's answer may be stale,
 * so it is for asserts, never for decisions). */
#ifndef HMUTEX_H
#define HMUTEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

typedef struct {
    pthread_mutex_t mu;
    pthread_t owner;   /* the holder, meaningful while locked */
    atomic_int locked; /* 1 while some thread holds mu (set and cleared by its holder) */
} hmutex;

static inline void hmutex_init(hmutex *m)
{
    pthread_mutex_init(&m->mu, NULL);
    atomic_store_explicit(&m->locked, 0, memory_order_relaxed);
}
static inline void hmutex_destroy(hmutex *m)
{
    pthread_mutex_destroy(&m->mu);
}

/* 1 when the calling thread holds m. */
static inline int hmutex_held(hmutex *m)
{
    return atomic_load_explicit(&m->locked, memory_order_relaxed) &&
           pthread_equal(m->owner, pthread_self());
}

static inline void hmutex_lock(hmutex *m)
{
    pthread_mutex_lock(&m->mu);
    m->owner = pthread_self();
    atomic_store_explicit(&m->locked, 1, memory_order_relaxed);
}

static inline void hmutex_unlock(hmutex *m)
{
    atomic_store_explicit(&m->locked, 0, memory_order_relaxed);
    pthread_mutex_unlock(&m->mu);
}

/* pthread_cond_wait on m, which the caller holds; held again on return. */
static inline void hmutex_wait(pthread_cond_t *cv, hmutex *m)
{
    atomic_store_explicit(&m->locked, 0, memory_order_relaxed);
    pthread_cond_wait(cv, &m->mu);
    m->owner = pthread_self();
    atomic_store_explicit(&m->locked, 1, memory_order_relaxed);
}

/* pthread_cond_timedwait on m until the absolute time `until` (of cv's clock); returns its
 * result (0 or ETIMEDOUT); m held again on return. */
static inline int hmutex_timedwait(pthread_cond_t *cv, hmutex *m, const struct timespec *until)
{
    atomic_store_explicit(&m->locked, 0, memory_order_relaxed);
    int rc = pthread_cond_timedwait(cv, &m->mu, until);
    m->owner = pthread_self();
    atomic_store_explicit(&m->locked, 1, memory_order_relaxed);
    return rc;
}

#endif
