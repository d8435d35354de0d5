/* test_memest.c — trainer_mem_estimate against what training really holds: for three network
 * shapes (activations dominate; weights and optimiser state dominate; the data matrix
 * dominates) a fresh child process makes the data, trains like the daemon does (a checkpoint
 * taken and freed after every epoch, then the export), and reports the growth of its peak
 * resident set (VmHWM) over where it started; the estimate must be within 25% of it. Each shape
 * holds tens to hundreds of MB, so allocator and page rounding are noise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "net.h"
#include "core/spec.h"
#include "rng.h"
#include "train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Under AddressSanitizer, freed blocks wait in a quarantine instead of being reused, so each
 * epoch's checkpoint would add to the peak; the test measures the trainer, not the sanitizer.
 * ASan calls this hook at start-up (ASAN_OPTIONS still override it); otherwise it is unused. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=0";
}

typedef struct {
    const char *name;
    net_spec spec;
    train_params p;
    int rows, val_rows;
} shape;

/* Peak resident set of this process in bytes (VmHWM), or 0 when unreadable. */
static size_t vm_hwm(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %zu kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024;
}

/* Restarts the peak at the current resident set (Linux >= 4.0); 0 ok. */
static int reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* As server/jobs.c's epoch callback: one checkpoint, written and freed. */
static mlp_err checkpoint_epoch(void *ctx, const train_metrics *m, trainer *t)
{
    (void)ctx;
    (void)m;
    void *buf = NULL;
    size_t len = 0;
    mlp_err rc = trainer_checkpoint(t, &buf, &len);
    free(buf);
    return rc;
}

static float *random_floats(rng *r, size_t n)
{
    float *x = malloc(n * sizeof *x);
    if (x)
        for (size_t i = 0; i < n; i++) x[i] = (float)rng_uniform(r);
    return x;
}

/* In the child: data, trainer, training, export; returns the peak growth in bytes or 0. */
static size_t measure(const shape *sh)
{
    if (reset_hwm() != 0) return 0;
    size_t base = vm_hwm();
    const net_spec *s = &sh->spec;
    rng r;
    rng_seed(&r, 7);
    int n = sh->rows, nv = sh->val_rows, k = s->n_out;
    int labels = s->task == TASK_CLASSIFICATION;
    float *X = random_floats(&r, (size_t)n * s->n_in);
    float *Xv = nv ? random_floats(&r, (size_t)nv * s->n_in) : NULL;
    float *Y = NULL, *Yv = NULL;
    int *lab = NULL, *labv = NULL;
    if (s->task == TASK_REGRESSION) {
        Y = random_floats(&r, (size_t)n * k);
        Yv = nv ? random_floats(&r, (size_t)nv * k) : NULL;
    }
    if (labels) {
        lab = malloc((size_t)n * sizeof *lab);
        labv = malloc((size_t)(nv ? nv : 1) * sizeof *labv);
        if (!lab || !labv) return 0;
        for (int i = 0; i < n; i++) lab[i] = (int)(rng_u64(&r) % (uint64_t)k);
        for (int i = 0; i < nv; i++) labv[i] = (int)(rng_u64(&r) % (uint64_t)k);
    }
    train_data td = {X, n, s->n_in, Y, lab}, vd = {Xv, nv, s->n_in, Yv, labv};
    trainer *t = NULL;
    net *model = NULL;
    size_t grown = 0;
    mlp_error err;
    mlp_error_clear(&err);
    if (trainer_new(s, &sh->p, &td, nv ? &vd : NULL, &t, &err) != MLP_OK ||
        trainer_run(t, checkpoint_epoch, NULL, NULL, &err) != MLP_OK ||
        trainer_export(t, &model) != MLP_OK) {
        fprintf(stderr, "%s: training failed: %s\n", sh->name, err.msg);
        goto out;
    }
    grown = vm_hwm() - base;
out:
    net_free(model);
    trainer_free(t);
    free(X);
    free(Xv);
    free(Y);
    free(Yv);
    free(lab);
    free(labv);
    return grown;
}

/* The measured growth of sh in a fresh child, or fails the test. */
static size_t measure_in_child(const shape *sh)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        size_t g = measure(sh);
        ssize_t w = write(fd[1], &g, sizeof g);
        _exit(w == (ssize_t)sizeof g ? 0 : 1);
    }
    close(fd[1]);
    size_t g = 0;
    ssize_t got = read(fd[0], &g, sizeof g);
    close(fd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(got, (ssize_t)sizeof g);
    if (g == 0) fail_msg("%s: no measurement (training failed or /proc unreadable)", sh->name);
    return g;
}

static int blas_threads(void)
{
    const char *e = getenv("OPENBLAS_NUM_THREADS");
    int n = e ? atoi(e) : 0;
    if (n < 1) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n;
}

static void check_shape(const shape *sh)
{
    train_mem est;
    mlp_error err;
    mlp_error_clear(&err);
    int target_matrix = sh->spec.task == TASK_REGRESSION;
    assert_int_equal(trainer_mem_estimate(&sh->spec, &sh->p, sh->rows, sh->val_rows, target_matrix,
                                          blas_threads(), &est, &err),
                     MLP_OK);
    size_t sum = est.data + est.params + est.optimizer + est.activations + est.dropout +
                 est.batch_norm + est.rows + est.checkpoint + est.blas;
    assert_int_equal(est.total, sum);
    size_t got = measure_in_child(sh);
    double rel = ((double)est.total - (double)got) / (double)got;
    fprintf(stderr,
            "%-12s estimate %7.1f MB (data %.1f, params %.1f, optimizer %.1f, activations %.1f, "
            "dropout %.1f, batch_norm %.1f, checkpoint %.1f, blas %.1f); measured %7.1f MB; "
            "%+.1f%%\n",
            sh->name, est.total / 1e6, est.data / 1e6, est.params / 1e6, est.optimizer / 1e6,
            est.activations / 1e6, est.dropout / 1e6, est.batch_norm / 1e6, est.checkpoint / 1e6,
            est.blas / 1e6, got / 1e6, 100 * rel);
    if (rel > 0.25 || rel < -0.25)
        fail_msg("%s: estimate %zu bytes vs measured peak growth %zu bytes (%+.1f%%)", sh->name,
                 est.total, got, 100 * rel);
}

/* Full-batch, deep and narrow, dropout and batch norm: the mini-batch buffers dominate. */
static void test_activations_dominate(void **state)
{
    (void)state;
    int hidden[16];
    for (int i = 0; i < 16; i++) hidden[i] = 32;
    shape sh = {"activations",
                test_spec(TASK_CLASSIFICATION, 32, 4, 16, hidden, ACT_RELU, ACT_SOFTMAX,
                          LOSS_CROSS_ENTROPY),
                {0},
                16384,
                0};
    sh.spec.batch_norm = 1;
    train_params_default(&sh.p, sh.spec.task, sh.spec.act);
    sh.p.batch_size = 16384;
    sh.p.dropout = 0.5;
    sh.p.epochs = 2;
    check_shape(&sh);
}

/* Two wide layers with adam and validation rows (best weights kept): parameters, optimiser
 * state and the checkpoint dominate. */
static void test_weights_dominate(void **state)
{
    (void)state;
    int hidden[] = {1536, 1536};
    shape sh = {"weights",
                test_spec(TASK_REGRESSION, 256, 4, 2, hidden, ACT_RELU, ACT_LINEAR, LOSS_SQUARED),
                {0},
                128,
                64};
    train_params_default(&sh.p, sh.spec.task, sh.spec.act);
    sh.p.batch_size = 128;
    sh.p.epochs = 2;
    check_shape(&sh);
}

/* A denoising autoencoder on many wide rows with a small code, heavy-ball momentum: the data
 * matrix dominates. */
static void test_data_dominates(void **state)
{
    (void)state;
    int hidden[] = {8};
    shape sh = {
        "data",
        test_spec(TASK_AUTOENCODER, 784, 784, 1, hidden, ACT_RELU, ACT_LINEAR, LOSS_SQUARED),
        {0},
        30000,
        3000};
    train_params_default(&sh.p, sh.spec.task, sh.spec.act);
    sh.p.optimizer = OPT_MOMENTUM;
    sh.p.learning_rate = 1e-3;
    sh.p.batch_size = 1024;
    sh.p.epochs = 1;
    sh.p.noise = NOISE_GAUSSIAN;
    sh.p.noise_std = 0.1;
    check_shape(&sh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activations_dominate),
        cmocka_unit_test(test_weights_dominate),
        cmocka_unit_test(test_data_dominates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
