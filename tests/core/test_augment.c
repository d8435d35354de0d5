/* test_augment.c — core/augment: exact shifts with a zero border, the identity cases (no
 * rotation, two flips, a 90° turn four times), the fast bilinear loops (at four and at eight
 * lanes) against a plain per-value reference of augment.h's formula and against each other bit
 * for bit, bilinear values within the input's range,
 * draws within their bounds and fixed by the seed, the checks, the augmented moments, and the
 * trainer with params.augment: deterministic by seed, resumable from a checkpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "augment.h"
#include "crc32.h"
#include "spec.h"
#include "train.h"

#include <cblas.h>
#include <stdlib.h>

static aug_spec shape(int h, int w, int c)
{
    aug_spec a;
    aug_default(&a);
    a.height = h;
    a.width = w;
    a.channels = c;
    return a;
}

/* aug_apply with a scratch of its own. */
static void apply(const aug_spec *a, const aug_draw *d, const float *in, float *out)
{
    float *scratch = malloc((size_t)aug_scratch_len(a) * sizeof(float));
    assert_non_null(scratch);
    aug_apply(a, d, in, out, scratch);
    free(scratch);
}

static aug_draw none(void)
{
    aug_draw d = {0, 0, 0.0, 1.0, 0.0, 0};
    return d;
}

/* in[(y·W + x)·C + c] = 1 + y·100 + x + c·1000: every value distinct and non-zero */
static void fill(float *in, int H, int W, int C)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++) in[(y * W + x) * C + c] = 1.0f + y * 100 + x + c * 1000;
}

static void shift_moves_pixels_exactly(void **state)
{
    (void)state;
    enum { H = 5, W = 7, C = 2 };
    float in[H * W * C], out[H * W * C];
    fill(in, H, W, C);
    aug_spec a = shape(H, W, C);
    int shifts[][2] = {{2, 1}, {-3, 2}, {0, -4}, {6, -1}, {-7, 0}};
    for (size_t k = 0; k < sizeof shifts / sizeof shifts[0]; k++) {
        aug_draw d = none();
        d.dx = shifts[k][0];
        d.dy = shifts[k][1];
        apply(&a, &d, in, out);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < C; c++) {
                    int sx = x - d.dx, sy = y - d.dy;
                    float want =
                        (sx >= 0 && sx < W && sy >= 0 && sy < H) ? in[(sy * W + sx) * C + c] : 0.0f;
                    assert_true(out[(y * W + x) * C + c] == want);
                }
    }
}

static void rotate_zero_is_identity(void **state)
{
    (void)state;
    enum { H = 6, W = 6, C = 1 };
    float in[H * W], out[H * W];
    fill(in, H, W, C);
    aug_spec a = shape(H, W, C);
    a.rotate = 30;
    aug_draw d = none();
    apply(&a, &d, in, out);
    assert_memory_equal(in, out, sizeof in);
    /* through the bilinear path too: a tiny angle is the identity within float rounding */
    d.angle = 1e-12;
    apply(&a, &d, in, out);
    for (int i = 0; i < H * W; i++) assert_true(fabsf(out[i] - in[i]) < 1e-3f);
}

static void quarter_turns_and_flips(void **state)
{
    (void)state;
    enum { N = 5, C = 3 };
    float in[N * N * C], a1[N * N * C], a2[N * N * C];
    fill(in, N, N, C);
    aug_spec a = shape(N, N, C);
    aug_draw d = none();
    d.flip = 1;
    apply(&a, &d, in, a1);
    for (int y = 0; y < N; y++) /* one flip mirrors each row */
        for (int x = 0; x < N; x++)
            for (int c = 0; c < C; c++)
                assert_true(a1[(y * N + x) * C + c] == in[(y * N + (N - 1 - x)) * C + c]);
    apply(&a, &d, a1, a2);
    assert_memory_equal(in, a2, sizeof in);
    /* a 90° turn moves (x, y) onto the grid exactly; four of them are the identity */
    d = none();
    d.angle = acos(-1.0) / 2;
    memcpy(a1, in, sizeof in);
    for (int k = 0; k < 4; k++) {
        apply(&a, &d, a1, a2);
        memcpy(a1, a2, sizeof a2);
        if (k == 0) assert_true(fabsf(a2[0] - in[0]) > 1.0f); /* the first turn moved something */
    }
    for (int i = 0; i < N * N * C; i++) assert_true(fabsf(a1[i] - in[i]) < 1e-2f);
}

/* The transform of augment.h computed plainly, one checked bilinear sample per value. */
static float reference(const aug_spec *a, const aug_draw *d, const float *in, int x, int y, int c)
{
    int H = a->height, W = a->width, C = a->channels;
    double cx = (W - 1) * 0.5, cy = (H - 1) * 0.5, u = x - d->dx - cx, v = y - d->dy - cy;
    double sx = (cos(d->angle) * u + sin(d->angle) * v) / d->scale + cx;
    double sy = (-sin(d->angle) * u + cos(d->angle) * v) / d->scale + cy;
    if (d->flip) sx = W - 1 - sx;
    double fx = floor(sx), fy = floor(sy), tx = sx - fx, ty = sy - fy, s = 0;
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 2; i++) {
            int px = (int)fx + i, py = (int)fy + j;
            double w = (i ? tx : 1 - tx) * (j ? ty : 1 - ty);
            if (px >= 0 && px < W && py >= 0 && py < H) s += w * in[(py * W + px) * C + c];
        }
    return (float)(s + d->bright);
}

static void affine_matches_reference(void **state)
{
    (void)state;
    static const int shapes[][3] = {{28, 28, 1}, {9, 13, 3}, {5, 4, 2}, {1, 7, 1}, {11, 30, 1}};
    rng r;
    rng_seed(&r, 21);
    for (int lanes = 4; lanes <= 8; lanes += 4) {
        aug_max_lanes(lanes);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int H = shapes[s][0], W = shapes[s][1], C = shapes[s][2];
            float *in = malloc(sizeof(float) * H * W * C);
            float *out = malloc(sizeof(float) * H * W * C);
            for (int i = 0; i < H * W * C; i++) in[i] = (float)rng_uniform(&r);
            aug_spec a = shape(H, W, C);
            a.shift = 1;
            a.rotate = 60;
            a.scale_lo = 0.5;
            a.scale_hi = 1.5;
            a.bright_lo = -0.2;
            a.bright_hi = 0.2;
            a.hflip = 0.5;
            for (int k = 0; k < 200; k++) {
                if (k == 100) { /* then the lesson's {shift: 2, rotate: 10}: the runs of columns */
                    a = shape(H, W, C);
                    a.shift = W < 2 ? W : 2;
                    a.rotate = 10;
                }
                aug_draw d;
                aug_draw_one(&a, &r, &d);
                apply(&a, &d, in, out);
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++)
                        for (int c = 0; c < C; c++) {
                            float want = reference(&a, &d, in, x, y, c);
                            float got = out[(y * W + x) * C + c];
                            if (fabsf(got - want) > 1e-4f)
                                fail_msg("%d lanes, %dx%dx%d draw %d (dx %d dy %d a %g s %g b %g f "
                                         "%d) at (%d, %d, %d): %g, want %g",
                                         lanes, H, W, C, k, d.dx, d.dy, d.angle, d.scale, d.bright,
                                         d.flip, x, y, c, got, want);
                        }
            }
            free(in);
            free(out);
        }
    }
    aug_max_lanes(8);
}

/* The bilinear loop gives the same values at four and at eight lanes (where the CPU has AVX2),
 * bit for bit, over the cases each width treats apart: runs of columns on one source row or
 * crossing into the next, gathers (flips, large turns, zooms, clamped edges), widths that are
 * not a multiple of the lanes and widths below eight. */
static void lane_widths_agree(void **state)
{
    (void)state;
    static const int shapes[][2] = {{28, 28}, {9, 13}, {5, 7}, {3, 8}, {16, 33}, {2, 1}};
    rng r;
    rng_seed(&r, 77);
    int wide = aug_max_lanes(8);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int H = shapes[s][0], W = shapes[s][1];
        float *in = malloc(sizeof(float) * H * W), *o4 = malloc(sizeof(float) * H * W);
        float *o8 = malloc(sizeof(float) * H * W);
        for (int i = 0; i < H * W; i++) in[i] = (float)rng_uniform(&r);
        aug_spec a = shape(H, W, 1);
        a.shift = W < H ? W : H;
        a.rotate = 15;
        for (int k = 0; k < 300; k++) {
            if (k == 100) a.rotate = 180; /* then large turns */
            if (k == 200) {               /* then zooms and flips */
                a.scale_lo = 0.5;
                a.scale_hi = 1.6;
                a.hflip = 0.5;
            }
            aug_draw d;
            aug_draw_one(&a, &r, &d);
            assert_int_equal(aug_max_lanes(4), 4);
            apply(&a, &d, in, o4);
            assert_int_equal(aug_max_lanes(8), wide);
            apply(&a, &d, in, o8);
            if (memcmp(o4, o8, sizeof(float) * H * W) != 0)
                fail_msg("%dx%d draw %d (dx %d dy %d a %g s %g f %d): the widths disagree", H, W, k,
                         d.dx, d.dy, d.angle, d.scale, d.flip);
        }
        free(in);
        free(o4);
        free(o8);
    }
}

static void bilinear_stays_in_bounds(void **state)
{
    (void)state;
    enum { H = 9, W = 8 };
    float in[H * W], out[H * W];
    fill(in, H, W, 1);
    float lo = 0.0f, hi = 0.0f; /* the zero border may appear */
    for (int i = 0; i < H * W; i++) hi = in[i] > hi ? in[i] : hi;
    aug_spec a = shape(H, W, 1);
    a.shift = 3;
    a.rotate = 40;
    a.scale_lo = 0.7;
    a.scale_hi = 1.3;
    a.hflip = 0.5;
    assert_int_equal(aug_check(&a, NULL), MLP_OK);
    rng r;
    rng_seed(&r, 3);
    int interpolated = 0;
    for (int k = 0; k < 200; k++) {
        aug_draw d;
        aug_draw_one(&a, &r, &d);
        assert_true(d.dx >= -3 && d.dx <= 3 && d.dy >= -3 && d.dy <= 3);
        assert_true(fabs(d.angle) <= 40 * acos(-1.0) / 180 + 1e-12);
        assert_true(d.scale >= 0.7 && d.scale <= 1.3);
        assert_true(d.flip == 0 || d.flip == 1);
        apply(&a, &d, in, out);
        for (int i = 0; i < H * W; i++) {
            assert_true(out[i] >= lo - 1e-3f && out[i] <= hi + 1e-3f);
            interpolated += out[i] != floorf(out[i]);
        }
    }
    assert_true(interpolated > 0);
    /* brightness adds within its range */
    a = shape(H, W, 1);
    a.bright_lo = -0.5;
    a.bright_hi = 0.25;
    for (int k = 0; k < 50; k++) {
        aug_draw d;
        aug_draw_one(&a, &r, &d);
        apply(&a, &d, in, out);
        float b = out[0] - in[0];
        assert_true(b >= -0.5f - 1e-4f && b <= 0.25f + 1e-4f);
        for (int i = 1; i < H * W; i++) assert_true(fabsf(out[i] - in[i] - b) < 1e-3f);
    }
}

static void same_seed_same_draws(void **state)
{
    (void)state;
    enum { H = 8, W = 8 };
    float in[H * W], o1[H * W], o2[H * W];
    fill(in, H, W, 1);
    aug_spec a = shape(H, W, 1);
    a.shift = 2;
    a.rotate = 10;
    a.bright_lo = -1;
    a.bright_hi = 1;
    a.hflip = 0.5;
    rng r1, r2, r3;
    rng_seed(&r1, 11);
    rng_seed(&r2, 11);
    rng_seed(&r3, 12);
    int differ = 0;
    for (int k = 0; k < 20; k++) {
        aug_draw d1, d2, d3;
        aug_draw_one(&a, &r1, &d1);
        aug_draw_one(&a, &r2, &d2);
        aug_draw_one(&a, &r3, &d3);
        apply(&a, &d1, in, o1);
        apply(&a, &d2, in, o2);
        assert_memory_equal(o1, o2, sizeof o1);
        differ += memcmp(&d1, &d3, sizeof d1) != 0;
    }
    assert_true(differ > 15);
    /* a disabled option draws nothing: the stream is untouched */
    aug_spec off = shape(H, W, 1);
    aug_draw d;
    uint64_t before = r1.s[0];
    aug_draw_one(&off, &r1, &d);
    assert_true(r1.s[0] == before);
    assert_int_equal(aug_enabled(&off), 0);
}

static void checks_name_the_field(void **state)
{
    (void)state;
    mlp_error e;
    aug_spec a = shape(0, 0, 0);
    assert_int_equal(aug_check(&a, &e), MLP_OK); /* off needs no shape */
    a.rotate = 5;
    assert_int_equal(aug_check(&a, &e), MLP_EINVAL);
    assert_string_equal(e.field, "params.augment");
    a = shape(4, 4, 1);
    a.rotate = 200;
    assert_int_equal(aug_check(&a, &e), MLP_EINVAL);
    assert_string_equal(e.field, "params.augment.rotate");
    a = shape(4, 4, 1);
    a.shift = 5;
    assert_int_equal(aug_check(&a, &e), MLP_EINVAL);
    assert_string_equal(e.field, "params.augment.shift");
    a = shape(4, 4, 1);
    a.scale_lo = 1.2;
    a.scale_hi = 1.1;
    assert_int_equal(aug_check(&a, &e), MLP_EINVAL);
    assert_string_equal(e.field, "params.augment.scale");
    a = shape(4, 4, 1);
    a.bright_lo = NAN;
    assert_int_equal(aug_check(&a, &e), MLP_EINVAL);
    assert_string_equal(e.field, "params.augment.brightness");
    a = shape(4, 4, 1);
    a.hflip = 1.5;
    assert_int_equal(aug_check(&a, &e), MLP_EINVAL);
    assert_string_equal(e.field, "params.augment.hflip");
}

/* The moments are those of the augmented copies: with shift on, a border column that is always
 * 0 in the data gets ink, hence a spread, from its neighbours. */
static void moments_follow_the_augmentation(void **state)
{
    (void)state;
    enum { H = 4, W = 4, R = 400 };
    static float X[R * H * W];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < H * W; j++) X[i * H * W + j] = (j % W == 1) ? 1.0f + (i % 3) : 0.0f;
    aug_spec a = shape(H, W, 1);
    float *scratch = malloc(sizeof(float) * (size_t)(H * W + aug_scratch_len(&a)));
    double mean[H * W], var[H * W];
    rng r;
    rng_seed(&r, 5);
    aug_moments(&a, &r, X, R, scratch, mean, var); /* off: the plain moments */
    assert_true(fabs(mean[1] - 2.0) < 0.01 && fabs(var[1] - 2.0 / 3) < 0.01);
    assert_true(mean[0] == 0.0 && var[0] == 0.0);
    a.shift = 1;
    aug_moments(&a, &r, X, R, scratch, mean, var);
    assert_true(mean[0] > 0.2 && var[0] > 0.2);
    free(scratch);
}

/* 8×8 images of a horizontal (class 0) or vertical (class 1) bar. */
enum { TR = 96, TD = 64 };
static float TX[TR * TD];
static int TY[TR];

static void bars(void)
{
    for (int i = 0; i < TR; i++) {
        int vertical = i % 2, k = 1 + (i / 2) % 6;
        TY[i] = vertical;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) TX[i * TD + y * 8 + x] = (vertical ? x == k : y == k);
    }
}

typedef struct {
    int at;
    void *buf;
    size_t len;
} at_epoch;

static mlp_err keep_checkpoint(void *ctx, const train_metrics *m, trainer *t)
{
    at_epoch *c = ctx;
    if (m->epoch == c->at) assert_int_equal(trainer_checkpoint(t, &c->buf, &c->len), MLP_OK);
    return MLP_OK;
}

/* The whole final state (weights, optimiser, rng) of a run of p, resumed from epoch `from`
 * when from > 0. *len receives its size; new. */
static void *final_state(const train_params *p, int from, size_t *len)
{
    int hid[1] = {16};
    net_spec s =
        test_spec(TASK_CLASSIFICATION, TD, 2, 1, hid, ACT_RELU, ACT_SOFTMAX, LOSS_CROSS_ENTROPY);
    train_data d = {TX, TR, TD, NULL, TY};
    trainer *t = NULL;
    mlp_error err = {0};
    assert_int_equal(trainer_new(&s, p, &d, NULL, &t, &err), MLP_OK);
    at_epoch c = {from, NULL, 0};
    assert_int_equal(trainer_run(t, keep_checkpoint, &c, NULL, NULL), MLP_OK);
    if (from > 0) {
        trainer_free(t);
        assert_int_equal(trainer_new(&s, p, &d, NULL, &t, &err), MLP_OK);
        assert_int_equal(trainer_restore(t, c.buf, c.len, &err), MLP_OK);
        assert_int_equal(trainer_run(t, NULL, NULL, NULL, NULL), MLP_OK);
    }
    free(c.buf);
    void *buf = NULL;
    assert_int_equal(trainer_checkpoint(t, &buf, len), MLP_OK);
    trainer_free(t);
    return buf;
}

static void trainer_augments_deterministically(void **state)
{
    (void)state;
    bars();
    train_params p;
    train_params_default(&p, TASK_CLASSIFICATION, ACT_RELU);
    p.epochs = 4;
    p.batch_size = 16;
    p.seed = 9;
    p.standardize = 0; /* so that only the transforms tell the runs apart */
    size_t n0, n1, n2, n3;
    void *plain = final_state(&p, 0, &n0);
    p.augment.height = p.augment.width = 8;
    p.augment.channels = 1;
    p.augment.shift = 1;
    p.augment.rotate = 10;
    void *a1 = final_state(&p, 0, &n1);
    void *a2 = final_state(&p, 0, &n2);
    void *resumed = final_state(&p, 2, &n3);
    assert_true(n0 == n1 && n1 == n2 && n2 == n3);
    assert_memory_equal(a1, a2, n1);      /* same seed, same run */
    assert_memory_equal(a1, resumed, n1); /* resumed from epoch 2, same run */
    assert_memory_not_equal(plain, a1, n0);
    free(plain);
    free(a1);
    free(a2);
    free(resumed);
    /* an image that is not the inputs is refused, naming the field */
    p.augment.width = 7;
    int hid[1] = {4};
    net_spec s =
        test_spec(TASK_CLASSIFICATION, TD, 2, 1, hid, ACT_RELU, ACT_SOFTMAX, LOSS_CROSS_ENTROPY);
    train_data d = {TX, TR, TD, NULL, TY};
    trainer *t = NULL;
    mlp_error err = {0};
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, &err), MLP_EINVAL);
    assert_string_equal(err.field, "params.augment");
    assert_null(t);
}

/* CRC-32 of the final state of the runs below, standardised and not, on x86-64 with OpenBLAS's
 * Haswell/Zen kernels: a change to the augmented gather's arithmetic (which rows get which
 * transform, in which order) changes them. They are checked where the plain run's CRC shows the
 * same arithmetic (OpenBLAS's kernels differ between CPUs); elsewhere only the thread counts are
 * compared. */
static const uint32_t plain_state_crc[2] = {0x1670cf58u, 0xa136913cu};
static const uint32_t aug_state_crc[2] = {0x141ddf56u, 0x08d8bc3eu};

/* The augmented gather runs in pieces on the trainer's threads after every row's transform is
 * drawn, in row order: 1, 2 and 3 threads give the same final state (weights, optimiser, rng;
 * one thread gathers every row itself), with dropout and noise (drawn after the transforms),
 * standardised (the rows transformed into each thread's scratch) and not (straight into the batch).
 * Batches of 40 rows: pieces of 16, 16 and 8 rows. OpenBLAS runs one thread, as the helpers need.
 */
static void trainer_augments_the_same_on_any_threads(void **state)
{
    (void)state;
    bars();
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    for (int raw = 0; raw <= 1; raw++) {
        train_params p;
        train_params_default(&p, TASK_CLASSIFICATION, ACT_RELU);
        p.epochs = 3;
        p.batch_size = 40;
        p.seed = 9;
        p.dropout = 0.1;
        p.noise = NOISE_GAUSSIAN;
        p.noise_std = 0.1;
        p.standardize = !raw;
        size_t n0, n[3];
        void *plain = final_state(&p, 0, &n0), *st[3];
        p.augment.height = p.augment.width = 8;
        p.augment.channels = 1;
        p.augment.shift = 1;
        p.augment.rotate = 10;
        for (int k = 0; k < 3; k++) {
            p.threads = k + 1;
            p.parallel_min_macs = 0; /* a small net: helpers all the same */
            st[k] = final_state(&p, 0, &n[k]);
        }
        assert_true(n[0] == n0 && n[1] == n0 && n[2] == n0);
        assert_memory_equal(st[0], st[1], n0);
        assert_memory_equal(st[0], st[2], n0);
        uint32_t pc = crc32_of(plain, n0 - 4), ac = crc32_of(st[0], n0 - 4); /* without its CRC */
        if (pc == plain_state_crc[raw])
            assert_int_equal(ac, aug_state_crc[raw]);
        else
            print_message("standardise %d: plain state CRC %08x, augmented %08x: not the "
                          "arithmetic of the pinned CRCs, only the thread counts compared\n",
                          !raw, pc, ac);
        for (int k = 0; k < 3; k++) free(st[k]);
        free(plain);
    }
    openblas_set_num_threads(blas);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shift_moves_pixels_exactly),
        cmocka_unit_test(rotate_zero_is_identity),
        cmocka_unit_test(quarter_turns_and_flips),
        cmocka_unit_test(affine_matches_reference),
        cmocka_unit_test(lane_widths_agree),
        cmocka_unit_test(bilinear_stays_in_bounds),
        cmocka_unit_test(same_seed_same_draws),
        cmocka_unit_test(checks_name_the_field),
        cmocka_unit_test(moments_follow_the_augmentation),
        cmocka_unit_test(trainer_augments_deterministically),
        cmocka_unit_test(trainer_augments_the_same_on_any_threads),
    };
    return cmocka_run_group_tests_name("core/augment", tests, NULL, NULL);
}
