/* test_jobs.c — the training queue: first in, first out; cancel of a queued and of a running
 * run; what jobs_stop leaves in the store; runs taking turns under the sched's training memory
 * bound; and the share guarantee (server/cpusched.c DESIGN,
 * "Training share"). A steady inference load is simulated by a sched_opts.serving_busy that always
 * answers 1 (what sched_serving_busy answers while >= 2,000 requests/s finish), and every core is
 * kept busy by spinning threads at nice 0: a run paused for serving, or left at SCHED_IDLE, would
 * make no progress. With --train-share 20% it must still finish, at no less than 5% of its idle
 * rate of epochs: 20% of one core is 10% of an idle run on two, and the run's OpenBLAS pool thread,
 * raised with it, adds to that (about 25% measured); the margin is for a machine shared with other
 * work. With --train-share 0 it stays paused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cpusched.h"
#include "jobs.h"
#include "registry.h"
#include "runspec_api.h"
#include "store.h"
#include "tmpdir.h"

#include <cblas.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define ROWS     4096
#define FEATURES 32
#define EPOCHS   24

static atomic_int serving; /* what the synthetic serving_busy answers */

static int serving_busy(void)
{
    return atomic_load(&serving);
}

typedef struct {
    char dir[64];
    store *st;
    registry *reg;
    jobs *j;
    sched *sc;
    char ds[24];
} fixture;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ROWS x (FEATURES + 1): seeded noise features and a label "y" that depends on two of them. */
static void make_dataset(fixture *f)
{
    ds_builder *b = NULL;
    ds_table *t = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    char names[FEATURES + 1][16];
    const char *np[FEATURES + 1];
    for (int c = 0; c < FEATURES; c++) snprintf(names[c], sizeof names[c], "f%d", c);
    snprintf(names[FEATURES], sizeof names[FEATURES], "y");
    for (int c = 0; c <= FEATURES; c++) np[c] = names[c];
    assert_int_equal(ds_builder_new(0, &b), MLP_OK);
    assert_int_equal(ds_builder_set_columns(b, FEATURES + 1, np, &err), MLP_OK);
    unsigned s = 12345;
    for (int r = 0; r < ROWS; r++) {
        float row[FEATURES + 1];
        for (int c = 0; c < FEATURES; c++) {
            s = s * 1103515245u + 12345u;
            row[c] = (float)((s >> 8) & 0xffff) / 65536.0f;
        }
        row[FEATURES] = (float)((row[0] + row[1] > 1.0f) + (row[2] > 0.5f));
        assert_int_equal(ds_builder_add_row(b, FEATURES + 1, row, &err), MLP_OK);
    }
    assert_int_equal(ds_builder_finish(b, &t, &err), MLP_OK);
    store_dataset d;
    memset(&d, 0, sizeof d);
    mlp_err rc = store_dataset_create(f->st, "share", t, &d, &err);
    if (rc != MLP_OK) fail_msg("store_dataset_create: %s", err.msg);
    snprintf(f->ds, sizeof f->ds, "%s", d.id);
    ds_table_free(t);
    ds_builder_free(b);
}

/* start with `workers` workers and the sched's training memory bound (0: none). */
static void start_with(fixture *f, double share, int workers, size_t train_memory)
{
    /* As main does: the policy, with OpenBLAS's pool threads at training priority, before any
     * thread of ours starts. */
    atomic_store(&serving, 0); /* no load unless a test makes one (even after a failed one) */
    sched_opts so = {
        .train_share = share, .train_memory = train_memory, .serving_busy = serving_busy};
    assert_int_equal(sched_new(&so, &f->sc), MLP_OK);
    sched_idle_pool(f->sc);
    snprintf(f->dir, sizeof f->dir, "/tmp/mlpd-jobs-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(store_open(f->dir, &f->st, &err), MLP_OK);
    assert_int_equal(reg_new(f->st, 4, &f->reg), MLP_OK);
    make_dataset(f);
    jobs_hooks hooks = {runspec_decode, runspec_describe};
    jobs_opts o = {workers, openblas_get_num_threads(), 50u * 1000u * 1000u, NULL, f->sc, NULL};
    assert_int_equal(jobs_start(f->st, f->reg, &hooks, &o, &f->j, &err), MLP_OK);
}

static void start(fixture *f, double share)
{
    start_with(f, share, 1, 0);
}

static void stop(fixture *f)
{
    jobs_stop(f->j);
    sched_free(f->sc);
    reg_free(f->reg);
    store_close(f->st);
    tmpdir_remove(f->dir);
}

static void submit_epochs(fixture *f, const char *model, int epochs, char *id, size_t idlen);

static void submit(fixture *f, const char *model, char *id, size_t idlen)
{
    submit_epochs(f, model, EPOCHS, id, idlen);
}

static void submit_epochs(fixture *f, const char *model, int epochs, char *id, size_t idlen)
{
    char req[512];
    snprintf(req, sizeof req,
             "{\"dataset_id\": \"%s\", \"task\": \"classification\", \"target\": \"y\", "
             "\"validation\": {\"fraction\": 0}, \"params\": {\"hidden\": [256, 256], "
             "\"optimizer\": \"momentum\", \"learning_rate\": 0.05, \"batch_size\": 128, "
             "\"epochs\": %d, \"seed\": 7}}",
             f->ds, epochs);
    store_run r;
    memset(&r, 0, sizeof r);
    snprintf(r.task, sizeof r.task, "classification");
    snprintf(r.dataset_id, sizeof r.dataset_id, "%s", f->ds);
    snprintf(r.model_name, sizeof r.model_name, "%s", model);
    r.request_json = req;
    r.epochs = epochs;
    mlp_error err;
    mlp_error_clear(&err);
    r.owner_id = 1;
    mlp_err rc = store_run_create(f->st, &r, &err);
    if (rc != MLP_OK) fail_msg("store_run_create: %s", err.msg);
    r.request_json = NULL;
    snprintf(id, idlen, "%s", r.id);
    store_run_clear(&r);
    assert_int_equal(jobs_submit(f->j, id), MLP_OK);
}

/* Waits for a final state or the deadline; returns the state and the completed epochs. */
static run_state wait_final(fixture *f, const char *id, double deadline, int *epoch)
{
    for (;;) {
        store_run r;
        memset(&r, 0, sizeof r);
        assert_int_equal(store_run_get(f->st, id, &r), MLP_OK);
        run_state st = r.status;
        *epoch = r.epoch;
        store_run_clear(&r);
        if (st != RUN_QUEUED && st != RUN_RUNNING) return st;
        if (now_s() > deadline) return st;
        usleep(20 * 1000);
    }
}

static atomic_int spinning;

static void *spin_main(void *arg)
{
    (void)arg;
    volatile unsigned long x = 0;
    while (atomic_load_explicit(&spinning, memory_order_relaxed)) x++;
    return NULL;
}

/* Can a thread of this process leave SCHED_IDLE? (What raising a run behind its share needs.) */
static void *probe_main(void *arg)
{
    int *ok = arg;
    struct sched_param sp = {0};
    *ok = sched_setscheduler(0, SCHED_IDLE, &sp) == 0 &&
          sched_setscheduler(0, SCHED_OTHER, &sp) == 0 && setpriority(PRIO_PROCESS, 0, 0) == 0;
    return NULL;
}

static void run_keeps_its_share_under_load(void **state)
{
    (void)state;
    int can_raise = 0;
    pthread_t probe;
    assert_int_equal(pthread_create(&probe, NULL, probe_main, &can_raise), 0);
    pthread_join(probe, NULL);
    if (!can_raise)
        fail_msg("this test needs CAP_SYS_NICE (or RLIMIT_NICE 20): the share guarantee raises "
                 "training out of SCHED_IDLE, and this process may not");

    fixture f;
    memset(&f, 0, sizeof f);
    start(&f, 0.20);
    char id[24];
    int epoch = 0;

    /* The run's idle rate: nothing serving, nothing spinning. */
    atomic_store(&serving, 0);
    double t0 = now_s();
    submit(&f, "idle", id, sizeof id);
    assert_int_equal(wait_final(&f, id, t0 + 120, &epoch), RUN_SUCCEEDED);
    double idle_s = now_s() - t0;

    /* Under a steady inference load with every core busy at nice 0. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nspin = (int)(ncpu > 0 ? 2 * ncpu : 4);
    if (nspin > 32) nspin = 32;
    pthread_t spin[32];
    atomic_store(&serving, 1);
    atomic_store(&spinning, 1);
    for (int i = 0; i < nspin; i++)
        assert_int_equal(pthread_create(&spin[i], NULL, spin_main, NULL), 0);
    double limit = 20 * idle_s; /* 5% of the idle rate */
    t0 = now_s();
    submit(&f, "loaded", id, sizeof id);
    run_state st = wait_final(&f, id, t0 + limit, &epoch);
    double load_s = now_s() - t0;
    atomic_store(&spinning, 0);
    for (int i = 0; i < nspin; i++) pthread_join(spin[i], NULL);
    atomic_store(&serving, 0);
    print_message("share 20%%: %d epochs idle in %.2f s (%.1f epochs/s); under a steady inference "
                  "load and %d spinning threads: %s after %.2f s, %d epochs (%.2f epochs/s, "
                  "%.0f%% of idle)\n",
                  EPOCHS, idle_s, EPOCHS / idle_s, nspin, run_state_name(st), load_s, epoch,
                  epoch / load_s, 100.0 * (epoch / load_s) / (EPOCHS / idle_s));
    if (st == RUN_RUNNING) jobs_cancel(f.j, id, NULL);
    stop(&f);
    assert_int_equal(st, RUN_SUCCEEDED);
    assert_true(load_s <= limit);
}

static void share_zero_keeps_the_pause(void **state)
{
    (void)state;
    fixture f;
    memset(&f, 0, sizeof f);
    start(&f, 0);
    char id[24];
    int epoch = -1;
    atomic_store(&serving, 1);
    submit(&f, "paused", id, sizeof id);
    assert_int_equal(wait_final(&f, id, now_s() + 1.5, &epoch), RUN_RUNNING);
    assert_int_equal(epoch, 0); /* not one mini-batch while serving is busy */
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(jobs_cancel(f.j, id, &err), MLP_OK);
    assert_int_equal(wait_final(&f, id, now_s() + 30, &epoch), RUN_CANCELLED);
    atomic_store(&serving, 0);
    stop(&f);
}

/* A run's state and completed epochs in the store. */
static run_state state_of(fixture *f, const char *id, int *epoch, int *started)
{
    store_run r;
    memset(&r, 0, sizeof r);
    assert_int_equal(store_run_get(f->st, id, &r), MLP_OK);
    run_state st = r.status;
    if (epoch) *epoch = r.epoch;
    if (started) *started = r.started_at[0] != '\0';
    store_run_clear(&r);
    return st;
}

/* Waits until run id has completed at least `epoch` epochs (or the deadline). */
static int wait_epoch(fixture *f, const char *id, int epoch, double deadline)
{
    for (;;) {
        int e = 0;
        run_state st = state_of(f, id, &e, NULL);
        if (e >= epoch || (st != RUN_QUEUED && st != RUN_RUNNING) || now_s() > deadline) return e;
        usleep(5 * 1000);
    }
}

/* One worker serves the queue first in, first out: whenever a run has left "queued", every run
 * submitted before it has too. */
static void queue_is_fifo(void **state)
{
    (void)state;
    fixture f;
    memset(&f, 0, sizeof f);
    start(&f, 0);
    char id[5][24];
    for (int i = 0; i < 5; i++) {
        char model[24];
        snprintf(model, sizeof model, "fifo%d", i);
        submit_epochs(&f, model, 2, id[i], sizeof id[i]);
    }
    int done = 0, seen_running[5] = {0};
    double deadline = now_s() + 120;
    while (!done && now_s() < deadline) {
        int left = 0; /* the latest run seen out of the queue, read last to first */
        done = 1;
        for (int i = 4; i >= 0; i--) {
            run_state st = state_of(&f, id[i], NULL, NULL);
            if (st == RUN_RUNNING) seen_running[i] = 1;
            if (st != RUN_QUEUED && !left) left = i + 1;
            if (left && i < left) assert_int_not_equal(st, RUN_QUEUED);
            done &= st == RUN_SUCCEEDED;
        }
        usleep(2 * 1000);
    }
    assert_true(done);
    int observed = 0;
    for (int i = 0; i < 5; i++) observed += seen_running[i];
    assert_true(observed >= 2); /* the check above saw runs move, not only the end */
    stop(&f);
}

/* A cancelled queued run never runs and ends cancelled at once; a cancelled running run stops
 * within a mini-batch (no further epoch finishes) and ends cancelled with its epochs' metrics. */
static void cancel_queued_and_running(void **state)
{
    (void)state;
    fixture f;
    memset(&f, 0, sizeof f);
    start(&f, 0);
    char a[24], b[24];
    submit_epochs(&f, "long", 1000, a, sizeof a);
    assert_true(wait_epoch(&f, a, 1, now_s() + 60) >= 1); /* a trains: b comes second */
    submit_epochs(&f, "waits", 2, b, sizeof b);
    mlp_error err;
    mlp_error_clear(&err);
    int epoch = 0, started = 1;
    assert_int_equal(jobs_cancel(f.j, b, &err), MLP_OK);
    assert_int_equal(state_of(&f, b, &epoch, &started), RUN_CANCELLED); /* at once */
    assert_int_equal(jobs_queue_depth(f.j), 0);
    assert_int_equal(jobs_cancel(f.j, b, &err), MLP_ECONFLICT);
    assert_int_equal(jobs_cancel(f.j, "run_999999", &err), MLP_ENOTFOUND);

    int at_cancel = 0;
    state_of(&f, a, &at_cancel, NULL);
    double t0 = now_s();
    assert_int_equal(jobs_cancel(f.j, a, &err), MLP_OK);
    run_state st = wait_final(&f, a, t0 + 30, &epoch);
    assert_int_equal(st, RUN_CANCELLED);
    /* the epoch under way when the cancel was stored is the last that may finish */
    assert_true(epoch <= at_cancel + 1);
    assert_true(epoch >= 1);
    store_metric *pts = NULL;
    int n = 0;
    assert_int_equal(store_run_metrics(f.st, a, NULL, 0, &pts, &n), MLP_OK);
    assert_true(n > 0); /* the finished epochs' metrics stay */
    free(pts);
    /* b never started, even once the worker was free */
    usleep(100 * 1000);
    assert_int_equal(state_of(&f, b, &epoch, &started), RUN_CANCELLED);
    assert_int_equal(epoch, 0);
    assert_false(started);
    stop(&f);
}

/* Two workers, but training memory for one run at a time (every run is larger than the bound):
 * a second run is picked up (running) yet trains no epoch while the first trains; a cancel while
 * it waits ends it cancelled without an epoch; and a run waiting trains once the first has ended.
 * The sched's side (order, sizes) is tests/server/test_cpusched.c's. */
static void memory_bound_admits_one_run_at_a_time(void **state)
{
    (void)state;
    fixture f;
    memset(&f, 0, sizeof f);
    start_with(&f, 0, 2, 1);
    char a[24], b[24], c[24];
    submit_epochs(&f, "long", 1000, a, sizeof a);
    assert_true(wait_epoch(&f, a, 1, now_s() + 60) >= 1); /* a trains: b comes second */
    submit_epochs(&f, "waits", 2, b, sizeof b);
    double until = now_s() + 60;
    while (state_of(&f, b, NULL, NULL) != RUN_RUNNING && now_s() < until) usleep(2 * 1000);
    assert_int_equal(state_of(&f, b, NULL, NULL), RUN_RUNNING); /* its worker has taken it */
    int ea = 0, eb = -1;
    state_of(&f, a, &ea, NULL);
    assert_true(wait_epoch(&f, a, ea + 2, now_s() + 60) >= ea + 2); /* a trains on */
    assert_int_equal(state_of(&f, b, &eb, NULL), RUN_RUNNING);
    assert_int_equal(eb, 0); /* b waits for memory */
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(jobs_cancel(f.j, b, &err), MLP_OK);
    assert_int_equal(wait_final(&f, b, now_s() + 30, &eb), RUN_CANCELLED);
    assert_int_equal(eb, 0);
    /* c waits the same way, and trains once a has ended */
    submit_epochs(&f, "after", 2, c, sizeof c);
    until = now_s() + 60;
    while (state_of(&f, c, NULL, NULL) != RUN_RUNNING && now_s() < until) usleep(2 * 1000);
    assert_int_equal(state_of(&f, c, NULL, NULL), RUN_RUNNING);
    state_of(&f, a, &ea, NULL);
    assert_true(wait_epoch(&f, a, ea + 2, now_s() + 60) >= ea + 2);
    int ec = -1;
    assert_int_equal(state_of(&f, c, &ec, NULL), RUN_RUNNING);
    assert_int_equal(ec, 0);
    assert_int_equal(jobs_cancel(f.j, a, &err), MLP_OK);
    assert_int_equal(wait_final(&f, a, now_s() + 30, &ea), RUN_CANCELLED);
    assert_int_equal(wait_final(&f, c, now_s() + 120, &ec), RUN_SUCCEEDED);
    assert_int_equal(ec, 2);
    stop(&f);
}

/* The worker stores an epoch while the next one trains; a commit the store refuses still stops
 * the run at the next epoch. Here the run is marked cancelled in the store behind jobs' back (as
 * another process could), so every later store_run_epoch answers MLP_ECONFLICT: the worker must
 * come free for the queued run long before the 1000 epochs would end. */
static void refused_commit_stops_the_run(void **state)
{
    (void)state;
    fixture f;
    memset(&f, 0, sizeof f);
    start(&f, 0);
    char a[24], b[24];
    submit_epochs(&f, "refused", 1000, a, sizeof a);
    submit_epochs(&f, "next", 2, b, sizeof b);
    assert_true(wait_epoch(&f, a, 2, now_s() + 60) >= 2);
    assert_int_equal(store_run_cancel(f.st, a), MLP_OK);
    int epoch = 0, at = 0;
    assert_int_equal(wait_final(&f, b, now_s() + 30, &epoch), RUN_SUCCEEDED);
    assert_int_equal(epoch, 2);
    assert_int_equal(state_of(&f, a, &at, NULL), RUN_CANCELLED);
    assert_true(at >= 2 && at < 1000);
    stop(&f);
}

/* jobs_stop with one run training and one queued: the running one stays "running" with the
 * checkpoint of its last finished epoch (the next start resumes it), the queued one stays
 * queued and never started. */
static void shutdown_keeps_running_and_queued(void **state)
{
    (void)state;
    fixture f;
    memset(&f, 0, sizeof f);
    start(&f, 0);
    char a[24], b[24];
    submit_epochs(&f, "stopped", 1000, a, sizeof a);
    submit_epochs(&f, "queued", 2, b, sizeof b);
    assert_true(wait_epoch(&f, a, 2, now_s() + 60) >= 2);
    jobs_stop(f.j);
    f.j = NULL;
    int epoch = 0, started = 0;
    assert_int_equal(state_of(&f, a, &epoch, &started), RUN_RUNNING);
    assert_true(epoch >= 2 && epoch < 1000);
    assert_true(started);
    void *ck = NULL;
    size_t cklen = 0;
    int ck_epoch = 0;
    assert_int_equal(store_run_resume_point(f.st, a, &ck, &cklen, &ck_epoch), MLP_OK);
    assert_int_equal(ck_epoch, epoch); /* the last finished epoch is checkpointed */
    assert_true(cklen > 0);
    free(ck);
    assert_int_equal(state_of(&f, b, &epoch, &started), RUN_QUEUED);
    assert_int_equal(epoch, 0);
    assert_false(started);
    stop(&f);
}

int main(void)
{
    /* As main does: OpenBLAS on every core (its pool threads are lowered by start). */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    openblas_set_num_threads(ncpu > 0 ? (int)ncpu : 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(run_keeps_its_share_under_load),
        cmocka_unit_test(share_zero_keeps_the_pause),
        cmocka_unit_test(queue_is_fifo),
        cmocka_unit_test(memory_bound_admits_one_run_at_a_time),
        cmocka_unit_test(cancel_queued_and_running),
        cmocka_unit_test(shutdown_keeps_running_and_queued),
        cmocka_unit_test(refused_commit_stops_the_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
