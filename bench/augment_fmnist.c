/* augment_fmnist.c — data augmentation (core/augment through core/train's params.augment) on
 * Fashion-MNIST: what it costs an epoch, and what it does to accuracy. Not part of CI.
 *
 *   augment_fmnist speed [EPOCHS] [SHIFT] [ROTATE]
 *       784-256-128-10 relu, softmax CE, momentum 0.9, lr 0.05, batch 128, seed 1234, all 60,000
 *       rows, as bench/train_fmnist.c trains it: one trainer without augmentation and one with
 *       {shift, rotate} (default 2 px, 10°) take turns, one epoch each, EPOCHS each (default 5),
 *       so that both see the same machine load. Prints the median epoch of each and the ratio:
 *       the median over e of epoch e with augmentation / epoch e without (a burst of load
 *       that hits one epoch moves one ratio, not the medians of both sides), and the same
 *       ratio of the CPU time the process spent on each epoch (all threads: less moved by
 *       other processes' load than wall time, though OpenBLAS's waiting threads spin),
 *       and first the time of the augmentation alone over the 60,000 rows (one pass), with the
 *       bilinear loop at four lanes and at the trainer's width (eight where the CPU has AVX2).
 *   augment_fmnist effect [EPOCHS] [ROWS] [SEEDS]
 *       the same net on the first ROWS training rows (default 5,000), EPOCHS (default 30), seeds
 *       1..SEEDS (default 3), standardisation on (the daemon's default), without and with
 *       {shift: 2, rotate: 10}. Accuracy on the 10,000 test rows: clean, shifted 2 px right,
 *       rotated 10°, and both (dx = 2 and 10°), each transform applied by core/augment.
 *
 * The IDX loaders, the timing and prediction helpers are bench/train_fmnist.c's: it is included
 * with its main renamed, so both benches read and score the data the same way. Data:
 * $FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist). Threads: OPENBLAS_NUM_THREADS,
 * and TRAIN_THREADS for params.threads of the speed trainers (default 1; the daemon runs
 * OpenBLAS on one thread and params.threads = cores / runs training).
 * The last line printed is one JSON object. */
#define main      train_fmnist_main
#define one_epoch train_fmnist_one_epoch /* names this driver defines its own way */
#define accuracy  train_fmnist_accuracy
#include "train_fmnist.c"
#undef main
#undef one_epoch
#undef accuracy

#include "augment.h"

#include <math.h>

int main(int argc, char **argv);

typedef struct {
    trainer *t;
    double sec[1000], cpu[1000]; /* per epoch: wall (the trainer's), CPU of the whole process */
    int n;
} turn;

static double process_cpu(void)
{
    struct timespec c;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
    return (double)c.tv_sec + c.tv_nsec * 1e-9;
}

/* Stops trainer_run after each epoch, so that two trainers can take turns. */
static mlp_err one_epoch(void *ctx, const train_metrics *m, trainer *t)
{
    (void)t;
    turn *u = ctx;
    if (u->n < 1000) u->sec[u->n++] = m->epoch_seconds;
    return MLP_EBUSY;
}

static void mlp_spec(net_spec *s, train_params *p)
{
    memset(s, 0, sizeof *s);
    s->task = TASK_CLASSIFICATION;
    s->n_in = 784;
    s->n_out = 10;
    s->n_hidden = 2;
    s->hidden[0] = 256, s->hidden[1] = 128;
    s->act = ACT_RELU;
    s->out_act = ACT_SOFTMAX;
    s->loss = LOSS_CROSS_ENTROPY;
    train_params_default(p, s->task, s->act);
    p->optimizer = OPT_MOMENTUM;
    p->momentum = 0.9;
    p->learning_rate = 0.05;
    p->batch_size = 128;
}

static void set_augment(train_params *p, int shift, double rotate)
{
    p->augment.height = p->augment.width = 28;
    p->augment.channels = 1;
    p->augment.shift = shift;
    p->augment.rotate = rotate;
}

/* Seconds (wall, and CPU of this thread) to draw and apply {shift, rotate} to every row once:
 * the augmentation alone, as an epoch does it; the median of 3 passes, with the bilinear loop
 * capped at `lanes` (aug_max_lanes: 8 is what the trainer uses where the CPU has AVX2). */
static void transform_only(int shift, double rotate, const float *X, int rows, int lanes,
                           double *wall, double *cpu)
{
    lanes = aug_max_lanes(lanes);
    aug_spec a;
    aug_default(&a);
    a.height = a.width = 28;
    a.channels = 1;
    a.shift = shift;
    a.rotate = rotate;
    float *out = malloc((784 + (size_t)aug_scratch_len(&a)) * sizeof(float));
    double w[3], c[3], sink = 0;
    rng r;
    rng_seed(&r, 1);
    for (int k = 0; k < 3; k++) {
        struct timespec c0, c1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        double t0 = now();
        for (int i = 0; i < rows; i++) {
            aug_draw d;
            aug_draw_one(&a, &r, &d);
            aug_apply(&a, &d, X + (size_t)i * 784, out, out + 784);
            sink += out[392];
        }
        w[k] = now() - t0;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        c[k] = (double)(c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) * 1e-9;
    }
    *wall = median(w, 3);
    *cpu = median(c, 3);
    printf("transform only, %d lanes: %d rows in %.3f s (%.3f s CPU), checksum %g\n", lanes, rows,
           *wall, *cpu, sink);
    free(out);
    aug_max_lanes(8);
}

static int speed(int epochs, int shift, double rotate, const float *X, int rows, const int *y)
{
    const char *tt = getenv("TRAIN_THREADS");
    int threads = tt && atoi(tt) > 0 ? atoi(tt) : 1;
    double tw, tc, tw4, tc4;
    transform_only(shift, rotate, X, rows, 4, &tw4, &tc4);
    transform_only(shift, rotate, X, rows, 8, &tw, &tc);
    net_spec s;
    train_params p[2];
    turn u[2];
    memset(u, 0, sizeof u);
    for (int k = 0; k < 2; k++) {
        mlp_spec(&s, &p[k]);
        p[k].epochs = epochs;
        p[k].standardize = 0;
        p[k].seed = 1234;
        p[k].threads = threads;
        if (k) set_augment(&p[k], shift, rotate);
        train_data d = {X, rows, 784, NULL, y};
        mlp_error err = {0};
        if (trainer_new(&s, &p[k], &d, NULL, &u[k].t, &err) != MLP_OK) {
            fprintf(stderr, "trainer_new: %s\n", err.msg);
            return 1;
        }
    }
    for (int e = 0; e < epochs; e++)
        for (int k = 0; k < 2; k++) {
            double c0 = process_cpu();
            mlp_err rc = trainer_run(u[k].t, one_epoch, &u[k], NULL, NULL);
            if (rc != MLP_EBUSY && rc != MLP_OK) return 1;
            u[k].cpu[u[k].n - 1] = process_cpu() - c0;
            printf("epoch %d %s %.3f s (%.3f s CPU)\n", e + 1, k ? "augment" : "plain  ",
                   u[k].sec[u[k].n - 1], u[k].cpu[u[k].n - 1]);
            fflush(stdout);
        }
    /* epoch e with over epoch e without: neighbours in time, same load */
    double pair[1000], cpair[1000];
    int n = u[0].n < u[1].n ? u[0].n : u[1].n;
    for (int e = 0; e < n; e++) {
        pair[e] = u[1].sec[e] / u[0].sec[e];
        cpair[e] = u[1].cpu[e] / u[0].cpu[e];
    }
    double ratio = median(pair, n), cpu_ratio = median(cpair, n);
    double plain = median(u[0].sec, u[0].n), aug = median(u[1].sec, u[1].n);
    printf("{\"mode\": \"speed\", \"epochs\": %d, \"shift\": %d, \"rotate\": %g, "
           "\"plain_seconds_per_epoch\": %.4f, \"augment_seconds_per_epoch\": %.4f, "
           "\"ratio\": %.4f, \"cpu_ratio\": %.4f, \"transform_seconds\": %.4f, "
           "\"transform_cpu_seconds\": %.4f, \"transform_cpu_seconds_4_lanes\": %.4f, "
           "\"threads\": %d, \"train_threads\": %d}\n",
           epochs, shift, rotate, plain, aug, ratio, cpu_ratio, tw, tc, tc4,
           openblas_get_num_threads(), threads);
    for (int k = 0; k < 2; k++) trainer_free(u[k].t);
    return 0;
}

/* Accuracy of n on the rows of X (nte × 784), each transformed by draw d first. */
static double accuracy(const net *n, const float *X, const int *y, int nte, const aug_draw *d)
{
    aug_spec a;
    aug_default(&a);
    a.height = a.width = 28;
    a.channels = 1;
    float *T = malloc((size_t)nte * 784 * sizeof(float));
    float *pad = malloc((size_t)aug_scratch_len(&a) * sizeof(float));
    for (int i = 0; i < nte; i++) aug_apply(&a, d, X + (size_t)i * 784, T + (size_t)i * 784, pad);
    free(pad);
    float *P = predict_all(n, T, nte, 10);
    int correct = 0;
    for (int i = 0; i < nte; i++) {
        int best = 0;
        for (int j = 1; j < 10; j++)
            if (P[i * 10 + j] > P[i * 10 + best]) best = j;
        correct += best == y[i];
    }
    free(P);
    free(T);
    return (double)correct / nte;
}

enum { TESTS = 4 };
static const char *const test_names[TESTS] = {"clean", "shift2", "rot10", "shift2_rot10"};

static int effect(int epochs, int rows, int seeds, const float *Xtr, const int *ytr,
                  const float *Xte, const int *yte, int nte)
{
    aug_draw tests[TESTS] = {{0, 0, 0.0, 1.0, 0.0, 0},
                             {2, 0, 0.0, 1.0, 0.0, 0},
                             {0, 0, 10.0 * M_PI / 180.0, 1.0, 0.0, 0},
                             {2, 0, 10.0 * M_PI / 180.0, 1.0, 0.0, 0}};
    double acc[2][16][TESTS];
    for (int seed = 1; seed <= seeds && seed <= 16; seed++)
        for (int k = 0; k < 2; k++) {
            net_spec s;
            train_params p;
            mlp_spec(&s, &p);
            p.epochs = epochs;
            p.seed = (uint64_t)seed;
            if (k) set_augment(&p, 2, 10.0);
            train_data d = {Xtr, rows, 784, NULL, ytr};
            trainer *t = NULL;
            mlp_error err = {0};
            net *n = NULL;
            double t0 = now();
            if (trainer_new(&s, &p, &d, NULL, &t, &err) != MLP_OK ||
                trainer_run(t, NULL, NULL, NULL, &err) != MLP_OK || trainer_export(t, &n)) {
                fprintf(stderr, "training: %s\n", err.msg);
                return 1;
            }
            printf("seed %d %-7s (%.1f s):", seed, k ? "augment" : "plain", now() - t0);
            for (int j = 0; j < TESTS; j++) {
                acc[k][seed - 1][j] = accuracy(n, Xte, yte, nte, &tests[j]);
                printf(" %s %.4f", test_names[j], acc[k][seed - 1][j]);
            }
            printf("\n");
            fflush(stdout);
            net_free(n);
            trainer_free(t);
        }
    printf("{\"mode\": \"effect\", \"epochs\": %d, \"rows\": %d, \"seeds\": %d", epochs, rows,
           seeds);
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < TESTS; j++) {
            double v[16];
            for (int sd = 0; sd < seeds; sd++) v[sd] = acc[k][sd][j];
            double mean = 0;
            for (int sd = 0; sd < seeds; sd++) mean += v[sd] / seeds;
            printf(", \"%s_%s_median\": %.4f, \"%s_%s_mean\": %.4f", k ? "augment" : "plain",
                   test_names[j], median(v, seeds), k ? "augment" : "plain", test_names[j], mean);
        }
    printf(", \"threads\": %d}\n", openblas_get_num_threads());
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "speed";
    const char *dir = getenv("FASHION_MNIST_DIR");
    if (!dir) dir = "/usr/share/datasets/fashion-mnist";
    int ntr, nte, rc;
    float *Xtr = load_images(dir, "train-images-idx3-ubyte.gz", &ntr);
    int *ytr = load_labels(dir, "train-labels-idx1-ubyte.gz");
    if (strcmp(mode, "speed") == 0) {
        int epochs = argc > 2 ? atoi(argv[2]) : 5;
        int shift = argc > 3 ? atoi(argv[3]) : 2;
        double rotate = argc > 4 ? atof(argv[4]) : 10.0;
        if (epochs < 1 || epochs > 1000) epochs = 5;
        rc = speed(epochs, shift, rotate, Xtr, ntr, ytr);
    } else if (strcmp(mode, "effect") == 0) {
        int epochs = argc > 2 ? atoi(argv[2]) : 30;
        int rows = argc > 3 ? atoi(argv[3]) : 5000;
        int seeds = argc > 4 ? atoi(argv[4]) : 3;
        if (rows < 1 || rows > ntr) rows = 5000;
        if (seeds < 1 || seeds > 16) seeds = 3;
        float *Xte = load_images(dir, "t10k-images-idx3-ubyte.gz", &nte);
        int *yte = load_labels(dir, "t10k-labels-idx1-ubyte.gz");
        rc = effect(epochs, rows, seeds, Xtr, ytr, Xte, yte, nte);
        free(Xte);
        free(yte);
    } else {
        fprintf(stderr,
                "usage: %s speed [EPOCHS] [SHIFT] [ROTATE] | effect [EPOCHS] [ROWS] [SEEDS]\n",
                argv[0]);
        rc = 2;
    }
    free(Xtr);
    free(ytr);
    return rc;
}
