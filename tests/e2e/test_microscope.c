/* test_microscope.c — the autoencoder microscope through HTTP (api/microscope.c): on generated 8×8
 * images (a Gaussian blob at a random place, labelled by its half, and 20 planted images of
 * uniform noise), the top-20 outliers of an autoencoder hold at least 15 planted rows, worst
 * first, with label, input and reconstruction; /codes of a 2-D code maps each row to its code,
 * and of a 4-D code to the codes' first two principal components, checked against core/pca on
 * the codes :encode answers; the version object states its compression against PCA; and the
 * 400s (not an autoencoder, a missing or categorical column, bad top / limit / label, no
 * dataset_id) and 404s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "pca.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SIDE = 8, D = SIDE * SIDE, ROWS = 620, PLANTED = 20 };

static srv S;
static float IMG[ROWS][D];
static int NOISE[ROWS];
static char *CSV;

/* Row i is a planted noise image. */
static int planted(int i)
{
    return i % 30 == 13 && i / 30 < PLANTED;
}

static void make_data(void)
{
    unsigned seed = 11;
    size_t cap = (size_t)ROWS * (D * 18 + 16) + D * 8;
    char *p = CSV = malloc(cap);
    assert_non_null(CSV);
    for (int j = 0; j < D; j++) p += sprintf(p, "p%d,", j);
    p += sprintf(p, "kind\n");
    for (int i = 0; i < ROWS; i++) {
        NOISE[i] = planted(i);
        double cx = 1.5 + 4 * h_urand(&seed), cy = 1.5 + 4 * h_urand(&seed);
        for (int j = 0; j < D; j++) {
            double x = j % SIDE, y = j / SIDE;
            double v =
                NOISE[i] ? h_urand(&seed) : exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / 3.0);
            IMG[i][j] = (float)v;
            p += sprintf(p, "%.9g,", (double)IMG[i][j]);
        }
        p += sprintf(p, "%s\n", NOISE[i] ? "noise" : cy < 3.5 ? "top" : "bottom");
    }
}

/* Uploads text/csv as `name`; its id into id. */
static void upload(const char *name, const char *csv, char *id, size_t idlen)
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/datasets?name=%s", name);
    hresp r;
    long st = http_do(&S, "POST", path, "text/csv", csv, strlen(csv), NULL, &r);
    assert_int_equal(st, 201);
    json_t *j = hresp_json(&r);
    snprintf(id, idlen, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    hresp_free(&r);
}

static void train(const char *model, const char *tail)
{
    char body[512];
    snprintf(body, sizeof body, "{\"dataset_id\":\"ds_1\",\"model_name\":\"%s\",%s}", model, tail);
    assert_int_equal(h_train(&S, body, 120), 0);
}

static int setup(void **state)
{
    (void)state;
    if (srv_start(&S, NULL)) return -1;
    make_data();
    char id[32];
    upload("blobs", CSV, id, sizeof id);
    if (strcmp(id, "ds_1")) return -1;
#define AE(code)                                                                                   \
    "\"task\":\"autoencoder\",\"params\":{\"hidden\":[32," #code ",32],"                           \
    "\"activation\":\"tanh\",\"output_activation\":\"linear\",\"optimizer\":\"adam\","             \
    "\"learning_rate\":0.003,\"batch_size\":32,\"epochs\":60,\"seed\":3}"
    train("ae2", AE(2));
    train("ae4", AE(4));
    train("cls", "\"task\":\"classification\",\"target\":\"kind\",\"params\":{\"hidden\":[8],"
                 "\"epochs\":2}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(CSV);
    int rc = srv_finish(&S);
    return rc == 0 ? 0 : -1;
}

static json_t *get_ok(const char *path)
{
    long st;
    json_t *j = get_json(&S, path, &st);
    if (st != 200) fprintf(stderr, "GET %s -> %ld\n", path, st);
    assert_int_equal(st, 200);
    assert_non_null(j);
    return j;
}

static void test_outliers(void **state)
{
    (void)state;
    json_t *o = get_ok("/api/v1/models/ae2/versions/1/outliers?dataset_id=ds_1&top=20");
    assert_int_equal(json_integer_value(json_object_get(o, "rows_scored")), ROWS);
    assert_string_equal(json_string_value(json_object_get(o, "label_column")), "kind");
    json_t *items = json_object_get(o, "items");
    assert_int_equal(json_array_size(items), 20);
    int hits = 0;
    double prev = INFINITY;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        int row = (int)json_integer_value(json_object_get(it, "row"));
        double e = json_number_value(json_object_get(it, "error"));
        assert_true(row >= 0 && row < ROWS);
        assert_true(e <= prev);
        prev = e;
        const char *label = json_string_value(json_object_get(it, "label"));
        assert_non_null(label);
        assert_int_equal(strcmp(label, "noise") == 0, NOISE[row]);
        hits += NOISE[row];
        json_t *in = json_object_get(it, "input"), *rec = json_object_get(it, "reconstruction");
        assert_int_equal(json_array_size(in), D);
        assert_int_equal(json_array_size(rec), D);
        double se = 0;
        for (int j = 0; j < D; j++) {
            assert_true((float)json_number_value(json_array_get(in, (size_t)j)) == IMG[row][j]);
            double dv = json_number_value(json_array_get(rec, (size_t)j)) - IMG[row][j];
            se += dv * dv;
        }
        assert_true(fabs(se / D - e) <= 1e-4 * (e + 1e-6)); /* the error is the row's MSE */
    }
    fprintf(stderr, "outliers: %d of the top 20 are planted noise images\n", hits);
    assert_true(hits >= 15);
    json_decref(o);
    /* the default top is 20; top 3 is the head of the same ranking */
    o = get_ok("/api/v1/models/ae2/versions/1/outliers?dataset_id=ds_1&top=3");
    assert_int_equal(json_array_size(json_object_get(o, "items")), 3);
    json_decref(o);
}

static void test_codes_2d(void **state)
{
    (void)state;
    json_t *o = get_ok("/api/v1/models/ae2/versions/1/codes?dataset_id=ds_1&limit=100");
    assert_string_equal(json_string_value(json_object_get(o, "projection")), "code");
    assert_int_equal(json_integer_value(json_object_get(o, "code_dim")), 2);
    assert_true(json_is_null(json_object_get(o, "pca")));
    json_t *items = json_object_get(o, "items");
    assert_int_equal(json_array_size(items), 100);
    for (size_t i = 0; i < 100; i++) {
        json_t *it = json_array_get(items, i), *c = json_object_get(it, "code"),
               *m = json_object_get(it, "map");
        assert_int_equal(json_integer_value(json_object_get(it, "row")), (json_int_t)i);
        assert_int_equal(json_array_size(c), 2);
        for (size_t k = 0; k < 2; k++)
            assert_true(json_number_value(json_array_get(c, k)) ==
                        json_number_value(json_array_get(m, k)));
        assert_non_null(json_string_value(json_object_get(it, "label")));
    }
    json_decref(o);
    /* the default limit (5000) is more than the rows: every row */
    o = get_ok("/api/v1/models/ae2/versions/1/codes?dataset_id=ds_1");
    assert_int_equal(json_array_size(json_object_get(o, "items")), ROWS);
    json_decref(o);
}

/* A code of 4: the map is the PCA of the codes, as core/pca computes it from :encode's codes. */
static void test_codes_pca(void **state)
{
    (void)state;
    enum { N = 300, C = 4 };
    json_t *o = get_ok("/api/v1/models/ae4/versions/1/codes?dataset_id=ds_1&limit=300");
    assert_string_equal(json_string_value(json_object_get(o, "projection")), "pca");
    assert_int_equal(json_integer_value(json_object_get(o, "code_dim")), C);
    json_t *items = json_object_get(o, "items");
    assert_int_equal(json_array_size(items), N);
    /* the same rows through :encode */
    size_t cap = (size_t)N * (D * 18 + 4) + 64;
    char *body = malloc(cap), *p = body;
    p += sprintf(p, "{\"instances\":[");
    for (int i = 0; i < N; i++) {
        *p++ = i ? ',' : '[';
        if (i) *p++ = '[';
        for (int j = 0; j < D; j++) p += sprintf(p, "%s%.9g", j ? "," : "", (double)IMG[i][j]);
        *p++ = ']';
    }
    p += sprintf(p, "]}");
    long st;
    json_t *enc = post_json(&S, "/v1/models/ae4/versions/1:encode", body, &st);
    free(body);
    assert_int_equal(st, 200);
    json_t *codes = json_object_get(enc, "codes");
    assert_int_equal(json_array_size(codes), N);
    static float Cd[N * C], Z[N * 2];
    for (int i = 0; i < N; i++)
        for (int k = 0; k < C; k++) {
            Cd[i * C + k] = (float)json_number_value(
                json_array_get(json_array_get(codes, (size_t)i), (size_t)k));
            float got = (float)json_number_value(json_array_get(
                json_object_get(json_array_get(items, (size_t)i), "code"), (size_t)k));
            assert_true(got == Cd[i * C + k]); /* the route's codes are :encode's */
        }
    pca *pc = NULL;
    assert_int_equal(pca_fit(Cd, N, C, 2, &pc, NULL), MLP_OK);
    assert_int_equal(pca_project(pc, Cd, N, Z), MLP_OK);
    double scale = sqrt(pc->variance[0]) + 1e-6;
    for (int i = 0; i < N; i++) {
        json_t *m = json_object_get(json_array_get(items, (size_t)i), "map");
        for (int k = 0; k < 2; k++)
            assert_true(fabs(json_number_value(json_array_get(m, (size_t)k)) - Z[i * 2 + k]) <
                        1e-3 * scale);
    }
    json_t *v = json_object_get(json_object_get(o, "pca"), "variance");
    assert_true(fabs(json_number_value(json_array_get(v, 0)) - pc->variance[0]) <
                1e-3 * pc->variance[0]);
    assert_true(pc->variance[0] >= pc->variance[1]);
    pca_free(pc);
    json_decref(enc);
    json_decref(o);
}

/* Each autoencoder version states its compression (input width / code width) and its
 * reconstruction error beside PCA's at the code's size; a classifier states none. */
static void test_compression(void **state)
{
    (void)state;
    static const struct {
        const char *model;
        int code;
    } cases[] = {{"ae2", 2}, {"ae4", 4}};
    for (size_t i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof path, "/api/v1/models/%s", cases[i].model);
        json_t *o = get_ok(path);
        json_t *c =
            json_object_get(json_array_get(json_object_get(o, "model_versions"), 0), "compression");
        assert_non_null(c);
        assert_int_equal(json_integer_value(json_object_get(c, "input_dim")), D);
        assert_int_equal(json_integer_value(json_object_get(c, "code_dim")), cases[i].code);
        assert_true(json_number_value(json_object_get(c, "ratio")) == (double)D / cases[i].code);
        assert_string_equal(json_string_value(json_object_get(c, "on")), "validation");
        double ae = json_number_value(json_object_get(c, "reconstruction_mse")),
               pc = json_number_value(json_object_get(c, "pca_mse"));
        fprintf(stderr, "%s: reconstruction mse %.5f, pca %.5f\n", cases[i].model, ae, pc);
        assert_true(ae > 0 && pc > 0 && ae < 1 && pc < 1);
        json_decref(o);
    }
    json_t *o = get_ok("/api/v1/models/cls");
    assert_null(
        json_object_get(json_array_get(json_object_get(o, "model_versions"), 0), "compression"));
    json_decref(o);
}

/* Expects status for path; when want is not NULL, the detail names it. */
static void expect(const char *path, long status, const char *want)
{
    hresp r;
    long st = http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r);
    if (st != status) fprintf(stderr, "GET %s -> %ld: %s\n", path, st, r.body);
    assert_int_equal(st, status);
    if (want) {
        json_t *j = hresp_json(&r);
        const char *detail = json_string_value(json_object_get(j, "detail"));
        if (!detail || !strstr(detail, want)) fprintf(stderr, "GET %s: %s\n", path, r.body);
        assert_non_null(detail);
        assert_non_null(strstr(detail, want));
        json_decref(j);
    }
    hresp_free(&r);
}

static void test_errors(void **state)
{
    (void)state;
    json_t *o;
    /* a dataset without p63, and one whose p5 is text */
    size_t cap = 4 * D * 18;
    char *csv = malloc(cap), *p = csv, id[32];
    for (int j = 0; j < D - 1; j++) p += sprintf(p, "%sp%d", j ? "," : "", j);
    p += sprintf(p, "\n");
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < D - 1; j++)
            p += sprintf(p, "%s0.5%s", j ? "," : "", j == D - 2 ? "\n" : "");
    upload("short", csv, id, sizeof id);
    char path[256];
    snprintf(path, sizeof path, "/api/v1/models/ae2/versions/1/outliers?dataset_id=%s", id);
    expect(path, 400, "'p63'");
    snprintf(path, sizeof path, "/api/v1/models/ae2/versions/1/codes?dataset_id=%s", id);
    expect(path, 400, "'p63'");
    p = csv;
    for (int j = 0; j < D; j++) p += sprintf(p, "%sp%d", j ? "," : "", j);
    p += sprintf(p, "\n");
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < D; j++)
            p +=
                sprintf(p, "%s%s%s", j ? "," : "", j == 5 ? "dark" : "0.5", j == D - 1 ? "\n" : "");
    upload("text", csv, id, sizeof id);
    free(csv);
    snprintf(path, sizeof path, "/api/v1/models/ae2/versions/1/outliers?dataset_id=%s", id);
    expect(path, 400, "'p5'");

    expect("/api/v1/models/cls/versions/1/outliers?dataset_id=ds_1", 400, "autoencoder");
    expect("/api/v1/models/cls/versions/1/codes?dataset_id=ds_1", 400, "autoencoder");
    expect("/api/v1/models/ae2/versions/1/outliers?dataset_id=ds_1&top=0", 400, "top");
    expect("/api/v1/models/ae2/versions/1/outliers?dataset_id=ds_1&top=201", 400, "top");
    expect("/api/v1/models/ae2/versions/1/outliers?dataset_id=ds_1&top=x", 400, "top");
    expect("/api/v1/models/ae2/versions/1/codes?dataset_id=ds_1&limit=0", 400, "limit");
    expect("/api/v1/models/ae2/versions/1/codes?dataset_id=ds_1&limit=100001", 400, "limit");
    expect("/api/v1/models/ae2/versions/1/codes?dataset_id=ds_1&label=nope", 400, "'nope'");
    expect("/api/v1/models/ae2/versions/1/outliers", 400, "dataset_id");
    expect("/api/v1/models/ae2/versions/x/outliers?dataset_id=ds_1", 400, "version");
    expect("/api/v1/models/ae2/versions/1/outliers?dataset_id=ds_99", 404, "ds_99");
    expect("/api/v1/models/ae2/versions/9/codes?dataset_id=ds_1", 404, NULL);
    expect("/api/v1/models/nope/versions/1/codes?dataset_id=ds_1", 404, NULL);
    /* a model 21000 wide: 200 rows of input and reconstruction pass the answer's bound */
    enum { W = 21000 };
    char *wide = malloc((size_t)W * 16 * 4), *q = wide;
    for (int j = 0; j < W; j++) q += sprintf(q, "%sw%d", j ? "," : "", j);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < W; j++) q += sprintf(q, "%c%d", j ? ',' : '\n', (i + j) % 3);
    q += sprintf(q, "\n");
    assert_int_equal(train_csv(&S, "wide", wide,
                               "\"task\":\"autoencoder\",\"validation\":{\"fraction\":0},"
                               "\"params\":{\"hidden\":[2],\"epochs\":1}",
                               60),
                     0);
    free(wide);
    json_t *w = get_ok("/api/v1/models/wide");
    json_t *v1 = json_array_get(json_object_get(w, "model_versions"), 0);
    assert_string_equal(json_string_value(json_object_get(v1, "run_id")), "run_4");
    /* wider than a PCA may be: the compression has no PCA baseline */
    json_t *wc = json_object_get(v1, "compression");
    assert_true(json_number_value(json_object_get(wc, "ratio")) == W / 2);
    assert_true(json_is_null(json_object_get(wc, "pca_mse")));
    assert_true(json_is_number(json_object_get(wc, "reconstruction_mse")));
    json_decref(w);
    expect("/api/v1/models/wide/versions/1/outliers?dataset_id=ds_4&top=200", 400,
           "at most 8388608 numbers");
    o = get_ok("/api/v1/models/wide/versions/1/outliers?dataset_id=ds_4&top=3");
    assert_int_equal(json_array_size(json_object_get(o, "items")), 3);
    json_decref(o);

    /* an explicit label column, numeric: its values printed */
    o = get_ok("/api/v1/models/ae2/versions/1/codes?dataset_id=ds_1&limit=2&label=p0");
    assert_string_equal(json_string_value(json_object_get(o, "label_column")), "p0");
    char want[32];
    snprintf(want, sizeof want, "%.9g", (double)IMG[0][0]);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(o, "items"), 0), "label")),
        want);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outliers),  cmocka_unit_test(test_codes_2d),
        cmocka_unit_test(test_codes_pca), cmocka_unit_test(test_compression),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
