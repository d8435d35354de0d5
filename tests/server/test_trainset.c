/* test_trainset.c — a run's matrices (server/trainset.h): the class list and its order, labels
 * of numeric classes printed %.9g, the seeded validation split (deterministic, sized by the
 * fraction, disjoint, covering every row), and the refusals: categorical inputs, unknown
 * columns, a validation class the training rows lack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trainset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A table from text cells: names, then rows x cols cells. */
static ds_table *table(int cols, const char *const *names, int rows, const char *const *cells)
{
    ds_builder *b = NULL;
    ds_table *t = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(ds_builder_new(0, &b), MLP_OK);
    assert_int_equal(ds_builder_set_columns(b, cols, names, &err), MLP_OK);
    for (int r = 0; r < rows; r++) {
        size_t lens[16];
        for (int c = 0; c < cols; c++) lens[c] = strlen(cells[r * cols + c]);
        assert_int_equal(ds_builder_add_text_row(b, cols, cells + r * cols, lens, &err), MLP_OK);
    }
    assert_int_equal(ds_builder_finish(b, &t, &err), MLP_OK);
    ds_builder_free(b);
    return t;
}

static char *target_y[] = {"y"};

static runspec spec(net_task task, double fraction, uint64_t seed)
{
    runspec rs;
    memset(&rs, 0, sizeof rs);
    rs.task = task;
    rs.n_targets = 1;
    rs.targets = target_y;
    rs.val_fraction = fraction;
    rs.tp.seed = seed;
    return rs;
}

static void numeric_classes_sorted_and_printed_9g(void **state)
{
    (void)state;
    const char *names[] = {"x", "y"};
    const char *cells[] = {"1", "2.5", "2", "0.1", "3", "10", "4", "2.5", "5", "1e-7", "6", "0.1"};
    ds_table *t = table(2, names, 6, cells);
    runspec rs = spec(TASK_CLASSIFICATION, 0, 1);
    trainset p;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(trainset_build(t, NULL, &rs, &p, &err), MLP_OK);
    assert_int_equal(p.n_labels, 4);
    assert_string_equal(p.labels[0], "1.00000001e-07"); /* (float)1e-7, %.9g */
    assert_string_equal(p.labels[1], "0.100000001");
    assert_string_equal(p.labels[2], "2.5");
    assert_string_equal(p.labels[3], "10");
    assert_int_equal(p.k, 4);
    assert_int_equal(p.n, 6);
    assert_int_equal(p.nv, 0);
    int want[] = {2, 1, 3, 2, 0, 1};
    for (int i = 0; i < 6; i++) assert_int_equal(p.lab[i], want[i]);
    assert_int_equal(p.n_features, 1);
    assert_string_equal(p.features[0], "x");
    trainset_clear(&p);
    trainset_clear(NULL);
    ds_table_free(t);
}

static void categorical_classes_in_level_order(void **state)
{
    (void)state;
    const char *names[] = {"x", "y"};
    const char *cells[] = {"1", "dog", "2", "cat", "3", "emu", "4", "cat"};
    ds_table *t = table(2, names, 4, cells);
    runspec rs = spec(TASK_CLASSIFICATION, 0, 1);
    trainset p;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(trainset_build(t, NULL, &rs, &p, &err), MLP_OK);
    const ds_column *c = &t->columns[1];
    assert_int_equal(p.n_labels, c->n_levels);
    for (int i = 0; i < p.n_labels; i++) assert_string_equal(p.labels[i], c->levels[i]);
    for (int r = 0; r < 4; r++)
        assert_string_equal(p.labels[p.lab[r]], cells[r * 2 + 1]); /* each row's own class */
    trainset_clear(&p);
    ds_table_free(t);
}

/* 100 rows, x = row index: the split's rows are read back from X. */
static ds_table *indexed(void)
{
    static char buf[100][2][16];
    static const char *cells[200];
    for (int r = 0; r < 100; r++) {
        snprintf(buf[r][0], sizeof buf[r][0], "%d", r);
        snprintf(buf[r][1], sizeof buf[r][1], "%d", r % 2);
        cells[2 * r] = buf[r][0];
        cells[2 * r + 1] = buf[r][1];
    }
    const char *names[] = {"x", "y"};
    return table(2, names, 100, cells);
}

static void split_seeded_sized_disjoint(void **state)
{
    (void)state;
    ds_table *t = indexed();
    runspec rs = spec(TASK_REGRESSION, 0.2, 7);
    trainset a, b, c;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(trainset_build(t, NULL, &rs, &a, &err), MLP_OK);
    assert_int_equal(trainset_build(t, NULL, &rs, &b, &err), MLP_OK);
    rs.tp.seed = 8;
    assert_int_equal(trainset_build(t, NULL, &rs, &c, &err), MLP_OK);
    assert_int_equal(a.n, 80);
    assert_int_equal(a.nv, 20);
    assert_int_equal(a.k, 1);
    /* deterministic for a seed */
    assert_memory_equal(a.X, b.X, 80 * sizeof(float));
    assert_memory_equal(a.Xv, b.Xv, 20 * sizeof(float));
    /* disjoint, and together every row once; targets travel with their rows */
    int seen[100] = {0};
    for (int i = 0; i < 80; i++) {
        seen[(int)a.X[i]]++;
        assert_true(a.Y[i] == (float)((int)a.X[i] % 2));
    }
    for (int i = 0; i < 20; i++) {
        seen[(int)a.Xv[i]]++;
        assert_true(a.Yv[i] == (float)((int)a.Xv[i] % 2));
    }
    for (int r = 0; r < 100; r++) assert_int_equal(seen[r], 1);
    /* the split is shuffled, and another seed gives another split */
    int in_order = 1;
    for (int i = 0; i < 20; i++) in_order &= a.Xv[i] == (float)(80 + i);
    assert_false(in_order);
    assert_memory_not_equal(a.Xv, c.Xv, 20 * sizeof(float));
    trainset_clear(&a);
    trainset_clear(&b);
    trainset_clear(&c);
    /* a tiny fraction still takes one row; one that takes all is refused */
    rs.val_fraction = 0.001;
    assert_int_equal(trainset_build(t, NULL, &rs, &a, &err), MLP_OK);
    assert_int_equal(a.nv, 1);
    trainset_clear(&a);
    rs.val_fraction = 0.999;
    assert_int_equal(trainset_build(t, NULL, &rs, &a, &err), MLP_EINVAL);
    assert_string_equal(err.msg, "validation.fraction 0.999 leaves no training rows out of 100");
    assert_null(a.X);
    ds_table_free(t);
}

static void categorical_input_refused(void **state)
{
    (void)state;
    const char *names[] = {"x", "c", "y"};
    const char *cells[] = {"1", "2", "0", "2", "red", "1", "3", "4", "0"};
    ds_table *t = table(3, names, 3, cells);
    runspec rs = spec(TASK_CLASSIFICATION, 0, 1);
    trainset p;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(trainset_build(t, NULL, &rs, &p, &err), MLP_EINVAL);
    assert_string_equal(err.msg, "feature column 'c' is categorical: row 2 is not a number (list "
                                 "numeric columns in \"features\")");
    assert_null(p.features);
    char *feat[] = {"x", "c"};
    rs.n_features = 2;
    rs.features = feat;
    mlp_error_clear(&err);
    assert_int_equal(trainset_build(t, NULL, &rs, &p, &err), MLP_EINVAL);
    assert_string_equal(err.msg, "feature column 'c' is categorical: row 2 is not a number");
    /* an autoencoder's default inputs skip it */
    runspec ae = spec(TASK_AUTOENCODER, 0, 1);
    ae.n_targets = 0;
    ae.targets = NULL;
    assert_int_equal(trainset_build(t, NULL, &ae, &p, &err), MLP_OK);
    assert_int_equal(p.d, 2);
    assert_string_equal(p.features[0], "x");
    assert_string_equal(p.features[1], "y");
    assert_int_equal(p.k, 2);
    trainset_clear(&p);
    ds_table_free(t);
}

static void missing_columns_named(void **state)
{
    (void)state;
    const char *names[] = {"x", "y"};
    const char *cells[] = {"1", "0", "2", "1"};
    ds_table *t = table(2, names, 2, cells);
    runspec rs = spec(TASK_CLASSIFICATION, 0, 1);
    char *feat[] = {"nope"};
    rs.n_features = 1;
    rs.features = feat;
    trainset p;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(trainset_build(t, NULL, &rs, &p, &err), MLP_EINVAL);
    assert_string_equal(err.msg, "feature column 'nope' is not in the dataset");
    char *tgt[] = {"zz"};
    rs = spec(TASK_CLASSIFICATION, 0, 1);
    rs.targets = tgt;
    assert_int_equal(trainset_build(t, NULL, &rs, &p, &err), MLP_EINVAL);
    assert_string_equal(err.msg, "target column 'zz' is not in the dataset");
    ds_table_free(t);
}

static void validation_dataset_matched_by_name(void **state)
{
    (void)state;
    const char *names[] = {"x", "y"};
    const char *cells[] = {"1", "a", "2", "b", "3", "a"};
    ds_table *t = table(2, names, 3, cells);
    const char *vnames[] = {"y", "x"}; /* other column order */
    const char *vcells[] = {"b", "9", "a", "8"};
    ds_table *tv = table(2, vnames, 2, vcells);
    runspec rs = spec(TASK_CLASSIFICATION, 0.5, 1); /* the fraction is unused */
    trainset p;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(trainset_build(t, tv, &rs, &p, &err), MLP_OK);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.nv, 2);
    assert_true(p.Xv[0] == 9.0f && p.Xv[1] == 8.0f);
    assert_string_equal(p.labels[p.labv[0]], "b");
    assert_string_equal(p.labels[p.labv[1]], "a");
    trainset_clear(&p);
    ds_table_free(tv);
    const char *wcells[] = {"c", "9"};
    tv = table(2, vnames, 1, wcells);
    assert_int_equal(trainset_build(t, tv, &rs, &p, &err), MLP_EINVAL);
    assert_string_equal(err.msg, "validation row 1 has class 'c' that the training rows lack");
    ds_table_free(tv);
    ds_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numeric_classes_sorted_and_printed_9g),
        cmocka_unit_test(categorical_classes_in_level_order),
        cmocka_unit_test(split_seeded_sized_disjoint),
        cmocka_unit_test(categorical_input_refused),
        cmocka_unit_test(missing_columns_named),
        cmocka_unit_test(validation_dataset_matched_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
