/* cpusched.c — the CPU policy: inference first, training at idle priority, the training share,
 * and the cores and memory shared by the runs training at once.
 *
 * DESIGN
 * Threads: OpenBLAS (whose thread count is process-wide) runs on one thread: sched_new takes the
 * count main set (the cores) as the cores to share and then sets it to 1. A run trains on its
 * own threads instead (core/train.h "Threads": each mini-batch cut into fixed pieces, so the
 * weights do not depend on how many threads run them, nor on the load), as many as
 * sched_train_threads says when it starts: cores / runs training, at least 1, so concurrent runs
 * never start more busy threads than cores while a run alone uses all of them, whatever
 * --workers is. A request computes on its own HTTP thread. So no product ever waits for
 * OpenBLAS's pool threads (at SCHED_IDLE and busy with training), and none pays OpenBLAS's
 * hand-off between threads on the many small products of a mini-batch (bench/RESULTS.md,
 * Training). A run started alone keeps its threads when others start; they train at SCHED_IDLE
 * like it, so they only take CPU that nothing else wants.
 *
 * Training memory: a run is admitted to train (sched_train_begin) only once its estimated peak
 * (core/train.h trainer_mem_estimate) fits beside those of the runs training within
 * sched_opts.train_memory; main sets that to half of physical memory unless --max-train-memory is
 * given, so --workers can exceed the cores for many small runs while a few large ones take turns
 * instead of swapping. A run alone is always admitted (its own size was bounded per run when it
 * was submitted). Admission is first come, first served: a small run never passes a large one
 * that waits, so the large one cannot starve. A waiting run gives up when its cancel flag is set
 * (a user's cancel, a spent quota, shutdown), looked at every SCHED_ADMIT_POLL_US. Tested:
 * tests/server/test_cpusched.c.
 *
 * Mini-batches run at SCHED_IDLE — on a compute thread per run (jobs.c, train_at_idle;
 * sched_share_compute_begin) and its helpers (core/train.h); OpenBLAS's own pool threads, idle
 * with the library on one thread, are put there too (sched_idle_pool, called by main before any
 * other thread exists; nice 19 where the policy is refused) — so a request thread
 * that wakes up preempts training at once, and training uses the CPU that serving leaves idle.
 * More than that, a run pauses between mini-batches while heavy inference traffic flows
 * (sched_serving_busy: >= 2,000 requests/s over the last 2 ms; looked at again every
 * SERVING_POLL_US, sched_train_yield), so it does not even take the short gaps between requests,
 * where its cache footprint and the preemption on each request's arrival cost latency. Both would
 * starve a run for as long as the load lasts; the training share below bounds them. Nothing a
 * request may wait for is held at SCHED_IDLE: the epoch callback (checkpoint, store transaction,
 * events) runs on the worker thread at nice +5 (sched_worker_thread). Measured: p99 under
 * training vs idle, bench/RESULTS.md (serving).
 *
 * Training share (--train-share, sched_opts.train_share, default 0.2 of a core): a running run
 * gets at least that share of one core whatever the inference load. Its worker keeps the account
 * while the compute thread trains (sched_share_tick, every SCHED_SHARE_TICK_US): debt += share x
 * wall time - the compute thread's CPU time (its CPU-time clock), held within +-share x
 * SCHED_SHARE_WINDOW_S so that neither a quiet spell nor a long starvation is carried for more
 * than about a second. While the debt is positive the run is owed: the compute thread is raised
 * to SCHED_OTHER nice 0 (a request thread's priority), and the pause for serving is skipped; once
 * it is even again everything returns to SCHED_IDLE and the pause. The trainer's helper threads
 * keep SCHED_IDLE: the raised compute thread takes the pieces a late helper has not claimed
 * (core/train.h), so the run advances either way. So under a load that keeps every core busy the
 * run advances in slices of about a tick at a request's priority, share of the time; helper-thread
 * time is not counted, so it may get more. The time of the epoch callback is neither owed nor
 * credited (sched_share_skip). Share 0 keeps no account (a run then trains only on CPU that serving
 * leaves). Raising a thread out of SCHED_IDLE needs CAP_SYS_NICE or RLIMIT_NICE 20; where that is
 * refused mlpd says so once and the run only skips the pause. Tested: tests/server/test_jobs.c;
 * measured: bench/serve.sh (epochs/s under load).
 *
 * Inference before training: a request's forward pass runs on its own HTTP thread with OpenBLAS
 * on one thread (above), so it never queues for OpenBLAS's pool threads; sched_infer_done counts
 * it for sched_serving_busy. */
#include "cpusched.h"
#include "clock.h"
#include "hmutex.h"

#include <assert.h>
#include <cblas.h>
#include <errno.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SERVING_POLL_US 1000 /* a paused run looks again this often */

/* A run waiting in sched_train_begin: a node of the admission FIFO, on its own stack. */
typedef struct admit_waiter {
    struct admit_waiter *next;
} admit_waiter;

struct sched {
    sched_opts o;
    /* the runs training and the serving rate, under blas_mu */
    hmutex blas_mu;
    int cores;               /* OpenBLAS's thread count at sched_new: the cores one run may use */
    int training;            /* runs between sched_train_begin and sched_train_end */
    size_t train_bytes;      /* the sum of their estimates */
    admit_waiter *waiting;   /* runs waiting for memory, oldest first */
    pthread_cond_t admit_cv; /* on CLOCK_MONOTONIC: a run ended, or a waiter left */
    uint64_t win_start_us;   /* the current SCHED_BUSY_WINDOW_US window of finished requests */
    int win_count;           /* requests finished in it */
    _Atomic uint64_t busy_until_us; /* serving counts as busy until then */
    atomic_int raise_refused;       /* said once */
};

/* A thread's CPU clock in seconds (-1 when it cannot be read); wall time is clock_now_s. */
static double cpu_s(clockid_t clk)
{
    struct timespec ts;
    if (clock_gettime(clk, &ts) != 0) return -1.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

mlp_err sched_new(const sched_opts *o, sched **out)
{
    assert(o && out);
    sched *s = calloc(1, sizeof *s);
    if (!s) return MLP_ENOMEM;
    s->o = *o;
    s->cores = o->cores > 0 ? o->cores : openblas_get_num_threads();
    openblas_set_num_threads(1); /* see Threads */
    hmutex_init(&s->blas_mu);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->admit_cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = s;
    return MLP_OK;
}

void sched_free(sched *s)
{
    if (!s) return;
    assert(!s->training && !s->waiting);
    pthread_cond_destroy(&s->admit_cv);
    hmutex_destroy(&s->blas_mu);
    free(s);
}

/* Training threads yield to every other thread: SCHED_IDLE, or nice 19 when that is refused. */
static void train_priority(pid_t tid)
{
    struct sched_param sp = {0};
    if (sched_setscheduler(tid, SCHED_IDLE, &sp) != 0) setpriority(PRIO_PROCESS, (id_t)tid, 19);
}

void sched_idle_pool(sched *s)
{
    assert(s);
    DIR *d = opendir("/proc/self/task");
    if (!d) return;
    pid_t self = getpid();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long tid = strtol(e->d_name, NULL, 10);
        if (tid <= 0 || tid == self) continue;
        train_priority((pid_t)tid);
    }
    closedir(d);
}

/* ---- inference ---- */

/* Under blas_mu: the threads each training run gets, cores / runs training. */
static int train_threads_locked(const sched *s)
{
    int n = s->cores / (s->training > 1 ? s->training : 1);
    return n < 1 ? 1 : n;
}

void sched_infer_done(sched *s)
{
    hmutex_lock(&s->blas_mu);
    uint64_t now = clock_now_us();
    if (now - s->win_start_us >= SCHED_BUSY_WINDOW_US) {
        s->win_start_us = now;
        s->win_count = 0;
    }
    if (++s->win_count >= SCHED_BUSY_REQUESTS)
        atomic_store_explicit(&s->busy_until_us, now + SCHED_BUSY_WINDOW_US, memory_order_relaxed);
    hmutex_unlock(&s->blas_mu);
}

int sched_serving_busy(sched *s)
{
    if (s->o.serving_busy) return s->o.serving_busy();
    return clock_now_us() < atomic_load_explicit(&s->busy_until_us, memory_order_relaxed);
}

int sched_cores(const sched *s)
{
    return s->cores;
}

/* ---- runs training ---- */

int sched_train_threads(sched *s)
{
    hmutex_lock(&s->blas_mu);
    int n = train_threads_locked(s);
    hmutex_unlock(&s->blas_mu);
    return n;
}

/* Under blas_mu: whether a run needing `bytes` fits beside the runs training now. Alone, any run
 * fits: its size was bounded per run when it was submitted (--max-train-memory). */
static int admit_fits(const sched *s, size_t bytes)
{
    return !s->o.train_memory || !s->training || s->train_bytes + bytes <= s->o.train_memory;
}

int sched_train_begin(sched *s, size_t bytes, const atomic_int *cancel)
{
    assert(s);
    hmutex_lock(&s->blas_mu);
    admit_waiter me = {NULL};
    admit_waiter **tail = &s->waiting;
    while (*tail) tail = &(*tail)->next;
    *tail = &me;
    int admitted = 0;
    for (;;) {
        if (s->waiting == &me && admit_fits(s, bytes)) {
            admitted = 1;
            break;
        }
        if (cancel && atomic_load(cancel)) break;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += SCHED_ADMIT_POLL_US * 1000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        hmutex_timedwait(&s->admit_cv, &s->blas_mu, &until);
    }
    for (admit_waiter **w = &s->waiting; *w; w = &(*w)->next)
        if (*w == &me) {
            *w = me.next;
            break;
        }
    if (admitted) {
        s->training++;
        s->train_bytes += bytes;
    }
    pthread_cond_broadcast(&s->admit_cv); /* the next in line may fit now */
    hmutex_unlock(&s->blas_mu);
    return admitted;
}

void sched_train_end(sched *s, size_t bytes)
{
    assert(s);
    hmutex_lock(&s->blas_mu);
    assert(s->training > 0 && s->train_bytes >= bytes);
    s->training--;
    s->train_bytes -= bytes;
    pthread_cond_broadcast(&s->admit_cv);
    hmutex_unlock(&s->blas_mu);
}

/* ---- training ---- */

void sched_worker_thread(void)
{
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 5);
}

/* SCHED_OTHER at nice 0, a request thread's priority. Leaving SCHED_IDLE (or nice 19) needs
 * CAP_SYS_NICE or RLIMIT_NICE 20; without them the run only skips the pause, said once. */
static void share_raise(sched *s, pid_t tid)
{
    struct sched_param sp = {0};
    if (sched_setscheduler(tid, SCHED_OTHER, &sp) == 0 &&
        setpriority(PRIO_PROCESS, (id_t)tid, 0) == 0)
        return;
    if (!atomic_exchange(&s->raise_refused, 1))
        fprintf(stderr,
                "mlpd: --train-share: cannot raise training out of SCHED_IDLE (%s; needs "
                "CAP_SYS_NICE or RLIMIT_NICE 20): a run gets its share only while a core is "
                "free\n",
                strerror(errno));
}

void sched_share_init(sched_share *a, sched *s)
{
    assert(a && s);
    memset(a, 0, sizeof *a);
    a->s = s;
    a->share = s->o.train_share;
}

int sched_share_kept(const sched_share *a)
{
    return a->share > 0;
}

void sched_share_clock(sched_share *a, clockid_t cpu)
{
    a->cpu = cpu;
}

void sched_share_compute_begin(sched_share *a)
{
    pid_t tid = (pid_t)syscall(SYS_gettid);
    train_priority(tid);
    atomic_store(&a->tid, (int)tid); /* the keeper may raise it from now on */
}

void sched_share_tick(sched_share *a)
{
    pid_t tid = (pid_t)atomic_load(&a->tid);
    double wall = clock_now_s(), cpu = cpu_s(a->cpu);
    if (!tid || wall < 0 || cpu < 0) return;
    if (a->last_wall > 0) {
        double lim = a->share * SCHED_SHARE_WINDOW_S;
        a->debt += a->share * (wall - a->last_wall) - (cpu - a->last_cpu);
        if (a->debt > lim) a->debt = lim;
        if (a->debt < -lim) a->debt = -lim;
    }
    a->last_wall = wall;
    a->last_cpu = cpu;
    int owe = a->debt > 0;
    if (owe == atomic_load(&a->owed)) return;
    if (owe) {
        share_raise(a->s, tid);
        atomic_store(&a->owed, 1);
    } else {
        atomic_store(&a->owed, 0);
        train_priority(tid);
    }
}

void sched_share_skip(sched_share *a)
{
    a->last_wall = 0;
}

int sched_share_owed(const sched_share *a)
{
    return atomic_load(&a->owed);
}

void sched_share_end(sched_share *a)
{
    atomic_store(&a->owed, 0);
}

void sched_train_yield(sched_share *a, const atomic_int *cancel)
{
    while (sched_serving_busy(a->s) && !atomic_load(&a->owed) && !(cancel && atomic_load(cancel)))
        usleep(SERVING_POLL_US);
}
