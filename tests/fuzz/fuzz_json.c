/* fuzz_json.c — libFuzzer target: JSON request validation of the management routes. The body goes
 * through the --max-json-depth pre-scan (api_json_depth_ok), then jansson, then runspec_parse
 * (POST /api/v1/runs and runs:validate) without and with dataset columns. Oracle: a request
 * that validates normalises to a document runspec_decode (what the worker reads back from the
 * store) accepts. The raw bytes also go to runspec_decode directly.
 * Owns: nothing beyond one input (the column table is built once). Threading: one thread. */
#include "csv.h"
#include "dataset.h"
#include "problem.h"
#include "runspec_api.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ds_table *columns(void)
{
    static ds_table *t;
    if (t) return t;
    static const char csv[] = "f0,f1,f2,label,y\n1,2,3,cat,0.5\n4,5,6,dog,1.5\n7,8,9,cat,2\n";
    ds_builder *b = NULL;
    csv_parser *p = NULL;
    if (ds_builder_new(0, &b) || csv_new(b, CSV_HEADER_AUTO, &p) ||
        csv_feed(p, csv, sizeof csv - 1, NULL) || csv_finish(p, NULL) ||
        ds_builder_finish(b, &t, NULL))
        abort();
    csv_free(p);
    ds_builder_free(b);
    return t;
}

static void parse(json_t *body, const ds_table *cols)
{
    runspec rs;
    memset(&rs, 0, sizeof rs);
    json_t *norm = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    if (runspec_parse(body, cols, 1000000, &rs, &norm, &err) == MLP_OK) {
        char *text = json_dumps(norm, JSON_COMPACT);
        runspec back;
        memset(&back, 0, sizeof back);
        if (!text || runspec_decode(text, &back, &err) != MLP_OK) abort();
        runspec_clear(&back);
        free(text);
    }
    json_decref(norm);
    runspec_clear(&rs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!api_json_depth_ok((const char *)data, size, 64)) return 0;
    json_error_t je;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (body) {
        parse(body, NULL);
        parse(body, columns());
        json_decref(body);
    }
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    runspec rs;
    memset(&rs, 0, sizeof rs);
    (void)runspec_decode(s, &rs, NULL);
    runspec_clear(&rs);
    free(s);
    return 0;
}
