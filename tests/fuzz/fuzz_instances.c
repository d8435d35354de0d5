/* fuzz_instances.c — libFuzzer target: the /v1 inference body reader (api/fastjson.c, fj_rows)
 * differentially against jansson, which it promises to agree with bit for bit: when fj_rows
 * accepts a body, jansson must parse it to {"instances"|"inputs": n rows of d numbers} with
 * the same float values. The first byte picks d (1..16, low nibble) and the row limit (1..15, high
 * nibble; 0: none): past it fj_rows stops with FJ_TOO_MANY, X never larger than the limit's rows,
 * and jansson, when it takes the body, finds more rows. Also fj_format_float: a finite float
 * formats to text that reads back as the same float. And the body split between two threads at
 * its middle (fj_rows_split, here whatever its size) gets the one-piece answer: verdict, rows and
 * values, bit for bit.
 * Owns: nothing beyond one input. Threading: libFuzzer's one thread. */
#include "fastjson.h"

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int d = (data[0] & 15) + 1;
    size_t max_rows = data[0] >> 4 ? (size_t)(data[0] >> 4) : FJ_NO_LIMIT;
    data++, size--;
    if (size >= 4) {
        float f;
        memcpy(&f, data, 4);
        if (isfinite(f)) {
            char buf[FJ_FLOAT_MAX + 1];
            size_t n = fj_format_float(f, buf);
            if (n == 0 || n > FJ_FLOAT_MAX) abort();
            buf[n] = 0;
            float back = (float)strtod(buf, NULL);
            if (memcmp(&back, &f, 4) != 0 && !(f == 0 && back == 0)) abort();
        }
    }
    fj_floats X = {NULL, 0};
    int n = 0, columnar = 0;
    int r = fj_rows((const char *)data, size, d, max_rows, &X, &n, &columnar);
    if (r == FJ_TOO_MANY) {
        /* stopped at the limit, never holding room for more than max_rows rows; when the body is
         * valid JSON, it does have more rows than that */
        if (max_rows == FJ_NO_LIMIT || (size_t)n != max_rows + 1 || X.cap > max_rows * (size_t)d)
            abort();
        json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        if (j && json_array_size(json_object_get(j, columnar ? "inputs" : "instances")) <= max_rows)
            abort();
        json_decref(j);
    }
    if (r == FJ_ROWS) {
        if ((size_t)n > max_rows) abort();
        json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        json_t *rows = json_object_get(j, columnar ? "inputs" : "instances");
        if (!j || !json_is_object(j) || json_object_size(j) != 1 || !json_is_array(rows) ||
            json_array_size(rows) != (size_t)n)
            abort();
        for (int i = 0; i < n; i++) {
            json_t *row = json_array_get(rows, (size_t)i);
            if (!json_is_array(row) || json_array_size(row) != (size_t)d) abort();
            for (int k = 0; k < d; k++) {
                json_t *v = json_array_get(row, (size_t)k);
                if (!json_is_number(v)) abort();
                float want = (float)json_number_value(v);
                if (memcmp(&want, &X.p[(size_t)i * d + k], 4) != 0) abort();
            }
        }
        json_decref(j);
    }
    fj_floats Y = {NULL, 0};
    int m = 0, col2 = 0;
    int r2 = fj_rows_split((const char *)data, size, d, max_rows, 1, &Y, &m, &col2);
    if (r2 != r) abort();
    if ((r == FJ_ROWS || r == FJ_TOO_MANY) && (m != n || col2 != columnar)) abort();
    if (max_rows != FJ_NO_LIMIT && Y.cap > max_rows * (size_t)d) abort();
    if (r == FJ_ROWS && memcmp(X.p, Y.p, (size_t)n * (size_t)d * sizeof *X.p) != 0) abort();
    free(Y.p);
    free(X.p);
    return 0;
}
