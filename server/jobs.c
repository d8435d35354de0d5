/* jobs.c — the training queue and its worker threads.
 *
 * DESIGN
 * States: a run is queued -> running -> succeeded | failed | cancelled. The store is the truth
 * for states; this module keeps only the in-memory FIFO of queued run ids and one slot per
 * worker holding the id and cancel flag of the run it trains.
 *
 * Who may touch what: HTTP threads create runs through runsvc_submit (server/runsvc.c: the
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
 * stays "running" in the store with the checkpoint of its last finished epoch (written together
 * with that epoch's metrics in one transaction).
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
 * CPU: the worker's own work runs at nice +5, the mini-batches on a compute thread per run at
 * SCHED_IDLE that pauses while serving is busy, and the worker keeps the run's training share
 * meanwhile; that policy, and why, is the DESIGN comment of server/cpusched.c (jobs_opts.sched). */
#include "jobs.h"
#include "events.h"
#include "metrics.h"
#include "modelsvc.h"
#include "bundle.h"
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

enum { CANCEL_NONE = 0, CANCEL_USER = 1, CANCEL_SHUTDOWN = 2 };

typedef struct {
    char run_id[24];
    atomic_int cancel;
    int active;
} slot;

typedef struct {
    char id[24];
} qitem;

struct jobs {
    store *st;
    registry *reg;
    jobs_hooks hooks;
    jobs_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* queue not empty, or stopping */
    pthread_cond_t stop_cv; /* stopping: cuts store_retry's pause short */
    qitem *q;               /* ring buffer */
    int qhead, qlen, qcap;
    slot *slots;
    pthread_t *threads;
    int n_threads;
    int stopping;
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

/* Records one epoch: its metrics and the checkpoint ck (taken when the epoch ended) in one
 * store transaction, then its event. */
static mlp_err epoch_commit(epoch_ctx *c, const train_metrics *m, const void *ck, size_t cklen)
{
    run_metrics rm;
    to_run_metrics(m, &rm);
    mlp_err rc = store_run_epoch(c->j->st, c->id, m->epoch, &rm, ck, cklen);
    if (rc == MLP_OK) events_publish_epoch(c->j->o.events, c->id, m->epoch, &rm);
    c->store_rc = rc;
    if (rc == MLP_OK) metrics_epoch();
    return rc;
}

static mlp_err on_epoch(void *vctx, const train_metrics *m, trainer *t)
{
    void *ck = NULL;
    size_t cklen = 0;
    mlp_err rc = trainer_checkpoint(t, &ck, &cklen);
    if (rc == MLP_OK) rc = epoch_commit(vctx, m, ck, cklen);
    free(ck);
    return rc;
}

/* ---- the compute thread ----
 * trainer_run's mini-batches run on a thread of their own at SCHED_IDLE; everything else of a
 * run — the store, the events hub, the registry, and the epoch callback with its checkpoint and
 * transaction — stays on the worker thread at nice +5. A SCHED_IDLE thread is not scheduled at
 * all while requests keep the cores busy, so it must not hold anything a request thread may
 * wait for (the SQLite write lock, the hub's mutex, a big malloc's mmap): the compute thread
 * hands each epoch callback to the worker and waits for its answer: the checkpoint, taken while
 * the trainer stands still. The worker stores that epoch while the next one trains (the fsync of
 * a small run's commit costs about as much as its epoch: bench/RESULTS.md, "Class burst"), and
 * keeps the run's training share (cpusched.c DESIGN) meanwhile. */
typedef struct {
    trainer *t;
    const atomic_int *cancel;
    mlp_error *err;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* on CLOCK_MONOTONIC: the share keeper's ticks */
    const train_metrics *m; /* an epoch waiting for the worker; NULL again once it answered */
    mlp_err cb_rc;          /* the worker's answer to the last epoch */
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
    c->m = m;
    pthread_cond_broadcast(&c->cv);
    while (c->m) pthread_cond_wait(&c->cv, &c->mu);
    mlp_err rc = c->cb_rc;
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
    trainer_set_yield(c->t, yield_to_serving, c);
    mlp_err rc = trainer_run(c->t, epoch_to_worker, c, c->cancel, c->err);
    pthread_mutex_lock(&c->mu);
    c->rc = rc;
    c->finished = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* trainer_run(t, on_epoch, ec, cancel, err) with the batches on a SCHED_IDLE compute thread and
 * on_epoch here; the same result. Without a thread it trains here. */
static mlp_err train_at_idle(trainer *t, epoch_ctx *ec, const atomic_int *cancel, mlp_error *err)
{
    compute c = {.t = t, .cancel = cancel, .err = err};
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
        return trainer_run(t, on_epoch, ec, cancel, err);
    }
    clockid_t cpu;
    int keep = sched_share_kept(&c.acct) && pthread_getcpuclockid(th, &cpu) == 0;
    if (keep) sched_share_clock(&c.acct, cpu);
    mlp_err commit_rc = MLP_OK; /* the last epoch_commit's, if it failed */
    struct timespec tick;       /* the keeper's next tick: kept across epoch wake-ups */
    clock_gettime(CLOCK_MONOTONIC, &tick);
    pthread_mutex_lock(&c.mu);
    while (!c.finished) {
        if (c.m) {
            /* The compute thread waits only for the checkpoint (t is ours meanwhile); the store
             * transaction and the event follow while it trains the next epoch. A failed commit
             * is the answer to the next epoch, or the run's result if there is none. */
            train_metrics m = *c.m;
            pthread_mutex_unlock(&c.mu);
            void *ck = NULL;
            size_t cklen = 0;
            mlp_err rc = commit_rc ? commit_rc : trainer_checkpoint(t, &ck, &cklen);
            pthread_mutex_lock(&c.mu);
            c.cb_rc = rc;
            c.m = NULL;
            sched_share_skip(&c.acct); /* the callback's time is neither owed nor credited */
            pthread_cond_broadcast(&c.cv);
            if (rc == MLP_OK) {
                pthread_mutex_unlock(&c.mu);
                commit_rc = epoch_commit(ec, &m, ck, cklen);
                pthread_mutex_lock(&c.mu);
            }
            free(ck);
            continue;
        }
        if (!keep) {
            pthread_cond_wait(&c.cv, &c.mu);
            continue;
        }
        if (pthread_cond_timedwait(&c.cv, &c.mu, &tick) != ETIMEDOUT) continue;
        if (!c.finished && !c.m) sched_share_tick(&c.acct);
        clock_gettime(CLOCK_MONOTONIC, &tick);
        tick.tv_nsec += SCHED_SHARE_TICK_US * 1000L;
        if (tick.tv_nsec >= 1000000000L) {
            tick.tv_sec++;
            tick.tv_nsec -= 1000000000L;
        }
    }
    if (commit_rc && (c.rc == MLP_OK || c.rc == MLP_ECANCELLED)) c.rc = commit_rc;
    pthread_mutex_unlock(&c.mu);
    pthread_join(th, NULL);
    sched_share_end(&c.acct);
    trainer_set_yield(t, NULL, NULL);
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
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
    int attempt = 0;
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
    train_data td = {p.X, p.n, p.d, p.Y, p.lab};
    train_data vd = {p.Xv, p.nv, p.d, p.Yv, p.labv};
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
    epoch_ctx ec = {j, id, MLP_OK};
    rc = train_at_idle(t, &ec, &sl->cancel, &err);
    if (rc == MLP_ECANCELLED) {
        if (atomic_load(&sl->cancel) == CANCEL_SHUTDOWN) {
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
    int version = 0;
    rc = modelsvc_publish_run(j->st, j->reg, id, r.model_name, task_name(rs.task), p.d, p.k, meta,
                              blob, blen, &version);
    if (rc) goto fail;
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
    runspec_clear(&rs);
    store_run_clear(&r);
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
        while (!j->stopping && j->qlen == 0) pthread_cond_wait(&j->cv, &j->mu);
        if (j->stopping) {
            pthread_mutex_unlock(&j->mu);
            break;
        }
        qitem it = j->q[j->qhead];
        j->qhead = (j->qhead + 1) % j->qcap;
        j->qlen--;
        snprintf(sl->run_id, sizeof sl->run_id, "%s", it.id);
        atomic_store(&sl->cancel, CANCEL_NONE);
        sl->active = 1;
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

static mlp_err push(jobs *j, const char *id)
{
    if (j->qlen == j->qcap) {
        int ncap = j->qcap ? j->qcap * 2 : 64;
        qitem *q = malloc((size_t)ncap * sizeof *q);
        if (!q) return MLP_ENOMEM;
        for (int i = 0; i < j->qlen; i++) q[i] = j->q[(j->qhead + i) % j->qcap];
        free(j->q);
        j->q = q;
        j->qcap = ncap;
        j->qhead = 0;
    }
    snprintf(j->q[(j->qhead + j->qlen) % j->qcap].id, sizeof j->q[0].id, "%s", id);
    j->qlen++;
    return MLP_OK;
}

mlp_err jobs_submit(jobs *j, const char *run_id)
{
    pthread_mutex_lock(&j->mu);
    mlp_err rc = push(j, run_id);
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
    /* Stored: from here on the run ends cancelled, at the latest at the next start. */
    int waiting = 0;
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->qlen && !waiting; i++) {
        int at = (j->qhead + i) % j->qcap;
        if (strcmp(j->q[at].id, run_id) != 0) continue;
        for (int k = i; k < j->qlen - 1; k++)
            j->q[(j->qhead + k) % j->qcap] = j->q[(j->qhead + k + 1) % j->qcap];
        j->qlen--;
        waiting = 1;
    }
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

int jobs_queue_depth(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    int n = j->qlen;
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
    mlp_err rc = store_run_list_unfinished(s, &items, &n);
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
                rc = push(j, items[i].id);
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
    free(j->q);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    pthread_cond_destroy(&j->stop_cv);
    free(j);
}
