/* test_story.c — the user story end to end against the real daemon: upload, train, watch,
 * predict, for each task (classification with string and with numeric labels, regression with
 * several targets in original units, autoencoder and denoising autoencoder), plus export ->
 * import -> identical predictions, aliases, gzip and IDX uploads. */
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
#include <zlib.h>

static srv S;

static int setup(void **state)
{
    (void)state;
    return srv_start(&S, NULL);
}

static int teardown(void **state)
{
    (void)state;
    int rc = srv_stop(&S, SIGTERM);
    srv_cleanup(&S);
    return rc == 0 ? 0 : -1;
}

static char *upload_csv(const char *name, const char *csv, long *status)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/datasets?name=%s", name);
    hresp r;
    *status = http_do(&S, "POST", path, "text/csv", csv, strlen(csv), NULL, &r);
    json_t *j = hresp_json(&r);
    char *id = j && json_string_value(json_object_get(j, "id"))
                   ? strdup(json_string_value(json_object_get(j, "id")))
                   : NULL;
    if (*status != 201) fprintf(stderr, "upload %s: %ld %s\n", name, *status, r.body);
    json_decref(j);
    hresp_free(&r);
    return id;
}

/* Two gaussian blobs labelled by strings, linearly separable. */
static char *blobs_csv(int n, int numeric_labels)
{
    size_t cap = (size_t)n * 64 + 64;
    char *b = malloc(cap), *p = b;
    unsigned s = 7;
    p += sprintf(p, "a,b,kind\n");
    for (int i = 0; i < n; i++) {
        int k = i % 3;
        double cx = k == 0 ? -2 : k == 1 ? 2 : 0, cy = k == 2 ? 3 : 0;
        double x = cx + (h_urand(&s) - 0.5), y = cy + (h_urand(&s) - 0.5);
        if (numeric_labels)
            p += sprintf(p, "%.4f,%.4f,%d\n", x, y, k * 10);
        else
            p += sprintf(p, "%.4f,%.4f,%s\n", x, y, k == 0 ? "cat" : k == 1 ? "dog" : "emu");
    }
    return b;
}

static json_t *train(const char *body)
{
    long st;
    json_t *run = post_json(&S, "/api/v1/runs", body, &st);
    assert_int_equal(st, 202);
    const char *id = json_string_value(json_object_get(run, "id"));
    assert_non_null(id);
    char rid[32];
    snprintf(rid, sizeof rid, "%s", id);
    json_decref(run);
    json_t *done = wait_run(&S, rid, 120);
    assert_non_null(done);
    if (strcmp(json_string_value(json_object_get(done, "status")), "succeeded") != 0)
        fprintf(stderr, "run: %s\n", json_dumps(done, 0));
    assert_string_equal(json_string_value(json_object_get(done, "status")), "succeeded");
    return done;
}

static void classification_string_labels(void **state)
{
    (void)state;
    long st;
    char *csv = blobs_csv(300, 0);
    char *ds = upload_csv("blobs", csv, &st);
    free(csv);
    assert_int_equal(st, 201);
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":\"kind\","
             "\"model_name\":\"blobs\",\"experiment\":\"e1\",\"params\":{\"hidden\":[8],"
             "\"epochs\":30,\"learning_rate\":0.01,\"batch_size\":16,\"seed\":3}}",
             ds);
    json_t *run = train(body);
    /* defaults echoed */
    json_t *p = json_object_get(run, "params");
    assert_string_equal(json_string_value(json_object_get(p, "optimizer")), "adam");
    assert_string_equal(json_string_value(json_object_get(p, "output_activation")), "softmax");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(run, "progress"), "epoch")),
                     30);
    double acc =
        json_number_value(json_object_get(json_object_get(run, "metrics"), "val_accuracy"));
    assert_true(acc > 0.95);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(run, "model"), "version")),
                     1);
    /* metrics history: one point per epoch per metric */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/runs/%s/metrics?name=val_loss",
             json_string_value(json_object_get(run, "id")));
    json_t *m = get_json(&S, path, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(m, "metrics")), 30);
    json_decref(m);
    json_decref(run);

    /* predict with arrays and with objects, classify with the dataset's labels */
    json_t *pr = post_json(&S, "/v1/models/blobs:predict",
                           "{\"instances\":[[-2,0],{\"a\":2,\"b\":0}]}", &st);
    assert_int_equal(st, 200);
    json_t *preds = json_object_get(pr, "predictions");
    assert_int_equal(json_array_size(preds), 2);
    assert_true(json_number_value(json_array_get(json_array_get(preds, 0), 0)) > 0.8);
    assert_true(json_number_value(json_array_get(json_array_get(preds, 1), 1)) > 0.8);
    json_decref(pr);
    json_t *cl =
        post_json(&S, "/v1/models/blobs/versions/1:classify", "{\"instances\":[[0,3]]}", &st);
    assert_int_equal(st, 200);
    json_t *best = json_array_get(json_array_get(json_object_get(cl, "results"), 0), 0);
    assert_string_equal(json_string_value(json_array_get(best, 0)), "emu");
    json_decref(cl);
    /* percent-encoded colon */
    cl = post_json(&S, "/v1/models/blobs%3Aclassify", "{\"instances\":[[2,0]]}", &st);
    assert_int_equal(st, 200);
    json_decref(cl);
    /* status and metadata */
    json_t *ms = get_json(&S, "/v1/models/blobs", &st);
    assert_int_equal(st, 200);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(ms, "model_version_status"), 0), "state")),
        "AVAILABLE");
    json_decref(ms);
    ms = get_json(&S, "/v1/models/blobs/metadata", &st);
    assert_int_equal(st, 200);
    json_t *md = json_object_get(ms, "metadata");
    assert_int_equal(json_integer_value(json_object_get(md, "input_dim")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(md, "labels"), 2)), "emu");
    json_decref(ms);

    /* alias, then delete of the aliased version is a conflict */
    hresp r;
    assert_int_equal(http_do(&S, "PUT", "/api/v1/models/blobs/aliases/stable", NULL,
                             "{\"version\":1}", 13, NULL, &r),
                     200);
    hresp_free(&r);
    cl = post_json(&S, "/v1/models/blobs/labels/stable:predict", "{\"instances\":[[2,0]]}", &st);
    assert_int_equal(st, 200);
    json_decref(cl);
    assert_int_equal(
        http_do(&S, "DELETE", "/api/v1/models/blobs/versions/1", NULL, NULL, 0, NULL, &r), 409);
    hresp_free(&r);
    free(ds);
}

static void classification_numeric_labels(void **state)
{
    (void)state;
    long st;
    char *csv = blobs_csv(240, 1);
    char *ds = upload_csv("blobs-num", csv, &st);
    free(csv);
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":2,"
             "\"model_name\":\"blobsnum\",\"params\":{\"hidden\":[8],\"epochs\":30,"
             "\"optimizer\":\"momentum\",\"learning_rate\":0.05,\"batch_size\":16}}",
             ds);
    json_decref(train(body));
    json_t *cl = post_json(&S, "/v1/models/blobsnum:classify", "{\"instances\":[[2,0]]}", &st);
    assert_int_equal(st, 200);
    json_t *best = json_array_get(json_array_get(json_object_get(cl, "results"), 0), 0);
    assert_string_equal(json_string_value(json_array_get(best, 0)), "10");
    json_decref(cl);
    free(ds);
}

static void regression_two_targets_original_units(void **state)
{
    (void)state;
    long st;
    size_t cap = 400 * 80 + 64;
    char *csv = malloc(cap), *p = csv;
    unsigned s = 11;
    p += sprintf(p, "x1,x2,y1,y2\n");
    for (int i = 0; i < 400; i++) {
        double x1 = h_urand(&s) * 10, x2 = h_urand(&s) * 100;
        p += sprintf(p, "%.5f,%.5f,%.5f,%.5f\n", x1, x2, 3 * x1 - 0.5 * x2 + 1000,
                     -20 * x1 + 0.1 * x2);
    }
    char *ds = upload_csv("lin", csv, &st);
    free(csv);
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"regression\",\"target\":[\"y1\",\"y2\"],"
             "\"model_name\":\"lin\",\"params\":{\"hidden\":[],\"epochs\":60,"
             "\"learning_rate\":0.05,\"batch_size\":32}}",
             ds);
    json_t *run = train(body);
    double r2 = json_number_value(json_object_get(json_object_get(run, "metrics"), "val_r2"));
    assert_true(r2 > 0.999);
    json_decref(run);
    json_t *pr = post_json(&S, "/v1/models/lin:predict", "{\"instances\":[[5,50]]}", &st);
    assert_int_equal(st, 200);
    json_t *y = json_array_get(json_object_get(pr, "predictions"), 0);
    assert_true(fabs(json_number_value(json_array_get(y, 0)) - 990.0) < 1.0);
    assert_true(fabs(json_number_value(json_array_get(y, 1)) - (-95.0)) < 1.0);
    json_decref(pr);
    free(ds);
}

static char *ae_csv(int n)
{
    /* 8 features driven by 2 latent factors in [0,1] */
    char *csv = malloc((size_t)n * 120 + 64), *p = csv;
    unsigned s = 5;
    for (int i = 0; i < 8; i++) p += sprintf(p, "%sf%d", i ? "," : "", i);
    *p++ = '\n';
    for (int r = 0; r < n; r++) {
        double u = h_urand(&s), v = h_urand(&s);
        for (int i = 0; i < 8; i++) {
            double x = (i < 4 ? u : v) * (0.5 + 0.1 * i) + 0.02 * h_urand(&s);
            p += sprintf(p, "%s%.4f", i ? "," : "", x);
        }
        *p++ = '\n';
    }
    *p = '\0';
    return csv;
}

static void autoencoder_and_denoising(void **state)
{
    (void)state;
    long st;
    char *csv = ae_csv(400);
    char *ds = upload_csv("ae", csv, &st);
    free(csv);
    const char *variants[2] = {"", ",\"noise\":{\"type\":\"gaussian\",\"std\":0.1}"};
    const char *names[2] = {"ae", "dae"};
    for (int k = 0; k < 2; k++) {
        char body[600];
        snprintf(body, sizeof body,
                 "{\"dataset_id\":\"%s\",\"task\":\"autoencoder\",\"model_name\":\"%s\","
                 "\"params\":{\"hidden\":[16,2,16],\"activation\":\"tanh\",\"epochs\":80,"
                 "\"learning_rate\":0.01,\"batch_size\":16%s}}",
                 ds, names[k], variants[k]);
        json_t *run = train(body);
        json_decref(run);
        char path[96];
        snprintf(path, sizeof path, "/v1/models/%s:reconstruct", names[k]);
        json_t *rec =
            post_json(&S, path, "{\"instances\":[[0.25,0.275,0.3,0.325,0.7,0.77,0.84,0.91]]}", &st);
        assert_int_equal(st, 200);
        double e = json_number_value(json_array_get(json_object_get(rec, "errors"), 0));
        assert_true(e >= 0 && e < 0.01);
        assert_int_equal(
            json_array_size(json_array_get(json_object_get(rec, "reconstructions"), 0)), 8);
        json_decref(rec);
        snprintf(path, sizeof path, "/v1/models/%s:encode", names[k]);
        json_t *enc = post_json(&S, path, "{\"instances\":[[0,0,0,0,1,1,1,1]]}", &st);
        assert_int_equal(st, 200);
        assert_int_equal(json_array_size(json_array_get(json_object_get(enc, "codes"), 0)), 2);
        json_decref(enc);
    }
    /* a verb the task lacks */
    json_t *e = post_json(&S, "/v1/models/ae:classify", "{\"instances\":[[0,0,0,0,1,1,1,1]]}", &st);
    assert_int_equal(st, 400);
    assert_non_null(json_object_get(e, "error"));
    json_decref(e);
    free(ds);
}

static void export_import_identical(void **state)
{
    (void)state;
    long st;
    hresp r;
    assert_int_equal(
        http_do(&S, "GET", "/api/v1/models/lin/versions/1/export", NULL, NULL, 0, NULL, &r), 200);
    hresp imp;
    assert_int_equal(http_do(&S, "POST", "/api/v1/models/lin-copy/versions", "application/json",
                             r.body, r.len, NULL, &imp),
                     201);
    hresp_free(&imp);
    hresp_free(&r);
    const char *inst = "{\"instances\":[[1.5,20],[7,3.25],[0,0]]}";
    json_t *a = post_json(&S, "/v1/models/lin:predict", inst, &st);
    json_t *b = post_json(&S, "/v1/models/lin-copy:predict", inst, &st);
    assert_int_equal(st, 200);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

static void gzip_and_idx_uploads(void **state)
{
    (void)state;
    /* gzip CSV via Content-Encoding */
    const char *csv = "x,y\n1,2\n3,4\n5,6\n";
    unsigned char gz[256];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = (unsigned char *)csv;
    zs.avail_in = (unsigned)strlen(csv);
    zs.next_out = gz;
    zs.avail_out = sizeof gz;
    deflate(&zs, Z_FINISH);
    size_t gzlen = sizeof gz - zs.avail_out;
    deflateEnd(&zs);
    hresp r;
    assert_int_equal(http_do(&S, "POST", "/api/v1/datasets?name=gz", "text/csv", gz, gzlen,
                             "Content-Encoding: gzip", &r),
                     201);
    json_t *j = hresp_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "rows")), 3);
    json_decref(j);
    hresp_free(&r);
    /* one IDX file: 4 images of 2x2 ubyte */
    unsigned char idx[4 + 12 + 16] = {0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 2};
    for (int i = 0; i < 16; i++) idx[16 + i] = (unsigned char)(i * 10);
    assert_int_equal(http_do(&S, "POST", "/api/v1/datasets?name=idx", "application/octet-stream",
                             idx, sizeof idx, NULL, &r),
                     201);
    j = hresp_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "rows")), 4);
    assert_int_equal(json_integer_value(json_object_get(j, "cols")), 4);
    json_decref(j);
    hresp_free(&r);
    /* rows read back */
    long st;
    j = get_json(&S, "/api/v1/datasets/ds_1/rows?limit=2", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(j, "rows")), 2);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classification_string_labels),
        cmocka_unit_test(classification_numeric_labels),
        cmocka_unit_test(regression_two_targets_original_units),
        cmocka_unit_test(autoencoder_and_denoising),
        cmocka_unit_test(export_import_identical),
        cmocka_unit_test(gzip_and_idx_uploads),
    };
    return cmocka_run_group_tests_name("e2e/story", tests, setup, teardown);
}
