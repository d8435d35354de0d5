/* test_csv.c — CSV push parser: every input parsed in one piece, one byte at a time and in random
 * splits must give the same table (or the same error). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

/* Parses text in pieces: split 0 = one shot, 1 = byte by byte, else random sizes seeded by it. */
static mlp_err parse(const char *text, size_t len, csv_header mode, unsigned split, ds_table **out,
                     mlp_error *e)
{
    ds_builder *b = NULL;
    csv_parser *p = NULL;
    *out = NULL;
    mlp_error_clear(e);
    assert_int_equal(ds_builder_new(0, &b), MLP_OK);
    assert_int_equal(csv_new(b, mode, &p), MLP_OK);
    mlp_err rc = MLP_OK;
    srand(split);
    for (size_t i = 0; i < len && rc == MLP_OK;) {
        size_t k = split == 0 ? len : split == 1 ? 1 : 1 + (size_t)rand() % 7;
        if (k > len - i) k = len - i;
        rc = csv_feed(p, text + i, k, e);
        i += k;
    }
    if (rc == MLP_OK) rc = csv_finish(p, e);
    if (rc == MLP_OK) rc = ds_builder_finish(b, out, e);
    csv_free(p);
    ds_builder_free(b);
    return rc;
}

static void same_table(const ds_table *a, const ds_table *b)
{
    assert_int_equal(a->rows, b->rows);
    assert_int_equal(a->cols, b->cols);
    for (int j = 0; j < a->cols; j++) {
        assert_string_equal(a->columns[j].name, b->columns[j].name);
        assert_int_equal(a->columns[j].type, b->columns[j].type);
        assert_int_equal(a->columns[j].n_levels, b->columns[j].n_levels);
        for (int k = 0; k < a->columns[j].n_levels; k++)
            assert_string_equal(a->columns[j].levels[k], b->columns[j].levels[k]);
    }
    assert_memory_equal(a->data, b->data, (size_t)a->rows * (size_t)a->cols * sizeof(float));
}

/* Parses in all chunkings, checks they agree, returns the one-shot table (or error). */
static mlp_err parse_all(const char *text, csv_header mode, ds_table **out, mlp_error *e)
{
    size_t len = strlen(text);
    mlp_err rc = parse(text, len, mode, 0, out, e);
    for (unsigned split = 1; split < 12; split++) {
        ds_table *t = NULL;
        mlp_error e2;
        mlp_err rc2 = parse(text, len, mode, split, &t, &e2);
        assert_int_equal(rc, rc2);
        if (rc == MLP_OK) {
            same_table(*out, t);
        } else {
            assert_string_equal(e->msg, e2.msg);
            assert_int_equal(e->row, e2.row);
            assert_int_equal(e->col, e2.col);
        }
        ds_table_free(t);
    }
    return rc;
}

static void header_modes(void **state)
{
    (void)state;
    ds_table *t;
    mlp_error e;
    /* auto: text first row is the header */
    assert_int_equal(parse_all("x,y\n1,2\n3,4\n", CSV_HEADER_AUTO, &t, &e), MLP_OK);
    assert_int_equal(t->rows, 2);
    assert_string_equal(t->columns[0].name, "x");
    assert_true(t->data[3] == 4);
    ds_table_free(t);
    /* auto: numeric first row is data */
    assert_int_equal(parse_all("1,2\n3,4", CSV_HEADER_AUTO, &t, &e), MLP_OK);
    assert_int_equal(t->rows, 2);
    assert_string_equal(t->columns[1].name, "c1");
    ds_table_free(t);
    /* true: a numeric first row is still the header */
    assert_int_equal(parse_all("1,2\n3,4\n", CSV_HEADER_TRUE, &t, &e), MLP_OK);
    assert_int_equal(t->rows, 1);
    assert_string_equal(t->columns[1].name, "2");
    ds_table_free(t);
    /* false: a text first row is data, making the columns categorical */
    assert_int_equal(parse_all("x,y\n1,2\n", CSV_HEADER_FALSE, &t, &e), MLP_OK);
    assert_int_equal(t->rows, 2);
    assert_int_equal(t->columns[0].type, COL_CATEGORICAL);
    assert_int_equal(t->columns[0].first_text_row, 1);
    ds_table_free(t);
    /* auto with an empty cell in a numeric first row: data, so the empty cell is the error */
    assert_int_equal(parse_all("1,,3\n", CSV_HEADER_AUTO, &t, &e), MLP_EINVAL);
    assert_int_equal(e.row, 1);
    assert_int_equal(e.col, 2);
    /* header only */
    assert_int_equal(parse_all("a,b\n", CSV_HEADER_AUTO, &t, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "no rows"));
    csv_header h;
    assert_int_equal(csv_header_parse("true", &h, &e), MLP_OK);
    assert_int_equal(h, CSV_HEADER_TRUE);
    assert_int_equal(csv_header_parse(NULL, &h, &e), MLP_OK);
    assert_int_equal(h, CSV_HEADER_AUTO);
    assert_int_equal(csv_header_parse("yes", &h, &e), MLP_EINVAL);
}

static void quoting_and_line_ends(void **state)
{
    (void)state;
    ds_table *t, *u;
    mlp_error e;
    const char *text = "\xEF\xBB\xBF"
                       "name,\"v\"\r\n"
                       "\"a,b\",1\r\n"
                       "\"say \"\"hi\"\"\",\"2\"\r\n"
                       "\"two\nlines\",3\r\n"
                       "plain, 4 \r\n\r\n\n";
    assert_int_equal(parse_all(text, CSV_HEADER_AUTO, &t, &e), MLP_OK);
    assert_int_equal(t->rows, 4);
    assert_string_equal(t->columns[0].name, "name");
    assert_string_equal(t->columns[1].name, "v");
    const ds_column *c = &t->columns[0];
    assert_int_equal(c->type, COL_CATEGORICAL);
    assert_int_equal(c->n_levels, 4);
    assert_string_equal(c->levels[0], "a,b");
    assert_string_equal(c->levels[1], "plain");
    assert_string_equal(c->levels[2], "say \"hi\"");
    assert_string_equal(c->levels[3], "two\nlines");
    assert_int_equal(t->columns[1].type, COL_NUMERIC);
    for (int i = 0; i < 4; i++) assert_true(t->data[i * 2 + 1] == (float)(i + 1));
    /* LF and CR-only line ends give the same table */
    const char *lf = "name,v\n\"a,b\",1\n\"say \"\"hi\"\"\",2\n\"two\nlines\",3\nplain,4\n";
    assert_int_equal(parse_all(lf, CSV_HEADER_AUTO, &u, &e), MLP_OK);
    same_table(t, u);
    ds_table_free(u);
    const char *cr = "name,v\r\"a,b\",1\r\"say \"\"hi\"\"\",2\r\"two\nlines\",3\rplain,4";
    assert_int_equal(parse_all(cr, CSV_HEADER_AUTO, &u, &e), MLP_OK);
    same_table(t, u);
    ds_table_free(u);
    ds_table_free(t);
}

static void errors_name_rows(void **state)
{
    (void)state;
    ds_table *t;
    mlp_error e;
    /* empty cell: data row 2 (header not counted), column 3, on line 3 of the file */
    assert_int_equal(parse_all("a,b,c\n1,2,3\n4,5,\n", CSV_HEADER_AUTO, &t, &e), MLP_EINVAL);
    assert_int_equal(e.row, 2);
    assert_int_equal(e.col, 3);
    assert_non_null(strstr(e.msg, "data row 2, column 3 (\"c\"): empty cell"));
    assert_non_null(strstr(e.msg, "CSV line 3"));
    /* quoted empty cell is empty too */
    assert_int_equal(parse_all("1,\"\"\n", CSV_HEADER_AUTO, &t, &e), MLP_EINVAL);
    assert_int_equal(e.col, 2);
    /* ragged row */
    assert_int_equal(parse_all("a,b\n1,2\n3,4\n5,6,7\n", CSV_HEADER_AUTO, &t, &e), MLP_EINVAL);
    assert_int_equal(e.row, 3);
    assert_non_null(strstr(e.msg, "data row 3 has 3 cells, expected 2"));
    assert_int_equal(parse_all("1,2\n3\n", CSV_HEADER_AUTO, &t, &e), MLP_EINVAL);
    assert_int_equal(e.row, 2);
    /* a blank line followed by data */
    assert_int_equal(parse_all("1,2\n\n3,4\n", CSV_HEADER_AUTO, &t, &e), MLP_EINVAL);
    assert_int_equal(e.row, 2);
    assert_non_null(strstr(e.msg, "blank"));
    assert_non_null(strstr(e.msg, "CSV line 2"));
    /* quoting errors */
    assert_int_equal(parse_all("1,2\n3,\"4\n", CSV_HEADER_AUTO, &t, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "never closed"));
    assert_int_equal(parse_all("1,2\n3,4\"x\n", CSV_HEADER_AUTO, &t, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "quote inside an unquoted cell"));
    assert_int_equal(parse_all("1,\"2\"x\n", CSV_HEADER_AUTO, &t, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "after a closing quote"));
    /* duplicate header names */
    assert_int_equal(parse_all("a,a\n1,2\n", CSV_HEADER_AUTO, &t, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "header"));
}

/* A cell past CSV_MAX_CELL_BYTES (unquoted or quoted, in one piece or fed in small ones) and a
 * row past CSV_MAX_ROW_BYTES are refused with 413 naming the column, before the row buffer grows
 * to hold them. */
static void long_cells_and_rows_refused(void **state)
{
    (void)state;
    size_t big = CSV_MAX_CELL_BYTES + 10;
    char *text = malloc(big + 64);
    assert_non_null(text);
    for (int quoted = 0; quoted < 2; quoted++) {
        char *p = text;
        p += sprintf(p, "a,b\n1,%s", quoted ? "\"" : "");
        memset(p, 'x', big);
        p += big;
        p += sprintf(p, "%s\n", quoted ? "\"" : "");
        for (unsigned split = 0; split < 3; split += 2) { /* one piece; random small pieces */
            ds_table *t;
            mlp_error e;
            assert_int_equal(parse(text, (size_t)(p - text), CSV_HEADER_AUTO, split, &t, &e),
                             MLP_ETOOLARGE);
            assert_int_equal(e.col, 2);
            assert_non_null(strstr(e.msg, "column 2: a cell longer than 65536 bytes"));
            assert_non_null(strstr(e.msg, "CSV line 2"));
        }
    }
    /* exactly at the cap is a cell like any other (a category) */
    char *p = text;
    p += sprintf(p, "a,b\n1,");
    memset(p, 'y', CSV_MAX_CELL_BYTES);
    p += CSV_MAX_CELL_BYTES;
    p += sprintf(p, "\n");
    ds_table *t;
    mlp_error e;
    assert_int_equal(parse(text, (size_t)(p - text), CSV_HEADER_AUTO, 2, &t, &e), MLP_OK);
    ds_table_free(t);
    free(text);
    /* a row of many cells under the cell cap, past the row cap: 1100 cells of 60 KB */
    size_t cells = 1100, cw = 60 * 1024, n = cells * (cw + 1) + 16;
    char *row = malloc(n);
    assert_non_null(row);
    p = row;
    for (size_t j = 0; j < cells; j++) {
        memset(p, 'z', cw);
        p += cw;
        *p++ = j + 1 < cells ? ',' : '\n';
    }
    assert_int_equal(parse(row, (size_t)(p - row), CSV_HEADER_FALSE, 2, &t, &e), MLP_ETOOLARGE);
    assert_non_null(strstr(e.msg, "a row longer than 67108864 bytes"));
    free(row);
}

static void numbers_and_categories(void **state)
{
    (void)state;
    ds_table *t;
    mlp_error e;
    const char *text = "x,y,z\n"
                       "1,0x10,NaN\n"
                       "2.5e1,1e,3\n"
                       "-0.125, 1,5 , inf\n";
    /* "1,5" is two cells; row 3 is ragged */
    assert_int_equal(parse_all(text, CSV_HEADER_AUTO, &t, &e), MLP_EINVAL);
    text = "x,y,z\n"
           "1,0x10,NaN\n"
           "2.5e1,1e,3\n"
           "-0.125,\"1,5\",inf\n";
    assert_int_equal(parse_all(text, CSV_HEADER_AUTO, &t, &e), MLP_OK);
    assert_int_equal(t->columns[0].type, COL_NUMERIC);
    assert_true(t->data[3] == 25.0f && t->data[6] == -0.125f);
    assert_true(t->columns[0].min == -0.125 && t->columns[0].max == 25);
    assert_int_equal(t->columns[1].type, COL_CATEGORICAL);
    assert_int_equal(t->columns[1].first_text_row, 1);
    assert_int_equal(t->columns[2].type, COL_CATEGORICAL);
    assert_int_equal(t->columns[2].first_text_row, 1);
    assert_int_equal(t->columns[2].n_levels, 3);
    ds_table_free(t);
}

/* A bigger generated file, compared against the values written. */
static void generated_matrix(void **state)
{
    (void)state;
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text, cap, "a,b,c,d,label\n");
    srand(7);
    float want[200][5];
    for (int i = 0; i < 200; i++) {
        for (int j = 0; j < 4; j++) {
            int v = rand() % 256;
            want[i][j] = (float)v / (j == 3 ? 8.0f : 1.0f);
            len += (size_t)(j == 3 ? snprintf(text + len, cap - len, "%g,", (double)want[i][j])
                                   : snprintf(text + len, cap - len, "%d,", v));
        }
        int l = rand() % 3;
        len += (size_t)snprintf(text + len, cap - len, "%s\r\n",
                                l == 0   ? "cat"
                                : l == 1 ? "dog"
                                         : "\"b,ird\"");
        want[i][4] = (float)(l == 0 ? 1 : l == 1 ? 2 : 0); /* sorted: "b,ird" < "cat" < "dog" */
    }
    ds_table *t;
    mlp_error e;
    assert_int_equal(parse_all(text, CSV_HEADER_AUTO, &t, &e), MLP_OK);
    assert_int_equal(t->rows, 200);
    for (int i = 0; i < 200; i++)
        for (int j = 0; j < 5; j++) assert_true(t->data[i * 5 + j] == want[i][j]);
    ds_table_free(t);
    free(text);
}

/* The size hint (Content-Length) only reserves memory: exact, too small, too large and absurd
 * hints give the same table as none, in one piece and in 4 KiB chunks. */
static void size_hint_never_changes_the_table(void **state)
{
    (void)state;
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text, cap, "x,y,z\n");
    for (int i = 0; i < 5000; i++)
        len += (size_t)snprintf(text + len, cap - len, "%d,%d.5,%s\n", i, i % 97,
                                i == 3000 ? "late-text" : "7");
    size_t hints[] = {0, len, len / 10, len * 50};
    ds_table *ref = NULL;
    for (size_t h = 0; h < sizeof hints / sizeof hints[0]; h++) {
        for (size_t chunk = 4096; chunk <= len; chunk = len) {
            ds_builder *b = NULL;
            csv_parser *p = NULL;
            mlp_error e;
            mlp_error_clear(&e);
            assert_int_equal(ds_builder_new(0, &b), MLP_OK);
            assert_int_equal(csv_new(b, CSV_HEADER_AUTO, &p), MLP_OK);
            csv_set_size_hint(p, hints[h]);
            for (size_t i = 0; i < len; i += chunk)
                assert_int_equal(csv_feed(p, text + i, len - i < chunk ? len - i : chunk, &e),
                                 MLP_OK);
            assert_int_equal(csv_finish(p, &e), MLP_OK);
            ds_table *t = NULL;
            assert_int_equal(ds_builder_finish(b, &t, &e), MLP_OK);
            csv_free(p);
            ds_builder_free(b);
            assert_int_equal(t->rows, 5000);
            assert_int_equal(t->columns[2].type, COL_CATEGORICAL);
            assert_true(t->data[4999 * 3 + 0] == 4999.0f);
            if (!ref) {
                ref = t;
            } else {
                same_table(ref, t);
                ds_table_free(t);
            }
            if (chunk == len) break;
        }
    }
    ds_table_free(ref);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_modes),
        cmocka_unit_test(quoting_and_line_ends),
        cmocka_unit_test(errors_name_rows),
        cmocka_unit_test(numbers_and_categories),
        cmocka_unit_test(generated_matrix),
        cmocka_unit_test(size_hint_never_changes_the_table),
        cmocka_unit_test(long_cells_and_rows_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
