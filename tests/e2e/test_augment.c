/* test_augment.c — image datasets and data augmentation against the real daemon: the image shape
 * of IDX uploads (one file, and an images + labels pair), declared with ?image= or by PATCH
 * (checked against the columns, 400s naming the field, unknown PATCH fields refused, null
 * clears it), params.augment refused on a dataset without an image shape (naming the field and
 * saying how to declare one) and for bad options, echoed with its defaults, a run that augments
 * succeeding and repeating itself exactly for a seed, and the preview route's copies (exact
 * shifts of the row, fixed by the seed, and its 400s and 404s), and the shape kept across a
 * restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static srv S;
static char BARS[32];  /* 8×8 bars, text label, declared 8x8x1 on upload */
static char PLAIN[32]; /* 4 numeric columns and a text label: no image */

/* 8×8 images of a horizontal (kind h) or vertical (kind v) bar; with numeric_label, a numeric
 * column "digit" after the pixels instead of the text label. */
static char *bars_csv(int rows, int numeric_label)
{
    char *csv = malloc((size_t)rows * 200 + 1024), *p = csv;
    for (int j = 0; j < 64; j++) p += sprintf(p, "p%d,", j);
    p += sprintf(p, "%s\n", numeric_label ? "digit" : "kind");
    for (int i = 0; i < rows; i++) {
        int vertical = i % 2, k = 1 + (i / 2) % 6;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) p += sprintf(p, "%d,", (vertical ? x == k : y == k));
        if (numeric_label)
            p += sprintf(p, "%d\n", vertical);
        else
            p += sprintf(p, "%s\n", vertical ? "v" : "h");
    }
    return csv;
}

/* Uploads body; the new dataset's JSON (new) and its id in id (when 201). */
static json_t *upload(const char *path, const char *ctype, const void *body, size_t len,
                      long *status, char *id)
{
    hresp r;
    *status = http_do(&S, "POST", path, ctype, body, len, NULL, &r);
    json_t *j = hresp_json(&r);
    hresp_free(&r);
    if (*status == 201 && id) snprintf(id, 32, "%s", json_string_value(json_object_get(j, "id")));
    return j;
}

static const char *err_field(json_t *j)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(j, "errors"), 0), "field"));
}

static const char *detail(json_t *j)
{
    const char *d = json_string_value(json_object_get(j, "detail"));
    return d ? d : "";
}

static void assert_image(json_t *ds, int h, int w, int c)
{
    json_t *im = json_object_get(ds, "image");
    if (h == 0) {
        assert_true(json_is_null(im));
        return;
    }
    assert_int_equal(json_integer_value(json_object_get(im, "height")), h);
    assert_int_equal(json_integer_value(json_object_get(im, "width")), w);
    assert_int_equal(json_integer_value(json_object_get(im, "channels")), c);
}

/* A request whose answer is a 400 naming field (and, when want is set, saying it). */
static void expect_400(const char *method, const char *path, const char *body, const char *field,
                       const char *want)
{
    hresp r;
    long st = http_do(&S, method, path, body ? "application/json" : NULL, body,
                      body ? strlen(body) : 0, NULL, &r);
    json_t *j = hresp_json(&r);
    if (st != 400 || !err_field(j) || strcmp(err_field(j), field) != 0 ||
        (want && !strstr(detail(j), want)))
        fail_msg("%s %s: %ld, field %s (want 400, %s): %s", method, path, st,
                 err_field(j) ? err_field(j) : "(none)", field, r.body ? r.body : "");
    json_decref(j);
    hresp_free(&r);
}

static int setup(void **state)
{
    (void)state;
    if (srv_start(&S, NULL)) return -1;
    long st;
    char *csv = bars_csv(96, 0);
    json_t *j =
        upload("/api/v1/datasets?name=bars&image=8x8x1", "text/csv", csv, strlen(csv), &st, BARS);
    free(csv);
    json_decref(j);
    if (st != 201) return -1;
    const char *plain = "a,b,c,d,kind\n1,2,3,4,x\n2,3,4,5,y\n3,4,5,6,x\n4,5,6,7,y\n";
    j = upload("/api/v1/datasets?name=plain", "text/csv", plain, strlen(plain), &st, PLAIN);
    json_decref(j);
    return st == 201 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return srv_finish(&S);
}

static void image_shape_of_idx_uploads(void **state)
{
    (void)state;
    long st;
    /* one IDX file: 3 images of 2 × 3 ubyte */
    unsigned char idx[16 + 18] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 3};
    for (int i = 0; i < 18; i++) idx[16 + i] = (unsigned char)(i * 10);
    json_t *j = upload("/api/v1/datasets?name=idx1", "application/octet-stream", idx, sizeof idx,
                       &st, NULL);
    assert_int_equal(st, 201);
    assert_image(j, 2, 3, 1);
    json_decref(j);
    /* 2-D IDX (vectors): no image */
    unsigned char vec[12 + 6] = {0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6};
    j = upload("/api/v1/datasets?name=vec", "application/octet-stream", vec, sizeof vec, &st, NULL);
    assert_int_equal(st, 201);
    assert_image(j, 0, 0, 0);
    json_decref(j);
    /* an images + labels pair, as MNIST ships */
    unsigned char lab[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 0, 1, 0};
    const char *b = "----aug";
    char *body = malloc(4096), *p = body;
    p += sprintf(p,
                 "--%s\r\nContent-Disposition: form-data; name=\"images\"; filename=\"i.idx\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n",
                 b);
    memcpy(p, idx, sizeof idx), p += sizeof idx;
    p += sprintf(
        p,
        "\r\n--%s\r\nContent-Disposition: form-data; name=\"labels\"; filename=\"l.idx\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n",
        b);
    memcpy(p, lab, sizeof lab), p += sizeof lab;
    p += sprintf(
        p, "\r\n--%s\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\npair\r\n--%s--\r\n", b,
        b);
    char ctype[64];
    snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%s", b);
    char id[32];
    j = upload("/api/v1/datasets", ctype, body, (size_t)(p - body), &st, id);
    free(body);
    assert_int_equal(st, 201);
    assert_image(j, 2, 3, 1);
    json_decref(j);
    /* the shape is stored: GET and the list show it */
    char path[96];
    snprintf(path, sizeof path, "/api/v1/datasets/%s", id);
    j = get_json(&S, path, &st);
    assert_int_equal(st, 200);
    assert_image(j, 2, 3, 1);
    json_decref(j);
    j = get_json(&S, "/api/v1/datasets?limit=1000", &st);
    int seen = 0;
    for (size_t i = 0; i < json_array_size(json_object_get(j, "items")); i++) {
        json_t *it = json_array_get(json_object_get(j, "items"), i);
        if (strcmp(json_string_value(json_object_get(it, "id")), id) == 0) {
            assert_image(it, 2, 3, 1);
            seen = 1;
        }
        if (strcmp(json_string_value(json_object_get(it, "id")), PLAIN) == 0)
            assert_image(it, 0, 0, 0);
    }
    assert_true(seen);
    json_decref(j);
}

static void image_shape_declared_on_upload(void **state)
{
    (void)state;
    long st;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/datasets/%s", BARS);
    json_t *j = get_json(&S, path, &st);
    assert_image(j, 8, 8, 1);
    json_decref(j);
    /* a square number of columns does not make an image */
    snprintf(path, sizeof path, "/api/v1/datasets/%s", PLAIN);
    j = get_json(&S, path, &st);
    assert_image(j, 0, 0, 0);
    json_decref(j);
    /* HxW is one channel; a numeric label after the pixels is allowed */
    char *csv = bars_csv(4, 1);
    j = upload("/api/v1/datasets?name=digits&image=8x8", "text/csv", csv, strlen(csv), &st, NULL);
    assert_int_equal(st, 201);
    assert_image(j, 8, 8, 1);
    json_decref(j);
    /* a shape that does not fit the columns, or is not a shape */
    hresp r;
    assert_int_equal(http_do(&S, "POST", "/api/v1/datasets?name=bad&image=3x3x1", "text/csv", csv,
                             strlen(csv), NULL, &r),
                     400);
    j = hresp_json(&r);
    assert_string_equal(err_field(j), "image");
    assert_non_null(strstr(detail(j), "65 numeric columns"));
    json_decref(j);
    hresp_free(&r);
    assert_int_equal(http_do(&S, "POST", "/api/v1/datasets?name=bad&image=8x8y", "text/csv", csv,
                             strlen(csv), NULL, &r),
                     400);
    j = hresp_json(&r);
    assert_string_equal(err_field(j), "image");
    json_decref(j);
    hresp_free(&r);
    free(csv);
}

static void image_shape_by_patch(void **state)
{
    (void)state;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/datasets/%s", PLAIN);
    hresp r;
    const char *b = "{\"image\": {\"height\": 2, \"width\": 2}}";
    assert_int_equal(http_do(&S, "PATCH", path, "application/json", b, strlen(b), NULL, &r), 200);
    json_t *j = hresp_json(&r);
    assert_image(j, 2, 2, 1);
    assert_string_equal(json_string_value(json_object_get(j, "id")), PLAIN);
    json_decref(j);
    hresp_free(&r);
    long st;
    j = get_json(&S, path, &st);
    assert_image(j, 2, 2, 1);
    json_decref(j);
    /* refused, each naming its field, and nothing changes */
    expect_400("PATCH", path, "{\"image\": {\"height\": 3, \"width\": 3}}", "image",
               "4 numeric columns");
    expect_400("PATCH", path, "{\"image\": {\"height\": 0, \"width\": 4}}", "image.height", NULL);
    expect_400("PATCH", path, "{\"image\": {\"height\": 2, \"width\": 2, \"depth\": 1}}", "image",
               "depth");
    expect_400("PATCH", path, "{\"image\": \"2x2\"}", "image", NULL);
    expect_400("PATCH", path, "{\"colour\": \"red\", \"image\": null}", "colour",
               "cannot be changed");
    /* every field is checked before any is applied: a bad image leaves visibility alone */
    expect_400("PATCH", path, "{\"visibility\": \"public\", \"image\": \"2x2\"}", "image", NULL);
    j = get_json(&S, path, &st);
    assert_image(j, 2, 2, 1);
    assert_string_equal(json_string_value(json_object_get(j, "visibility")), "class");
    json_decref(j);
    /* null clears it */
    b = "{\"image\": null}";
    assert_int_equal(http_do(&S, "PATCH", path, "application/json", b, strlen(b), NULL, &r), 200);
    j = hresp_json(&r);
    assert_image(j, 0, 0, 0);
    json_decref(j);
    hresp_free(&r);
    assert_int_equal(
        http_do(&S, "PATCH", "/api/v1/datasets/ds_999", "application/json", b, strlen(b), NULL, &r),
        404);
    hresp_free(&r);
}

static char *run_body(const char *ds, const char *task, const char *extra_params)
{
    char *s = malloc(1024);
    snprintf(s, 1024,
             "{\"dataset_id\": \"%s\", \"task\": \"%s\"%s, \"params\": {\"hidden\": [16], "
             "\"epochs\": 3, \"batch_size\": 16, \"seed\": 3%s}}",
             ds, task, strcmp(task, "autoencoder") ? ", \"target\": \"kind\"" : "", extra_params);
    return s;
}

static void augment_needs_an_image_dataset(void **state)
{
    (void)state;
    char *b = run_body(PLAIN, "classification", ", \"augment\": {\"shift\": 1}");
    expect_400("POST", "/api/v1/runs", b, "params.augment", "no image shape");
    expect_400("POST", "/api/v1/runs:validate", b, "params.augment", "PATCH /api/v1/datasets/");
    free(b);
    const char *bad[][2] = {
        {", \"augment\": {\"rotate\": 200}", "params.augment.rotate"},
        {", \"augment\": {\"shift\": -1}", "params.augment.shift"},
        {", \"augment\": {\"shift\": 9}", "params.augment.shift"},
        {", \"augment\": {\"scale\": [1.2, 1.1]}", "params.augment.scale"},
        {", \"augment\": {\"scale\": 1.1}", "params.augment.scale"},
        {", \"augment\": {\"brightness\": [0, \"x\"]}", "params.augment.brightness"},
        {", \"augment\": {\"hflip\": 2}", "params.augment.hflip"},
        {", \"augment\": {\"shear\": 2}", "params.augment"},
        {", \"augment\": 3", "params.augment"},
        {", \"augment\": {\"shift\": 1, \"image\": {\"height\": 4, \"width\": 16}}",
         "params.augment.image"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = run_body(BARS, "classification", bad[i][0]);
        expect_400("POST", "/api/v1/runs:validate", b, bad[i][1], NULL);
        free(b);
    }
    /* the run's inputs must be the image: an autoencoder on every numeric column of a dataset
     * whose numeric label follows the pixels is not */
    long st;
    char *csv = bars_csv(8, 1), id[32];
    json_t *j =
        upload("/api/v1/datasets?name=digits2&image=8x8x1", "text/csv", csv, strlen(csv), &st, id);
    free(csv);
    json_decref(j);
    assert_int_equal(st, 201);
    b = run_body(id, "autoencoder", ", \"augment\": {\"shift\": 1}");
    expect_400("POST", "/api/v1/runs", b, "params.augment", "65 input columns");
    free(b);
}

/* train_loss of every epoch of a run, each with 17 digits (new string). */
static char *losses(const char *run)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/runs/%s/metrics?name=train_loss", run);
    long st;
    json_t *j = get_json(&S, path, &st);
    assert_int_equal(st, 200);
    json_t *m = json_object_get(j, "metrics");
    assert_int_equal(json_array_size(m), 3);
    char *s = calloc(1, 256), *p = s;
    for (size_t i = 0; i < json_array_size(m); i++)
        p +=
            sprintf(p, "%.17g,", json_number_value(json_object_get(json_array_get(m, i), "value")));
    json_decref(j);
    return s;
}

static char *train(const char *extra)
{
    char *b = run_body(BARS, "classification", extra);
    long st;
    json_t *j = post_json(&S, "/api/v1/runs", b, &st);
    free(b);
    assert_int_equal(st, 202);
    char id[32];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    j = wait_run(&S, id, 60);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "succeeded");
    json_decref(j);
    return losses(id);
}

static void run_with_augment_is_deterministic(void **state)
{
    (void)state;
    const char *aug = ", \"augment\": {\"shift\": 1, \"rotate\": 10, \"hflip\": 0.5}";
    /* echoed with every option and the dataset's image */
    char *b = run_body(BARS, "classification", aug);
    long st;
    json_t *j = post_json(&S, "/api/v1/runs:validate", b, &st);
    free(b);
    assert_int_equal(st, 200);
    json_t *a =
        json_object_get(json_object_get(json_object_get(j, "request"), "params"), "augment");
    if (!a) a = json_object_get(json_object_get(j, "params"), "augment");
    assert_non_null(a);
    assert_int_equal(json_integer_value(json_object_get(a, "shift")), 1);
    assert_true(json_number_value(json_object_get(a, "rotate")) == 10);
    assert_true(json_number_value(json_array_get(json_object_get(a, "scale"), 0)) == 1);
    assert_true(json_number_value(json_array_get(json_object_get(a, "scale"), 1)) == 1);
    assert_true(json_number_value(json_array_get(json_object_get(a, "brightness"), 0)) == 0);
    assert_true(json_number_value(json_object_get(a, "hflip")) == 0.5);
    assert_image(a, 8, 8, 1);
    json_decref(j);
    /* twice the same, once without: the same seed gives the same losses; augmenting changes them */
    char *l1 = train(aug), *l2 = train(aug), *l0 = train("");
    assert_string_equal(l1, l2);
    assert_string_not_equal(l1, l0);
    free(l1);
    free(l2);
    free(l0);
    /* a run without augment echoes null */
    b = run_body(BARS, "classification", "");
    j = post_json(&S, "/api/v1/runs:validate", b, &st);
    free(b);
    a = json_object_get(json_object_get(json_object_get(j, "request"), "params"), "augment");
    if (!a) a = json_object_get(json_object_get(j, "params"), "augment");
    assert_true(json_is_null(a));
    json_decref(j);
}

static json_t *preview(const char *ds, const char *query, long *st)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/datasets/%s/rows/%s", ds, query);
    return get_json(&S, path, st);
}

static void preview_route(void **state)
{
    (void)state;
    long st;
    json_t *j = preview(BARS, "3/augmented?shift=2&seed=7", &st);
    assert_int_equal(st, 200);
    json_t *orig = json_object_get(j, "original"), *copies = json_object_get(j, "copies");
    assert_int_equal(json_array_size(orig), 64);
    assert_int_equal(json_array_size(copies), 8); /* n defaults to 8 */
    assert_int_equal(json_integer_value(json_object_get(j, "row")), 3);
    assert_image(j, 8, 8, 1);
    /* row 3: a vertical bar in column 2 */
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            assert_true(json_number_value(json_array_get(orig, (size_t)(y * 8 + x))) == (x == 2));
    /* a shift moves every pixel exactly, with zero fill */
    int moved = 0;
    for (size_t k = 0; k < json_array_size(copies); k++) {
        json_t *c = json_array_get(copies, k), *d = json_object_get(c, "draw"),
               *v = json_object_get(c, "values");
        int dx = (int)json_integer_value(json_object_get(d, "dx"));
        int dy = (int)json_integer_value(json_object_get(d, "dy"));
        assert_true(dx >= -2 && dx <= 2 && dy >= -2 && dy <= 2);
        moved += dx != 0 || dy != 0;
        assert_int_equal(json_array_size(v), 64);
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) {
                int sx = x - dx, sy = y - dy;
                double want = (sx >= 0 && sx < 8 && sy >= 0 && sy < 8)
                                  ? json_number_value(json_array_get(orig, (size_t)(sy * 8 + sx)))
                                  : 0.0;
                assert_true(json_number_value(json_array_get(v, (size_t)(y * 8 + x))) == want);
            }
    }
    assert_true(moved > 0);
    /* the same query gives the same copies; another seed others */
    json_t *j2 = preview(BARS, "3/augmented?shift=2&seed=7", &st);
    assert_true(json_equal(json_object_get(j, "copies"), json_object_get(j2, "copies")));
    json_decref(j2);
    j2 = preview(BARS, "3/augmented?shift=2&seed=8", &st);
    assert_false(json_equal(json_object_get(j, "copies"), json_object_get(j2, "copies")));
    json_decref(j2);
    json_decref(j);
    /* every option, n copies */
    j = preview(BARS,
                "0/augmented?shift=1&rotate=15&scale=0.9,1.1&brightness=-0.1,0.1&hflip=0.5&n=3&"
                "seed=1",
                &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(j, "copies")), 3);
    json_t *opts = json_object_get(j, "augment");
    assert_true(json_number_value(json_array_get(json_object_get(opts, "scale"), 0)) == 0.9);
    assert_true(json_number_value(json_object_get(opts, "rotate")) == 15);
    json_decref(j);
    /* refusals */
    char path[128];
    const char *bad[][2] = {
        {"0/augmented?n=0", "n"},
        {"0/augmented?n=65", "n"},
        {"0/augmented?rotate=abc", "rotate"},
        {"0/augmented?rotate=500", "rotate"},
        {"0/augmented?scale=2,1", "scale"},
        {"0/augmented?shift=-1", "shift"},
        {"0/augmented?hflip=3", "hflip"},
        {"x/augmented", "i"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "/api/v1/datasets/%s/rows/%s", BARS, bad[i][0]);
        expect_400("GET", path, NULL, bad[i][1], NULL);
    }
    snprintf(path, sizeof path, "/api/v1/datasets/%s/rows/0/augmented", PLAIN);
    expect_400("GET", path, NULL, "image", "no image shape");
    j = preview(BARS, "96/augmented", &st);
    assert_int_equal(st, 404);
    json_decref(j);
    j = preview("ds_999", "0/augmented", &st);
    assert_int_equal(st, 404);
    json_decref(j);
}

/* The shape is stored: a restarted daemon (migrated store) still has it. */
static void image_shape_survives_restart(void **state)
{
    (void)state;
    assert_int_equal(srv_stop(&S, SIGTERM), 0);
    assert_int_equal(srv_restart(&S, NULL), 0);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/datasets/%s", BARS);
    long st;
    json_t *j = get_json(&S, path, &st);
    assert_int_equal(st, 200);
    assert_image(j, 8, 8, 1);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(image_shape_of_idx_uploads),
        cmocka_unit_test(image_shape_declared_on_upload),
        cmocka_unit_test(image_shape_by_patch),
        cmocka_unit_test(augment_needs_an_image_dataset),
        cmocka_unit_test(run_with_augment_is_deterministic),
        cmocka_unit_test(preview_route),
        cmocka_unit_test(image_shape_survives_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
