/* train_small.c — the class burst's two tiny networks (bench/class_burst.sh) trained by the
 * mlpd core alone, to time a step of a small net. Not part of CI.
 *
 *   train_small [RUNS]   RUNS (default 5) runs of each configuration, seeds 1 .. RUNS:
 *     clf  iris-sized classifier: 150 rows x 4 features, 3 classes, hidden [16], relu, softmax
 *          cross-entropy, adam lr 1e-3, batch 16, 100 epochs
 *     ae   digits-sized denoising autoencoder: 1,797 rows x 64 (integers 0..16), hidden
 *          [32, 8, 32], relu, linear output, squared loss, adam lr 1e-3, batch 32, 60 epochs,
 *          gaussian noise std 0.3
 *   Both as the daemon runs them in the burst: no validation rows, standardize off, diagnostics
 *   on (the default), one thread (the steps are below params.parallel_min_macs). The data are
 *   generated here (class blobs, digit-like prototypes plus noise) from a fixed seed: the time
 *   of a step does not depend on the values.
 * Per configuration: the median over the runs of trainer_run's wall time (the whole run: every
 * epoch's loop, its metrics and callback) and of its CPU time (user + system), and the time per
 * mini-batch step (wall / steps); per run, the last epoch's training loss (equal losses: the same
 * computation). The build links the core given on the command line (the
 * script also builds an older tree's core with this same file). The last line is one JSON
 * object. */
#include "net.h"
#include "train.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec +
           u.ru_stime.tv_usec * 1e-6;
}

/* A data generator of its own (splitmix64), so that every core builds the same rows. */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double unit(uint64_t *s)
{
    return (double)(mix(s) >> 11) * 0x1p-53;
}

static double gauss(uint64_t *s)
{
    double u = unit(s), v = unit(s);
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct {
    double wall, cpu, loop, loss;
} run_time;

static mlp_err count_epoch(void *ctx, const train_metrics *m, trainer *t)
{
    (void)t;
    run_time *rt = ctx;
    rt->loop += m->epoch_seconds;
    rt->loss = m->train_loss;
    return MLP_OK;
}

static int run_one(const net_spec *s, train_params p, const train_data *d, run_time *out)
{
    trainer *t = NULL;
    mlp_error err = {0};
    if (trainer_new(s, &p, d, NULL, &t, &err) != MLP_OK) {
        fprintf(stderr, "trainer_new: %s\n", err.msg);
        return 1;
    }
    out->loop = 0.0;
    double c0 = cpu_now(), t0 = now();
    mlp_err rc = trainer_run(t, count_epoch, out, NULL, &err);
    out->wall = now() - t0;
    out->cpu = cpu_now() - c0;
    trainer_free(t);
    if (rc != MLP_OK) {
        fprintf(stderr, "trainer_run: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    if (runs < 1) runs = 1;
    uint64_t g = 20261207;

    /* iris-sized: three gaussian blobs in 4 dimensions */
    enum { NC = 150, FC = 4 };
    static float Xc[NC * FC];
    static int yc[NC];
    for (int i = 0; i < NC; i++) {
        yc[i] = i % 3;
        for (int j = 0; j < FC; j++) Xc[i * FC + j] = (float)(1.5 * yc[i] + j + 0.5 * gauss(&g));
    }
    /* digits-sized: ten prototypes of 64 pixels in 0..16, each row one plus noise, rounded */
    enum { ND = 1797, FD = 64 };
    static float proto[10 * FD], Xd[ND * FD];
    for (int i = 0; i < 10 * FD; i++) proto[i] = (float)(16.0 * unit(&g) * (unit(&g) < 0.5));
    for (int i = 0; i < ND; i++)
        for (int j = 0; j < FD; j++) {
            double v = floor(proto[(i % 10) * FD + j] + 3.0 * gauss(&g) + 0.5);
            Xd[i * FD + j] = (float)(v < 0 ? 0 : v > 16 ? 16 : v);
        }

    const char *name[2] = {"clf", "ae"};
    int steps[2] = {100 * ((NC + 15) / 16), 60 * ((ND + 31) / 32)};
    double wall[2][64], cpu[2][64], loop[2][64];
    if (runs > 64) runs = 64;
    for (int c = 0; c < 2; c++) {
        net_spec s;
        memset(&s, 0, sizeof s);
        s.act = ACT_RELU;
        train_params p;
        train_data d;
        if (c == 0) {
            s.task = TASK_CLASSIFICATION;
            s.n_in = FC, s.n_out = 3, s.n_hidden = 1, s.hidden[0] = 16;
            s.out_act = ACT_SOFTMAX;
            s.loss = LOSS_CROSS_ENTROPY;
            train_params_default(&p, s.task, s.act);
            p.batch_size = 16, p.epochs = 100;
            d = (train_data){Xc, NC, FC, NULL, yc};
        } else {
            s.task = TASK_AUTOENCODER;
            s.n_in = FD, s.n_out = FD, s.n_hidden = 3;
            s.hidden[0] = 32, s.hidden[1] = 8, s.hidden[2] = 32;
            s.out_act = ACT_LINEAR;
            s.loss = LOSS_SQUARED;
            train_params_default(&p, s.task, s.act);
            p.batch_size = 32, p.epochs = 60;
            p.noise = NOISE_GAUSSIAN, p.noise_std = 0.3;
            d = (train_data){Xd, ND, FD, NULL, NULL};
        }
        p.optimizer = OPT_ADAM;
        p.learning_rate = 1e-3;
        p.standardize = 0;
        for (int r = 0; r < runs; r++) {
            p.seed = (unsigned long long)r + 1;
            run_time rt;
            if (run_one(&s, p, &d, &rt)) return 1;
            wall[c][r] = rt.wall, cpu[c][r] = rt.cpu, loop[c][r] = rt.loop;
            printf("%s run %d: %.4f s (loops %.4f s, cpu %.4f s), %.2f us/step, last loss %.9g\n",
                   name[c], r + 1, rt.wall, rt.loop, rt.cpu, 1e6 * rt.wall / steps[c], rt.loss);
        }
    }
    double mw[2], mc[2], ml[2];
    for (int c = 0; c < 2; c++) {
        mw[c] = median(wall[c], runs);
        mc[c] = median(cpu[c], runs);
        ml[c] = median(loop[c], runs);
    }
    printf("{\"mode\": \"small\", \"runs\": %d, \"clf_seconds\": %.5f, \"clf_cpu_s\": %.5f, "
           "\"clf_loop_seconds\": %.5f, \"clf_us_per_step\": %.3f, \"ae_seconds\": %.5f, "
           "\"ae_cpu_s\": %.5f, \"ae_loop_seconds\": %.5f, \"ae_us_per_step\": %.3f}\n",
           runs, mw[0], mc[0], ml[0], 1e6 * mw[0] / steps[0], mw[1], mc[1], ml[1],
           1e6 * mw[1] / steps[1]);
    return 0;
}
