/* ensemble_forward.c — the serving cost of an ensemble without HTTP: ens_predict over K = 1, 3
 * and 5 members (784-HIDDEN-10 relu nets, random seeded weights, prepared for serving as the
 * registry prepares them) on Fashion-MNIST test images, 1 row and 64 rows a call, against
 * net_predict of one net (the single-model path). One BLAS thread, as request threads run it.
 * Cases are interleaved batch by batch. Run by bench/ensemble_fmnist.sh; not part of CI.
 *
 *   ensemble_forward [HIDDEN=128]   prints medians of 15 batches, one line per case, then JSON
 *
 * Data: $FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist), t10k images, raw pixels
 * (as an IDX upload trains on them). */
#include "benchutil.h"
#include "ensemble.h"
#include "net.h"

#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { MAXK = 5, ROWS = 64, BATCHES = 15 };

static net *make(int hidden, uint64_t seed)
{
    net_spec s;
    memset(&s, 0, sizeof s);
    s.task = TASK_CLASSIFICATION;
    s.n_in = 784, s.n_out = 10, s.n_hidden = 1, s.hidden[0] = hidden;
    s.act = ACT_RELU, s.out_act = ACT_SOFTMAX, s.loss = LOSS_CROSS_ENTROPY;
    net *n = NULL;
    if (net_new(&s, &n, NULL) != MLP_OK) exit(1);
    float *p = net_params(n);
    for (size_t i = 0; i < net_param_count(n); i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        p[i] = (float)((double)(seed >> 40) / (double)(1u << 24) - 0.5) * 0.1f;
    }
    for (int i = 0; i < 784; i++) net_x_scale(n)[i] = 80.0f; /* raw pixels in, as trained */
    net_prepare_serving(n);
    return n;
}

/* One batch of calls: microseconds a call; k = 0 times net_predict of nets[0]. */
static double batch(net *const *nets, int k, const float *X, int rows, float *Y, float *S)
{
    int calls = rows == 1 ? 2000 : 100;
    double t0 = bench_now();
    for (int i = 0; i < calls; i++) {
        if (k == 0)
            net_predict(nets[0], X, rows, Y, S);
        else
            ens_predict(nets, k, X, rows, Y, S);
    }
    return (bench_now() - t0) / calls * 1e6;
}

int main(int argc, char **argv)
{
    int hidden = argc > 1 ? atoi(argv[1]) : 128;
    const char *dir = getenv("FASHION_MNIST_DIR");
    if (!dir) dir = "/usr/share/datasets/fashion-mnist";
    char path[1024];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    gzFile f = gzopen(path, "rb");
    static unsigned char px[ROWS * 784];
    unsigned char hdr[16];
    if (!f || gzread(f, hdr, 16) != 16 || gzread(f, px, sizeof px) != (int)sizeof px) {
        fprintf(stderr, "cannot read %s\n", path);
        return 2;
    }
    gzclose(f);
    static float X[ROWS * 784], Y[ROWS * 10];
    for (int i = 0; i < ROWS * 784; i++) X[i] = px[i];
    openblas_set_num_threads(1);
    net *nets[MAXK];
    for (int i = 0; i < MAXK; i++) nets[i] = make(hidden, 42 + (uint64_t)i);
    float *S = malloc(ens_scratch_floats(nets, MAXK, ROWS) * sizeof *S);
    if (!S) return 1;
    static const int ks[] = {0, 1, 3, 5};
    double us[2][4], t[2][4][BATCHES];
    for (int b = 0; b < BATCHES; b++) /* cases interleaved, so a noisy moment hits them all */
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 4; j++) t[r][j][b] = batch(nets, ks[j], X, r ? ROWS : 1, Y, S);
    for (int r = 0; r < 2; r++)
        for (int j = 0; j < 4; j++) {
            qsort(t[r][j], BATCHES, sizeof(double), bench_cmp_double);
            us[r][j] = t[r][j][BATCHES / 2];
        }
    printf("784-%d-10, us a call (median of %d batches):\n", hidden, BATCHES);
    for (int r = 0; r < 2; r++)
        printf("%2d rows: net_predict %.2f | ens_predict K=1 %.2f  K=3 %.2f  K=5 %.2f  (K=5 / K=1 "
               "%.2f)\n",
               r ? ROWS : 1, us[r][0], us[r][1], us[r][2], us[r][3], us[r][3] / us[r][1]);
    printf("{\"hidden\": %d, \"us_1row\": {\"net\": %.2f, \"k1\": %.2f, \"k3\": %.2f, \"k5\": "
           "%.2f}, \"us_64rows\": {\"net\": %.2f, \"k1\": %.2f, \"k3\": %.2f, \"k5\": %.2f}}\n",
           hidden, us[0][0], us[0][1], us[0][2], us[0][3], us[1][0], us[1][1], us[1][2], us[1][3]);
    free(S);
    for (int i = 0; i < MAXK; i++) net_free(nets[i]);
    return 0;
}
