/* augment.c — image augmentation transforms (see augment.h for the layout, the transform and
 * the order of the draws).
 *
 * The inverse map is affine in (x, y), so each output row walks its source coordinates by
 * constant steps; the bilinear sample reads its four neighbours from a copy of the image padded
 * with zeros, so that the loop over a row has no bounds checks (the augmentation runs on every
 * training row of every epoch, next to the GEMMs). The exact path (no rotation, no scaling) is a
 * row copy with a zero border. */
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

/* Narrows [*lo, *hi) to the x of [0, n_x) where a + b·x lies in [−1, side] (inv_b: 1 / b, for
 * a b that is not about 0). Outside it a sample has no neighbour in the image (the value is 0);
 * inside it the four neighbours are in the image padded by PAD zeros, with a pixel to spare
 * for rounding. */
static void sampled(double a, double b, double inv_b, int side, int n_x, int *lo, int *hi)
{
    double first = -1.0, last = side;
    int l, h;
    if (fabs(b) < 1e-12) {
        l = (a >= first && a <= last) ? 0 : n_x;
        h = (a >= first && a <= last) ? n_x : 0;
    } else { /* [ceil(t1), floor(t2)] clamped to [0, n_x), without libm's ceil and floor */
        double t1 = (first - a) * inv_b, t2 = (last - a) * inv_b;
        if (t1 > t2) {
            double t = t1;
            t1 = t2;
            t2 = t;
        }
        if (t1 <= 0)
            l = 0;
        else if (t1 >= n_x)
            l = n_x;
        else
            l = (int)t1 + ((int)t1 < t1);
        h = t2 < 0 ? 0 : t2 >= n_x ? n_x : (int)t2 + 1;
    }
    if (*lo < l) *lo = l;
    if (*hi > h) *hi = h;
}

/* in copied into pad, (H + 2·PAD) × (W + 2·PAD) × C with a zero border. */
static void pad_copy(const aug_spec *a, const float *in, float *pad)
{
    int H = a->height, W = a->width, C = a->channels;
    size_t pw = (size_t)(W + 2 * PAD) * C, row = (size_t)W * C;
    memset(pad, 0, pw * PAD * sizeof(float));
    for (int y = 0; y < H; y++) {
        float *p = pad + (size_t)(y + PAD) * pw;
        memset(p, 0, (size_t)PAD * C * sizeof(float));
        memcpy(p + (size_t)PAD * C, in + (size_t)y * row, row * sizeof(float));
        memset(p + (size_t)PAD * C + row, 0, (size_t)PAD * C * sizeof(float));
    }
    memset(pad + (size_t)(H + PAD) * pw, 0, pw * PAD * sizeof(float));
}

#define FIX_ONE 4294967296.0 /* 2^32: source coordinates walk in 32.32 fixed point */

/* Bilinear resampling through the inverse affine map of augment.h. Each output row walks its
 * source coordinates linearly, sx = ax + bx·x and sy = ay + by·x, in fixed point on the padded
 * copy (integer part: the neighbour, fraction: the weight), with no bounds checks: the x whose
 * samples miss the image entirely are zeros without sampling. */
static void apply_affine(const aug_spec *a, const aug_draw *d, const float *in, float *out,
                         float *pad)
{
    int H = a->height, W = a->width, C = a->channels;
    size_t pw = (size_t)(W + 2 * PAD) * C;
    double cx = (W - 1) * 0.5, cy = (H - 1) * 0.5;
    double ca = cos(d->angle) / d->scale, sa = sin(d->angle) / d->scale;
    double bx = d->flip ? -ca : ca, by = -sa; /* the same steps on every row */
    double ibx = fabs(bx) < 1e-12 ? 0.0 : 1.0 / bx, iby = fabs(by) < 1e-12 ? 0.0 : 1.0 / by;
    pad_copy(a, in, pad);
    for (int y = 0; y < H; y++) {
        double v = y - d->dy - cy, u0 = -d->dx - cx;
        double ax = ca * u0 + sa * v + cx, ay = -sa * u0 + ca * v + cy;
        if (d->flip) ax = (W - 1) - ax;
        int lo = 0, hi = W;
        sampled(ax, bx, ibx, W, W, &lo, &hi);
        sampled(ay, by, iby, H, W, &lo, &hi);
        if (hi < lo) hi = lo;
        float *o = out + (size_t)y * W * C;
        memset(o, 0, (size_t)lo * C * sizeof(float));
        memset(o + (size_t)hi * C, 0, (size_t)(W - hi) * C * sizeof(float));
        /* padded coordinates, >= PAD - 1 - rounding > 0 on [lo, hi) */
        if (lo == hi) continue;
        int64_t fx = (int64_t)((ax + bx * lo + PAD) * FIX_ONE + 0.5), dfx = (int64_t)(bx * FIX_ONE);
        int64_t fy = (int64_t)((ay + by * lo + PAD) * FIX_ONE + 0.5), dfy = (int64_t)(by * FIX_ONE);
        const float frac = (float)(1.0 / FIX_ONE);
        if (C == 1) {
            for (int x = lo; x < hi; x++, fx += dfx, fy += dfy) {
                float tx = (float)(uint32_t)fx * frac, ty = (float)(uint32_t)fy * frac;
                const float *p = pad + (size_t)(fy >> 32) * pw + (size_t)(fx >> 32);
                float top = p[0] + tx * (p[1] - p[0]), bot = p[pw] + tx * (p[pw + 1] - p[pw]);
                o[x] = top + ty * (bot - top);
            }
        } else {
            for (int x = lo; x < hi; x++, fx += dfx, fy += dfy) {
                float tx = (float)(uint32_t)fx * frac, ty = (float)(uint32_t)fy * frac;
                const float *p = pad + (size_t)(fy >> 32) * pw + (size_t)(fx >> 32) * C;
                const float *q = p + pw;
                for (int c = 0; c < C; c++) {
                    float top = p[c] + tx * (p[C + c] - p[c]);
                    float bot = q[c] + tx * (q[C + c] - q[c]);
                    o[(size_t)x * C + c] = top + ty * (bot - top);
                }
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
