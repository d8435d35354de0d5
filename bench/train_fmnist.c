/* train_fmnist.c — training benchmark of the mlpd core on Fashion-MNIST, matching the PyTorch
 * peers in bench/peers (mlp_torch.py, ae_torch.py). Not part of CI.
 *
 *   train_fmnist mlp [EPOCHS]        784-256-128-10 relu, softmax CE, momentum 0.9, lr 0.05,
 *                                    batch 128, seed 1234, standardize off, no validation
 *   train_fmnist ae [EPOCHS] [SIGMA] [KEY=VALUE...]
 *                                    784-256-32-256-784 relu, sigmoid out, squared loss, adam
 *                                    1e-3, batch 128; SIGMA > 0: denoising gaussian noise.
 *                                    Experiment knobs, one at a time (bench/ae_fmnist.sh runs
 *                                    none): init=he|xavier|small (the core's schemes) or
 *                                    init=torch (PyTorch's nn.Linear default written over the
 *                                    core's draw: W and b ~ U(±1/√fan_in); only on layers=0123
 *                                    and part=wb, W and/or b), init=he_out (he, and He's
 *                                    N(0, 2/fan_in) on the first and output layers as well: the
 *                                    core's he before issue 16), first=lecun (the first layer
 *                                    from N(0, 1/fan_in)), eps=E (Adam's ε), seed=N
 *   train_fmnist gemm [EPOCHS]       only the cblas_sgemm calls of one mlp epoch (the ceiling)
 *   train_fmnist alt [EPOCHS]        gemm, mlp on the trainer's threads, mlp on OpenBLAS's
 *                                    threads, interleaved epoch by epoch (see alt_mlp)
 *
 * Our squared loss is 0.5·Σ_pixels (x̂−x)² per row, PyTorch's mse_loss is the mean over pixels:
 * the gradients differ by the constant factor 784/2, which Adam's update ignores (it divides by
 * the root of the second moment), so lr 1e-3 is PyTorch's step; the reported test MSE is
 * PyTorch's definition, mean over rows and pixels of (x̂−x)².
 * Data: $FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist), IDX gzip, pixels / 255.
 * Threads: OPENBLAS_NUM_THREADS (the core never sets them) and TRAIN_THREADS (train_params.threads,
 * default 1: the trainer's own threads, which compute only while OpenBLAS runs one thread).
 * Prints one line per epoch, then one JSON object as the last line. */
#include "net.h"
#include "rng.h"
#include "train.h"
#include "train_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <time.h>
#include <zlib.h>

extern int openblas_get_num_threads(void);

static unsigned char *read_idx(const char *dir, const char *name, int ndim, int *dims)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    gzFile f = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    unsigned char hdr[16];
    if (gzread(f, hdr, 4 + 4 * ndim) != 4 + 4 * ndim) goto bad;
    size_t total = 1;
    for (int i = 0; i < ndim; i++) {
        const unsigned char *p = hdr + 4 + 4 * i;
        dims[i] = (int)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        total *= (size_t)dims[i];
    }
    unsigned char *data = malloc(total);
    if (!data || gzread(f, data, (unsigned)total) != (int)total) goto bad;
    gzclose(f);
    return data;
bad:
    fprintf(stderr, "cannot read %s\n", path);
    exit(2);
}

static float *load_images(const char *dir, const char *name, int *rows)
{
    int dims[3];
    unsigned char *u = read_idx(dir, name, 3, dims);
    size_t n = (size_t)dims[0] * dims[1] * dims[2];
    float *X = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) X[i] = u[i] / 255.0f;
    free(u);
    *rows = dims[0];
    return X;
}

static int *load_labels(const char *dir, const char *name)
{
    int dims[1];
    unsigned char *u = read_idx(dir, name, 1, dims);
    int *y = malloc((size_t)dims[0] * sizeof(int));
    for (int i = 0; i < dims[0]; i++) y[i] = u[i];
    free(u);
    return y;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (every thread: ours, OpenBLAS's pool, the helpers). */
static double cpu_now(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double sec[1000];
    int n;
} times;

static mlp_err on_epoch(void *ctx, const train_metrics *m, trainer *t)
{
    (void)t;
    times *ts = ctx;
    if (ts->n < 1000) ts->sec[ts->n++] = m->epoch_seconds;
    printf("epoch %d/%d train_loss %.5f lr %g epoch_seconds %.3f\n", m->epoch, m->epochs,
           m->train_loss, m->learning_rate, m->epoch_seconds);
    fflush(stdout);
    return MLP_OK;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmpd);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float *predict_all(const net *n, const float *X, int rows, int k)
{
    float *Y = malloc((size_t)rows * k * sizeof(float));
    float *scratch = malloc(net_scratch_floats(n, 1000) * sizeof(float));
    for (int s = 0; s < rows; s += 1000) {
        int nb = rows - s < 1000 ? rows - s : 1000;
        if (net_predict(n, X + (size_t)s * 784, nb, Y + (size_t)s * k, scratch) != MLP_OK) exit(1);
    }
    free(scratch);
    return Y;
}

/* PyTorch's nn.Linear default (kaiming_uniform(a=√5) for W, U(±1/√fan_in) for b) written over
 * the dense layers of a freshly made trainer (net layout: W0, b0, W1, b1, ...). */
static void init_torch(trainer *t, const int *dim, int nl, uint64_t seed, const char *layers,
                       const char *part)
{
    size_t n = 0, at = 0;
    float *w = trainer_params_mut(t, &n);
    rng r;
    rng_seed(&r, seed ^ 0x7f4a7c15u);
    for (int l = 0; l < nl; l++) {
        double b = 1.0 / sqrt((double)dim[l]);
        size_t nw = (size_t)dim[l] * dim[l + 1], len = nw + (size_t)dim[l + 1];
        int here = strchr(layers, '0' + l) != NULL;
        for (size_t i = 0; i < len && at < n; i++, at++) {
            float u = (float)(b * (2.0 * rng_uniform(&r) - 1.0));
            if (here && strchr(part, i < nw ? 'w' : 'b')) w[at] = u;
        }
    }
}

/* The GEMMs of one mlp epoch (60000 rows, batch 128) exactly as core/train.c issues them with
 * OpenBLAS on several threads (one call per product); buf: 8 buffers of gemm_buf_floats(). */
static size_t gemm_buf_floats(void)
{
    return (size_t)128 * 784 + 784 * 256;
}

static float **gemm_bufs(void)
{
    float **buf = malloc(8 * sizeof *buf);
    for (int i = 0; i < 8; i++) {
        buf[i] = calloc(gemm_buf_floats(), sizeof(float));
        for (size_t j = 0; j < gemm_buf_floats(); j++)
            buf[i][j] = (float)((j * 7919) % 1000) / 1000.f - 0.5f;
    }
    return buf;
}

static double gemm_epoch(float **buf)
{
    const int dims[4] = {784, 256, 128, 10}, N = 60000, B = 128;
    double t0 = now();
    for (int s = 0; s < N; s += B) {
        int nb = N - s < B ? N - s : B;
        for (int l = 0; l < 3; l++) /* Z = X·Wᵀ */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, dims[l + 1], dims[l], 1.0f,
                        buf[0], dims[l], buf[1], dims[l], 0.0f, buf[2], dims[l + 1]);
        for (int l = 2; l >= 0; l--) {
            /* dW = dZᵀ·X */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dims[l + 1], dims[l], nb, 1.0f,
                        buf[3], dims[l + 1], buf[4], dims[l], 0.0f, buf[5], dims[l]);
            if (l > 0) /* dX = dZ·W */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, dims[l], dims[l + 1],
                            1.0f, buf[3], dims[l + 1], buf[1], dims[l], 0.0f, buf[6], dims[l]);
        }
    }
    return now() - t0;
}

static int gemm_only(int epochs)
{
    float **buf = gemm_bufs();
    double sec[1000];
    for (int e = 0; e < epochs && e < 1000; e++) {
        sec[e] = gemm_epoch(buf);
        printf("gemm epoch %d seconds %.3f\n", e + 1, sec[e]);
    }
    printf("{\"mode\": \"gemm\", \"seconds_per_epoch\": %.4f, \"threads\": %d}\n",
           median(sec, epochs), openblas_get_num_threads());
    return 0;
}

static double accuracy(const net *n, const float *Xte, const int *yte, int nte)
{
    float *P = predict_all(n, Xte, nte, 10);
    int correct = 0;
    for (int i = 0; i < nte; i++) {
        int best = 0;
        for (int j = 1; j < 10; j++)
            if (P[i * 10 + j] > P[i * 10 + best]) best = j;
        correct += best == yte[i];
    }
    free(P);
    return (double)correct / nte;
}

/* The epoch callback of alt: keep the epoch's time and pause trainer_run (a later call goes on
 * with the next epoch). */
static mlp_err one_epoch(void *ctx, const train_metrics *m, trainer *t)
{
    (void)t;
    *(double *)ctx = m->epoch_seconds;
    return MLP_EBUSY;
}

/* Sleeps ms milliseconds (untimed, between alt's legs). */
static void pause_ms(long ms)
{
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* alt: epoch by epoch in one process, in ABBA order, (1) the GEMM-only epoch with OpenBLAS on
 * `threads` threads, (2) ours: OpenBLAS on 1 thread, params.threads = threads, (3) ours_blas:
 * OpenBLAS on `threads` threads, params.threads = 1; per-round ratios to (1), then medians. On
 * a loaded machine the load moves within seconds, so variants a whole process apart (the other
 * modes) are not comparable. Before each leg the process sleeps ALT_PAUSE_MS (default 300 ms,
 * untimed): OpenBLAS's pool threads go on spinning for about 0.1 s after a leg on 2 OpenBLAS
 * threads (its thread timeout, 2^28 cycles), and without the pause that spin takes a core from
 * the next leg — from ours, which the daemon never runs beside a spinning pool (it keeps
 * OpenBLAS on one thread). */
static int alt_mlp(const net_spec *s, train_params p, const train_data *d, const float *Xte,
                   const int *yte, int nte, int epochs, int threads)
{
    const char *pe = getenv("ALT_PAUSE_MS");
    long pause = pe ? atol(pe) : 300;
    trainer *t[2] = {NULL, NULL};
    mlp_error err = {0};
    for (int i = 0; i < 2; i++) {
        p.threads = i == 0 ? threads : 1;
        if (trainer_new(s, &p, d, NULL, &t[i], &err) != MLP_OK) {
            fprintf(stderr, "trainer_new: %s\n", err.msg);
            return 1;
        }
    }
    float **buf = gemm_bufs();
    static double g[1000], o[2][1000], rg[2][1000], cpu[3][1000];
    for (int e = 0; e < epochs; e++) {
        for (int k = 0; k < 3; k++) {
            int v = e % 2 == 0 ? k : 2 - k;
            openblas_set_num_threads(v == 1 ? 1 : threads);
            pause_ms(pause);
            double c0 = cpu_now();
            if (v == 0) {
                g[e] = gemm_epoch(buf);
                cpu[0][e] = cpu_now() - c0;
                continue;
            }
            mlp_err rc = trainer_run(t[v - 1], one_epoch, &o[v - 1][e], NULL, &err);
            cpu[v][e] = cpu_now() - c0;
            if (rc != MLP_EBUSY) {
                fprintf(stderr, "trainer_run: %s %s\n", mlp_strerror(rc), err.msg);
                return 1;
            }
        }
        for (int i = 0; i < 2; i++) rg[i][e] = o[i][e] / g[e];
        printf("alt round %d gemm %.3f ours %.3f ours_blas %.3f | ours/gemm %.3f ours_blas/gemm "
               "%.3f | cpu s gemm %.3f ours %.3f ours_blas %.3f\n",
               e + 1, g[e], o[0][e], o[1][e], rg[0][e], rg[1][e], cpu[0][e], cpu[1][e], cpu[2][e]);
        fflush(stdout);
    }
    double acc[2];
    for (int i = 0; i < 2; i++) {
        net *n = NULL;
        if (trainer_export(t[i], &n) != MLP_OK) return 1;
        acc[i] = accuracy(n, Xte, yte, nte);
        net_free(n);
        trainer_free(t[i]);
    }
    printf("{\"mode\": \"alt\", \"epochs\": %d, \"threads\": %d, \"seconds_per_epoch\": %.4f, "
           "\"test_accuracy\": %.4f, \"gemm_seconds_per_epoch\": %.4f, "
           "\"ours_blas_seconds_per_epoch\": %.4f, \"ours_blas_test_accuracy\": %.4f, "
           "\"ratio_vs_gemm\": %.4f, \"ours_blas_ratio_vs_gemm\": %.4f, \"gemm_cpu_s\": %.4f, "
           "\"ours_cpu_s\": %.4f, \"ours_blas_cpu_s\": %.4f}\n",
           epochs, threads, median(o[0], epochs), acc[0], median(g, epochs), median(o[1], epochs),
           acc[1], median(rg[0], epochs), median(rg[1], epochs), median(cpu[0], epochs),
           median(cpu[1], epochs), median(cpu[2], epochs));
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "mlp";
    int epochs = argc > 2 ? atoi(argv[2]) : 5;
    double sigma = argc > 3 ? atof(argv[3]) : 0.0;
    if (epochs < 1 || epochs > 1000) epochs = 5;
    if (strcmp(mode, "gemm") == 0) return gemm_only(epochs);
    int is_ae = strcmp(mode, "ae") == 0, is_alt = strcmp(mode, "alt") == 0;
    if (!is_ae && !is_alt && strcmp(mode, "mlp") != 0) {
        fprintf(stderr, "usage: %s mlp|ae|gemm|alt [EPOCHS] [SIGMA]\n", argv[0]);
        return 2;
    }
    const char *dir = getenv("FASHION_MNIST_DIR");
    if (!dir) dir = "/usr/share/datasets/fashion-mnist";
    int ntr, nte;
    float *Xtr = load_images(dir, "train-images-idx3-ubyte.gz", &ntr);
    float *Xte = load_images(dir, "t10k-images-idx3-ubyte.gz", &nte);
    int *ytr = load_labels(dir, "train-labels-idx1-ubyte.gz");
    int *yte = load_labels(dir, "t10k-labels-idx1-ubyte.gz");

    net_spec s;
    memset(&s, 0, sizeof s);
    s.n_in = 784;
    s.act = ACT_RELU;
    train_params p;
    int torch_init = 0, he_out = 0, lecun_first = 0;
    const char *torch_layers = "0123", *torch_part = "wb";
    unsigned long long seed = 1234;
    if (is_ae) {
        s.task = TASK_AUTOENCODER;
        s.n_out = 784;
        s.n_hidden = 3;
        s.hidden[0] = 256, s.hidden[1] = 32, s.hidden[2] = 256;
        s.out_act = ACT_SIGMOID;
        s.loss = LOSS_SQUARED;
        train_params_default(&p, s.task, s.act);
        p.optimizer = OPT_ADAM;
        p.learning_rate = 1e-3;
        if (sigma > 0) p.noise = NOISE_GAUSSIAN, p.noise_std = sigma;
        for (int a = 4; a < argc; a++) {
            const char *v = strchr(argv[a], '=');
            if (!v) continue;
            v++;
            if (strncmp(argv[a], "init=", 5) == 0) {
                torch_init = strcmp(v, "torch") == 0;
                he_out = strcmp(v, "he_out") == 0;
                if (!torch_init && !he_out && init_parse(v, &p.init) != MLP_OK) return 2;
            } else if (strcmp(argv[a], "first=lecun") == 0) {
                lecun_first = 1;
            } else if (strncmp(argv[a], "eps=", 4) == 0) {
                p.epsilon = atof(v);
            } else if (strncmp(argv[a], "layers=", 7) == 0) {
                torch_layers = v;
            } else if (strncmp(argv[a], "part=", 5) == 0) {
                torch_part = v;
            } else if (strncmp(argv[a], "seed=", 5) == 0) {
                seed = strtoull(v, NULL, 10);
            }
        }
    } else {
        s.task = TASK_CLASSIFICATION;
        s.n_out = 10;
        s.n_hidden = 2;
        s.hidden[0] = 256, s.hidden[1] = 128;
        s.out_act = ACT_SOFTMAX;
        s.loss = LOSS_CROSS_ENTROPY;
        train_params_default(&p, s.task, s.act);
        p.optimizer = OPT_MOMENTUM;
        p.momentum = 0.9;
        p.learning_rate = 0.05;
    }
    p.batch_size = 128;
    p.epochs = epochs;
    p.standardize = 0;
    p.seed = seed;
    p.threads = getenv("TRAIN_THREADS") ? atoi(getenv("TRAIN_THREADS")) : 1;
    train_data d = {Xtr, ntr, 784, NULL, is_ae ? NULL : ytr};
    if (is_alt) {
        const char *th = getenv("TRAIN_THREADS");
        return alt_mlp(&s, p, &d, Xte, yte, nte, epochs, th ? atoi(th) : 2);
    }
    trainer *t = NULL;
    mlp_error err = {0};
    if (trainer_new(&s, &p, &d, NULL, &t, &err) != MLP_OK) {
        fprintf(stderr, "trainer_new: %s\n", err.msg);
        return 1;
    }
    if (lecun_first) { /* the first layer from N(0, 1/fan_in): its input is not a ReLU output */
        size_t n = 0;
        float *w = trainer_params_mut(t, &n);
        rng r;
        rng_seed(&r, seed ^ 0x5bd1e995u);
        for (size_t i = 0; i < (size_t)784 * 256 && i < n; i++)
            w[i] = (float)(sqrt(1.0 / 784) * rng_normal(&r));
    }
    if (he_out) { /* the first and the output layer's weights from He's N(0, 2/fan_in) too */
        size_t n = 0, at = (size_t)784 * 256 + 256 + 256 * 32 + 32 + 32 * 256 + 256;
        float *w = trainer_params_mut(t, &n);
        rng r;
        rng_seed(&r, seed ^ 0x7f4a7c15u);
        for (size_t i = 0; i < (size_t)256 * 784 && at + i < n; i++)
            w[at + i] = (float)(sqrt(2.0 / 256) * rng_normal(&r));
        for (size_t i = 0; i < (size_t)784 * 256 && i < n; i++)
            w[i] = (float)(sqrt(2.0 / 784) * rng_normal(&r));
    }
    if (torch_init) {
        int dim[5] = {784, 256, 32, 256, 784};
        init_torch(t, dim, 4, seed, torch_layers, torch_part);
    }
    times ts = {{0}, 0};
    double t0 = now();
    mlp_err rc = trainer_run(t, on_epoch, &ts, NULL, &err);
    double total = now() - t0;
    if (rc != MLP_OK) {
        fprintf(stderr, "trainer_run: %s %s\n", mlp_strerror(rc), err.msg);
        return 1;
    }
    net *n = NULL;
    if (trainer_export(t, &n) != MLP_OK) return 1;
    double med = median(ts.sec, ts.n);
    int threads = openblas_get_num_threads();
    if (is_ae) {
        float *R = predict_all(n, Xte, nte, 784);
        double mse = 0;
        for (size_t i = 0; i < (size_t)nte * 784; i++)
            mse += (double)(R[i] - Xte[i]) * (R[i] - Xte[i]);
        mse /= (double)nte * 784;
        printf("{\"mode\": \"ae\", \"sigma\": %g, \"epochs\": %d, \"seconds_per_epoch\": %.4f, "
               "\"total_seconds\": %.3f, \"test_mse\": %.5f, \"threads\": %d, "
               "\"train_threads\": %d, \"init\": \"%s\", \"eps\": %g, \"seed\": %llu}\n",
               sigma, epochs, med, total, mse, threads, p.threads,
               torch_init ? "torch"
               : he_out   ? "he_out"
                          : init_name(p.init),
               p.epsilon, seed);
        free(R);
    } else {
        printf("{\"mode\": \"mlp\", \"epochs\": %d, \"seconds_per_epoch\": %.4f, "
               "\"total_seconds\": %.3f, \"test_accuracy\": %.4f, \"threads\": %d, "
               "\"train_threads\": %d}\n",
               epochs, med, total, accuracy(n, Xte, yte, nte), threads, p.threads);
    }
    net_free(n);
    trainer_free(t);
    free(Xtr);
    free(Xte);
    free(ytr);
    free(yte);
    return 0;
}
