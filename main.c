/* main.c — the mlpd daemon: configuration, start-up order, signals and shutdown. The one file
 * that sees every layer, so it sits above them at the top level: it wires api/ hooks into
 * server/ services and hands api/'s route table to the HTTP layer and the metrics.
 *
 * Start: config -> store (migrations) -> sched (CPU policy) -> registry -> jobs (re-queues
 * unfinished runs) -> HTTP. Stop (SIGTERM/SIGINT): refuse new work, stop accepting, pause running
 * runs at their last checkpoint, finish in-flight requests, exit 0. */
#include "auth.h"
#include "config.h"
#include "batcher.h"
#include "cpusched.h"
#include "events.h"
#include "guard.h"
#include "http.h"
#include "infer.h"
#include "jobs.h"
#include "quota.h"
#include "metrics.h"
#include "problem.h"
#include "ratelimit.h"
#include "registry.h"
#include "routes.h"
#include "runspec_api.h"
#include "store.h"
#include "sweep.h"
#include "users.h"

#include <cblas.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    /* Fixed malloc thresholds: glibc's dynamic ones rise after the first big matrix is freed,
     * and from then on freed memory stays in the arenas (idle RSS went from 11 to 30 MB after
     * one upload + run + predicts; bench/RESULTS.md, Daemon). Blocks of 768 KiB and more are
     * mmapped and unmapped on free; arenas give back free tops past 256 KiB. Not below 516 KiB:
     * OpenBLAS mallocs a 512 KiB buffer several times per training batch, and mmapping it each
     * time (256 KiB threshold) cost ~2400 mmap/munmap pairs and TLB shootdowns per epoch.
     * The trim threshold is high (64 MiB) because a training worker's arena is a thread arena:
     * with a small one, every free of that OpenBLAS buffer shrank the heap with
     * madvise(MADV_DONTNEED) (a TLB flush, then page faults on the next malloc), which cost
     * ~15% of an epoch; idle memory is returned by the explicit malloc_trim(0) after each run
     * and upload instead. */
    mallopt(M_MMAP_THRESHOLD, 768 * 1024);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    config cfg;
    int pr = config_parse(&cfg, argc, argv, stdout, stderr);
    if (pr != 0) return pr > 0 ? 0 : 2;
    /* Keys are hashed at once; cfg.api_keys is wiped by auth_keys_new. */
    auth_keys *keys = NULL;
    rl *rate = NULL;
    mlp_error kerr;
    mlp_error_clear(&kerr);
    if (auth_keys_new(cfg.api_keys, &keys, &kerr) != MLP_OK) {
        fprintf(stderr, "mlpd: --api-key / MLPD_API_KEYS: %s\n", kerr.msg);
        return 2;
    }
    int loopback = 0;
    char gai[160];
    if (config_resolve(cfg.host, &loopback, gai, sizeof gai) != 0) {
        fprintf(stderr, "mlpd: --listen: cannot resolve the host name '%s': %s\n", cfg.host, gai);
        auth_keys_free(keys);
        return 2;
    }
    if (!loopback && !cfg.insecure && auth_keys_count(keys) == 0) {
        fprintf(stderr,
                "mlpd: refusing to listen on %s: no API key is configured, so anyone who can "
                "reach it could write. Listen on 127.0.0.1, configure keys (--api-key KEY:SCOPE "
                "or MLPD_API_KEYS), or pass --insecure.\n",
                cfg.host);
        auth_keys_free(keys);
        return 2;
    }
    if (cfg.rate_limit > 0 &&
        rl_new(cfg.rate_limit, cfg.rate_limit < 1 ? 1 : cfg.rate_limit, &rate) != MLP_OK) {
        fprintf(stderr, "mlpd: out of memory for the rate limiter\n");
        auth_keys_free(keys);
        return 1;
    }

    /* Signals are taken by sigwait below; every thread started from here on inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* past a file size limit (ulimit -f) a write fails with EFBIG, answered 507, instead of the
     * signal killing the daemon */
    signal(SIGXFSZ, SIG_IGN);

    static app a;
    a.cfg = &cfg;
    mlp_error err;
    mlp_error_clear(&err);
    store *st = NULL;
    registry *reg = NULL;
    events *ev = NULL;
    sched *sc = NULL;
    users *us = NULL;
    jobs *jb = NULL;
    quota *qt = NULL;
    batcher *bt = NULL;
    http_server *srv = NULL;
    int code = 1;
    mlp_err rc = store_open(cfg.data_dir, &st, &err);
    if (rc) {
        fprintf(stderr, "mlpd: cannot open the store in %s: %s\n", cfg.data_dir, err.msg);
        goto out;
    }
    if (cfg.migrate_only) {
        printf("mlpd: database %s/mlpd.db is at schema version %d\n", cfg.data_dir,
               store_schema_version(st));
        code = 0;
        goto out;
    }
    /* Cores: every one; the sched takes OpenBLAS's count as the cores, puts OpenBLAS on one
     * thread and gives each run starting to train cores / runs training threads of its own
     * (cpusched.c DESIGN, Threads). Training memory: --max-train-memory bounds one run;
     * left out, a run may need half of physical memory (a --workers given divides it, the old
     * per-run rule), and the sched admits runs to train while their estimates add up to that
     * half, so more workers than cores never swap. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int blas = ncpu > 0 ? (int)ncpu : 1;
    openblas_set_num_threads(blas);
    size_t half_phys = 0;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) half_phys = (size_t)pages * (size_t)page / 2;
    sched_opts so = {.train_share = cfg.train_share / 100.0,
                     .train_memory = cfg.max_train_memory ? 0 : half_phys};
    if (!cfg.max_train_memory)
        cfg.max_train_memory = half_phys / (size_t)(cfg.workers_set ? cfg.workers : 1);
    if ((rc = sched_new(&so, &sc)) != MLP_OK) goto out;
    sched_idle_pool(sc); /* OpenBLAS's pool threads train: SCHED_IDLE (cpusched.c DESIGN) */

    if ((rc = reg_new(st, cfg.model_cache, &reg)) != MLP_OK) goto out;
    reg_set_budget(reg, cfg.model_cache_bytes);
    if ((rc = users_new(st, &us)) != MLP_OK) goto out;
    jobs_hooks hooks = {runspec_decode, runspec_describe};
    if ((rc = events_new(cfg.sse_keepalive_s, &ev)) != MLP_OK) goto out;
    quota_limits ql = {{cfg.quota_storage_bytes, cfg.quota_active_runs,
                        cfg.quota_train_seconds_per_day, cfg.quota_models,
                        cfg.quota_predict_per_second}};
    if ((rc = quota_new(st, &ql, &qt)) != MLP_OK) goto out;
    jobs_opts jo = {cfg.workers, blas, cfg.max_params, ev, sc, qt};
    rc = jobs_start(st, reg, &hooks, &jo, &jb, &err);
    if (rc) {
        fprintf(stderr, "mlpd: cannot start the training workers: %s\n", err.msg);
        goto out;
    }
    jobs_on_epoch(jb, sweep_on_epoch, st); /* a sweep's successive halving */
    a.store = st;
    a.jobs = jb;
    a.reg = reg;
    a.events = ev;
    a.sched = sc;
    a.quota = qt;
    a.users = us;
    /* as many compute threads as request threads: a batch computes where a request would have */
    batcher_opts bo = {cfg.threads, cfg.batch_timeout_us, (size_t)cfg.batch_min_params};
    if ((rc = batcher_new(&bo, sc, &bt)) != MLP_OK) goto out;
    a.batch = bt;
    metrics_init(route_table, route_count);
    http_opts ho = {.routes = route_table,
                    .n_routes = route_count,
                    .host = cfg.host,
                    .port = cfg.port,
                    .loopback_only = !cfg.insecure && auth_keys_count(keys) == 0,
                    .threads = cfg.threads,
                    .max_connections = cfg.max_connections,
                    .max_conn_per_ip = (unsigned)cfg.max_conn_per_ip,
                    .timeout_s = cfg.timeout_s,
                    .request_timeout_s = (unsigned)cfg.request_timeout_s,
                    .max_body = cfg.max_body,
                    .max_upload = cfg.max_upload,
                    .quiet = cfg.quiet,
                    .render_error = api_error,
                    .keys = keys,
                    .public_predict = cfg.public_predict,
                    .cors_origins = cfg.cors_origins,
                    .rate = rate,
                    .authorize = guard_check};
    char ebuf[256];
    if (http_start(&ho, &a, &srv, ebuf, sizeof ebuf) != 0) {
        fprintf(stderr, "mlpd: %s\n", ebuf);
        goto out;
    }
    fprintf(stderr,
            "mlpd: listening on http://%s:%d (data in %s, %d worker(s), %d core(s) shared by the "
            "runs training)\n",
            http_addr(srv), http_port(srv), cfg.data_dir, cfg.workers, blas);
    if (auth_keys_count(keys))
        fprintf(stderr, "mlpd: access: %zu API key(s)%s\n", auth_keys_count(keys),
                cfg.public_predict ? "; inference and reads open to anonymous callers" : "");
    else
        fprintf(stderr, "mlpd: access: open (no API key configured)\n");
    if (cfg.port_file[0]) {
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s.tmp", cfg.port_file);
        FILE *f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "%d\n", http_port(srv));
            fclose(f);
            rename(tmp, cfg.port_file);
        }
    }
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "mlpd: %s: draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    atomic_store(&a.shutting_down, 1);
    http_quiesce(srv);
    jobs_stop(jb); /* running runs pause at their last finished epoch */
    jb = NULL;
    events_close(ev, 2000); /* event streams end; suspended connections are resumed */
    http_stop(srv);         /* waits for in-flight requests */
    srv = NULL;
    code = 0;
    fprintf(stderr, "mlpd: stopped\n");
out:
    http_stop(srv);
    batcher_free(bt); /* after http_stop: no request is waiting in it */
    jobs_stop(jb);
    events_free(ev);
    reg_free(reg);
    quota_free(qt);
    users_free(us);
    sched_free(sc);
    store_close(st);
    rl_free(rate);
    auth_keys_free(keys);
    return code;
}
