/* cpusched.h — the CPU policy of one daemon: inference first, training at idle priority, the
 * training share a running run is owed whatever the load, and how the cores and the training
 * memory are shared by the runs training at once (see the DESIGN comment in cpusched.c).
 * main creates one sched after setting OpenBLAS's thread count to the cores and before starting
 * any thread, keeps it in app->sched, and hands it to jobs (jobs_opts.sched: each run trains
 * between sched_train_begin and sched_train_end) and to the inference handlers (api/infer_tfs.c,
 * api/infer_v2.c call sched_infer_done after each forward pass).
 *
 * Owns: OpenBLAS's thread count (the library's one process-wide setting: one, from sched_new on),
 * the cores, the count and memory of the runs training (and so each new run's threads), and the
 * request-rate window. Borrows: nothing.
 * The file is cpusched, not sched, so that it does not shadow <sched.h> under -Iserver.
 * Threading: every function may be called from any thread, except that a sched_share belongs to
 * one run (its worker and compute thread, as described per function). No globals: all state is
 * in the sched object. */
#ifndef CPUSCHED_H
#define CPUSCHED_H

#include "mlp.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

typedef struct sched sched;

typedef struct {
    double train_share; /* CPU a running run is owed, in cores (0..1); 0: none */
    /* Bytes the runs training at once may need together (the sum of their sched_train_begin
     * estimates); 0: no bound. A run alone is always admitted. */
    size_t train_memory;
    int cores; /* the cores the runs training share; 0: OpenBLAS's thread count at sched_new */
    /* May be NULL (mlpd): the request-rate detector below decides. Tests substitute a steady
     * inference load: while it returns 1, serving counts as busy. */
    int (*serving_busy)(void);
} sched_opts;

/* Training pauses for heavy serving: busy while inference requests finish at a rate of at least
 * SCHED_BUSY_REQUESTS per SCHED_BUSY_WINDOW_US (2,000 requests/s: about a tenth of a core of
 * one-instance requests), and for one window after. */
#define SCHED_BUSY_WINDOW_US 2000
#define SCHED_BUSY_REQUESTS  4

/* A new policy: o->cores, or else OpenBLAS's thread count as it is now (main sets it to the
 * cores first), become the cores to share, and OpenBLAS's count becomes 1. *out new
 * (sched_free). */
mlp_err sched_new(const sched_opts *o, sched **out);
/* NULL-tolerant. Call after every thread that uses s has stopped. */
void sched_free(sched *s);

/* Puts every thread of the process but the caller at training priority (SCHED_IDLE, nice 19
 * where refused): OpenBLAS's pool threads (created when the library loads, idle with the library
 * on one thread). Call it from main before starting any thread of ours. */
void sched_idle_pool(sched *s);

/* ---- inference ---- */
/* Call after every forward pass of a request (it runs on the calling thread; OpenBLAS has one):
 * counts the request for sched_serving_busy. */
void sched_infer_done(sched *s);
/* 1 while serving is busy (SCHED_BUSY_*, or sched_opts.serving_busy). Lock-free. */
int sched_serving_busy(sched *s);
/* The cores to share: OpenBLAS's thread count when sched_new ran. */
int sched_cores(const sched *s);

/* ---- runs training: cores and memory ---- */
/* A waiting sched_train_begin looks at its cancel flag this often. */
#define SCHED_ADMIT_POLL_US 10000

/* Admits a run to train once its estimated peak memory `bytes` fits, with the runs training,
 * within sched_opts.train_memory (a run alone always fits), in arrival order: a later run never
 * passes one that waits. From then on it counts among the runs training, so runs starting later
 * get fewer threads (sched_train_threads). Returns
 * 1 once admitted (call sched_train_end with the same bytes), 0 when *cancel (may be NULL) became
 * non-zero first. Blocks; on the run's worker thread. */
int sched_train_begin(sched *s, size_t bytes, const atomic_int *cancel);
/* The run admitted with `bytes` has stopped training: the threads and memory are shared anew,
 * and the next waiting run may start. */
void sched_train_end(sched *s, size_t bytes);
/* The threads a run starting to train now gets (core's train_params.threads): cores / runs
 * training, at least 1 (cores when none trains). */
int sched_train_threads(sched *s);

/* ---- training ---- */
/* The calling thread runs a run's bookkeeping (data preparation, the store, events): nice +5,
 * below requests, above SCHED_IDLE. */
void sched_worker_thread(void);

/* One run's training share, kept by its worker while its compute thread trains. Embedded by
 * value in the run's state; the fields are private to cpusched.c. */
typedef struct {
    sched *s;       /* borrowed */
    double share;   /* sched_opts.train_share, cores; 0: no account kept */
    atomic_int tid; /* the compute thread's id once it runs, else 0 */
    clockid_t cpu;  /* the compute thread's CPU-time clock */
    double debt; /* CPU seconds owed: share x wall - CPU, within +-share x SCHED_SHARE_WINDOW_S */
    double last_wall; /* monotonic seconds at the previous tick; 0: none since (re)start */
    double last_cpu;  /* the compute thread's CPU seconds then */
    atomic_int owed;  /* 1 while debt > 0: raised, no pause for serving */
} sched_share;

#define SCHED_SHARE_TICK_US  10000 /* the keeper looks this often */
#define SCHED_SHARE_WINDOW_S 1.0   /* credit or debt older than about this much is forgotten */

/* Starts an account for a run on s, at s's train_share. */
void sched_share_init(sched_share *a, sched *s);
/* 1 when the account is kept (a share > 0 and a CPU clock); the worker then ticks it. */
int sched_share_kept(const sched_share *a);
/* On the worker, once the compute thread exists: its CPU-time clock; on failure no account is
 * kept. */
void sched_share_clock(sched_share *a, clockid_t cpu);
/* On the compute thread, first: puts it at SCHED_IDLE and lets the keeper raise it. */
void sched_share_compute_begin(sched_share *a);
/* On the worker, every SCHED_SHARE_TICK_US while the compute thread runs (and has not exited):
 * charges share x the wall time since the last tick, credits the compute thread's CPU time, and
 * while the run is behind raises it; lowers it once it is not. */
void sched_share_tick(sched_share *a);
/* The time until the next tick is neither owed nor credited (the epoch callback's). */
void sched_share_skip(sched_share *a);
/* 1 while the run is behind its share (read by the compute thread). */
int sched_share_owed(const sched_share *a);
/* On the worker after the compute thread has exited: the account ends (no longer owed). */
void sched_share_end(sched_share *a);

/* Between mini-batches, on the compute thread: waits while serving is busy, unless the run is
 * behind its share or *cancel is set. */
void sched_train_yield(sched_share *a, const atomic_int *cancel);

#endif
