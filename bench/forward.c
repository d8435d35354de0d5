/* forward.c — one-row forward pass of a 784-256-128-10 relu net on a Fashion-MNIST test image:
 * the dense path against net_prepare_serving's sparse first layer, with a hot cache and with a
 * 4 MiB memset between calls (the cache a busy server leaves). Weights are random (seeded): the
 * time depends on the shapes and on which inputs are 0, not on the values. Not part of CI.
 *
 *   forward [IMAGE_INDEX=0]      prints medians of 15 batches of 2000 calls, one line per case
 *
 * Data: $FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist), t10k images, / 255. */
#include "benchutil.h"
#include "net.h"

#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static double bench(const net *n, const float *x, float *scratch, char *junk, size_t junk_len)
{
    enum { BATCHES = 15, CALLS = 2000 };
    double med[BATCHES];
    float y[10];
    for (int k = 0; k < BATCHES; k++) {
        double busy = 0, t0 = bench_now();
        for (int i = 0; i < CALLS; i++) {
            if (junk) {
                double a = bench_now();
                memset(junk, i, junk_len);
                busy += bench_now() - a;
            }
            net_predict(n, x, 1, y, scratch);
        }
        med[k] = (bench_now() - t0 - busy) / CALLS * 1e6;
    }
    qsort(med, BATCHES, sizeof *med, bench_cmp_double);
    return med[BATCHES / 2];
}

int main(int argc, char **argv)
{
    int index = argc > 1 ? atoi(argv[1]) : 0;
    const char *dir = getenv("FASHION_MNIST_DIR");
    if (!dir) dir = "/usr/share/datasets/fashion-mnist";
    char path[1024];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    gzFile f = gzopen(path, "rb");
    unsigned char hdr[16], px[784];
    if (!f || gzread(f, hdr, 16) != 16 || gzseek(f, 16 + (z_off_t)index * 784, SEEK_SET) < 0 ||
        gzread(f, px, 784) != 784) {
        fprintf(stderr, "cannot read image %d of %s\n", index, path);
        return 2;
    }
    gzclose(f);
    float x[784];
    int zeros = 0;
    for (int i = 0; i < 784; i++) zeros += (x[i] = px[i] / 255.0f) == 0.0f;

    openblas_set_num_threads(1); /* as the daemon's request threads run it */
    net_spec s;
    memset(&s, 0, sizeof s);
    s.task = TASK_CLASSIFICATION;
    s.n_in = 784, s.n_out = 10, s.n_hidden = 2, s.hidden[0] = 256, s.hidden[1] = 128;
    s.act = ACT_RELU, s.out_act = ACT_SOFTMAX, s.loss = LOSS_CROSS_ENTROPY;
    net *n = NULL;
    if (net_new(&s, &n, NULL) != MLP_OK) return 1;
    float *p = net_params(n);
    uint64_t r = 42;
    for (size_t i = 0; i < net_param_count(n); i++) {
        r = r * 6364136223846793005u + 1442695040888963407u;
        p[i] = (float)((double)(r >> 40) / (double)(1u << 24) - 0.5) * 0.1f;
    }
    float *scratch = malloc(net_scratch_floats(n, 1) * sizeof *scratch);
    size_t junk_len = (size_t)4 << 20;
    char *junk = malloc(junk_len);
    memset(junk, 1, junk_len);
    double dense_hot = bench(n, x, scratch, NULL, 0),
           dense_cold = bench(n, x, scratch, junk, junk_len);
    net_prepare_serving(n);
    double fast_hot = bench(n, x, scratch, NULL, 0),
           fast_cold = bench(n, x, scratch, junk, junk_len);
    printf("image %d: %d of 784 inputs are 0\n", index, zeros);
    printf("dense  hot %.2f us  cold %.2f us\n", dense_hot, dense_cold);
    printf("sparse hot %.2f us  cold %.2f us  (prepared: %d)\n", fast_hot, fast_cold,
           net_serving_prepared(n));
    printf("{\"image\": %d, \"zeros\": %d, \"dense_hot_us\": %.2f, \"dense_cold_us\": %.2f, "
           "\"sparse_hot_us\": %.2f, \"sparse_cold_us\": %.2f}\n",
           index, zeros, dense_hot, dense_cold, fast_hot, fast_cold);
    free(junk);
    free(scratch);
    net_free(n);
    return 0;
}
