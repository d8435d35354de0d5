/* jobs.c — the training queue and its worker threads.
 *
 * DESIGN
 * States: a run is queued -> running -> succeeded | failed | cancelled, and running -> queued
 * when its owner's train-seconds quota runs out (below). The store is the truth for states; this
 * module keeps only the in-memory queue of run ids (with their owners) and one slot per worker
 * holding the id, owner and cancel flag of the run it trains.
 *
 * Order: fair share between users (server/fairq.h). A free worker starts the oldest run of the
 * owner with the fewest training seconds charged over the last JOBS_FAIR_WINDOW_S (the usage
 * ledger), ties to the owner with fewer runs training; FIFO within one owner, so a single user
 * sees the old FIFO. Runs resumed after a restart go first, in their old order.
 *
 * Usage and quotas: each epoch's CPU-seconds (the compute thread's own clock plus its helper
 * threads', trainer_helper_cpu_s: what the run consumed, not the time it waited while inference
 * had the cores) are charged to the run's owner in the usage ledger in the epoch's own commit (one
 * ledger row per epoch, store_run_epochs). When that spends the owner's train_seconds_per_day
 * (server/quota.h), the slot's cancel flag becomes CANCEL_QUOTA: the run stops within a mini-batch,
 * goes back to "queued" with a wait_reason naming the quota and when it frees (store_run_pause,
 * checkpoint kept), and waits in the queue, skipped while its owner's budget is spent (checked
 * again each second), then resumes from its checkpoint like a restarted run. A run submitted while
 * the budget is spent is accepted and waits the same way, with the same reason.
 *
 * Who may touch what: HTTP threads create runs through runsvc_submit_quota (server/runsvc.c: the
 * store, the "queued" event, then jobs_submit, which appends the id under `mu`); a worker pops it,
 * marks it running in the store and owns the trainer, its data and its scratch until the run ends —
 * nothing else ever sees them. HTTP threads read progress and metrics from the store only. Training
 * never runs on an HTTP thread.
 *
 * Cancellation: jobs_cancel first stores the request (store_run_request_cancel, committed
 * before the caller answers 202): a queued run is cancelled there and its id leaves the FIFO; a
 * running one gets cancel_requested, and the worker slot's atomic cancel flag is set to
 * CANCEL_USER; the trainer reads it between mini-batches, so a run stops within one mini-batch,
 * keeps the metrics of its finished epochs and is marked cancelled. Events: this module publishes
 * every run event of a queued run (running, epochs, final states), each after its store write; a
 * cancel that ends a run at once (queued, or waiting to resume) is published by jobs_cancel, one
 * that a worker ends by the worker (events.h, "Publishers"). A run whose cancel is stored
 * can no longer succeed (store_run_succeed refuses it), so a 202 always ends in "cancelled",
 * whatever happens after it (the last mini-batch, SIGTERM, kill -9).
 *
 * Shutdown: jobs_stop sets the flag of every slot not already cancelled by a user to
 * CANCEL_SHUTDOWN and joins the workers. A run stopped that way is NOT marked cancelled: it
 * stays "running" in the store with the checkpoint of its last committed epoch (written together
 * with that epoch's metrics in one transaction); epochs it finished after that commit were never
 * published and are trained again when it resumes (see "the compute thread" below).
 *
 * Restart: jobs_start lists unfinished runs: those whose cancel was stored are marked cancelled
 * (never resumed); those left "running" are queued first and resume from their checkpoint
 * (store_run_resume_point drops any metric points after it, so every epoch has exactly one
 * point, and counts the resume in the run's resumes / resumed_from_epoch), then queued runs in
 * creation order. Because training is deterministic for a given seed and BLAS thread count, a
 * resumed run ends with the same weights as one that never stopped.
 *
 * Store errors: a worker retries a failed read or state write of its run (store_retry, with a
 * growing pause up to 1 s) until it works or the daemon stops, so a run never stays "running"
 * without a worker; stopped first, the run is still unfinished in the store and the next start
 * takes it up again.
 *
 * Data: a worker prepares its run's matrices with trainset_prepare (server/trainset.c: columns,
 * the seeded validation split, class lists) and trains them with core/train.c.
 *
 * Epoch hook: after an epoch is stored and published, the worker calls the jobs_on_epoch hook
 * (a sweep's successive halving, server/sweep.c) on its own thread, without `mu`; the hook may
 * cancel runs through jobs_cancel, its own included (then it stops within one mini-batch).
 *
 * CPU: the worker's own work runs at nice +5, the mini-batches on a compute thread per run at
 * SCHED_IDLE that pauses while serving is busy, and the worker keeps the run's training share
 * meanwhile. A prepared run trains once the sched admits it by its memory estimate, and shares
 * OpenBLAS's threads with the runs training (sched_train_begin / sched_train_end; a cancel while
 * it waits ends it as one while it trains would). That policy, and why, is the DESIGN comment of
 * server/cpusched.c (jobs_opts.sched). */
#include "jobs.h"
#include "aecompress.h"
#include "audit.h"
#include "events.h"
#include "fairq.h"
#include "quota.h"
#include "metrics.h"
#include "modelsvc.h"
#include "bundle.h"
#include "clock.h"
#include "cpusched.h"
#include "trainset.h"

#include "train.h"

#include <assert.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

enum { CANCEL_NONE = 0, CANCEL_USER = 1, CANCEL_SHUTDOWN = 2, CANCEL_QUOTA = 3 };

typedef struct {
    char run_id[24];
    atomic_int cancel;
    int active;
    long long owner; /* the run's owner while active */
} slot;

struct jobs {
    store *st;
    registry *reg;
    jobs_hooks hooks;
    jobs_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* queue not empty, or stopping */
    pthread_cond_t stop_cv; /* stopping: cuts store_retry's pause short */
    fairq *q;               /* queued runs in fair-share order (fairq.h) */
    slot *slots;
    pthread_t *threads;
    int n_threads;
    int stopping;
    void (*epoch_fn)(void *ctx, jobs *j, const char *run_id, int epoch); /* under mu */
    void *epoch_ctx;
};

typedef struct {
    jobs *j;
    int idx;
} worker_arg;

/* ---- one run ---- */

typedef struct {
    jobs *j;
    const char *id;
    mlp_err store_rc;
    slot *sl;         /* the worker's slot: a spent quota sets its cancel to CANCEL_QUOTA */
    long long owner;  /* charged for the epochs */
    int epochs;       /* planned: the last epoch is never paused for */
    int sync_every;   /* > 0: every such epoch is handed over on its own (a sweep's rung) */
    double cpu_s;     /* CPU-seconds of the epochs being committed (the usage ledger) */
    char reason[256]; /* why a quota paused the run */
} epoch_ctx;

static void to_run_metrics(const train_metrics *m, run_metrics *rm)
{
    memset(rm, 0, sizeof *rm);
#define SET(id, val, ok)                                                                           \
    if ((ok) && isfinite(val)) {                                                                   \
        rm->v[id] = (val);                                                                         \
        rm->present |= 1u << (id);                                                                 \
    }
    SET(MET_TRAIN_LOSS, m->train_loss, 1);
    SET(MET_VAL_LOSS, m->val_loss, m->has_val);
    SET(MET_VAL_ACCURACY, m->val_accuracy, m->has_accuracy);
    SET(MET_VAL_R2, m->val_r2, m->has_r2);
    SET(MET_LEARNING_RATE, m->learning_rate, 1);
    SET(MET_EPOCH_SECONDS, m->epoch_seconds, 1);
#undef SET
    run_metrics_add_diag(rm, &m->diag);
}

/* After epochs up to `epoch` were committed with their charge (the usage ledger behind fair
 * scheduling and the train-seconds quota): pauses the run when that spent its owner's budget:
 * the flag stops it within a mini-batch and run_one puts it back in the queue. */
static void check_quota(epoch_ctx *c, int epoch)
{
    long long now = (long long)time(NULL);
    if (!c->j->o.quota || !c->sl || epoch >= c->epochs) return;
    int spent = 0;
    long long frees_at = 0;
    if (quota_train_spent(c->j->o.quota, c->owner, now, &spent, c->reason, sizeof c->reason,
                          &frees_at) != MLP_OK ||
        !spent)
        return;
    int none = CANCEL_NONE;
    atomic_compare_exchange_strong(&c->sl->cancel, &none, CANCEL_QUOTA);
}

/* Records n finished epochs (ms, in order) in one store transaction: their metrics, the charge
 * of c->cpu_s to the owner, and the checkpoint ck taken when the last of them ended (NULL: the
 * previous checkpoint stays); then, epoch by epoch, its event and the per-epoch hook. Nothing is
 * published before it is committed. */
static mlp_err epochs_commit(epoch_ctx *c, const train_metrics *ms, int n, const void *ck,
                             size_t cklen)
{
    store_epoch *eps = malloc((size_t)n * sizeof *eps);
    if (!eps) return c->store_rc = MLP_ENOMEM;
    for (int i = 0; i < n; i++) {
        eps[i].epoch = ms[i].epoch;
        to_run_metrics(&ms[i], &eps[i].m);
    }
    store_charge ch = {c->owner, c->cpu_s > 0 ? c->cpu_s : 0, (long long)time(NULL)};
    mlp_err rc = store_run_epochs(c->j->st, c->id, eps, n, ck, cklen, c->owner >= 1 ? &ch : NULL);
    c->store_rc = rc;
    if (rc == MLP_OK) check_quota(c, ms[n - 1].epoch);
    for (int i = 0; rc == MLP_OK && i < n; i++) {
        events_publish_epoch(c->j->o.events, c->id, eps[i].epoch, &eps[i].m);
        metrics_epoch();
        /* the per-epoch hook (jobs_on_epoch): a sweep's early stopping */
        pthread_mutex_lock(&c->j->mu);
        void (*fn)(void *, jobs *, const char *, int) = c->j->epoch_fn;
        void *fctx = c->j->epoch_ctx;
        pthread_mutex_unlock(&c->j->mu);
        if (fn) fn(fctx, c->j, c->id, eps[i].epoch);
    }
    free(eps);
    return rc;
}

static mlp_err on_epoch(void *vctx, const train_metrics *m, trainer *t)
{
    ((epoch_ctx *)vctx)->cpu_s = m->epoch_seconds; /* no compute thread to measure: wall time */
    void *ck = NULL;
    size_t cklen = 0;
    mlp_err rc = trainer_checkpoint(t, &ck, &cklen);
    if (rc == MLP_OK) rc = epochs_commit(vctx, m, 1, ck, cklen);
    free(ck);
    return rc;
}

/* ---- the compute thread ----
 * trainer_run's mini-batches run on a thread of their own at SCHED_IDLE; everything else of a
 * run — the store, the events hub, the registry, and the checkpoint with its transaction — stays
 * on the worker thread at nice +5. A SCHED_IDLE thread is not scheduled at all while requests
 * keep the cores busy, so it must not hold anything a request thread may wait for (the SQLite
 * write lock, the hub's mutex, a big malloc's mmap): at the end of an epoch the compute thread
 * only queues the epoch's metrics (a fixed array, no allocation). When the worker is free and
 * JOBS_HANDOFF_US have passed since the last hand-off it waits for the worker to take the
 * checkpoint (the trainer standing still); the worker then commits every queued epoch with that
 * one checkpoint while the next epoch trains. Otherwise the compute thread goes straight on:
 * short epochs (a small run's take less than its commit: bench/RESULTS.md, "Class burst") pile up
 * and go into one transaction together, so a run commits, wakes and checkpoints at most about
 * every JOBS_HANDOFF_US rather than once per epoch, and an epoch's event waits at most about that
 * long plus one epoch. It also waits when JOBS_EPOCH_BATCH epochs are queued, and at the run's last
 * epoch (planned or stopping early), so a finished run's last epoch is committed with its
 * checkpoint before the run's result, and at each rung of a sweep's successive halving
 * (epoch_ctx.sync_every), so the epoch hook judges a rung while only the next epoch trains, as
 * without batching. The worker keeps the run's training share (cpusched.c DESIGN) meanwhile. */
#define JOBS_EPOCH_BATCH 64
#define JOBS_HANDOFF_US  20000 /* 50 commits a second per run at most, but for the exceptions */

typedef struct {
    trainer *t;
    const atomic_int *cancel;
    mlp_error *err;
    int sync_every; /* epoch_ctx.sync_every */
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* on CLOCK_MONOTONIC: the share keeper's ticks */
    train_metrics *pend; /* epochs finished, not yet taken by the worker, in order */
    int n_pend;          /* at most JOBS_EPOCH_BATCH */
    int want;            /* the compute thread waits for the checkpoint of pend's last epoch */
    int busy;            /* the worker is committing */
    double handoff_s;    /* when the compute thread last handed over (clock_now_s) */
    mlp_err cb_rc;       /* a failed checkpoint or commit: the answer to the next epoch */
    int finished;
    mlp_err rc;
    sched_share acct; /* the training share, ticked by the worker under mu; the compute thread
                         reads only sched_share_owed */
} compute;

static mlp_err epoch_to_worker(void *vc, const train_metrics *m, trainer *t)
{
    (void)t;
    compute *c = vc;
    pthread_mutex_lock(&c->mu);
    mlp_err rc = c->cb_rc;
    if (rc == MLP_OK) {
        c->pend[c->n_pend++] = *m;
        double now = clock_now_s();
        if ((!c->busy && now - c->handoff_s >= JOBS_HANDOFF_US * 1e-6) ||
            c->n_pend == JOBS_EPOCH_BATCH || m->epoch >= m->epochs || m->stopping_early ||
            (c->sync_every > 0 && m->epoch % c->sync_every == 0)) {
            c->handoff_s = now;
            c->want = 1;
            pthread_cond_broadcast(&c->cv);
            while (c->want) pthread_cond_wait(&c->cv, &c->mu);
            rc = c->cb_rc;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* Between mini-batches: wait while inference requests flow, unless the run is behind its share. */
static void yield_to_serving(void *vc)
{
    compute *c = vc;
    sched_train_yield(&c->acct, c->cancel);
}

static void *compute_main(void *vc)
{
    compute *c = vc;
    sched_share_compute_begin(&c->acct);
    c->handoff_s = clock_now_s(); /* only this thread reads and writes it */
    trainer_set_yield(c->t, yield_to_serving, c);
    mlp_err rc = trainer_run(c->t, epoch_to_worker, c, c->cancel, c->err);
    pthread_mutex_lock(&c->mu);
    c->rc = rc;
    c->finished = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* CPU-seconds consumed so far by the thread of clock cpu. */
static double thread_cpu_s(clockid_t cpu)
{
    struct timespec ts;
    if (clock_gettime(cpu, &ts) != 0) return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* trainer_run(t, on_epoch, ec, cancel, err) with the batches on a SCHED_IDLE compute thread and
 * the epochs committed here; the same result and the same points. Without a thread it trains
 * here. */
static mlp_err train_at_idle(trainer *t, epoch_ctx *ec, const atomic_int *cancel, mlp_error *err)
{
    compute c = {.t = t, .cancel = cancel, .err = err, .sync_every = ec->sync_every};
    train_metrics *batch = malloc(2 * JOBS_EPOCH_BATCH * sizeof *batch);
    if (!batch) return trainer_run(t, on_epoch, ec, cancel, err);
    c.pend = batch + JOBS_EPOCH_BATCH;
    sched_share_init(&c.acct, ec->j->o.sched);
    pthread_mutex_init(&c.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c.cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_t th;
    if (pthread_create(&th, NULL, compute_main, &c) != 0) {
        pthread_cond_destroy(&c.cv);
        pthread_mutex_destroy(&c.mu);
        free(batch);
        return trainer_run(t, on_epoch, ec, cancel, err);
    }
    clockid_t cpu;
    int have_cpu = pthread_getcpuclockid(th, &cpu) == 0;
    int keep = sched_share_kept(&c.acct) && have_cpu;
    if (keep) sched_share_clock(&c.acct, cpu);
    double cpu_last = have_cpu ? thread_cpu_s(cpu) : 0; /* the compute thread's, at its start */
    double help_last = trainer_helper_cpu_s(t);         /* its helper threads', likewise */
    mlp_err commit_rc = MLP_OK;                         /* the last epochs_commit's, if it failed */
    struct timespec tick; /* the keeper's next tick: kept across epoch wake-ups */
    clock_gettime(CLOCK_MONOTONIC, &tick);
    pthread_mutex_lock(&c.mu);
    while (!c.finished) {
        if (c.want) {
            /* The compute thread waits only for the checkpoint (t is ours meanwhile); the store
             * transaction and the events follow while it trains the next epoch. */
            int n = c.n_pend;
            memcpy(batch, c.pend, (size_t)n * sizeof *batch);
            c.n_pend = 0;
            pthread_mutex_unlock(&c.mu);
            /* What the epochs cost: the compute thread's CPU-seconds since the last hand-off
             * (it stands still until answered, so nothing of the next epoch is in them). */
            double cpu_now = have_cpu ? thread_cpu_s(cpu) : 0;
            double help_now = trainer_helper_cpu_s(t);
            double wall = 0;
            for (int i = 0; i < n; i++) wall += batch[i].epoch_seconds;
            ec->cpu_s = have_cpu ? cpu_now - cpu_last + (help_now - help_last) : wall;
            cpu_last = cpu_now;
            help_last = help_now;
            void *ck = NULL;
            size_t cklen = 0;
            mlp_err rc = trainer_checkpoint(t, &ck, &cklen);
            pthread_mutex_lock(&c.mu);
            c.cb_rc = rc;
            c.want = 0;
            c.busy = rc == MLP_OK;
            sched_share_skip(&c.acct); /* the hand-off's time is neither owed nor credited */
            pthread_cond_broadcast(&c.cv);
            if (rc == MLP_OK) {
                pthread_mutex_unlock(&c.mu);
                commit_rc = epochs_commit(ec, batch, n, ck, cklen);
                pthread_mutex_lock(&c.mu);
                c.busy = 0;
                if (commit_rc) c.cb_rc = commit_rc; /* stops the run at its next epoch */
            }
            free(ck);
            continue;
        }
        if (!keep) {
            pthread_cond_wait(&c.cv, &c.mu);
            continue;
        }
        if (pthread_cond_timedwait(&c.cv, &c.mu, &tick) != ETIMEDOUT) continue;
        if (!c.finished && !c.want) sched_share_tick(&c.acct);
        clock_gettime(CLOCK_MONOTONIC, &tick);
        tick.tv_nsec += SCHED_SHARE_TICK_US * 1000L;
        if (tick.tv_nsec >= 1000000000L) {
            tick.tv_sec++;
            tick.tv_nsec -= 1000000000L;
        }
    }
    /* Epochs queued when training stopped before another hand-off (a cancel or a failure in
     * the middle of the next epoch: the trainer is between epochs no more, so no checkpoint).
     * A run that ends keeps their metrics; one that resumes later (shutdown, quota) drops them,
     * never published, and trains them again from its checkpoint. */
    int n = c.n_pend;
    c.n_pend = 0;
    int resumes = atomic_load(cancel) == CANCEL_SHUTDOWN || atomic_load(cancel) == CANCEL_QUOTA;
    if (n && commit_rc == MLP_OK && c.cb_rc == MLP_OK && !(c.rc == MLP_ECANCELLED && resumes)) {
        memcpy(batch, c.pend, (size_t)n * sizeof *batch);
        pthread_mutex_unlock(&c.mu);
        double cpu_now = have_cpu ? thread_cpu_s(cpu) : 0;
        double wall = 0;
        for (int i = 0; i < n; i++) wall += batch[i].epoch_seconds;
        ec->cpu_s = have_cpu ? cpu_now - cpu_last + (trainer_helper_cpu_s(t) - help_last) : wall;
        commit_rc = epochs_commit(ec, batch, n, NULL, 0);
        pthread_mutex_lock(&c.mu);
    }
    if (commit_rc && (c.rc == MLP_OK || c.rc == MLP_ECANCELLED)) c.rc = commit_rc;
    pthread_mutex_unlock(&c.mu);
    pthread_join(th, NULL);
    sched_share_end(&c.acct);
    trainer_set_yield(t, NULL, NULL);
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
    free(batch);
    return c.rc;
}

/* Whether a store call that returned rc on run id should be made again: after a transient error
 * (not a definite answer such as MLP_ENOTFOUND or MLP_ECONFLICT) it pauses — 50 ms, doubling up
 * to 1 s, cut short by jobs_stop — and says 1; once the daemon stops it says 0. *attempt starts
 * at 0. */
static int store_retry(jobs *j, const char *id, const char *what, mlp_err rc, int *attempt)
{
    if (rc == MLP_OK || rc == MLP_ENOTFOUND || rc == MLP_ECONFLICT || rc == MLP_EINVAL ||
        rc == MLP_ECANCELLED)
        return 0;
    int n = (*attempt)++;
    if ((n & (n + 1)) == 0) /* attempts 1, 2, 4, 8, ...: a log line without a flood */
        fprintf(stderr, "mlpd: run %s: could not %s: %s (attempt %d; retrying)\n", id, what,
                mlp_strerror(rc), n + 1);
    long ms = n < 5 ? 50L << n : 1000;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&j->mu);
    while (!j->stopping && pthread_cond_timedwait(&j->stop_cv, &j->mu, &until) == 0) {
    }
    int again = !j->stopping;
    pthread_mutex_unlock(&j->mu);
    return again;
}

/* Ends run id failed or cancelled in the store (store_retry on errors) and publishes it. */
static void finish_run(jobs *j, const char *id, run_state to, const char *error)
{
    int attempt = 0;
    mlp_err rc;
    do rc = to == RUN_CANCELLED ? store_run_cancel(j->st, id) : store_run_fail(j->st, id, error);
    while (store_retry(j, id, to == RUN_CANCELLED ? "record the cancel" : "record the failure", rc,
                       &attempt));
    if (rc == MLP_OK) events_publish_status(j->o.events, j->st, id);
}

/* A quota stopped run id at an epoch boundary: back to queued with the reason (its checkpoint
 * stays), published, and into the queue again, where it waits until its owner's budget frees.
 * A cancel stored meanwhile wins: the run ends cancelled. */
static void pause_for_quota(jobs *j, const char *id, long long owner, const char *reason)
{
    int attempt = 0;
    mlp_err rc;
    do rc = store_run_pause(j->st, id, reason);
    while (store_retry(j, id, "pause it for its quota", rc, &attempt));
    if (rc == MLP_ECANCELLED) {
        finish_run(j, id, RUN_CANCELLED, NULL);
        return;
    }
    if (rc) return; /* the daemon stops, or it already ended: the next start takes it up */
    fprintf(stderr, "mlpd: run %s paused: %s\n", id, reason);
    events_publish_status(j->o.events, j->st, id); /* queued */
    pthread_mutex_lock(&j->mu);
    rc = fairq_push(j->q, id, owner, FAIRQ_NORMAL);
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (rc)
        fprintf(stderr, "mlpd: run %s: could not queue it again (it resumes at the next start)\n",
                id);
}

/* Adds an autoencoder's compression against PCA (server/aecompress.h) to its version's meta. A
 * measurement that fails is logged and left out: it describes the model, and the model is good. */
static void annotate_compression(const char *id, const net *model, const trainset *p, char **meta)
{
    aecompress c;
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = aecompress_measure(model, p, &c, &err);
    char *with = rc ? NULL : aecompress_meta(*meta, &c);
    if (!with) {
        fprintf(stderr, "mlpd: run %s: compression not measured: %s\n", id,
                err.msg[0] ? err.msg : mlp_strerror(rc ? rc : MLP_ENOMEM));
        return;
    }
    free(*meta);
    *meta = with;
}

/* The run's estimated peak memory while it trains (core/train.h), by which the sched admits it
 * beside the runs training (cpusched.h, sched_train_begin); 0 when it cannot be estimated. */
static size_t run_memory(jobs *j, const runspec *rs, const trainset *p)
{
    train_mem m;
    if (trainer_mem_estimate(&rs->net, &rs->tp, p->n, p->nv, p->Y != NULL, sched_cores(j->o.sched),
                             &m, NULL) != MLP_OK)
        return 0;
    return m.total + m.checkpoint; /* the store's copy of each checkpoint (api/runspec.c) */
}

static void run_one(jobs *j, slot *sl)
{
    const char *id = sl->run_id;
    store_run r;
    memset(&r, 0, sizeof r);
    runspec rs;
    memset(&rs, 0, sizeof rs);
    trainset p;
    memset(&p, 0, sizeof p);
    trainer *t = NULL;
    net *model = NULL;
    void *blob = NULL, *ck = NULL;
    char *meta = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    int attempt = 0, admitted = 0;
    size_t need = 0;
    mlp_err rc;
    do rc = store_run_get(j->st, id, &r);
    while (store_retry(j, id, "read the run", rc, &attempt));
    if (rc) goto out; /* deleted, or the daemon stops: the next start takes it up */
    if (r.status != RUN_QUEUED && r.status != RUN_RUNNING) goto out; /* cancelled meanwhile */
    if (r.cancel_requested) { /* stored before a stop: it never resumes */
        finish_run(j, id, RUN_CANCELLED, NULL);
        goto out;
    }
    if (r.status == RUN_QUEUED) {
        attempt = 0;
        do rc = store_run_start(j->st, id);
        while (store_retry(j, id, "mark it running", rc, &attempt));
        if (rc) goto out; /* cancelled meanwhile, or the daemon stops */
    }
    events_publish_status(j->o.events, j->st, id); /* running */
    rc = j->hooks.decode(r.request_json, &rs, &err);
    if (rc) goto fail;
    rc = trainset_prepare(j->st, &rs, &p, &err);
    if (rc) goto fail;
    rs.net.n_in = p.d;
    rs.net.n_out = p.k;
    if (net_spec_param_count(&rs.net) > j->o.max_params) {
        rc =
            mlp_fail(&err, MLP_EINVAL, "the network has %zu parameters, more than --max-params %zu",
                     net_spec_param_count(&rs.net), j->o.max_params);
        goto fail;
    }
    /* Cores and memory are shared by the runs training (cpusched.h): wait for room. */
    need = run_memory(j, &rs, &p);
    if (!sched_train_begin(j->o.sched, need, &sl->cancel)) {
        if (atomic_load(&sl->cancel) == CANCEL_SHUTDOWN)
            fprintf(stderr, "mlpd: run %s paused for shutdown while it waited to train\n", id);
        else
            finish_run(j, id, RUN_CANCELLED, NULL);
        goto out;
    }
    admitted = 1;
    train_data td = {p.X, p.n, p.d, p.Y, p.lab};
    train_data vd = {p.Xv, p.nv, p.d, p.Yv, p.labv};
    rs.tp.threads = sched_train_threads(j->o.sched); /* admitted above: its share of the cores */
    rc = trainer_new(&rs.net, &rs.tp, &td, p.nv ? &vd : NULL, &t, &err);
    if (rc) goto fail;
    size_t cklen = 0;
    int ck_epoch = 0;
    rc = store_run_resume_point(j->st, id, &ck, &cklen, &ck_epoch);
    if (rc == MLP_OK) {
        rc = trainer_restore(t, ck, cklen, &err);
        if (rc) goto fail;
        fprintf(stderr, "mlpd: run %s resumes after epoch %d\n", id, ck_epoch);
    } else if (rc != MLP_ENOTFOUND) {
        goto fail;
    }
    epoch_ctx ec = {.j = j, .id = id, .sl = sl, .owner = r.owner_id, .epochs = rs.tp.epochs};
    char sweep_id[24];
    if (store_sweep_of_run(j->st, id, sweep_id, &ec.sync_every) != MLP_OK) ec.sync_every = 0;
    rc = train_at_idle(t, &ec, &sl->cancel, &err);
    if (rc == MLP_ECANCELLED) {
        if (atomic_load(&sl->cancel) == CANCEL_QUOTA) {
            pause_for_quota(j, id, r.owner_id, ec.reason);
        } else if (atomic_load(&sl->cancel) == CANCEL_SHUTDOWN) {
            fprintf(stderr, "mlpd: run %s paused for shutdown after epoch %d\n", id,
                    trainer_epoch(t));
        } else {
            finish_run(j, id, RUN_CANCELLED, NULL);
        }
        goto out;
    }
    if (rc) {
        if (ec.store_rc) mlp_fail(&err, rc, "could not record the epoch: %s", mlp_strerror(rc));
        goto fail;
    }
    rc = trainer_export(t, &model);
    if (rc) goto fail;
    size_t blen = 0;
    rc = bundle_encode(model, p.n_features, p.features, p.n_labels, p.labels, &blob, &blen);
    if (rc) goto fail;
    /* The version's metrics: those recorded for the epoch whose weights it serves. */
    int wepoch = trainer_export_epoch(t);
    run_metrics final = {0};
    store_metric *pts = NULL;
    int npts = 0;
    rc = store_run_metrics(j->st, id, NULL, wepoch - 1, &pts, &npts);
    for (int i = 0; !rc && i < npts && pts[i].step == wepoch; i++)
        run_metrics_set(&final, pts[i].name, pts[i].value);
    free(pts);
    if (rc) goto fail;
    meta = j->hooks.describe(r.request_json, &final, wepoch, p.n_features, p.features, p.n_labels,
                             p.labels);
    if (!meta) {
        rc = MLP_ENOMEM;
        goto fail;
    }
    if (rs.task == TASK_AUTOENCODER) annotate_compression(id, model, &p, &meta);
    int version = 0;
    rc = modelsvc_publish_run(j->st, j->reg, id, r.model_name, task_name(rs.task), p.d, p.k, meta,
                              blob, blen, &version);
    if (rc) goto fail;
    audit_publish(j->st, r.owner_id, id, r.model_name, version);
    events_publish_status(j->o.events, j->st, id);
    fprintf(stderr, "mlpd: run %s succeeded: model %s version %d\n", id, r.model_name, version);
    goto out;
fail:
    if (rc == MLP_ECANCELLED) { /* modelsvc_publish_run: a stored cancel wins over the last epoch */
        finish_run(j, id, RUN_CANCELLED, NULL);
        goto out;
    }
    if (!err.msg[0]) snprintf(err.msg, sizeof err.msg, "training failed: %s", mlp_strerror(rc));
    fprintf(stderr, "mlpd: run %s failed: %s\n", id, err.msg);
    finish_run(j, id, RUN_FAILED, err.msg);
out:
    free(meta);
    free(blob);
    free(ck);
    net_free(model);
    trainer_free(t);
    trainset_clear(&p);
    if (admitted) sched_train_end(j->o.sched, need);
    runspec_clear(&rs);
    store_run_clear(&r);
}

/* Owners whose usage one pick weighs; owners past this many in the queue count as idle. */
#define FAIR_MAX_OWNERS 256

/* Pops the next run to start, in fair-share order (fairq.h), into *it: 1, or 0 once stopping.
 * Called and returns with j->mu held; the owners' usage (training seconds over the last
 * JOBS_FAIR_WINDOW_S, and whether their train-seconds quota is spent) is read from the store
 * with the lock released. When every waiting owner is out of budget it looks again each second:
 * a raised quota or charges leaving the 24 h window let them go on. */
static int next_run(jobs *j, fairq_item *it)
{
    for (;;) {
        while (!j->stopping && fairq_len(j->q) == 0) pthread_cond_wait(&j->cv, &j->mu);
        if (j->stopping) return 0;
        long long owners[FAIR_MAX_OWNERS];
        fairq_usage us[FAIR_MAX_OWNERS];
        int n = fairq_owners(j->q, owners, FAIR_MAX_OWNERS);
        pthread_mutex_unlock(&j->mu);
        long long now = (long long)time(NULL);
        for (int i = 0; i < n; i++) {
            us[i] = (fairq_usage){owners[i], 0.0, 0, 0};
            if (store_usage_seconds(j->st, owners[i], now - JOBS_FAIR_WINDOW_S, &us[i].used_s))
                us[i].used_s = 0; /* unknown: counted as unused rather than starved */
            long long frees_at = 0;
            if (j->o.quota)
                quota_train_spent(j->o.quota, owners[i], now, &us[i].blocked, NULL, 0, &frees_at);
        }
        pthread_mutex_lock(&j->mu);
        if (j->stopping) return 0;
        for (int i = 0; i < n; i++)
            for (int w = 0; w < j->n_threads; w++)
                if (j->slots[w].active && j->slots[w].owner == owners[i]) us[i].running++;
        if (fairq_pop(j->q, us, n, it)) return 1;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&j->cv, &j->mu, &until);
    }
}

static void *worker_main(void *varg)
{
    worker_arg *a = varg;
    jobs *j = a->j;
    slot *sl = &j->slots[a->idx];
    free(a);
    /* Inference first: the worker's own work (data preparation, the store, events) at nice +5;
     * its mini-batches on a SCHED_IDLE compute thread (train_at_idle). */
    sched_worker_thread();
    for (;;) {
        pthread_mutex_lock(&j->mu);
        fairq_item it;
        if (!next_run(j, &it)) {
            pthread_mutex_unlock(&j->mu);
            break;
        }
        snprintf(sl->run_id, sizeof sl->run_id, "%s", it.id);
        atomic_store(&sl->cancel, CANCEL_NONE);
        sl->active = 1;
        sl->owner = it.owner;
        pthread_mutex_unlock(&j->mu);
        run_one(j, sl);
        malloc_trim(0); /* the run's freed pages back to the OS: idle RSS (bench/RESULTS.md) */
        pthread_mutex_lock(&j->mu);
        sl->active = 0;
        sl->run_id[0] = '\0';
        pthread_mutex_unlock(&j->mu);
    }
    return NULL;
}

/* The queue class of a new run: params.priority "high" goes ahead of the fair-share order. */
static int run_class(jobs *j, const char *request_json)
{
    runspec rs;
    int cls = FAIRQ_NORMAL;
    if (j->hooks.decode(request_json, &rs, NULL) == MLP_OK && rs.priority_high) cls = FAIRQ_HIGH;
    runspec_clear(&rs);
    return cls;
}

mlp_err jobs_submit(jobs *j, const char *run_id)
{
    store_run r;
    mlp_err rc = store_run_get(j->st, run_id, &r);
    if (rc) return rc;
    long long owner = r.owner_id;
    int cls = run_class(j, r.request_json);
    store_run_clear(&r);
    /* Accepted even when its owner's training budget is spent: it waits, saying why. */
    char reason[256];
    int spent = 0;
    long long frees_at = 0;
    if (j->o.quota &&
        quota_train_spent(j->o.quota, owner, (long long)time(NULL), &spent, reason, sizeof reason,
                          &frees_at) == MLP_OK &&
        spent)
        store_run_set_wait_reason(j->st, run_id, reason);
    pthread_mutex_lock(&j->mu);
    rc = fairq_push(j->q, run_id, owner, cls);
    if (!rc) pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

mlp_err jobs_cancel(jobs *j, const char *run_id, mlp_error *err)
{
    run_state now = RUN_QUEUED;
    mlp_err rc = store_run_request_cancel(j->st, run_id, &now);
    if (rc == MLP_ENOTFOUND) return mlp_fail(err, rc, "no run %s", run_id);
    if (rc == MLP_ECONFLICT)
        return mlp_fail(err, rc, "run %s is already %s", run_id, run_state_name(now));
    if (rc) return mlp_fail(err, rc, "could not record the cancel of run %s", run_id);
    /* Stored: from here on the run ends cancelled, at the latest at the next start. A run a
     * quota paused is queued again and leaves the queue here like any other. */
    pthread_mutex_lock(&j->mu);
    int waiting = fairq_remove(j->q, run_id);
    for (int i = 0; i < j->n_threads && !waiting; i++)
        if (j->slots[i].active && strcmp(j->slots[i].run_id, run_id) == 0)
            atomic_store(&j->slots[i].cancel, CANCEL_USER);
    pthread_mutex_unlock(&j->mu);
    /* A "running" run that waited in the FIFO to resume has no worker to end it. */
    if (waiting && now == RUN_RUNNING) {
        rc = store_run_cancel(j->st, run_id);
        if (rc == MLP_OK)
            now = RUN_CANCELLED;
        else if (rc != MLP_ECONFLICT) /* stored all the same: the next start cancels it */
            fprintf(stderr, "mlpd: run %s: cancel stored, but not yet marked: %s\n", run_id,
                    mlp_strerror(rc));
    }
    /* Ended here (a worker publishes the end of a run it trains). */
    if (now == RUN_CANCELLED) events_publish_status(j->o.events, j->st, run_id);
    return MLP_OK;
}

void jobs_on_epoch(jobs *j, void (*fn)(void *ctx, jobs *j, const char *run_id, int epoch),
                   void *ctx)
{
    pthread_mutex_lock(&j->mu);
    j->epoch_fn = fn;
    j->epoch_ctx = ctx;
    pthread_mutex_unlock(&j->mu);
}

int jobs_queue_depth(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    int n = fairq_len(j->q);
    pthread_mutex_unlock(&j->mu);
    return n;
}

mlp_err jobs_start(store *s, registry *reg, const jobs_hooks *hooks, const jobs_opts *o, jobs **out,
                   mlp_error *err)
{
    assert(o->sched);
    jobs *j = calloc(1, sizeof *j);
    if (!j) return MLP_ENOMEM;
    j->st = s;
    j->reg = reg;
    j->hooks = *hooks;
    j->o = *o;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    pthread_cond_init(&j->stop_cv, NULL);
    store_run *items = NULL;
    int n = 0;
    mlp_err rc = fairq_new(&j->q);
    if (rc) goto fail;
    rc = store_run_list_unfinished(s, &items, &n);
    if (rc) {
        mlp_fail(err, rc, "cannot list unfinished runs");
        goto fail;
    }
    for (int i = 0; i < n; i++) /* a stored cancel ends the run: it never resumes */
        if (items[i].cancel_requested && store_run_cancel(s, items[i].id) == MLP_OK) {
            fprintf(stderr, "mlpd: run %s cancelled (its cancel was stored before the stop)\n",
                    items[i].id);
            items[i].status = RUN_CANCELLED;
            events_publish_status(o->events, s, items[i].id);
        }
    for (int pass = 0; pass < 2 && !rc; pass++) /* running ones first, then queued */
        for (int i = 0; i < n && !rc; i++)
            if (items[i].status != RUN_CANCELLED && (pass == 0) == (items[i].status == RUN_RUNNING))
                rc = fairq_push(j->q, items[i].id, items[i].owner_id,
                                pass == 0 ? FAIRQ_RESUME : run_class(j, items[i].request_json));
    store_runs_free(items, n);
    if (rc) goto fail;
    j->n_threads = o->workers;
    j->slots = calloc((size_t)o->workers, sizeof *j->slots);
    j->threads = calloc((size_t)o->workers, sizeof *j->threads);
    if (!j->slots || !j->threads) {
        rc = MLP_ENOMEM;
        goto fail;
    }
    for (int i = 0; i < o->workers; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) {
            rc = MLP_ENOMEM;
            j->n_threads = i;
            goto fail;
        }
        a->j = j;
        a->idx = i;
        if (pthread_create(&j->threads[i], NULL, worker_main, a) != 0) {
            free(a);
            j->n_threads = i;
            rc = mlp_fail(err, MLP_ENOMEM, "cannot start worker thread");
            goto fail;
        }
    }
    *out = j;
    return MLP_OK;
fail:
    jobs_stop(j);
    return rc;
}

void jobs_stop(jobs *j)
{
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    j->stopping = 1;
    for (int i = 0; i < j->n_threads; i++) { /* a user's cancel stays a cancel */
        int none = CANCEL_NONE;
        if (j->slots[i].active)
            atomic_compare_exchange_strong(&j->slots[i].cancel, &none, CANCEL_SHUTDOWN);
    }
    pthread_cond_broadcast(&j->cv);
    pthread_cond_broadcast(&j->stop_cv);
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < j->n_threads; i++) pthread_join(j->threads[i], NULL);
    free(j->threads);
    free(j->slots);
    fairq_free(j->q);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    pthread_cond_destroy(&j->stop_cv);
    free(j);
}
