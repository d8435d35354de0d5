/* augment.h — data augmentation of image rows: random translation (integer, zero fill), rotation
 * and scaling (bilinear, zero fill), additive brightness and horizontal flip, each drawn from an
 * explicit rng so that a run that augments stays deterministic and resumable (the trainer draws
 * from its own checkpointed stream, core/train.c).
 *
 * Layout. A row of height·width·channels floats is one image, row-major with the channels of a
 * pixel side by side (HWC): value (y, x, c) is row[(y·width + x)·channels + c]. An IDX image
 * file (n × 28 × 28) is HWC with one channel.
 *
 * Transform. For a draw (dx, dy, θ, s, b, flip), output pixel (x, y) takes the input at
 *   u = x − dx − cx,  v = y − dy − cy                      (cx = (width−1)/2, cy = (height−1)/2)
 *   sx = ( cos θ·u + sin θ·v) / s + cx,  sy = (−sin θ·u + cos θ·v) / s + cy,
 *   sx ← width − 1 − sx when flip,
 * sampled bilinearly with zeros outside the image; then b is added to every value. So the
 * content is mirrored, scaled by s and rotated by θ about the centre, then moved by (dx, dy)
 * pixels (positive: right and down). Without rotation or scaling (θ = 0, s = 1) the copy is
 * exact: shifted pixels keep their values bit for bit.
 *
 * Draws. Each enabled option takes its values from the rng in this order: dx, dy uniform
 * integers in [−shift, shift]; θ uniform in [−rotate, rotate] degrees; s uniform in
 * [scale_lo, scale_hi]; b uniform in [brightness_lo, brightness_hi]; flip with probability
 * hflip. A disabled option draws nothing.
 *
 * Standardisation (DESIGN). The trainer (core/train.c) transforms raw rows, then standardises
 * them, and takes the standardisation statistics over augmented rows (aug_moments: one
 * augmented copy of each training row, from a stream of its own), not over the data as
 * uploaded. The statistics so describe what the network sees. With statistics of the plain
 * data, a border pixel that is blank in every centred image has a spread of about zero (scale
 * 1 by the constant-column rule, or a tiny std), and ink shifted or rotated into it would
 * become an input of hundreds of standard deviations. The alternative, standardising first
 * and transforming standardised rows, was not taken: its zero fill would be the column mean
 * rather than blank, and brightness would be in per-pixel units rather than the data's.
 * The statistics are folded into the exported model like any others, so serving takes raw,
 * untransformed rows.
 *
 * Owns: nothing. Borrows: the rows and the rng passed in.
 * Speed. The bilinear path runs in vectors, eight pixels at a time where the CPU has AVX2 and
 * four elsewhere, with the same values either way (augment.c says how); aug_max_lanes lets tests
 * and benches pick the width.
 *
 * Threading: reentrant (aug_max_lanes aside: set it before any aug_apply); an rng belongs to its
 * caller. No allocation. */
#ifndef AUGMENT_H
#define AUGMENT_H

#include "mlp.h"
#include "rng.h"

typedef struct {
    int height, width, channels; /* image shape of a row (HWC); 0 = not set */
    int shift;                   /* max |dx| and |dy| in pixels, 0..height/width; 0 = off */
    double rotate;               /* max |θ| in degrees, [0, 180]; 0 = off */
    double scale_lo, scale_hi;   /* zoom range, 0.01 <= lo <= hi <= 10; [1, 1] = off */
    double bright_lo, bright_hi; /* additive brightness range, lo <= hi; [0, 0] = off */
    double hflip;                /* probability of a horizontal flip, [0, 1]; 0 = off */
} aug_spec;

/* One draw: the transform of one row. */
typedef struct {
    int dx, dy;    /* pixels, positive: right, down */
    double angle;  /* radians */
    double scale;  /* zoom factor, > 0 */
    double bright; /* added to every value */
    int flip;      /* 1: mirror left-right first */
} aug_draw;

/* Everything off, no image shape. */
void aug_default(aug_spec *a);
/* 1 when at least one transform is on. */
int aug_enabled(const aug_spec *a);
/* Checks ranges and, when a transform is on, the image shape (≥ 1 each, and shift within the
 * image). err->field names the option ("params.augment.rotate"). */
mlp_err aug_check(const aug_spec *a, mlp_error *err);
/* Values per row: height·width·channels. */
long aug_row_len(const aug_spec *a);

/* Draws the transform of one row from r (see "Draws"). */
void aug_draw_one(const aug_spec *a, rng *r, aug_draw *d);
/* Floats of the scratch aug_apply needs: a zero-padded copy of the image. */
long aug_scratch_len(const aug_spec *a);
/* Writes the transformed in (aug_row_len values) to out; in and out must not overlap.
 * scratch: aug_scratch_len floats, overwritten. */
void aug_apply(const aug_spec *a, const aug_draw *d, const float *in, float *out, float *scratch);
/* Caps the vector width of the bilinear loop at lanes (4 or 8) and returns the width aug_apply
 * will use: 8 where lanes >= 8 and the CPU has AVX2, else 4 (the default cap is 8). Both widths
 * give the same values to the bit. For tests and benches: not thread-safe, call it before any
 * aug_apply. */
int aug_max_lanes(int lanes);

/* Column means and population variances of one augmented copy of each of the rows of X (rows ×
 * aug_row_len, row-major), transforms drawn from r row by row (Welford's update, in double).
 * scratch: aug_row_len + aug_scratch_len floats. mean, var: aug_row_len doubles each,
 * overwritten. */
void aug_moments(const aug_spec *a, rng *r, const float *X, int rows, float *scratch, double *mean,
                 double *var);

#endif
