/* forward.c — the forward pass of a 784-256-128-10 relu net on Fashion-MNIST test images: the
 * dense path (cblas sgemv / sgemm on layer 0) against net_prepare_serving's sparse first layer
 * (core/sparse.h), the two nets in one process, taking turns round by round. Weights are random
 * (seeded): the time depends on the shapes and on which inputs are 0, not on the values. The
 * net standardises its inputs as a trained one does (mean and scale of the 10,000 test images
 * per pixel; constant pixels mean 0, scale 1), so that the sparse path has what it has when
 * serving. Not part of CI.
 *
 *   forward row [IMAGE_INDEX=0]   one row, hot cache and with a 4 MiB memset between calls
 *   forward batch [ROWS=64]       ROWS test images (#0 ..) per call, then the same number of
 *                                 synthetic rows at 0 % .. 90 % zeros (the break-even)
 *   forward cg MODE [ROWS=64 [CALLS=200]]   MODE = dense or sparse: CALLS calls of one, for
 *                                 callgrind or perf
 *
 * Each case: 15 rounds, dense then sparse (sparse then dense in odd rounds); prints the medians
 * of the per-call times (the thread's CPU time: preemption on a shared machine is left out) and
 * the median of the per-round ratios dense / sparse.
 * SPARSE_ISA=0|1|2 caps sparse_rows' variant (portable, AVX2, AVX-512: the default, CPU
 * permitting). Data: $FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist), t10k images, /
 * 255. */
#include "benchutil.h"
#include "net.h"
#include "sparse.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { ROUNDS = 15, N_IMAGES = 10000, D = 784 };

static float *images; /* N_IMAGES × D, / 255 */

static int load_images(void)
{
    const char *dir = getenv("FASHION_MNIST_DIR");
    if (!dir) dir = "/usr/share/datasets/fashion-mnist";
    char path[1024];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    gzFile f = gzopen(path, "rb");
    unsigned char hdr[16], *px = malloc((size_t)N_IMAGES * D);
    images = malloc((size_t)N_IMAGES * D * sizeof *images);
    if (!f || !px || !images || gzread(f, hdr, 16) != 16 ||
        gzread(f, px, N_IMAGES * D) != N_IMAGES * D) {
        fprintf(stderr, "cannot read %s\n", path);
        return -1;
    }
    gzclose(f);
    for (size_t i = 0; i < (size_t)N_IMAGES * D; i++) images[i] = px[i] / 255.0f;
    free(px);
    return 0;
}

static net *make_net(void)
{
    net_spec s;
    memset(&s, 0, sizeof s);
    s.task = TASK_CLASSIFICATION;
    s.n_in = D, s.n_out = 10, s.n_hidden = 2, s.hidden[0] = 256, s.hidden[1] = 128;
    s.act = ACT_RELU, s.out_act = ACT_SOFTMAX, s.loss = LOSS_CROSS_ENTROPY;
    net *n = NULL;
    if (net_new(&s, &n, NULL) != MLP_OK) return NULL;
    float *p = net_params(n);
    uint64_t r = 42;
    for (size_t i = 0; i < net_param_count(n); i++) {
        r = r * 6364136223846793005u + 1442695040888963407u;
        p[i] = (float)((double)(r >> 40) / (double)(1u << 24) - 0.5) * 0.1f;
    }
    float *mean = net_x_mean(n), *scale = net_x_scale(n);
    for (int j = 0; j < D; j++) {
        double s1 = 0, s2 = 0;
        for (int i = 0; i < N_IMAGES; i++) {
            double v = images[(size_t)i * D + (size_t)j];
            s1 += v;
            s2 += v * v;
        }
        double m = s1 / N_IMAGES, var = s2 / N_IMAGES - m * m;
        int constant = var < 1e-12;
        mean[j] = constant ? 0.0f : (float)m;
        scale[j] = constant ? 1.0f : (float)sqrt(var);
    }
    return n;
}

/* This thread's CPU time (the machine is shared: time while preempted is not the call's). */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* CPU µs per call over one round of `calls` calls of net_predict(rows). */
static double round_us(const net *n, const float *X, int rows, float *Y, float *scratch, int calls,
                       char *junk, size_t junk_len)
{
    double busy = 0, t0 = cpu_now();
    for (int i = 0; i < calls; i++) {
        if (junk) {
            double a = cpu_now();
            memset(junk, i, junk_len);
            busy += cpu_now() - a;
        }
        net_predict(n, X, rows, Y, scratch);
    }
    return (cpu_now() - t0 - busy) / calls * 1e6;
}

/* Dense and sparse in turns; prints one line. */
static void compare(const char *label, const net *dense, const net *sparse, const float *X,
                    int rows, int calls, char *junk, size_t junk_len)
{
    float *Y = malloc((size_t)rows * 10 * sizeof *Y),
          *scratch = malloc(net_scratch_floats(dense, rows) * sizeof *scratch);
    double td[ROUNDS], ts[ROUNDS], ratio[ROUNDS];
    for (int k = 0; k < ROUNDS; k++) {
        if (k & 1) {
            ts[k] = round_us(sparse, X, rows, Y, scratch, calls, junk, junk_len);
            td[k] = round_us(dense, X, rows, Y, scratch, calls, junk, junk_len);
        } else {
            td[k] = round_us(dense, X, rows, Y, scratch, calls, junk, junk_len);
            ts[k] = round_us(sparse, X, rows, Y, scratch, calls, junk, junk_len);
        }
        ratio[k] = td[k] / ts[k];
    }
    qsort(td, ROUNDS, sizeof *td, bench_cmp_double);
    qsort(ts, ROUNDS, sizeof *ts, bench_cmp_double);
    qsort(ratio, ROUNDS, sizeof *ratio, bench_cmp_double);
    printf("%-28s dense %9.2f us  sparse %9.2f us  dense/sparse %.2f (rounds %.2f .. %.2f)\n",
           label, td[ROUNDS / 2], ts[ROUNDS / 2], ratio[ROUNDS / 2], ratio[0], ratio[ROUNDS - 1]);
    free(Y);
    free(scratch);
}

static int zeros_of(const float *X, size_t count)
{
    int z = 0;
    for (size_t i = 0; i < count; i++) z += X[i] == 0.0f;
    return z;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "row";
    if (load_images() != 0) return 2;
    openblas_set_num_threads(1);            /* as the daemon's request threads run it */
    const char *isa = getenv("SPARSE_ISA"); /* 0 portable, 1 AVX2, 2 AVX-512 (the default) */
    printf("sparse_rows variant %d\n", sparse_isa(isa ? atoi(isa) : SPARSE_AVX512));
    net *dense = make_net(), *sparse = NULL;
    if (!dense || net_clone(dense, &sparse) != MLP_OK || net_prepare_serving(sparse) != MLP_OK ||
        !net_serving_prepared(sparse))
        return 1;
    if (strcmp(mode, "row") == 0) {
        int index = argc > 2 ? atoi(argv[2]) : 0;
        if (index < 0 || index >= N_IMAGES) return 2;
        const float *x = images + (size_t)index * D;
        size_t junk_len = (size_t)4 << 20;
        char *junk = malloc(junk_len);
        memset(junk, 1, junk_len);
        printf("image %d: %d of 784 inputs are 0\n", index, zeros_of(x, D));
        compare("one row, hot", dense, sparse, x, 1, 2000, NULL, 0);
        compare("one row, cold", dense, sparse, x, 1, 500, junk, junk_len);
        free(junk);
    } else if (strcmp(mode, "batch") == 0) {
        int rows = argc > 2 ? atoi(argv[2]) : 64;
        if (rows < 1 || rows > N_IMAGES) return 2;
        int calls = 20000 / rows + 1;
        char label[64];
        snprintf(label, sizeof label, "%d test images (%.0f%% 0)", rows,
                 100.0 * zeros_of(images, (size_t)rows * D) / ((double)rows * D));
        compare(label, dense, sparse, images, rows, calls, NULL, 0);
        /* synthetic rows: each input 0 with probability p, else uniform (0, 1] */
        float *X = malloc((size_t)rows * D * sizeof *X);
        const int pct[] = {0, 25, 40, 50, 60, 75, 90};
        for (size_t q = 0; q < sizeof pct / sizeof *pct; q++) {
            uint64_t r = 7 + q;
            for (size_t i = 0; i < (size_t)rows * D; i++) {
                r = r * 6364136223846793005u + 1442695040888963407u;
                double u = (double)(r >> 11) / 9007199254740992.0;
                X[i] = u * 100 < pct[q] ? 0.0f : (float)(1.0 - u * 0.99);
            }
            snprintf(label, sizeof label, "%d rows at %d%% 0", rows, pct[q]);
            compare(label, dense, sparse, X, rows, calls, NULL, 0);
        }
        free(X);
    } else if (strcmp(mode, "cg") == 0 && argc > 2) {
        int rows = argc > 3 ? atoi(argv[3]) : 64;
        if (rows < 1 || rows > N_IMAGES) return 2;
        const net *n = strcmp(argv[2], "sparse") == 0 ? sparse : dense;
        float *Y = malloc((size_t)rows * 10 * sizeof *Y),
              *scratch = malloc(net_scratch_floats(n, rows) * sizeof *scratch);
        int calls = argc > 4 ? atoi(argv[4]) : 200;
        for (int i = 0; i < calls; i++) net_predict(n, images, rows, Y, scratch);
        printf("%s: %d calls of %d rows, y[0] = %g\n", argv[2], calls, rows, (double)Y[0]);
        free(Y);
        free(scratch);
    } else {
        fprintf(stderr, "usage: forward row [INDEX] | batch [ROWS] | cg dense|sparse [ROWS]\n");
        return 2;
    }
    net_free(sparse);
    net_free(dense);
    free(images);
    return 0;
}
