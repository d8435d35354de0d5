/* test_onnx_export.c — GET /api/v1/models/{name}/versions/{v}/export?format=onnx against the real
 * daemon, every answer checked against api/openapi.json by the harness: 200 application/onnx
 * with the file name in Content-Disposition and bytes that decode as a ModelProto (protobuf-c)
 * naming the model; the JSON document stays the default and answers format=json; any other
 * format is a 400 naming the field; a missing version is a 404 in either format. The numbers
 * themselves are tests/server/test_onnx_export.c's and tests/onnx/'s (onnxruntime). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "onnx.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static srv S;

static int setup(void **state)
{
    (void)state;
    if (srv_start(&S, NULL)) return -1;
    char csv[8192], *p = csv;
    unsigned seed = 5;
    p += sprintf(p, "a,b,kind\n");
    for (int i = 0; i < 60; i++)
        p += sprintf(p, "%.3f,%.3f,%s\n", h_urand(&seed) * 4 - 2, h_urand(&seed) * 4 - 2,
                     i % 2 ? "yes" : "no");
    return train_csv(&S, "tiny-model", csv,
                     "\"task\":\"classification\",\"target\":\"kind\",\"params\":{\"hidden\":[4],"
                     "\"epochs\":2,\"seed\":1}",
                     60);
}

static int teardown(void **state)
{
    (void)state;
    return srv_finish(&S);
}

static void onnx_answer(void **state)
{
    (void)state;
    hresp r;
    long st = http_do(&S, "GET", "/api/v1/models/tiny-model/versions/1/export?format=onnx", NULL,
                      NULL, 0, NULL, &r);
    assert_int_equal(st, 200);
    assert_string_equal(r.content_type, "application/onnx");
    const char *cd = hresp_header(&r, "Content-Disposition");
    assert_non_null(cd);
    assert_string_equal(cd, "attachment; filename=\"tiny-model-v1.onnx\"");
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, r.len, (const uint8_t *)r.body);
    assert_non_null(m);
    assert_int_equal(m->ir_version, 8);
    assert_int_equal(m->opset_import[0]->version, 17);
    assert_string_equal(m->graph->input[0]->name, "input");
    assert_string_equal(m->graph->output[0]->name, "probabilities");
    int found = 0;
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (!strcmp(m->metadata_props[i]->key, "mlpd.labels"))
            found = !strcmp(m->metadata_props[i]->value, "[\"no\",\"yes\"]");
    assert_true(found);
    onnx__model_proto__free_unpacked(m, NULL);
    hresp_free(&r);
}

static void json_stays_the_default(void **state)
{
    (void)state;
    const char *paths[] = {"/api/v1/models/tiny-model/versions/1/export",
                           "/api/v1/models/tiny-model/versions/1/export?format=json"};
    for (int i = 0; i < 2; i++) {
        long st;
        json_t *j = get_json(&S, paths[i], &st);
        assert_int_equal(st, 200);
        assert_string_equal(json_string_value(json_object_get(j, "format")), "mlpd-model");
        json_decref(j);
    }
}

static void bad_format_and_missing_version(void **state)
{
    (void)state;
    long st;
    json_t *j = get_json(&S, "/api/v1/models/tiny-model/versions/1/export?format=pmml", &st);
    assert_int_equal(st, 400);
    json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    assert_string_equal(json_string_value(json_object_get(e0, "field")), "format");
    assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "json or onnx"));
    json_decref(j);
    j = get_json(&S, "/api/v1/models/tiny-model/versions/7/export?format=onnx", &st);
    assert_int_equal(st, 404);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(onnx_answer),
        cmocka_unit_test(json_stays_the_default),
        cmocka_unit_test(bad_format_and_missing_version),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
