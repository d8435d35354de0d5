/* augment.c — image augmentation transforms (see augment.h for the layout, the transform and
 * the order of the draws).
 *
 * The augmentation runs on every training row of every epoch, next to the GEMMs, so the
 * bilinear path is written for speed. The inverse map is affine in (x, y): along an output row
 * the source coordinates advance by constant steps. They are clamped to a copy of the image
 * padded with zeros, which keeps every read inside the copy and makes samples outside the
 * image read zeros, so the loops have no bounds checks. A one-channel image is resampled four
 * pixels at a time in portable vector code, or eight at a time where the CPU has AVX2 (chosen
 * at run time; both widths compute each lane with the same float operations, so they give the
 * same values). For a small turn, the four neighbours of a block of pixels lie on consecutive
 * columns of one or two source rows, and are read as whole vectors; other blocks gather them.
 * The exact path (no rotation, no scaling) is a row copy with a zero border. */
#include "augment.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define AUG_PI 3.14159265358979323846
#define PAD    2 /* zero pixels around the padded copy the bilinear loop samples */

void aug_default(aug_spec *a)
{
    memset(a, 0, sizeof *a);
    a->scale_lo = a->scale_hi = 1.0;
}

int aug_enabled(const aug_spec *a)
{
    return a->shift > 0 || a->rotate > 0.0 || a->scale_lo != 1.0 || a->scale_hi != 1.0 ||
           a->bright_lo != 0.0 || a->bright_hi != 0.0 || a->hflip > 0.0;
}

long aug_row_len(const aug_spec *a)
{
    return (long)a->height * a->width * a->channels;
}

static mlp_err bad(mlp_error *err, const char *field, const char *msg)
{
    if (err) snprintf(err->field, sizeof err->field, "%s", field);
    return mlp_fail(err, MLP_EINVAL, "%s %s", field, msg);
}

mlp_err aug_check(const aug_spec *a, mlp_error *err)
{
    if (a->shift < 0 || a->shift > 1000)
        return bad(err, "params.augment.shift", "must be a whole number from 0 to 1000");
    if (!(a->rotate >= 0.0 && a->rotate <= 180.0))
        return bad(err, "params.augment.rotate", "must be a number of degrees from 0 to 180");
    if (!(a->scale_lo >= 0.01 && a->scale_lo <= a->scale_hi && a->scale_hi <= 10.0))
        return bad(err, "params.augment.scale", "must be [lo, hi] with 0.01 <= lo <= hi <= 10");
    if (!(isfinite(a->bright_lo) && isfinite(a->bright_hi) && a->bright_lo <= a->bright_hi &&
          fabs(a->bright_lo) <= 1e6 && fabs(a->bright_hi) <= 1e6))
        return bad(err, "params.augment.brightness",
                   "must be [lo, hi] with lo <= hi, both finite and within ±1e6");
    if (!(a->hflip >= 0.0 && a->hflip <= 1.0))
        return bad(err, "params.augment.hflip", "must be a probability from 0 to 1");
    if (!aug_enabled(a)) return MLP_OK;
    if (a->height < 1 || a->width < 1 || a->channels < 1 ||
        (double)a->height * a->width * a->channels > 1e7)
        return bad(err, "params.augment", "needs an image shape (height, width, channels >= 1)");
    if (a->shift > (a->height > a->width ? a->height : a->width))
        return bad(err, "params.augment.shift", "must not exceed the image's larger side");
    return MLP_OK;
}

/* Uniform in [lo, hi]. */
static double uni(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_uniform(r);
}

void aug_draw_one(const aug_spec *a, rng *r, aug_draw *d)
{
    d->dx = d->dy = 0;
    d->angle = 0.0;
    d->scale = 1.0;
    d->bright = 0.0;
    d->flip = 0;
    if (a->shift > 0) {
        uint64_t n = 2 * (uint64_t)a->shift + 1;
        d->dx = (int)rng_below(r, n) - a->shift;
        d->dy = (int)rng_below(r, n) - a->shift;
    }
    if (a->rotate > 0.0) d->angle = uni(r, -a->rotate, a->rotate) * (AUG_PI / 180.0);
    if (a->scale_lo != 1.0 || a->scale_hi != 1.0) d->scale = uni(r, a->scale_lo, a->scale_hi);
    if (a->bright_lo != 0.0 || a->bright_hi != 0.0) d->bright = uni(r, a->bright_lo, a->bright_hi);
    if (a->hflip > 0.0) d->flip = rng_uniform(r) < a->hflip;
}

/* Integer shift (and flip) with a zero border: every value is copied, none interpolated. */
static void apply_exact(const aug_spec *a, const aug_draw *d, const float *in, float *out)
{
    int H = a->height, W = a->width, C = a->channels;
    for (int y = 0; y < H; y++) {
        float *o = out + (size_t)y * W * C;
        int sy = y - d->dy;
        if (sy < 0 || sy >= H) {
            memset(o, 0, (size_t)W * C * sizeof(float));
            continue;
        }
        const float *src = in + (size_t)sy * W * C;
        if (!d->flip) {
            /* out x takes in x − dx: the overlap is one block copy */
            int x0 = d->dx > 0 ? d->dx : 0, x1 = d->dx < 0 ? W + d->dx : W;
            if (x1 < x0) x1 = x0;
            memset(o, 0, (size_t)x0 * C * sizeof(float));
            if (x1 > x0)
                memcpy(o + (size_t)x0 * C, src + (size_t)(x0 - d->dx) * C,
                       (size_t)(x1 - x0) * C * sizeof(float));
            memset(o + (size_t)x1 * C, 0, (size_t)(W - x1) * C * sizeof(float));
        } else {
            for (int x = 0; x < W; x++) {
                int sx = W - 1 - (x - d->dx);
                float *p = o + (size_t)x * C;
                if (sx < 0 || sx >= W)
                    for (int c = 0; c < C; c++) p[c] = 0.0f;
                else
                    for (int c = 0; c < C; c++) p[c] = src[(size_t)sx * C + c];
            }
        }
    }
}

/* Vectors of four and eight floats (GCC and clang vector extensions): SSE2 on any x86-64,
 * AVX2 in the functions compiled for it, plain code on other targets. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef double v2d __attribute__((vector_size(16)));

/* Lane-wise max, min and select of float vectors of any width: macros rather than functions,
 * so that they expand inside a function compiled for AVX2 without a call across the ABIs. */
#define V_SEL(m, a, b)    (((a) & (m)) | ((b) & ~(m))) /* on the integer view */
#define V_MAX(T, I, a, b) ((T)V_SEL((I)((a) > (b)), (I)(a), (I)(b)))
#define V_MIN(T, I, a, b) ((T)V_SEL((I)((a) < (b)), (I)(a), (I)(b)))

/* The two adjacent floats at p, as the bits of one double (one 8-byte load). */
static inline double pair(const float *p)
{
    double d;
    memcpy(&d, p, sizeof d);
    return d;
}

/* in copied into pad, (H + 2·PAD) × (W + 2·PAD) × C with a zero border. The rows are short
 * (28 floats for Fashion-MNIST): they are copied in vectors of four rather than by three libc
 * calls each. */
static void pad_copy(const aug_spec *a, const float *in, float *pad)
{
    int H = a->height, W = a->width, C = a->channels;
    size_t pw = (size_t)(W + 2 * PAD) * C, row = (size_t)W * C, edge = (size_t)PAD * C;
    memset(pad, 0, pw * PAD * sizeof(float));
    for (int y = 0; y < H; y++) {
        float *p = pad + (size_t)(y + PAD) * pw;
        const float *s = in + (size_t)y * row;
        for (size_t i = 0; i < edge; i++) p[i] = p[edge + row + i] = 0.0f;
        p += edge;
        size_t i = 0;
        for (; i + 4 <= row; i += 4) {
            v4f v;
            memcpy(&v, s + i, sizeof v);
            memcpy(p + i, &v, sizeof v);
        }
        for (; i < row; i++) p[i] = s[i];
    }
    memset(pad + (size_t)(H + PAD) * pw, 0, pw * PAD * sizeof(float));
}

/* One row of a one-channel bilinear transform (apply_affine). Pixel x of the row samples the
 * padded copy at (sx, sy) = (ax + bx·x, ay + by·x), each clamped to [0, xmax] × [0, ymax];
 * its neighbours are (ix, iy) = (⌊sx⌋, ⌊sy⌋) and the next column and row, its weights the
 * fractions (tx, ty), and its value top + ty·(bottom − top) with top = p00 + tx·(p01 − p00),
 * bottom likewise one row down. The row kernels below compute exactly this, lane for lane, with
 * the same float operations in the same order, so that they agree to the bit. */
typedef struct {
    const float *pad;
    size_t pw;                     /* floats per padded row */
    int H, W;                      /* output rows and columns */
    double ca, sa, u0, v0, cx, cy; /* row y starts at (ax, ay) = row_start(this, y) */
    int flip;
    float bx, by, xmax, ymax; /* the steps along a row, and the clamps */
    int runs; /* 0 <= bx < 1: ix steps by 0 or 1, so n − 1 steps that add up to n − 1 are all 1 */
} affine_map;

/* The padded source coordinates of pixel 0 of output row y (in double, then rounded once). */
static inline void row_start(const affine_map *k, int y, float *ax, float *ay)
{
    double v = y + k->v0;
    double sx = k->ca * k->u0 + k->sa * v + k->cx, sy = -k->sa * k->u0 + k->ca * v + k->cy;
    if (k->flip) sx = 2.0 * k->cx - sx;
    *ax = (float)(sx + PAD);
    *ay = (float)(sy + PAD);
}

/* Four pixels at a time, any width W >= 1: a block whose four samples sit on consecutive columns
 * of one source row (the common case of a small turn without a flip) reads its neighbours as
 * four vectors; one that crosses into the next source row, as six vectors and a select; any
 * other (a flip, a large turn or zoom, a clamped edge) gathers them two floats at a time. */
static void affine_image4(const affine_map *k, float *out)
{
    const v4f lane = {0.0f, 1.0f, 2.0f, 3.0f}, zero = {0.0f, 0.0f, 0.0f, 0.0f};
    const v4f vxm = zero + k->xmax, vym = zero + k->ymax;
    const float *pad = k->pad, bx = k->bx, by = k->by;
    const size_t pw = k->pw;
    const int runs = k->runs, W = k->W;
    for (int y = 0; y < k->H; y++) {
        float ax, ay, *o = out + (size_t)y * W;
        row_start(k, y, &ax, &ay);
        for (int x = 0; x < W; x += 4) {
            v4f xv = lane + (float)x;
            v4f sx = V_MIN(v4f, v4i, V_MAX(v4f, v4i, ax + bx * xv, zero), vxm);
            v4f sy = V_MIN(v4f, v4i, V_MAX(v4f, v4i, ay + by * xv, zero), vym);
            v4i ix = __builtin_convertvector(sx, v4i), iy = __builtin_convertvector(sy, v4i);
            v4f tx = sx - __builtin_convertvector(ix, v4f),
                ty = sy - __builtin_convertvector(iy, v4f);
            v4f p00, p01, p10, p11;
            /* iy is monotone along the row (rise: how many rows it crosses), and so is ix; with
             * k->runs, ix[3] − ix[0] = 3 means four consecutive columns */
            int run = runs && ix[3] - ix[0] == 3, rise = iy[3] - iy[0];
            if (run && rise == 0) {
                const float *p = pad + (size_t)iy[0] * pw + (size_t)ix[0];
                memcpy(&p00, p, sizeof p00);
                memcpy(&p01, p + 1, sizeof p01);
                memcpy(&p10, p + pw, sizeof p10);
                memcpy(&p11, p + pw + 1, sizeof p11);
            } else if (run && (rise == 1 || rise == -1)) {
                /* rows r and r + 1: each lane takes the rows r, r + 1 or r + 1, r + 2 */
                int r = rise > 0 ? iy[0] : iy[3];
                const float *p = pad + (size_t)r * pw + (size_t)ix[0];
                v4i m = iy > r;
                v4f a0, a1, b0, b1, c0, c1;
                memcpy(&a0, p, sizeof a0);
                memcpy(&a1, p + 1, sizeof a1);
                memcpy(&b0, p + pw, sizeof b0);
                memcpy(&b1, p + pw + 1, sizeof b1);
                memcpy(&c0, p + 2 * pw, sizeof c0);
                memcpy(&c1, p + 2 * pw + 1, sizeof c1);
                p00 = (v4f)V_SEL(m, (v4i)b0, (v4i)a0);
                p01 = (v4f)V_SEL(m, (v4i)b1, (v4i)a1);
                p10 = (v4f)V_SEL(m, (v4i)c0, (v4i)b0);
                p11 = (v4f)V_SEL(m, (v4i)c1, (v4i)b1);
            } else {
                /* each row of a 2×2 neighbourhood is two adjacent floats, loaded as one double:
                 * lanes {left, right} of samples 0 and 1, then of samples 2 and 3 */
                const float *pa = pad + (size_t)iy[0] * pw + (size_t)ix[0];
                const float *pb = pad + (size_t)iy[1] * pw + (size_t)ix[1];
                const float *pc = pad + (size_t)iy[2] * pw + (size_t)ix[2];
                const float *pd = pad + (size_t)iy[3] * pw + (size_t)ix[3];
                v4f t01 = (v4f)(v2d){pair(pa), pair(pb)}, t23 = (v4f)(v2d){pair(pc), pair(pd)};
                v4f b01 = (v4f)(v2d){pair(pa + pw), pair(pb + pw)};
                v4f b23 = (v4f)(v2d){pair(pc + pw), pair(pd + pw)};
                p00 = __builtin_shufflevector(t01, t23, 0, 2, 4, 6);
                p01 = __builtin_shufflevector(t01, t23, 1, 3, 5, 7);
                p10 = __builtin_shufflevector(b01, b23, 0, 2, 4, 6);
                p11 = __builtin_shufflevector(b01, b23, 1, 3, 5, 7);
            }
            v4f top = p00 + tx * (p01 - p00), bot = p10 + tx * (p11 - p10);
            v4f r = top + ty * (bot - top);
            if (x + 4 <= W)
                memcpy(o + x, &r, sizeof r);
            else
                for (int j = 0; x + j < W; j++) o[x + j] = r[j];
        }
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#define AUG_AVX2 1
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* Eight pixels at a time, W >= 8 (the last block overlaps the one before it), on CPUs with
 * AVX2: a block on consecutive columns of at most two source rows reads six vectors and
 * selects (blends cost one instruction here); any other gathers lane by lane. */
__attribute__((target("avx2"))) static void affine_image8(const affine_map *k, float *out)
{
    const v8f lane = {0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f};
    const v8f zero = lane - lane, vxm = zero + k->xmax, vym = zero + k->ymax;
    const float *pad = k->pad, bx = k->bx, by = k->by;
    const size_t pw = k->pw;
    const int runs = k->runs, W = k->W, rlast = (int)k->ymax - 1; /* keeps row r + 2 inside */
    for (int y = 0; y < k->H; y++) {
        float ax, ay, *o = out + (size_t)y * W;
        row_start(k, y, &ax, &ay);
        for (int x0 = 0; x0 < W; x0 += 8) {
            int x = x0 + 8 <= W ? x0 : W - 8;
            v8f xv = lane + (float)x;
            /* vmaxps and vminps: a > b ? a : b and a < b ? a : b, as V_MAX and V_MIN */
            v8f sx = __builtin_ia32_minps256(__builtin_ia32_maxps256(ax + bx * xv, zero), vxm);
            v8f sy = __builtin_ia32_minps256(__builtin_ia32_maxps256(ay + by * xv, zero), vym);
            v8i ix = __builtin_convertvector(sx, v8i), iy = __builtin_convertvector(sy, v8i);
            v8f tx = sx - __builtin_convertvector(ix, v8f),
                ty = sy - __builtin_convertvector(iy, v8f);
            v8f p00, p01, p10, p11;
            int rise = iy[7] - iy[0];
            if (runs && ix[7] - ix[0] == 7 && rise >= -1 && rise <= 1) {
                int r = rise >= 0 ? iy[0] : iy[7];
                if (r > rlast) r = rlast;
                const float *p = pad + (size_t)r * pw + (size_t)ix[0];
                v8i m = iy > r;
                v8f a0, a1, b0, b1, c0, c1;
                memcpy(&a0, p, sizeof a0);
                memcpy(&a1, p + 1, sizeof a1);
                memcpy(&b0, p + pw, sizeof b0);
                memcpy(&b1, p + pw + 1, sizeof b1);
                memcpy(&c0, p + 2 * pw, sizeof c0);
                memcpy(&c1, p + 2 * pw + 1, sizeof c1);
                p00 = (v8f)V_SEL(m, (v8i)b0, (v8i)a0);
                p01 = (v8f)V_SEL(m, (v8i)b1, (v8i)a1);
                p10 = (v8f)V_SEL(m, (v8i)c0, (v8i)b0);
                p11 = (v8f)V_SEL(m, (v8i)c1, (v8i)b1);
            } else {
                float q00[8], q01[8], q10[8], q11[8];
                for (int j = 0; j < 8; j++) {
                    const float *p = pad + (size_t)iy[j] * pw + (size_t)ix[j];
                    q00[j] = p[0];
                    q01[j] = p[1];
                    q10[j] = p[pw];
                    q11[j] = p[pw + 1];
                }
                memcpy(&p00, q00, sizeof p00);
                memcpy(&p01, q01, sizeof p01);
                memcpy(&p10, q10, sizeof p10);
                memcpy(&p11, q11, sizeof p11);
            }
            v8f top = p00 + tx * (p01 - p00), bot = p10 + tx * (p11 - p10);
            v8f r = top + ty * (bot - top);
            memcpy(o + x, &r, sizeof r);
        }
    }
}
#endif

static int lane_cap = 8; /* aug_max_lanes */

int aug_max_lanes(int lanes)
{
    lane_cap = lanes >= 8 ? 8 : 4;
#ifdef AUG_AVX2
    if (lane_cap == 8 && __builtin_cpu_supports("avx2")) return 8;
#endif
    return 4;
}

/* Bilinear resampling through the inverse affine map of augment.h. Each output row walks its
 * source coordinates linearly, sx = ax + bx·x and sy = ay + by·x, on the padded copy. The
 * coordinates are clamped to the padded copy less one pixel, [0, W + 2·PAD − 2] ×
 * [0, H + 2·PAD − 2]: a sample that falls more than a pixel outside the image lands on the
 * zero border and reads zeros, as it should, and every read stays in the copy, so the loops
 * need no per-row range and no bounds checks. */
static void apply_affine(const aug_spec *a, const aug_draw *d, const float *in, float *out,
                         float *pad)
{
    int H = a->height, W = a->width, C = a->channels;
    double ca = cos(d->angle) / d->scale, sa = sin(d->angle) / d->scale;
    affine_map k = {pad,
                    (size_t)(W + 2 * PAD) * C,
                    H,
                    W,
                    ca,
                    sa,
                    -d->dx - (W - 1) * 0.5,
                    -d->dy - (H - 1) * 0.5,
                    (W - 1) * 0.5,
                    (H - 1) * 0.5,
                    d->flip,
                    (float)(d->flip ? -ca : ca),
                    (float)-sa,
                    (float)(W + 2 * PAD - 2),
                    (float)(H + 2 * PAD - 2),
                    0};
    /* below 1 by more than the rounding of two values of sx (each within a few ulps of xmax) */
    k.runs = k.bx >= 0.0f && k.bx < 1.0f - 16.0f * (k.xmax + 1.0f) * 0x1p-23f;
    pad_copy(a, in, pad);
    if (C == 1) {
#ifdef AUG_AVX2
        if (W >= 8 && lane_cap == 8 && __builtin_cpu_supports("avx2")) {
            affine_image8(&k, out);
            return;
        }
#endif
        affine_image4(&k, out);
        return;
    }
    for (int y = 0; y < H; y++) { /* the same samples, one pixel of C values at a time */
        float ax, ay, *o = out + (size_t)y * W * C;
        row_start(&k, y, &ax, &ay);
        for (int x = 0; x < W; x++) {
            float fx = (float)x, sx = ax + k.bx * fx, sy = ay + k.by * fx;
            sx = sx > 0.0f ? (sx < k.xmax ? sx : k.xmax) : 0.0f;
            sy = sy > 0.0f ? (sy < k.ymax ? sy : k.ymax) : 0.0f;
            int ix = (int)sx, iy = (int)sy;
            float tx = sx - (float)ix, ty = sy - (float)iy;
            const float *p = pad + (size_t)iy * k.pw + (size_t)ix * C, *q = p + k.pw;
            for (int c = 0; c < C; c++) {
                float top = p[c] + tx * (p[C + c] - p[c]);
                float bot = q[c] + tx * (q[C + c] - q[c]);
                o[(size_t)x * C + c] = top + ty * (bot - top);
            }
        }
    }
}

long aug_scratch_len(const aug_spec *a)
{
    return (long)(a->height + 2 * PAD) * (a->width + 2 * PAD) * a->channels;
}

void aug_apply(const aug_spec *a, const aug_draw *d, const float *in, float *out, float *scratch)
{
    if (d->angle == 0.0 && d->scale == 1.0)
        apply_exact(a, d, in, out);
    else
        apply_affine(a, d, in, out, scratch);
    if (d->bright != 0.0) {
        float b = (float)d->bright;
        long n = aug_row_len(a);
        for (long i = 0; i < n; i++) out[i] += b;
    }
}

void aug_moments(const aug_spec *a, rng *r, const float *X, int rows, float *scratch, double *mean,
                 double *var)
{
    long n = aug_row_len(a);
    for (long j = 0; j < n; j++) mean[j] = var[j] = 0.0;
    for (int i = 0; i < rows; i++) {
        aug_draw d;
        aug_draw_one(a, r, &d);
        aug_apply(a, &d, X + (size_t)i * n, scratch, scratch + n);
        double k = i + 1;
        for (long j = 0; j < n; j++) { /* var holds M2 until the end */
            double delta = scratch[j] - mean[j];
            mean[j] += delta / k;
            var[j] += delta * (scratch[j] - mean[j]);
        }
    }
    if (rows > 0)
        for (long j = 0; j < n; j++) var[j] /= rows;
}
