/* diag_cost.c — what the per-layer diagnostics (core/diag.h, issue 14) add to a training epoch,
 * measured in one process: two trainers of the Fashion-MNIST MLP of bench/train_fmnist.c
 * (784-256-128-10 relu, momentum 0.9, lr 0.05, batch 128, 60,000 rows, seed 1234), one with
 * params.diagnostics and one without, train alternately one epoch at a time, so that the load of
 * a shared machine falls on both alike. Each epoch's time is the trainer's own epoch_seconds (the
 * mini-batch loop, where the diagnostics run), and the CPU time of the process over that
 * trainer_run call (every thread, OpenBLAS's included): on a busy shared machine wall times swing
 * by tens of percent from one epoch to the next, CPU time much less. Prints one line per epoch
 * pair, then one JSON object: the median epoch of each, the medians of the per-pair ratios on /
 * off (wall and CPU), and whether the two ended with the same weights (the diagnostics only
 * read).
 *
 *   diag_cost [EPOCHS]     (default 10; the data as in train_fmnist.c: $FASHION_MNIST_DIR)
 *
 * The IDX loading and the median are bench/train_fmnist.c's: that file is included here with its
 * main renamed, so both benches read the data the same way without a second copy. */
#define main train_fmnist_main
#include "train_fmnist.c"
#undef main

#include "train_internal.h"

typedef struct {
    double sec;
} last_epoch;

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Records the epoch's time and stops, so that the other trainer takes the next epoch. */
static mlp_err one_epoch(void *ctx, const train_metrics *m, trainer *t)
{
    (void)t;
    ((last_epoch *)ctx)->sec = m->epoch_seconds;
    return MLP_ECANCELLED;
}

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 10;
    if (epochs < 1 || epochs > 1000) {
        fprintf(stderr, "usage: %s [EPOCHS (1..1000)]\n", argv[0]);
        return 2;
    }
    const char *dir = getenv("FASHION_MNIST_DIR");
    if (!dir) dir = "/usr/share/datasets/fashion-mnist";
    int ntr;
    float *Xtr = load_images(dir, "train-images-idx3-ubyte.gz", &ntr);
    int *ytr = load_labels(dir, "train-labels-idx1-ubyte.gz");
    net_spec s;
    memset(&s, 0, sizeof s);
    s.task = TASK_CLASSIFICATION;
    s.n_in = 784;
    s.n_out = 10;
    s.n_hidden = 2;
    s.hidden[0] = 256, s.hidden[1] = 128;
    s.act = ACT_RELU;
    s.out_act = ACT_SOFTMAX;
    s.loss = LOSS_CROSS_ENTROPY;
    train_params p;
    train_params_default(&p, s.task, s.act);
    p.optimizer = OPT_MOMENTUM;
    p.momentum = 0.9;
    p.learning_rate = 0.05;
    p.batch_size = 128;
    p.epochs = epochs;
    p.standardize = 0;
    p.seed = 1234;
    train_data d = {Xtr, ntr, 784, NULL, ytr};
    trainer *t[2] = {NULL, NULL}; /* [0] diagnostics off, [1] on */
    for (int k = 0; k < 2; k++) {
        mlp_error err = {0};
        p.diagnostics = k;
        if (trainer_new(&s, &p, &d, NULL, &t[k], &err) != MLP_OK) {
            fprintf(stderr, "trainer_new: %s\n", err.msg);
            return 1;
        }
    }
    double sec[2][1000], cpu[2][1000], ratio[1000], cratio[1000];
    for (int e = 0; e < epochs; e++) {
        for (int i = 0; i < 2; i++) {
            int k = (e + i) % 2; /* alternate which goes first */
            last_epoch le = {0};
            mlp_error err = {0};
            double c0 = cpu_now();
            mlp_err rc = trainer_run(t[k], one_epoch, &le, NULL, &err);
            cpu[k][e] = cpu_now() - c0;
            if (rc != MLP_ECANCELLED && rc != MLP_OK) {
                fprintf(stderr, "trainer_run: %s %s\n", mlp_strerror(rc), err.msg);
                return 1;
            }
            sec[k][e] = le.sec;
        }
        ratio[e] = sec[1][e] / sec[0][e];
        cratio[e] = cpu[1][e] / cpu[0][e];
        printf("epoch %d: wall on %.4f s, off %.4f s, on/off %.4f | cpu on %.4f s, off %.4f s, "
               "on/off %.4f\n",
               e + 1, sec[1][e], sec[0][e], ratio[e], cpu[1][e], cpu[0][e], cratio[e]);
        fflush(stdout);
    }
    size_t n;
    const float *w0 = trainer_params_mut(t[0], &n), *w1 = trainer_params_mut(t[1], &n);
    int same = memcmp(w0, w1, n * sizeof(float)) == 0;
    double on = median(sec[1], epochs), off = median(sec[0], epochs);
    double r = median(ratio, epochs), con = median(cpu[1], epochs), coff = median(cpu[0], epochs);
    double cr = median(cratio, epochs);
    printf("{\"mode\": \"diag_cost\", \"epochs\": %d, \"on_seconds_per_epoch\": %.4f, "
           "\"off_seconds_per_epoch\": %.4f, \"median_pair_ratio\": %.4f, "
           "\"on_cpu_seconds_per_epoch\": %.4f, \"off_cpu_seconds_per_epoch\": %.4f, "
           "\"median_pair_cpu_ratio\": %.4f, \"same_weights\": %s, \"threads\": %d}\n",
           epochs, on, off, r, con, coff, cr, same ? "true" : "false", openblas_get_num_threads());
    trainer_free(t[0]);
    trainer_free(t[1]);
    free(Xtr);
    free(ytr);
    return 0;
}
