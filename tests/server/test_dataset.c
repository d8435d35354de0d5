/* test_dataset.c — the table builder: number parsing, categorical columns, statistics, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"

static int num(const char *s, float *v)
{
    return ds_parse_number(s, strlen(s), v);
}

static void number_grammar(void **state)
{
    (void)state;
    float v;
    const char *yes[] = {"1",  "-2.5", " 3 ", "\t4\t", "1e3",          "1E-2",  "+7",    ".5",
                         "5.", "0",    "-0",  "255",   "3.4028234e38", "1e-50", "000123"};
    const float want[] = {1, -2.5f, 3, 4,   1000,          0.01f, 7,  0.5f,
                          5, 0,     0, 255, 3.4028234e38f, 0,     123};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        assert_true(num(yes[i], &v));
        assert_true(v == want[i]);
    }
    assert_true(num("-0", &v) && signbit(v));
    const char *no[] = {"0x10", "1e",   ".",   "",   "1,5", "nan", "NaN",   "inf",  "-inf", "+",
                        "-",    "1e5x", "1 2", "e5", "1e+", "--1", "1.2.3", "1e99", "abc",  "  "};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        v = 42;
        assert_false(num(no[i], &v));
        assert_true(v == 42);
    }
}

/* Random decimal strings: the fast path and the fallback must both agree with strtof. */
static void number_rounding_matches_strtof(void **state)
{
    (void)state;
    srand(12345);
    char buf[64];
    for (int t = 0; t < 200000; t++) {
        int len = 0;
        if (rand() % 4 == 0) buf[len++] = '-';
        int nd = 1 + rand() % (t % 3 == 0 ? 25 : 9);
        int dot = rand() % (nd + 1);
        for (int i = 0; i < nd; i++) {
            if (i == dot && i > 0) buf[len++] = '.';
            buf[len++] = (char)('0' + rand() % 10);
        }
        if (rand() % 3 == 0)
            len += snprintf(buf + len, sizeof buf - (size_t)len, "e%d", rand() % 90 - 45);
        buf[len] = '\0';
        float v, ref = strtof(buf, NULL);
        int ok = ds_parse_number(buf, (size_t)len, &v);
        if (!isfinite(ref)) {
            assert_false(ok);
            continue;
        }
        assert_true(ok);
        if (memcmp(&v, &ref, sizeof v) != 0) fail_msg("%s: got %.9g want %.9g", buf, v, ref);
    }
}

static ds_builder *builder(size_t max_bytes)
{
    ds_builder *b = NULL;
    assert_int_equal(ds_builder_new(max_bytes, &b), MLP_OK);
    return b;
}

static mlp_err text_row(ds_builder *b, mlp_error *e, int n, ...)
{
    const char *cells[16];
    size_t lens[16];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        cells[i] = va_arg(ap, const char *);
        lens[i] = strlen(cells[i]);
    }
    va_end(ap);
    return ds_builder_add_text_row(b, n, cells, lens, e);
}

static void stats_are_right(void **state)
{
    (void)state;
    ds_builder *b = builder(0);
    mlp_error e = {0};
    const char *names[] = {"x", "y"};
    assert_int_equal(ds_builder_set_columns(b, 2, names, &e), MLP_OK);
    double xs[] = {1, 2, 3, 4, 10}, ys[] = {-1.5, 0, 0, 2, 7.25};
    for (int i = 0; i < 5; i++) {
        float r[2] = {(float)xs[i], (float)ys[i]};
        assert_int_equal(ds_builder_add_row(b, 2, r, &e), MLP_OK);
    }
    ds_table *t = NULL;
    assert_int_equal(ds_builder_finish(b, &t, &e), MLP_OK);
    assert_int_equal(t->rows, 5);
    assert_int_equal(t->cols, 2);
    assert_int_equal(ds_table_find(t, "y"), 1);
    assert_int_equal(ds_table_find(t, "z"), -1);
    for (int j = 0; j < 2; j++) {
        const double *v = j ? ys : xs;
        double mean = 0, ss = 0, mn = v[0], mx = v[0];
        for (int i = 0; i < 5; i++) mean += v[i] / 5;
        for (int i = 0; i < 5; i++) {
            ss += (v[i] - mean) * (v[i] - mean);
            mn = fmin(mn, v[i]);
            mx = fmax(mx, v[i]);
        }
        assert_int_equal(t->columns[j].type, COL_NUMERIC);
        assert_true(fabs(t->columns[j].mean - mean) < 1e-9);
        assert_true(fabs(t->columns[j].std - sqrt(ss / 5)) < 1e-9);
        assert_true(t->columns[j].min == mn && t->columns[j].max == mx);
    }
    ds_table_free(t);
    ds_builder_free(b);
}

static void text_makes_categorical(void **state)
{
    (void)state;
    ds_builder *b = builder(0);
    mlp_error e = {0};
    /* Column 0 is numeric until row 3; "1.0" later is the same level as the earlier "1". */
    assert_int_equal(text_row(b, &e, 3, "1", "b", "5"), MLP_OK);
    assert_int_equal(text_row(b, &e, 3, "2", "a", "NaN"), MLP_OK);
    assert_int_equal(text_row(b, &e, 3, "cat", "c", "inf"), MLP_OK);
    assert_int_equal(text_row(b, &e, 3, "1.0", "a", " 6 "), MLP_OK);
    ds_table *t = NULL;
    assert_int_equal(ds_builder_finish(b, &t, &e), MLP_OK);
    assert_string_equal(t->columns[0].name, "c0");
    assert_string_equal(t->columns[2].name, "c2");
    const ds_column *c0 = &t->columns[0], *c1 = &t->columns[1], *c2 = &t->columns[2];
    assert_int_equal(c0->type, COL_CATEGORICAL);
    assert_int_equal(c0->n_levels, 3);
    assert_string_equal(c0->levels[0], "1");
    assert_string_equal(c0->levels[1], "2");
    assert_string_equal(c0->levels[2], "cat");
    assert_int_equal(c0->first_text_row, 3);
    float want0[] = {0, 1, 2, 0};
    for (int i = 0; i < 4; i++) assert_true(t->data[i * 3] == want0[i]);
    assert_int_equal(c1->type, COL_CATEGORICAL);
    assert_string_equal(c1->levels[0], "a");
    assert_string_equal(c1->levels[2], "c");
    assert_int_equal(c1->first_text_row, 1);
    float want1[] = {1, 0, 2, 0};
    for (int i = 0; i < 4; i++) assert_true(t->data[i * 3 + 1] == want1[i]);
    /* NaN / inf text: categorical, bytewise sorted ("5" < "6" < "NaN" < "inf"). */
    assert_int_equal(c2->type, COL_CATEGORICAL);
    assert_int_equal(c2->first_text_row, 2);
    assert_int_equal(c2->n_levels, 4);
    assert_string_equal(c2->levels[2], "NaN");
    assert_string_equal(c2->levels[3], "inf");
    ds_table_free(t);
    ds_builder_free(b);
}

static void numeric_levels_sort_numerically(void **state)
{
    (void)state;
    ds_builder *b = builder(0);
    mlp_error e = {0};
    const char *names[] = {"x", "label"};
    assert_int_equal(ds_builder_set_columns(b, 2, names, &e), MLP_OK);
    const char *levels[] = {"10", "9", "1", "-2"};
    assert_int_equal(ds_builder_declare_categorical(b, 1, 4, levels, &e), MLP_OK);
    for (int i = 0; i < 4; i++) {
        float r[2] = {(float)i, (float)i}; /* label i = levels[i] */
        assert_int_equal(ds_builder_add_row(b, 2, r, &e), MLP_OK);
    }
    float bad[2] = {0, 4};
    assert_int_equal(ds_builder_add_row(b, 2, bad, &e), MLP_EINVAL);
    ds_table *t = NULL;
    assert_int_equal(ds_builder_finish(b, &t, &e), MLP_OK);
    const ds_column *c = &t->columns[1];
    const char *sorted[] = {"-2", "1", "9", "10"};
    for (int i = 0; i < 4; i++) assert_string_equal(c->levels[i], sorted[i]);
    float want[] = {3, 2, 1, 0};
    for (int i = 0; i < 4; i++) assert_true(t->data[i * 2 + 1] == want[i]);
    ds_table_free(t);
    ds_builder_free(b);

    /* Not all numeric: bytewise. */
    b = builder(0);
    assert_int_equal(text_row(b, &e, 1, "10"), MLP_OK);
    assert_int_equal(text_row(b, &e, 1, "9"), MLP_OK);
    assert_int_equal(text_row(b, &e, 1, "x"), MLP_OK);
    assert_int_equal(ds_builder_finish(b, &t, &e), MLP_OK);
    assert_string_equal(t->columns[0].levels[0], "10");
    assert_string_equal(t->columns[0].levels[1], "9");
    assert_string_equal(t->columns[0].levels[2], "x");
    ds_table_free(t);
    ds_builder_free(b);
}

static void bad_rows_name_row_and_column(void **state)
{
    (void)state;
    ds_builder *b = builder(0);
    mlp_error e = {0};
    assert_int_equal(text_row(b, &e, 3, "1", "2", "3"), MLP_OK);
    assert_int_equal(text_row(b, &e, 3, "1", "  ", "3"), MLP_EINVAL);
    assert_int_equal(e.row, 2);
    assert_int_equal(e.col, 2);
    assert_non_null(strstr(e.msg, "data row 2"));
    assert_non_null(strstr(e.msg, "column 2"));
    ds_builder_free(b);

    b = builder(0);
    mlp_error_clear(&e);
    assert_int_equal(text_row(b, &e, 2, "1", "2"), MLP_OK);
    assert_int_equal(text_row(b, &e, 2, "1", "2"), MLP_OK);
    assert_int_equal(text_row(b, &e, 3, "1", "2", "3"), MLP_EINVAL);
    assert_int_equal(e.row, 3);
    assert_non_null(strstr(e.msg, "3 cells, expected 2"));
    ds_builder_free(b);

    b = builder(0);
    mlp_error_clear(&e);
    float r[2] = {1, NAN};
    assert_int_equal(ds_builder_add_row(b, 2, r, &e), MLP_EINVAL);
    assert_int_equal(e.row, 1);
    assert_int_equal(e.col, 2);
    ds_builder_free(b);
}

static void limits_and_misuse(void **state)
{
    (void)state;
    mlp_error e = {0};
    ds_builder *b = builder(40); /* 10 cells */
    float r[3] = {1, 2, 3};
    for (int i = 0; i < 3; i++) assert_int_equal(ds_builder_add_row(b, 3, r, &e), MLP_OK);
    assert_int_equal(ds_builder_add_row(b, 3, r, &e), MLP_ETOOLARGE);
    assert_non_null(strstr(e.msg, "memory limit of 40 bytes"));
    ds_builder_free(b);
    /* distinct category names count against the same budget as the cells: 1000 rows of one
     * 7-byte name each hold about 50 kB, far past a 4000-byte budget (1000 cells) */
    b = builder(4000);
    mlp_err rc = MLP_OK;
    int added = 0;
    for (int i = 0; i < 1000 && rc == MLP_OK; i++) {
        char cell[16];
        snprintf(cell, sizeof cell, "v%06d", i);
        rc = text_row(b, &e, 1, cell);
        if (rc == MLP_OK) added++;
    }
    assert_int_equal(rc, MLP_ETOOLARGE);
    assert_true(added < 100);
    assert_non_null(strstr(e.msg, "memory limit of 4000 bytes"));
    ds_builder_free(b);

    b = builder(0);
    const char *dup[] = {"a", "b", "a"};
    assert_int_equal(ds_builder_set_columns(b, 3, dup, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "\"a\""));
    const char *empty[] = {"a", ""};
    assert_int_equal(ds_builder_set_columns(b, 2, empty, &e), MLP_EINVAL);
    assert_int_equal(ds_builder_set_prefix_names(b, 2, "p", &e), MLP_OK);
    assert_int_equal(ds_builder_set_prefix_names(b, 2, "p", &e), MLP_EINVAL);
    ds_table *t = (ds_table *)1;
    assert_int_equal(ds_builder_finish(b, &t, &e), MLP_EINVAL);
    assert_null(t);
    assert_non_null(strstr(e.msg, "no rows"));
    /* reserve then set_column */
    assert_int_equal(ds_builder_reserve(b, 1000, &e), MLP_OK);
    float row[2] = {1, 0};
    for (int i = 0; i < 3; i++) assert_int_equal(ds_builder_add_row(b, 2, row, &e), MLP_OK);
    float col[3] = {4, 5, 6};
    assert_int_equal(ds_builder_set_column(b, 1, 2, col, &e), MLP_EINVAL);
    assert_int_equal(ds_builder_set_column(b, 1, 3, col, &e), MLP_OK);
    assert_int_equal(ds_builder_finish(b, &t, &e), MLP_OK);
    assert_true(t->data[1] == 4 && t->data[5] == 6);
    assert_true(t->columns[1].max == 6);
    ds_table_free(t);
    ds_table_free(NULL);
    ds_builder_free(b);
    ds_builder_free(NULL);
}

/* A matrix bigger than the 32 MiB base block grows in blocks: a column turning categorical
 * after the blocks started, a column overwritten across blocks and the join at finish must keep
 * every cell where it was. 12000 x 1000 floats = 48 MB. */
static void big_matrix_grows_in_blocks(void **state)
{
    (void)state;
    enum { R = 12000, C = 1000, TEXT_ROW = 11000 };
    ds_builder *b = NULL;
    mlp_error e;
    mlp_error_clear(&e);
    assert_int_equal(ds_builder_new(0, &b), MLP_OK);
    float *row = malloc(C * sizeof *row);
    const char **cells = malloc(C * sizeof *cells);
    size_t *lens = malloc(C * sizeof *lens);
    char(*txt)[16] = malloc(C * sizeof *txt);
    float *col0 = malloc(R * sizeof *col0);
    assert_true(row && cells && lens && txt && col0);
    for (int r = 0; r < R; r++) {
        for (int j = 0; j < C; j++) row[j] = (float)((r * 7 + j) % 251);
        if (r == TEXT_ROW) { /* column 5 turns categorical here */
            for (int j = 0; j < C; j++) {
                lens[j] = (size_t)snprintf(txt[j], sizeof txt[j], "%d", (int)row[j]);
                cells[j] = txt[j];
            }
            cells[5] = "zzz";
            lens[5] = 3;
            assert_int_equal(ds_builder_add_text_row(b, C, cells, lens, &e), MLP_OK);
        } else {
            assert_int_equal(ds_builder_add_row(b, C, row, &e), MLP_OK);
        }
        col0[r] = (float)(R - r);
    }
    assert_int_equal(ds_builder_set_column(b, 0, R, col0, &e), MLP_OK);
    ds_table *t = NULL;
    assert_int_equal(ds_builder_finish(b, &t, &e), MLP_OK);
    assert_int_equal(t->rows, R);
    assert_int_equal(t->cols, C);
    const ds_column *c5 = &t->columns[5];
    assert_int_equal(c5->type, COL_CATEGORICAL);
    assert_int_equal(c5->n_levels, 252);         /* "0".."250" and "zzz" */
    assert_string_equal(c5->levels[251], "zzz"); /* bytewise: digits sort before letters */
    assert_int_equal(c5->first_text_row, TEXT_ROW + 1);
    int bad = 0;
    for (int r = 0; r < R; r++) {
        const float *got = t->data + (size_t)r * C;
        bad += got[0] != (float)(R - r);
        for (int j = 1; j < C; j++) {
            int want = (r * 7 + j) % 251;
            if (j != 5) {
                bad += got[j] != (float)want;
                continue;
            }
            char buf[16]; /* levels sort bytewise ("zzz" is not a number): compare the strings */
            snprintf(buf, sizeof buf, "%d", want);
            bad += strcmp(c5->levels[(int)got[j]], r == TEXT_ROW ? "zzz" : buf) != 0;
        }
    }
    assert_int_equal(bad, 0);
    assert_true(t->columns[0].min == 1.0 && t->columns[0].max == (double)R);
    ds_table_free(t);
    ds_builder_free(b);
    free(row);
    free(cells);
    free(lens);
    free(txt);
    free(col0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(number_grammar),
        cmocka_unit_test(number_rounding_matches_strtof),
        cmocka_unit_test(stats_are_right),
        cmocka_unit_test(text_makes_categorical),
        cmocka_unit_test(numeric_levels_sort_numerically),
        cmocka_unit_test(bad_rows_name_row_and_column),
        cmocka_unit_test(limits_and_misuse),
        cmocka_unit_test(big_matrix_grows_in_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
