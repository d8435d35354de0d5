/* batcher.c — the opportunistic request batcher (see batcher.h).
 *
 * DESIGN
 * Jobs: one per submitted request, one malloc holding the job and its copied rows, in a FIFO
 * list under mu. The compute threads are its consumers: each sleeps on `more` while the list is
 * empty, takes the head and every later job for the same model version that still fits in
 * BATCHER_MAX_ROWS (jobs of other versions keep their places), and computes outside the lock.
 * With timeout_us > 0 it first waits, at most that long from the moment it looked, for the queue
 * to hold a full batch of the head's model; with 0 (TF Serving's advice for CPUs) a batch is
 * whatever arrived while the previous one computed, so a lone request never waits.
 * Who may touch what: submitters append under mu; a compute thread unlinks under mu and then
 * owns the jobs it took, its own batch buffers and its callbacks' order.
 * Shutdown: batcher_free sets stopping and wakes the threads, which compute the whole queue
 * before they exit; submit refuses (MLP_EBUSY) once stopping is set. */
#include "batcher.h"
#include "cpusched.h"
#include "metrics.h"
#include "net.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct job {
    struct job *next;
    const reg_model *m; /* borrowed: the submitter's reference */
    int rows;
    batcher_done_fn done;
    void *ctx;
    float X[]; /* rows × n_in */
} job;

struct batcher {
    batcher_opts o;
    struct sched *sched; /* borrowed */
    pthread_mutex_t mu;
    pthread_cond_t more; /* signalled when a job arrives or stopping is set */
    job *head, *tail;    /* under mu */
    int stopping;        /* under mu */
    int n_threads;
    pthread_t thread[BATCHER_MAX_THREADS];
};

/* One compute thread's buffers, grown as needed. */
typedef struct {
    float *X, *Y, *S;
    size_t x_cap, y_cap, s_cap; /* floats */
} bufs;

/* Rows queued for model m, under mu. */
static int queued_rows(const batcher *b, const reg_model *m)
{
    int n = 0;
    for (const job *j = b->head; j; j = j->next)
        if (j->m == m) n += j->rows;
    return n;
}

/* Grows *p to n floats. 0 ok, -1 out of memory (*p unchanged). */
static int room(float **p, size_t *cap, size_t n)
{
    if (*cap >= n) return 0;
    float *q = realloc(*p, n * sizeof *q);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* Takes the batch off the queue (under mu): the head, and every later job of the same model
 * that fits. Returns the list, linked in arrival order. */
static job *take_batch(batcher *b)
{
    job *first = b->head, *batch = first, *last = first;
    int rows = first->rows;
    b->head = first->next;
    first->next = NULL;
    job **pp = &b->head, *prev_kept = NULL;
    while (*pp && rows < BATCHER_MAX_ROWS) {
        job *j = *pp;
        if (j->m == first->m && rows + j->rows <= BATCHER_MAX_ROWS) {
            *pp = j->next;
            j->next = NULL;
            last->next = j;
            last = j;
            rows += j->rows;
        } else {
            prev_kept = j;
            pp = &j->next;
        }
    }
    if (!b->head)
        b->tail = NULL;
    else if (!*pp)
        b->tail = prev_kept;
    return batch;
}

/* Computes one batch and answers its jobs (outside mu); frees them. */
static void run_batch(batcher *b, bufs *t, job *batch)
{
    const reg_model *m = batch->m;
    const net_spec *sp = reg_model_spec(m);
    const size_t n_in = (size_t)sp->n_in, n_out = (size_t)sp->n_out;
    int rows = 0;
    for (job *j = batch; j; j = j->next) rows += j->rows;
    mlp_err rc = MLP_OK;
    if (room(&t->X, &t->x_cap, (size_t)rows * n_in) ||
        room(&t->Y, &t->y_cap, (size_t)rows * n_out) ||
        room(&t->S, &t->s_cap, reg_model_scratch_floats(m, rows)))
        rc = MLP_ENOMEM;
    if (rc == MLP_OK) {
        size_t at = 0;
        for (job *j = batch; j; j = j->next) {
            memcpy(t->X + at * n_in, j->X, (size_t)j->rows * n_in * sizeof *t->X);
            at += (size_t)j->rows;
        }
        rc = reg_model_predict(m, t->X, rows, t->Y, t->S);
        sched_infer_done(b->sched);
        metrics_batch(rows);
    }
    size_t at = 0;
    while (batch) {
        job *j = batch;
        batch = j->next;
        j->done(j->ctx, rc, rc == MLP_OK ? t->Y + at * n_out : NULL, j->rows);
        at += (size_t)j->rows;
        free(j);
    }
}

static void *compute_main(void *arg)
{
    batcher *b = arg;
    bufs t = {0};
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->stopping) pthread_cond_wait(&b->more, &b->mu);
        if (!b->head) break; /* stopping, and nothing left */
        if (b->o.timeout_us > 0 && !b->stopping) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            long long ns = (long long)until.tv_nsec + (long long)b->o.timeout_us * 1000;
            until.tv_sec += (time_t)(ns / 1000000000);
            until.tv_nsec = (long)(ns % 1000000000);
            while (!b->stopping && b->head && queued_rows(b, b->head->m) < BATCHER_MAX_ROWS)
                if (pthread_cond_timedwait(&b->more, &b->mu, &until) == ETIMEDOUT) break;
            if (!b->head) continue; /* another compute thread took it meanwhile */
        }
        job *batch = take_batch(b);
        pthread_mutex_unlock(&b->mu);
        run_batch(b, &t, batch);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    free(t.X);
    free(t.Y);
    free(t.S);
    return NULL;
}

mlp_err batcher_new(const batcher_opts *o, struct sched *s, batcher **out)
{
    assert(o && s && out);
    batcher *b = calloc(1, sizeof *b);
    if (!b) return MLP_ENOMEM;
    b->o = *o;
    b->sched = s;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->more, NULL);
    int want = o->threads < 1                     ? 1
               : o->threads > BATCHER_MAX_THREADS ? BATCHER_MAX_THREADS
                                                  : o->threads;
    for (; b->n_threads < want; b->n_threads++)
        if (pthread_create(&b->thread[b->n_threads], NULL, compute_main, b) != 0) break;
    if (b->n_threads == 0) {
        pthread_cond_destroy(&b->more);
        pthread_mutex_destroy(&b->mu);
        free(b);
        return MLP_ENOMEM;
    }
    *out = b;
    return MLP_OK;
}

void batcher_free(batcher *b)
{
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stopping = 1;
    pthread_cond_broadcast(&b->more);
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < b->n_threads; i++) pthread_join(b->thread[i], NULL);
    assert(!b->head);
    pthread_cond_destroy(&b->more);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

int batcher_wants(const batcher *b, const reg_model *m, int rows)
{
    if (!b || rows < 1 || rows > BATCHER_MAX_REQ_ROWS) return 0;
    const net *n = reg_model_net(m);
    return n && net_param_count(n) >= b->o.min_params;
}

mlp_err batcher_submit(batcher *b, const reg_model *m, const float *X, int rows,
                       batcher_done_fn done, void *ctx)
{
    assert(b && m && X && done && rows >= 1 && rows <= BATCHER_MAX_ROWS);
    size_t nx = (size_t)rows * (size_t)reg_model_spec(m)->n_in;
    job *j = malloc(sizeof *j + nx * sizeof *j->X);
    if (!j) return MLP_ENOMEM;
    j->next = NULL;
    j->m = m;
    j->rows = rows;
    j->done = done;
    j->ctx = ctx;
    memcpy(j->X, X, nx * sizeof *j->X);
    pthread_mutex_lock(&b->mu);
    if (b->stopping) {
        pthread_mutex_unlock(&b->mu);
        free(j);
        return MLP_EBUSY;
    }
    if (b->tail)
        b->tail->next = j;
    else
        b->head = j;
    b->tail = j;
    pthread_cond_signal(&b->more);
    pthread_mutex_unlock(&b->mu);
    return MLP_OK;
}
