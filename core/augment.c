/* augment.c — image augmentation transforms (see augment.h for the layout, the transform and
 * the order of the draws).
 *
 * The inverse map is affine in (x, y), so each output row walks its source coordinates by
 * constant steps; the bilinear sample reads the four neighbours with a zero for any outside the
 * image. The exact path (no rotation, no scaling) is a row copy with a zero border. */
#include "augment.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define AUG_PI 3.14159265358979323846

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
    if (!(a->scale_lo > 0.0 && a->scale_lo <= a->scale_hi && a->scale_hi <= 10.0))
        return bad(err, "params.augment.scale", "must be [lo, hi] with 0 < lo <= hi <= 10");
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

/* Bilinear resampling through the inverse affine map of augment.h. */
static void apply_affine(const aug_spec *a, const aug_draw *d, const float *in, float *out)
{
    int H = a->height, W = a->width, C = a->channels;
    double cx = (W - 1) * 0.5, cy = (H - 1) * 0.5;
    double ca = cos(d->angle) / d->scale, sa = sin(d->angle) / d->scale;
    for (int y = 0; y < H; y++) {
        double v = y - d->dy - cy, u0 = -d->dx - cx;
        /* source of (0, y); each step in x adds (ca, −sa) */
        double sx = ca * u0 + sa * v + cx, sy = -sa * u0 + ca * v + cy;
        float *o = out + (size_t)y * W * C;
        for (int x = 0; x < W; x++, sx += ca, sy -= sa) {
            double fxs = d->flip ? (W - 1) - sx : sx;
            double fx0 = floor(fxs), fy0 = floor(sy);
            float *p = o + (size_t)x * C;
            if (fx0 < -1.0 || fx0 >= W || fy0 < -1.0 || fy0 >= H) {
                for (int c = 0; c < C; c++) p[c] = 0.0f;
                continue;
            }
            int x0 = (int)fx0, y0 = (int)fy0;
            float tx = (float)(fxs - fx0), ty = (float)(sy - fy0);
            float w00 = (1 - tx) * (1 - ty), w01 = tx * (1 - ty), w10 = (1 - tx) * ty,
                  w11 = tx * ty;
            int in_x0 = x0 >= 0, in_x1 = x0 + 1 < W, in_y0 = y0 >= 0, in_y1 = y0 + 1 < H;
            const float *r0 = in + ((size_t)(in_y0 ? y0 : 0) * W) * C;
            const float *r1 = in + ((size_t)(in_y1 ? y0 + 1 : 0) * W) * C;
            for (int c = 0; c < C; c++) {
                float s = 0.0f;
                if (in_y0 && in_x0) s += w00 * r0[(size_t)x0 * C + c];
                if (in_y0 && in_x1) s += w01 * r0[(size_t)(x0 + 1) * C + c];
                if (in_y1 && in_x0) s += w10 * r1[(size_t)x0 * C + c];
                if (in_y1 && in_x1) s += w11 * r1[(size_t)(x0 + 1) * C + c];
                p[c] = s;
            }
        }
    }
}

void aug_apply(const aug_spec *a, const aug_draw *d, const float *in, float *out)
{
    if (d->angle == 0.0 && d->scale == 1.0)
        apply_exact(a, d, in, out);
    else
        apply_affine(a, d, in, out);
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
        aug_apply(a, &d, X + (size_t)i * n, scratch);
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
