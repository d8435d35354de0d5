/* augment_api.h — image datasets and data augmentation in the API: a dataset's image shape
 * (`image: {height, width, channels}`, declared as ?image=HxWxC on upload or by PATCH, set by
 * IDX image uploads) checked against its columns, `params.augment` of a run request parsed and
 * echoed, and the preview route (GET /api/v1/datasets/{id}/rows/{i}/augmented, handler in
 * api/augment.c), which draws its copies with core/augment, the trainer's own code.
 *
 * Image columns. An image is height·width·channels values, HWC (core/augment.h), taken from
 * the dataset's numeric columns in column order. A shape fits a dataset when that product is
 * the number of numeric columns, or that number less one: a numeric label after the pixels,
 * which is then not part of the image. Categorical columns (an IDX pair's label) are never
 * part of it.
 *
 * Threading: reentrant. */
#ifndef AUGMENT_API_H
#define AUGMENT_API_H

#include "augment.h"
#include "dataset.h"
#include "http.h"
#include "mlp.h"

#include <jansson.h>

/* MLP_OK when image fits cols (see "Image columns"); else MLP_EINVAL with err->field = field
 * and a message giving the product and the column count. */
mlp_err augapi_image_check(const ds_table *cols, const int image[3], const char *field,
                           mlp_error *err);
/* "HxWxC" (or "HxW", one channel) into image; MLP_EINVAL naming field otherwise. */
mlp_err augapi_image_parse_text(const char *s, const char *field, int image[3], mlp_error *err);
/* {"height", "width", "channels"}, or JSON null when image is unset; new. */
json_t *augapi_image_json(const int image[3]);

/* The message of a 400 for augmentation on a dataset without an image shape: why, and how to
 * declare one. */
void augapi_no_image(mlp_error *err, const char *field, const char *dataset_id);

/* params.augment {shift, rotate, scale: [lo, hi], brightness: [lo, hi], hflip, image?} into
 * *a (options only; image into a's shape when present). MLP_EINVAL naming the field. */
mlp_err augapi_parse_json(json_t *x, aug_spec *a, mlp_error *err);
/* Every option with its default, and the image; new. */
json_t *augapi_json(const aug_spec *a);

/* PATCH /api/v1/datasets/{id} field "image" (null clears it): validates it against cols and,
 * when apply, stores it. On failure answers the request and returns -1. */
int augapi_patch_image(http_req *req, http_resp *resp, const char *id, const ds_table *cols,
                       json_t *value, int apply);

#endif
