/* test_store.c — the SQLite store: migrations at open, dataset files and metadata round trips
 * (byte-identical data, known SHA-256, durable file, orphan cleanup, corruption detected), the
 * run lifecycle with checkpoints and resume, list filters and totals, metric queries, models
 * with versions and aliases, concurrent writers and readers, a kill -9 in the middle of work,
 * and I/O errors (unusable data dir, file size limit) reported without crashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migrate.h"
#include "store.h"
#include "tmpdir.h"

typedef struct {
    char dir[64];
    store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (tmpdir_store("store", f->dir, sizeof f->dir, &f->s)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tmpdir_store_close(f->s, f->dir);
    free(f);
    return 0;
}

/* rows x cols table: numeric columns c0.. (value r*10 + c + 0.25) and a categorical last
 * column "label" with levels {"cat", "dog"} (cell r % 2). */
static ds_table *make_table(long rows, int cols)
{
    ds_table *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->rows = rows;
    t->cols = cols;
    t->columns = calloc((size_t)cols, sizeof *t->columns);
    t->data = malloc((size_t)rows * (size_t)cols * sizeof(float) + 1);
    assert_non_null(t->columns);
    assert_non_null(t->data);
    for (int c = 0; c < cols; c++) {
        ds_column *col = &t->columns[c];
        char name[32];
        if (c == cols - 1) {
            col->name = strdup("label");
            col->type = COL_CATEGORICAL;
            col->n_levels = 2;
            col->levels = calloc(2, sizeof *col->levels);
            assert_non_null(col->levels);
            col->levels[0] = strdup("cat");
            col->levels[1] = strdup("dog");
            col->first_text_row = 1;
        } else {
            snprintf(name, sizeof name, "c%d", c);
            col->name = strdup(name);
            col->type = COL_NUMERIC;
            col->min = c + 0.25;
            col->max = (rows - 1) * 10.0 + c + 0.25;
            col->mean = (col->min + col->max) / 2;
            col->std = 1.5 + c;
        }
        assert_non_null(col->name);
    }
    for (long r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            t->data[r * cols + c] = c == cols - 1 ? (float)(r % 2) : (float)(r * 10 + c) + 0.25f;
    return t;
}

static void count_dir(const char *dir, int *tmp, int *files)
{
    char path[160];
    snprintf(path, sizeof path, "%s/datasets", dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    *tmp = *files = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0))
            continue;
        if (strncmp(de->d_name, ".tmp-", 5) == 0) (*tmp)++;
        (*files)++;
    }
    closedir(d);
}

static void make_run(store *s, const char *ds, const char *val, const char *model, const char *exp,
                     store_run *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->task, sizeof r->task, "classification");
    snprintf(r->dataset_id, sizeof r->dataset_id, "%s", ds);
    if (val) snprintf(r->val_dataset_id, sizeof r->val_dataset_id, "%s", val);
    snprintf(r->model_name, sizeof r->model_name, "%s", model);
    if (exp) snprintf(r->experiment, sizeof r->experiment, "%s", exp);
    r->request_json = strdup("{\"params\":{\"epochs\":3}}");
    r->epochs = 3;
    mlp_error err = {0};
    r->owner_id = 1;
    mlp_err e = store_run_create(s, r, &err);
    if (e != MLP_OK) fail_msg("store_run_create: %s %s", mlp_strerror(e), err.msg);
    free(r->request_json);
    r->request_json = NULL;
}

static run_metrics metrics_for(int epoch)
{
    run_metrics m;
    memset(&m, 0, sizeof m);
    m.v[MET_TRAIN_LOSS] = 1.0 / epoch;
    m.v[MET_VAL_LOSS] = 1.5 / epoch;
    m.v[MET_VAL_ACCURACY] = 0.5 + 0.1 * epoch;
    m.v[MET_LEARNING_RATE] = 0.05;
    m.present = 1u << MET_TRAIN_LOSS | 1u << MET_VAL_LOSS | 1u << MET_VAL_ACCURACY |
                1u << MET_LEARNING_RATE;
    return m;
}

static void create_ds(store *s, long rows, int cols, store_dataset *out)
{
    ds_table *t = make_table(rows, cols);
    mlp_error err = {0};
    mlp_err e = store_dataset_create(s, "train", t, out, &err);
    if (e != MLP_OK) fail_msg("store_dataset_create: %s %s", mlp_strerror(e), err.msg);
    ds_table_free(t);
}

/* ---------------------------------------------------------------- tests */

static void open_migrates_once(void **state)
{
    fixture *f = *state;
    int newest = mlpd_migrations[mlpd_migrations_count - 1].version;
    assert_int_equal(store_schema_version(f->s), newest);
    store_close(f->s);
    f->s = NULL;
    mlp_error err = {0};
    assert_int_equal(store_open(f->dir, &f->s, &err), MLP_OK);
    assert_int_equal(store_schema_version(f->s), newest);

    char path[160];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(path, sizeof path, "%s/mlpd.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*), MAX(version) FROM schema_migrations",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), mlpd_migrations_count);
    assert_int_equal(sqlite3_column_int(st, 1), newest);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void dataset_known_sha256(void **state)
{
    fixture *f = *state;
    ds_table *t = make_table(2, 3);
    const float vals[6] = {1, 2, 3, 4, 5, 6};
    memcpy(t->data, vals, sizeof vals);
    store_dataset d;
    mlp_error err = {0};
    assert_int_equal(store_dataset_create(f->s, "tiny", t, &d, &err), MLP_OK);
    /* sha256 of the little-endian float32 bytes of 1..6 (Python: struct.pack('<6f', ...)). */
    assert_string_equal(d.sha256,
                        "24ae2dfe8df57c1b80e54cef3d90ac3b417fd98973345a5f616bbc9a75dcc202");
    assert_int_equal(d.bytes, 24);
    ds_table_free(t);
}

/* Matrices are written in aligned 4 MiB chunks (O_DIRECT where allowed), the last one padded
 * and the file truncated: sizes just under, at and past a chunk boundary, and several chunks,
 * must load back bit for bit, with the exact file size and the SHA-256 of the matrix bytes. */
static void dataset_spanning_write_chunks(void **state)
{
    fixture *f = *state;
    const long rows[] = {131071, 131071, 131072, 300001};
    const int cols[] = {8, 7, 8, 7}; /* 131071 x 8 floats + the header = 4 MiB exactly */
    for (int i = 0; i < 4; i++) {
        ds_table *t = make_table(rows[i], cols[i]), *l = NULL;
        size_t n = (size_t)rows[i] * (size_t)cols[i];
        store_dataset d;
        mlp_error err = {0};
        char name[32];
        snprintf(name, sizeof name, "chunks%d", i);
        assert_int_equal(store_dataset_create(f->s, name, t, &d, &err), MLP_OK);
        unsigned char dig[EVP_MAX_MD_SIZE];
        unsigned dl = 0;
        assert_true(EVP_Digest(t->data, n * 4, dig, &dl, EVP_sha256(), NULL) && dl == 32);
        char hexd[65];
        for (int k = 0; k < 32; k++) snprintf(hexd + 2 * k, 3, "%02x", dig[k]);
        assert_string_equal(d.sha256, hexd);
        char path[128];
        snprintf(path, sizeof path, "%s/datasets/%s.f32", f->dir, d.id);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, 32 + (off_t)n * 4);
        assert_int_equal(store_dataset_load(f->s, d.id, &l), MLP_OK);
        assert_int_equal(l->rows, rows[i]);
        assert_memory_equal(l->data, t->data, n * 4);
        ds_table_free(l);
        ds_table_free(t);
    }
}

static void dataset_round_trip(void **state)
{
    fixture *f = *state;
    ds_table *t = make_table(50, 4);
    store_dataset d, g;
    mlp_error err = {0};
    assert_int_equal(store_dataset_create(f->s, "fashion-train", t, &d, &err), MLP_OK);
    assert_string_equal(d.id, "ds_1");
    assert_string_equal(d.name, "fashion-train");
    assert_int_equal(d.rows, 50);
    assert_int_equal(d.cols, 4);
    assert_int_equal(d.bytes, 50 * 4 * 4);
    assert_int_equal(strlen(d.sha256), 64);
    assert_int_equal(strlen(d.created_at), 20);
    assert_int_equal(d.created_at[19], 'Z');

    ds_table *cols = NULL;
    assert_int_equal(store_dataset_get(f->s, "ds_1", &g, &cols), MLP_OK);
    assert_string_equal(g.id, d.id);
    assert_string_equal(g.name, d.name);
    assert_int_equal(g.rows, d.rows);
    assert_int_equal(g.cols, d.cols);
    assert_int_equal(g.bytes, d.bytes);
    assert_string_equal(g.sha256, d.sha256);
    assert_string_equal(g.created_at, d.created_at);
    assert_non_null(cols);
    assert_null(cols->data);
    assert_int_equal(cols->cols, 4);
    assert_int_equal(cols->rows, 50);
    for (int c = 0; c < 4; c++) {
        assert_string_equal(cols->columns[c].name, t->columns[c].name);
        assert_int_equal(cols->columns[c].type, t->columns[c].type);
        assert_int_equal(cols->columns[c].first_text_row, t->columns[c].first_text_row);
        assert_int_equal(cols->columns[c].n_levels, t->columns[c].n_levels);
        if (t->columns[c].type == COL_NUMERIC) {
            assert_true(cols->columns[c].min == t->columns[c].min);
            assert_true(cols->columns[c].max == t->columns[c].max);
            assert_true(cols->columns[c].mean == t->columns[c].mean);
            assert_true(cols->columns[c].std == t->columns[c].std);
        }
    }
    assert_string_equal(cols->columns[3].levels[0], "cat");
    assert_string_equal(cols->columns[3].levels[1], "dog");
    ds_table_free(cols);

    ds_table *l = NULL;
    assert_int_equal(store_dataset_load(f->s, "ds_1", &l), MLP_OK);
    assert_int_equal(l->rows, 50);
    assert_int_equal(l->cols, 4);
    assert_memory_equal(l->data, t->data, 50 * 4 * sizeof(float));
    assert_string_equal(l->columns[3].levels[1], "dog");
    ds_table_free(l);

    float *v = NULL;
    long n = -1;
    assert_int_equal(store_dataset_read_rows(f->s, "ds_1", 10, 5, &v, &n), MLP_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(v, t->data + 10 * 4, 5 * 4 * sizeof(float));
    free(v);
    assert_int_equal(store_dataset_read_rows(f->s, "ds_1", 45, 100, &v, &n), MLP_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(v, t->data + 45 * 4, 5 * 4 * sizeof(float));
    free(v);
    assert_int_equal(store_dataset_read_rows(f->s, "ds_1", 50, 10, &v, &n), MLP_OK);
    assert_int_equal(n, 0);
    free(v);
    assert_int_equal(store_dataset_read_rows(f->s, "ds_1", -1, 10, &v, &n), MLP_EINVAL);
    assert_int_equal(store_dataset_read_rows(f->s, "ds_9", 0, 10, &v, &n), MLP_ENOTFOUND);

    /* A second and third dataset: the list is newest first, totals count everything. */
    store_dataset d2, d3;
    assert_int_equal(store_dataset_create(f->s, "b", t, &d2, &err), MLP_OK);
    assert_int_equal(store_dataset_create(f->s, "c", t, &d3, &err), MLP_OK);
    assert_string_equal(d3.id, "ds_3");
    store_dataset *items = NULL;
    int cnt = 0;
    long total = 0;
    assert_int_equal(store_dataset_list(f->s, 2, 0, &items, &cnt, &total), MLP_OK);
    assert_int_equal(cnt, 2);
    assert_int_equal(total, 3);
    assert_string_equal(items[0].id, "ds_3");
    assert_string_equal(items[1].id, "ds_2");
    free(items);
    assert_int_equal(store_dataset_list(f->s, 10, 2, &items, &cnt, &total), MLP_OK);
    assert_int_equal(cnt, 1);
    assert_string_equal(items[0].id, "ds_1");
    assert_string_equal(items[0].sha256, d.sha256);
    free(items);

    /* Delete: the row and the file go; the id is not reused. */
    char path[160];
    snprintf(path, sizeof path, "%s/datasets/ds_2.f32", f->dir);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(store_dataset_delete(f->s, "ds_2", &err), MLP_OK);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(store_dataset_get(f->s, "ds_2", &g, NULL), MLP_ENOTFOUND);
    assert_int_equal(store_dataset_delete(f->s, "ds_2", &err), MLP_ENOTFOUND);
    assert_int_equal(store_dataset_list(f->s, 10, 0, &items, &cnt, &total), MLP_OK);
    assert_int_equal(total, 2);
    free(items);
    assert_int_equal(store_dataset_create(f->s, "d", t, &d2, &err), MLP_OK);
    assert_string_equal(d2.id, "ds_4");

    /* Bad ids and input never crash. */
    assert_int_equal(store_dataset_get(f->s, "ds_x", &g, NULL), MLP_ENOTFOUND);
    assert_int_equal(store_dataset_get(f->s, "ds_0", &g, NULL), MLP_ENOTFOUND);
    assert_int_equal(store_dataset_get(f->s, "ds_99999999999999999999", &g, NULL), MLP_ENOTFOUND);
    assert_int_equal(store_dataset_get(f->s, NULL, &g, NULL), MLP_ENOTFOUND);
    assert_int_equal(store_dataset_create(f->s, "", t, &d2, &err), MLP_EINVAL);
    assert_int_equal(store_dataset_create(f->s, NULL, t, &d2, &err), MLP_EINVAL);
    ds_table_free(t);
}

static void dataset_delete_conflict(void **state)
{
    fixture *f = *state;
    store_dataset a, b;
    store_run r;
    create_ds(f->s, 8, 3, &a);
    create_ds(f->s, 8, 3, &b);
    make_run(f->s, a.id, b.id, "m", NULL, &r);
    mlp_error err = {0};
    assert_int_equal(store_dataset_delete(f->s, b.id, &err), MLP_ECONFLICT);
    assert_non_null(strstr(err.msg, r.id));
    assert_int_equal(store_run_start(f->s, r.id), MLP_OK);
    memset(&err, 0, sizeof err);
    assert_int_equal(store_dataset_delete(f->s, a.id, &err), MLP_ECONFLICT);
    assert_non_null(strstr(err.msg, r.id));
    assert_int_equal(store_run_cancel(f->s, r.id), MLP_OK);
    assert_int_equal(store_dataset_delete(f->s, b.id, &err), MLP_OK);
    /* The finished run outlives its data and still names it. */
    store_run g;
    assert_int_equal(store_run_get(f->s, r.id, &g), MLP_OK);
    assert_string_equal(g.dataset_id, a.id);
    assert_string_equal(g.val_dataset_id, b.id);
    store_run_clear(&g);
    /* Without a model name the run's model is "run-N". */
    store_run u;
    make_run(f->s, a.id, NULL, "", NULL, &u);
    assert_string_equal(u.id, "run_2");
    assert_string_equal(u.model_name, "run-2");
    assert_int_equal(store_run_get(f->s, u.id, &g), MLP_OK);
    assert_string_equal(g.model_name, "run-2");
    store_run_clear(&g);
    assert_int_equal(store_run_cancel(f->s, u.id), MLP_OK);
    assert_int_equal(store_dataset_delete(f->s, a.id, &err), MLP_OK);
    assert_int_equal(store_run_get(f->s, r.id, &g), MLP_OK);
    assert_string_equal(g.dataset_id, a.id);
    store_run_clear(&g);
    /* A run cannot be created on a missing dataset. */
    memset(&r, 0, sizeof r);
    snprintf(r.task, sizeof r.task, "regression");
    snprintf(r.dataset_id, sizeof r.dataset_id, "%s", a.id);
    snprintf(r.model_name, sizeof r.model_name, "m");
    r.request_json = (char *)"{}";
    r.owner_id = 1;
    assert_int_equal(store_run_create(f->s, &r, &err), MLP_ENOTFOUND);
    assert_non_null(strstr(err.msg, a.id));
}

static void dataset_file_durable_and_orphans(void **state)
{
    fixture *f = *state;
    store_dataset d;
    ds_table *t = make_table(30, 5);
    mlp_error err = {0};
    assert_int_equal(store_dataset_create(f->s, "x", t, &d, &err), MLP_OK);

    /* The file is complete on disk right after create: header + the float32 matrix. */
    char path[160];
    snprintf(path, sizeof path, "%s/datasets/%s.f32", f->dir, d.id);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 32 + 30 * 5 * 4);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char buf[32 + 30 * 5 * 4];
    assert_int_equal(fread(buf, 1, sizeof buf, fp), sizeof buf);
    fclose(fp);
    assert_memory_equal(buf + 32, t->data, 30 * 5 * 4);
    int tmp = 0, files = 0;
    count_dir(f->dir, &tmp, &files);
    assert_int_equal(tmp, 0);
    assert_int_equal(files, 1);

    /* Leftovers of a crash: a temporary and a matrix whose row never committed. */
    char junk[160];
    snprintf(junk, sizeof junk, "%s/datasets/.tmp-1-1.f32", f->dir);
    fp = fopen(junk, "wb");
    assert_non_null(fp);
    fputs("partial", fp);
    fclose(fp);
    snprintf(junk, sizeof junk, "%s/datasets/ds_77.f32", f->dir);
    fp = fopen(junk, "wb");
    assert_non_null(fp);
    fclose(fp);
    count_dir(f->dir, &tmp, &files);
    assert_int_equal(files, 3);
    /* Not while another store has the directory open ... */
    store *other = NULL;
    assert_int_equal(store_open(f->dir, &other, &err), MLP_OK);
    count_dir(f->dir, &tmp, &files);
    assert_int_equal(files, 3);
    store_close(other);
    /* ... but at the next open that is alone. */
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(store_open(f->dir, &f->s, &err), MLP_OK);
    count_dir(f->dir, &tmp, &files);
    assert_int_equal(tmp, 0);
    assert_int_equal(files, 1);
    ds_table *l = NULL;
    assert_int_equal(store_dataset_load(f->s, d.id, &l), MLP_OK);
    assert_memory_equal(l->data, t->data, 30 * 5 * 4);
    ds_table_free(l);

    /* A flipped byte is caught by the checksum; a truncated file by its size. */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char byte = buf[100] ^ 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, 100), 1);
    assert_int_equal(store_dataset_load(f->s, d.id, &l), MLP_ECORRUPT);
    assert_int_equal(ftruncate(fd, 100), 0);
    close(fd);
    float *v = NULL;
    long n = 0;
    assert_int_equal(store_dataset_read_rows(f->s, d.id, 0, 2, &v, &n), MLP_ECORRUPT);
    ds_table_free(t);
}

static void run_lifecycle(void **state)
{
    fixture *f = *state;
    store_dataset d;
    store_run r, g;
    create_ds(f->s, 10, 3, &d);
    make_run(f->s, d.id, NULL, "fashion", "a7", &r);
    assert_string_equal(r.id, "run_1");
    assert_int_equal(r.status, RUN_QUEUED);
    assert_true(r.created_at[0] != '\0');

    assert_int_equal(store_run_get(f->s, r.id, &g), MLP_OK);
    assert_int_equal(g.status, RUN_QUEUED);
    assert_string_equal(g.task, "classification");
    assert_string_equal(g.dataset_id, d.id);
    assert_string_equal(g.val_dataset_id, "");
    assert_string_equal(g.model_name, "fashion");
    assert_string_equal(g.experiment, "a7");
    assert_string_equal(g.request_json, "{\"params\":{\"epochs\":3}}");
    assert_int_equal(g.epochs, 3);
    assert_int_equal(g.epoch, 0);
    assert_null(g.error);
    assert_string_equal(g.started_at, "");
    assert_string_equal(g.finished_at, "");
    store_run_clear(&g);

    void *ck = NULL;
    size_t len = 0;
    int ep = -1;
    assert_int_equal(store_run_epoch(f->s, r.id, 1, &(run_metrics){0}, NULL, 0), MLP_ECONFLICT);
    assert_int_equal(store_run_start(f->s, r.id), MLP_OK);
    assert_int_equal(store_run_start(f->s, r.id), MLP_OK); /* resuming after a restart */
    /* No checkpoint yet: MLP_ENOTFOUND, and the run starts over from epoch 0. */
    assert_int_equal(store_run_resume_point(f->s, r.id, &ck, &len, &ep), MLP_ENOTFOUND);
    for (int e = 1; e <= 3; e++) {
        run_metrics m = metrics_for(e);
        char blob[24];
        snprintf(blob, sizeof blob, "ckpt-%d", e);
        /* Epochs 1 and 2 carry a checkpoint; epoch 3 does not (interrupted before saving). */
        assert_int_equal(
            store_run_epoch(f->s, r.id, e, &m, e < 3 ? blob : NULL, e < 3 ? strlen(blob) : 0),
            MLP_OK);
    }
    assert_int_equal(store_run_get(f->s, r.id, &g), MLP_OK);
    assert_int_equal(g.status, RUN_RUNNING);
    assert_int_equal(g.epoch, 3);
    assert_true(g.started_at[0] != '\0');
    assert_true(g.last.present & (1u << MET_VAL_ACCURACY));
    assert_false(g.last.present & (1u << MET_VAL_R2));
    assert_true(fabs(g.last.v[MET_TRAIN_LOSS] - 1.0 / 3) < 1e-12);
    store_run_clear(&g);

    store_metric *pts = NULL;
    int n = 0;
    assert_int_equal(store_run_metrics(f->s, r.id, NULL, 0, &pts, &n), MLP_OK);
    assert_int_equal(n, 12);
    free(pts);

    /* The process dies: resume from epoch 2, epoch 3's points are gone. */
    assert_int_equal(store_run_resume_point(f->s, r.id, &ck, &len, &ep), MLP_OK);
    assert_int_equal(ep, 2);
    assert_int_equal(len, 6);
    assert_memory_equal(ck, "ckpt-2", 6);
    free(ck);
    assert_int_equal(store_run_metrics(f->s, r.id, NULL, 0, &pts, &n), MLP_OK);
    assert_int_equal(n, 8);
    for (int i = 0; i < n; i++) assert_true(pts[i].step <= 2);
    free(pts);
    assert_int_equal(store_run_get(f->s, r.id, &g), MLP_OK);
    assert_int_equal(g.epoch, 2);
    assert_true(fabs(g.last.v[MET_TRAIN_LOSS] - 0.5) < 1e-12);
    store_run_clear(&g);

    run_metrics m3 = metrics_for(3);
    assert_int_equal(store_run_epoch(f->s, r.id, 3, &m3, "ckpt-3", 6), MLP_OK);
    assert_int_equal(store_run_metrics(f->s, r.id, NULL, 0, &pts, &n), MLP_OK);
    assert_int_equal(n, 12); /* exactly one point per metric per epoch */
    free(pts);

    int version = 0;
    const char blob[] = "weights-1";
    assert_int_equal(store_run_succeed(f->s, r.id, "fashion", "classification", 2, 2,
                                       "{\"labels\":[\"cat\",\"dog\"]}", blob, sizeof blob,
                                       &version),
                     MLP_OK);
    assert_int_equal(version, 1);
    assert_int_equal(store_run_get(f->s, r.id, &g), MLP_OK);
    assert_int_equal(g.status, RUN_SUCCEEDED);
    assert_int_equal(g.model_version, 1);
    assert_true(g.finished_at[0] != '\0');
    assert_int_equal(g.epoch, 3);
    store_run_clear(&g);
    /* Finished: the checkpoint is gone and no further state change is accepted. */
    assert_int_equal(store_run_resume_point(f->s, r.id, &ck, &len, &ep), MLP_ECONFLICT);
    assert_int_equal(store_run_cancel(f->s, r.id), MLP_ECONFLICT);
    assert_int_equal(store_run_fail(f->s, r.id, "x"), MLP_ECONFLICT);
    assert_int_equal(store_run_start(f->s, r.id), MLP_ECONFLICT);
    assert_int_equal(store_run_epoch(f->s, r.id, 4, &m3, NULL, 0), MLP_ECONFLICT);
    assert_int_equal(store_run_succeed(f->s, r.id, "fashion", "classification", 2, 2, "{}", blob,
                                       sizeof blob, &version),
                     MLP_ECONFLICT);

    /* A second run of the same model publishes version 2. */
    store_run r2;
    make_run(f->s, d.id, NULL, "fashion", NULL, &r2);
    assert_int_equal(store_run_start(f->s, r2.id), MLP_OK);
    assert_int_equal(
        store_run_succeed(f->s, r2.id, "fashion", "classification", 2, 2, "{}", "w2", 2, &version),
        MLP_OK);
    assert_int_equal(version, 2);
    store_model mo;
    store_model_version *vs = NULL;
    int nv = 0;
    assert_int_equal(store_model_get(f->s, "fashion", &mo, &vs, &nv), MLP_OK);
    assert_int_equal(mo.latest_version, 2);
    assert_int_equal(mo.n_versions, 2);
    assert_int_equal(nv, 2);
    assert_string_equal(vs[0].run_id, r.id);
    assert_string_equal(vs[1].run_id, r2.id);
    assert_string_equal(vs[0].meta_json, "{\"labels\":[\"cat\",\"dog\"]}");
    store_model_versions_free(vs, nv);
    store_model_clear(&mo);
    assert_null(mo.versions);
    void *wb = NULL;
    assert_int_equal(store_model_version_get(f->s, "fashion", 1, NULL, &wb, &len), MLP_OK);
    assert_int_equal(len, sizeof blob);
    assert_memory_equal(wb, blob, sizeof blob);
    free(wb);
}

static void run_cancel_fail_delete(void **state)
{
    fixture *f = *state;
    store_dataset d;
    store_run a, b, c, g;
    create_ds(f->s, 4, 2, &d);
    make_run(f->s, d.id, NULL, "m", NULL, &a);
    make_run(f->s, d.id, NULL, "m", NULL, &b);
    make_run(f->s, d.id, NULL, "m", NULL, &c);

    store_run *items = NULL;
    int n = 0;
    assert_int_equal(store_run_start(f->s, c.id), MLP_OK);
    assert_int_equal(store_run_list_unfinished(f->s, &items, &n), MLP_OK);
    assert_int_equal(n, 3); /* the interrupted running run first, then queued oldest first */
    assert_string_equal(items[0].id, c.id);
    assert_string_equal(items[1].id, a.id);
    assert_string_equal(items[2].id, b.id);
    store_runs_free(items, n);

    assert_int_equal(store_run_delete(f->s, a.id), MLP_ECONFLICT);
    assert_int_equal(store_run_cancel(f->s, a.id), MLP_OK);
    assert_int_equal(store_run_cancel(f->s, a.id), MLP_ECONFLICT);
    assert_int_equal(store_run_start(f->s, a.id), MLP_ECONFLICT);
    assert_int_equal(store_run_get(f->s, a.id, &g), MLP_OK);
    assert_int_equal(g.status, RUN_CANCELLED);
    assert_true(g.finished_at[0] != '\0');
    assert_null(g.error);
    store_run_clear(&g);

    run_metrics m = metrics_for(1);
    assert_int_equal(store_run_epoch(f->s, c.id, 1, &m, "ck", 2), MLP_OK);
    assert_int_equal(store_run_cancel(f->s, c.id), MLP_OK);
    store_metric *pts = NULL;
    assert_int_equal(store_run_metrics(f->s, c.id, NULL, 0, &pts, &n), MLP_OK);
    assert_int_equal(n, 4); /* a cancelled run keeps its metrics */
    free(pts);

    assert_int_equal(store_run_start(f->s, b.id), MLP_OK);
    assert_int_equal(store_run_fail(f->s, b.id, "loss diverged at epoch 1"), MLP_OK);
    assert_int_equal(store_run_get(f->s, b.id, &g), MLP_OK);
    assert_int_equal(g.status, RUN_FAILED);
    assert_string_equal(g.error, "loss diverged at epoch 1");
    store_run_clear(&g);

    assert_int_equal(store_run_list_unfinished(f->s, &items, &n), MLP_OK);
    assert_int_equal(n, 0);
    store_runs_free(items, n);

    assert_int_equal(store_run_delete(f->s, c.id), MLP_OK);
    assert_int_equal(store_run_get(f->s, c.id, &g), MLP_ENOTFOUND);
    assert_int_equal(store_run_metrics(f->s, c.id, NULL, 0, &pts, &n), MLP_ENOTFOUND);
    assert_int_equal(store_run_delete(f->s, c.id), MLP_ENOTFOUND);
    assert_int_equal(store_run_get(f->s, "run_x", &g), MLP_ENOTFOUND);
    assert_int_equal(store_run_start(f->s, "nope"), MLP_ENOTFOUND);
    assert_int_equal(store_run_cancel(f->s, NULL), MLP_ENOTFOUND);

    run_state st;
    for (int i = 0; i < RUN_STATE_COUNT; i++) {
        assert_int_equal(run_state_parse(run_state_name((run_state)i), &st), MLP_OK);
        assert_int_equal(st, i);
    }
    assert_int_equal(run_state_parse("done", &st), MLP_EINVAL);
    assert_int_equal(run_state_parse(NULL, &st), MLP_EINVAL);
    metric_id mid;
    for (int i = 0; i < MET_COUNT; i++) {
        assert_int_equal(metric_parse(metric_name((metric_id)i), &mid), MLP_OK);
        assert_int_equal(mid, i);
    }
    assert_string_equal(metric_name(MET_VAL_R2), "val_r2");
    assert_int_equal(metric_parse("accuracy", &mid), MLP_EINVAL);
}

/* A cancel is stored before it is answered: a queued run ends at once; a running one keeps
 * training (its epochs are recorded) but can no longer succeed, and the next start sees the
 * request in store_run_list_unfinished. */
static void run_cancel_request_is_durable(void **state)
{
    fixture *f = *state;
    store_dataset d;
    store_run q, r, g;
    create_ds(f->s, 4, 2, &d);
    make_run(f->s, d.id, NULL, "m", NULL, &q);
    make_run(f->s, d.id, NULL, "m", NULL, &r);
    run_state now = RUN_FAILED;
    assert_int_equal(store_run_request_cancel(f->s, q.id, &now), MLP_OK);
    assert_int_equal(now, RUN_CANCELLED);
    assert_int_equal(store_run_get(f->s, q.id, &g), MLP_OK);
    assert_int_equal(g.status, RUN_CANCELLED);
    assert_true(g.finished_at[0] != '\0');
    store_run_clear(&g);
    assert_int_equal(store_run_request_cancel(f->s, q.id, &now), MLP_ECONFLICT);
    assert_int_equal(now, RUN_CANCELLED);

    assert_int_equal(store_run_start(f->s, r.id), MLP_OK);
    run_metrics m = metrics_for(1);
    assert_int_equal(store_run_epoch(f->s, r.id, 1, &m, "ck", 2), MLP_OK);
    assert_int_equal(store_run_request_cancel(f->s, r.id, &now), MLP_OK);
    assert_int_equal(now, RUN_RUNNING);
    assert_int_equal(store_run_get(f->s, r.id, &g), MLP_OK);
    assert_int_equal(g.status, RUN_RUNNING);
    assert_int_equal(g.cancel_requested, 1);
    store_run_clear(&g);
    /* the epoch in flight is still recorded */
    m = metrics_for(2);
    assert_int_equal(store_run_epoch(f->s, r.id, 2, &m, "ck", 2), MLP_OK);
    /* what a restart reads: the request is there */
    store_run *items = NULL;
    int n = 0;
    assert_int_equal(store_run_list_unfinished(f->s, &items, &n), MLP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].id, r.id);
    assert_int_equal(items[0].cancel_requested, 1);
    store_runs_free(items, n);
    /* it cannot succeed any more; it ends cancelled with its epochs */
    int version = 0;
    assert_int_equal(
        store_run_succeed(f->s, r.id, "m", "classification", 2, 2, "{}", "w", 1, &version),
        MLP_ECANCELLED);
    store_model mo;
    assert_int_equal(store_model_get(f->s, "m", &mo, NULL, NULL), MLP_ENOTFOUND);
    assert_int_equal(store_run_cancel(f->s, r.id), MLP_OK);
    assert_int_equal(store_run_get(f->s, r.id, &g), MLP_OK);
    assert_int_equal(g.status, RUN_CANCELLED);
    assert_int_equal(g.epoch, 2);
    store_run_clear(&g);
    store_metric *pts = NULL;
    assert_int_equal(store_run_metrics(f->s, r.id, NULL, 0, &pts, &n), MLP_OK);
    assert_int_equal(n, 8);
    free(pts);
    assert_int_equal(store_run_request_cancel(f->s, "run_999", &now), MLP_ENOTFOUND);
    assert_int_equal(store_run_request_cancel(f->s, NULL, NULL), MLP_ENOTFOUND);
}

/* store_run_resume_point counts a resume only when it hands out a checkpoint. */
static void run_resume_is_counted(void **state)
{
    fixture *f = *state;
    store_dataset d;
    store_run r, g;
    create_ds(f->s, 4, 2, &d);
    make_run(f->s, d.id, NULL, "m", NULL, &r);
    assert_int_equal(store_run_start(f->s, r.id), MLP_OK);
    void *ck = NULL;
    size_t len = 0;
    int ep = -1;
    assert_int_equal(store_run_resume_point(f->s, r.id, &ck, &len, &ep), MLP_ENOTFOUND);
    assert_int_equal(store_run_get(f->s, r.id, &g), MLP_OK);
    assert_int_equal(g.resumes, 0);
    assert_int_equal(g.resumed_from_epoch, 0);
    store_run_clear(&g);
    for (int e = 1; e <= 2; e++) {
        run_metrics m = metrics_for(e);
        assert_int_equal(store_run_epoch(f->s, r.id, e, &m, "ck", 2), MLP_OK);
    }
    assert_int_equal(store_run_resume_point(f->s, r.id, &ck, &len, &ep), MLP_OK);
    free(ck);
    assert_int_equal(ep, 2);
    run_metrics m = metrics_for(3);
    assert_int_equal(store_run_epoch(f->s, r.id, 3, &m, "ck", 2), MLP_OK);
    assert_int_equal(store_run_resume_point(f->s, r.id, &ck, &len, &ep), MLP_OK);
    free(ck);
    assert_int_equal(store_run_get(f->s, r.id, &g), MLP_OK);
    assert_int_equal(g.resumes, 2);
    assert_int_equal(g.resumed_from_epoch, 3);
    store_run_clear(&g);
}

typedef struct {
    store *s;
    const char *ds;
    int max_queued;
    atomic_int ok, busy, other;
} limit_arg;

static void *create_limited_worker(void *va)
{
    limit_arg *a = va;
    for (int i = 0; i < 4; i++) {
        store_run r;
        memset(&r, 0, sizeof r);
        snprintf(r.task, sizeof r.task, "classification");
        snprintf(r.dataset_id, sizeof r.dataset_id, "%s", a->ds);
        r.request_json = "{}";
        r.epochs = 1;
        mlp_error err = {0};
        r.owner_id = 1;
        mlp_err e = store_run_create_limited(a->s, &r, a->max_queued, &err);
        if (e == MLP_OK)
            atomic_fetch_add(&a->ok, 1);
        else if (e == MLP_EBUSY && strstr(err.msg, "--max-queued-runs"))
            atomic_fetch_add(&a->busy, 1);
        else
            atomic_fetch_add(&a->other, 1);
    }
    return NULL;
}

/* The queue limit is counted in the insert's transaction: 8 threads x 4 creates against a limit
 * of 5 make exactly 5 queued runs; a run leaving "queued" frees a place. */
static void run_create_respects_queue_limit(void **state)
{
    fixture *f = *state;
    store_dataset d;
    create_ds(f->s, 4, 2, &d);
    limit_arg a = {.s = f->s, .ds = d.id, .max_queued = 5};
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, create_limited_worker, &a), 0);
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&a.other), 0);
    assert_int_equal(atomic_load(&a.ok), 5);
    assert_int_equal(atomic_load(&a.busy), 27);
    run_state queued = RUN_QUEUED;
    store_run *items = NULL;
    int n = 0;
    long total = 0;
    assert_int_equal(store_run_list(f->s, &queued, NULL, NULL, 50, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(total, 5);
    assert_int_equal(store_run_start(f->s, items[0].id), MLP_OK);
    store_runs_free(items, n);
    a.ok = 0;
    a.busy = 0;
    create_limited_worker(&a);
    assert_int_equal(atomic_load(&a.ok), 1);
    assert_int_equal(atomic_load(&a.busy), 3);
}

static void run_list_filters(void **state)
{
    fixture *f = *state;
    store_dataset d;
    store_run r[6];
    create_ds(f->s, 4, 2, &d);
    /* run_1 a/x queued, run_2 b/x running, run_3 a/y cancelled, run_4 -/x queued,
     * run_5 a/x running, run_6 b/y failed */
    make_run(f->s, d.id, NULL, "x", "a", &r[0]);
    make_run(f->s, d.id, NULL, "x", "b", &r[1]);
    make_run(f->s, d.id, NULL, "y", "a", &r[2]);
    make_run(f->s, d.id, NULL, "x", NULL, &r[3]);
    make_run(f->s, d.id, NULL, "x", "a", &r[4]);
    make_run(f->s, d.id, NULL, "y", "b", &r[5]);
    assert_int_equal(store_run_start(f->s, r[1].id), MLP_OK);
    assert_int_equal(store_run_cancel(f->s, r[2].id), MLP_OK);
    assert_int_equal(store_run_start(f->s, r[4].id), MLP_OK);
    assert_int_equal(store_run_fail(f->s, r[5].id, "boom"), MLP_OK);

    store_run *items = NULL;
    int n = 0;
    long total = 0;
    run_state queued = RUN_QUEUED, running = RUN_RUNNING, failed = RUN_FAILED;

    assert_int_equal(store_run_list(f->s, NULL, NULL, NULL, 50, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(n, 6);
    assert_int_equal(total, 6);
    assert_string_equal(items[0].id, "run_6"); /* newest first */
    assert_string_equal(items[5].id, "run_1");
    store_runs_free(items, n);

    assert_int_equal(store_run_list(f->s, NULL, NULL, NULL, 2, 3, &items, &n, &total), MLP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(total, 6);
    assert_string_equal(items[0].id, "run_3");
    assert_string_equal(items[1].id, "run_2");
    store_runs_free(items, n);

    assert_int_equal(store_run_list(f->s, &queued, NULL, NULL, 50, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(total, 2);
    assert_int_equal(n, 2);
    assert_string_equal(items[0].id, "run_4");
    assert_string_equal(items[1].id, "run_1");
    store_runs_free(items, n);

    assert_int_equal(store_run_list(f->s, NULL, "a", NULL, 50, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(total, 3);
    store_runs_free(items, n);

    assert_int_equal(store_run_list(f->s, &running, "a", "x", 50, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(total, 1);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].id, "run_5");
    store_runs_free(items, n);

    assert_int_equal(store_run_list(f->s, NULL, NULL, "y", 1, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(total, 2);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].id, "run_6");
    assert_string_equal(items[0].error, "boom");
    store_runs_free(items, n);

    assert_int_equal(store_run_list(f->s, &failed, "a", NULL, 50, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(total, 0);
    assert_int_equal(n, 0);
    store_runs_free(items, n);

    /* Strings that look like SQL are only ever data. */
    assert_int_equal(store_run_list(f->s, NULL, "a' OR '1'='1", NULL, 50, 0, &items, &n, &total),
                     MLP_OK);
    assert_int_equal(total, 0);
    store_runs_free(items, n);

    assert_int_equal(store_run_list(f->s, NULL, NULL, NULL, -1, 0, &items, &n, &total), MLP_EINVAL);
}

static void metrics_query(void **state)
{
    fixture *f = *state;
    store_dataset d;
    store_run r;
    create_ds(f->s, 4, 2, &d);
    make_run(f->s, d.id, NULL, "m", NULL, &r);
    assert_int_equal(store_run_start(f->s, r.id), MLP_OK);
    for (int e = 1; e <= 4; e++) {
        run_metrics m = metrics_for(e);
        if (e == 4) m.v[MET_VAL_LOSS] = NAN; /* stored as "no value" */
        assert_int_equal(store_run_epoch(f->s, r.id, e, &m, NULL, 0), MLP_OK);
    }
    store_metric *p = NULL;
    int n = 0;
    metric_id vl = MET_VAL_LOSS;
    assert_int_equal(store_run_metrics(f->s, r.id, &vl, 0, &p, &n), MLP_OK);
    assert_int_equal(n, 4);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(p[i].name, MET_VAL_LOSS);
        assert_int_equal(p[i].step, i + 1);
        assert_true(fabs(p[i].value - 1.5 / (i + 1)) < 1e-12);
        assert_int_equal(strlen(p[i].timestamp), 24); /* 2026-11-28T23:10:09.123Z */
        assert_int_equal(p[i].timestamp[23], 'Z');
    }
    assert_true(isnan(p[3].value));
    free(p);

    assert_int_equal(store_run_metrics(f->s, r.id, NULL, 2, &p, &n), MLP_OK);
    assert_int_equal(n, 8);
    for (int i = 0; i < n; i++) {
        assert_true(p[i].step > 2);
        if (i > 0) assert_true(p[i].step >= p[i - 1].step);
    }
    /* Ordered by step, then name. */
    assert_int_equal(p[0].step, 3);
    assert_int_equal(p[3].step, 3);
    assert_int_equal(p[4].step, 4);
    free(p);

    metric_id r2 = MET_VAL_R2;
    assert_int_equal(store_run_metrics(f->s, r.id, &r2, 0, &p, &n), MLP_OK);
    assert_int_equal(n, 0);
    free(p);
    assert_int_equal(store_run_metrics(f->s, r.id, &vl, 4, &p, &n), MLP_OK);
    assert_int_equal(n, 0);
    free(p);
    assert_int_equal(store_run_epoch(f->s, r.id, 0, &(run_metrics){0}, NULL, 0), MLP_EINVAL);
}

static void models_versions_aliases(void **state)
{
    fixture *f = *state;
    int v = 0;
    float w[4] = {1, 2, 3, 4};
    store_model *items = NULL;
    int n = -1;
    long total = -1;
    assert_int_equal(store_model_list(f->s, 50, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(total, 0);
    store_models_free(items, n);
    store_model_clear(NULL);
    assert_int_equal(
        store_model_add_version(f->s, "beta", "", "regression", 3, 1, "{\"a\":1}", w, sizeof w, &v),
        MLP_OK);
    assert_int_equal(v, 1);
    assert_int_equal(
        store_model_add_version(f->s, "beta", NULL, "regression", 3, 1, "{\"a\":2}", w, 8, &v),
        MLP_OK);
    assert_int_equal(v, 2);
    assert_int_equal(store_model_add_version(f->s, "alpha", "run_42", "autoencoder", 4, 4, "{}", w,
                                             sizeof w, &v),
                     MLP_OK);
    assert_int_equal(v, 1);
    assert_int_equal(
        store_model_add_version(f->s, "alpha", "bogus", "autoencoder", 4, 4, "{}", w, sizeof w, &v),
        MLP_EINVAL);
    assert_int_equal(
        store_model_add_version(f->s, "", NULL, "regression", 3, 1, "{}", w, sizeof w, &v),
        MLP_EINVAL);
    assert_int_equal(
        store_model_add_version(f->s, "gamma", NULL, "regression", 0, 1, "{}", w, sizeof w, &v),
        MLP_EINVAL);

    assert_int_equal(store_model_list(f->s, 50, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(total, 2);
    assert_string_equal(items[0].name, "alpha");
    assert_string_equal(items[1].name, "beta");
    assert_int_equal(items[1].latest_version, 2);
    assert_int_equal(items[1].n_versions, 2);
    assert_int_equal(items[1].versions[0], 1);
    assert_int_equal(items[1].versions[1], 2);
    assert_int_equal(items[1].n_aliases, 0);
    store_models_free(items, n);
    assert_int_equal(store_model_list(f->s, 1, 1, &items, &n, &total), MLP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(total, 2);
    assert_string_equal(items[0].name, "beta");
    store_models_free(items, n);

    store_model_version info;
    void *blob = NULL;
    size_t len = 0;
    assert_int_equal(store_model_version_get(f->s, "beta", 0, &info, &blob, &len), MLP_OK);
    assert_int_equal(info.version, 2);
    assert_string_equal(info.name, "beta");
    assert_string_equal(info.run_id, "");
    assert_string_equal(info.task, "regression");
    assert_int_equal(info.input_dim, 3);
    assert_int_equal(info.output_dim, 1);
    assert_string_equal(info.meta_json, "{\"a\":2}");
    assert_int_equal(len, 8);
    assert_memory_equal(blob, w, 8);
    free(blob);
    free(info.meta_json);
    assert_int_equal(store_model_version_get(f->s, "alpha", 1, &info, NULL, NULL), MLP_OK);
    assert_string_equal(info.run_id, "run_42");
    free(info.meta_json);
    assert_int_equal(store_model_version_get(f->s, "beta", 3, &info, NULL, NULL), MLP_ENOTFOUND);
    assert_int_equal(store_model_version_get(f->s, "nope", 0, &info, NULL, NULL), MLP_ENOTFOUND);

    /* Aliases. */
    int av = 0;
    assert_int_equal(store_model_alias_set(f->s, "beta", "stable", 1), MLP_OK);
    assert_int_equal(store_model_alias_resolve(f->s, "beta", "stable", &av), MLP_OK);
    assert_int_equal(av, 1);
    assert_int_equal(store_model_alias_set(f->s, "beta", "stable", 2), MLP_OK);
    assert_int_equal(store_model_alias_resolve(f->s, "beta", "stable", &av), MLP_OK);
    assert_int_equal(av, 2);
    assert_int_equal(store_model_alias_set(f->s, "beta", "canary", 1), MLP_OK);
    assert_int_equal(store_model_alias_set(f->s, "beta", "x", 9), MLP_ENOTFOUND);
    assert_int_equal(store_model_alias_set(f->s, "nope", "x", 1), MLP_ENOTFOUND);
    assert_int_equal(store_model_alias_resolve(f->s, "beta", "x", &av), MLP_ENOTFOUND);
    assert_int_equal(store_model_alias_resolve(f->s, "alpha", "stable", &av), MLP_ENOTFOUND);

    store_model mo;
    store_model_version *vs = NULL;
    int nv = 0;
    assert_int_equal(store_model_get(f->s, "beta", &mo, &vs, &nv), MLP_OK);
    assert_int_equal(mo.n_aliases, 2);
    assert_string_equal(mo.aliases[0].alias, "canary");
    assert_int_equal(mo.aliases[0].version, 1);
    assert_string_equal(mo.aliases[1].alias, "stable");
    assert_int_equal(mo.aliases[1].version, 2);
    assert_int_equal(nv, 2);
    assert_string_equal(vs[0].meta_json, "{\"a\":1}");
    assert_true(vs[1].created_at[0] != '\0');
    store_model_versions_free(vs, nv);
    store_model_clear(&mo);
    assert_null(mo.versions);

    /* Deleting an aliased version is a conflict naming the alias. */
    mlp_error err = {0};
    assert_int_equal(store_model_version_delete(f->s, "beta", 1, &err), MLP_ECONFLICT);
    assert_non_null(strstr(err.msg, "canary"));
    assert_int_equal(store_model_alias_delete(f->s, "beta", "canary"), MLP_OK);
    assert_int_equal(store_model_alias_delete(f->s, "beta", "canary"), MLP_ENOTFOUND);
    assert_int_equal(store_model_version_delete(f->s, "beta", 1, &err), MLP_OK);
    assert_int_equal(store_model_version_delete(f->s, "beta", 1, &err), MLP_ENOTFOUND);
    assert_int_equal(store_model_version_delete(f->s, "nope", 1, &err), MLP_ENOTFOUND);
    assert_int_equal(store_model_alias_delete(f->s, "beta", "stable"), MLP_OK);
    /* A new version after a deletion never reuses a number while the model exists. */
    assert_int_equal(
        store_model_add_version(f->s, "beta", NULL, "regression", 3, 1, "{}", w, 4, &v), MLP_OK);
    assert_int_equal(v, 3);
    assert_int_equal(store_model_version_delete(f->s, "beta", 3, &err), MLP_OK);
    assert_int_equal(store_model_version_delete(f->s, "beta", 2, &err), MLP_OK);
    /* The last version took the model with it. */
    assert_int_equal(store_model_get(f->s, "beta", &mo, NULL, NULL), MLP_ENOTFOUND);
    assert_int_equal(store_model_list(f->s, 50, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(total, 1);
    assert_string_equal(items[0].name, "alpha");
    store_models_free(items, n);
}

/* ---------------------------------------------------------------- concurrency */

enum { N_WRITERS = 4, N_READERS = 4, RUNS_PER_WRITER = 4 };

typedef struct {
    store *s;
    const char *ds;
    int failures;
    atomic_int *stop;
    char what[160];
} worker;

static void note(worker *w, const char *what, mlp_err e)
{
    if (e == MLP_OK) return;
    if (!w->failures) snprintf(w->what, sizeof w->what, "%s: %s", what, mlp_strerror(e));
    w->failures++;
}

static void *writer_main(void *arg)
{
    worker *w = arg;
    char blob[256];
    memset(blob, 0x5a, sizeof blob);
    for (int i = 0; i < RUNS_PER_WRITER; i++) {
        store_run r;
        memset(&r, 0, sizeof r);
        snprintf(r.task, sizeof r.task, "regression");
        snprintf(r.dataset_id, sizeof r.dataset_id, "%s", w->ds);
        snprintf(r.model_name, sizeof r.model_name, "shared");
        r.request_json = (char *)"{}";
        r.epochs = 3;
        r.owner_id = 1;
        note(w, "create", store_run_create(w->s, &r, NULL));
        note(w, "start", store_run_start(w->s, r.id));
        for (int e = 1; e <= 3; e++) {
            run_metrics m = metrics_for(e);
            note(w, "epoch", store_run_epoch(w->s, r.id, e, &m, blob, sizeof blob));
        }
        int v = 0;
        note(w, "succeed",
             store_run_succeed(w->s, r.id, "shared", "regression", 1, 1, "{}", blob, sizeof blob,
                               &v));
        if (v < 1) w->failures++;
    }
    return NULL;
}

static void *reader_main(void *arg)
{
    worker *w = arg;
    int rounds = 0;
    while (!atomic_load(w->stop) || rounds < 3) {
        store_run *items = NULL;
        int n = 0;
        long total = 0;
        note(w, "run_list", store_run_list(w->s, NULL, NULL, NULL, 20, 0, &items, &n, &total));
        if (n > 0) {
            store_run g;
            note(w, "run_get", store_run_get(w->s, items[0].id, &g));
            store_run_clear(&g);
            store_metric *p = NULL;
            int np = 0;
            note(w, "metrics", store_run_metrics(w->s, items[n - 1].id, NULL, 0, &p, &np));
            free(p);
        }
        store_runs_free(items, n);
        store_model *mi = NULL;
        note(w, "model_list", store_model_list(w->s, 10, 0, &mi, &n, &total));
        store_models_free(mi, n);
        store_dataset d;
        note(w, "dataset_get", store_dataset_get(w->s, w->ds, &d, NULL));
        rounds++;
    }
    return NULL;
}

static void concurrent_writers_and_readers(void **state)
{
    fixture *f = *state;
    store_dataset d;
    create_ds(f->s, 16, 3, &d);
    pthread_t th[N_WRITERS + N_READERS];
    worker w[N_WRITERS + N_READERS];
    atomic_int stop = 0;
    for (int i = 0; i < N_WRITERS + N_READERS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].s = f->s;
        w[i].ds = d.id;
        w[i].stop = &stop;
        assert_int_equal(
            pthread_create(&th[i], NULL, i < N_WRITERS ? writer_main : reader_main, &w[i]), 0);
    }
    for (int i = 0; i < N_WRITERS; i++) pthread_join(th[i], NULL);
    atomic_store(&stop, 1);
    for (int i = N_WRITERS; i < N_WRITERS + N_READERS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N_WRITERS + N_READERS; i++)
        if (w[i].failures)
            fail_msg("thread %d: %d failures, first %s", i, w[i].failures, w[i].what);

    /* Every success published a distinct version of the shared model. */
    store_model mo;
    assert_int_equal(store_model_get(f->s, "shared", &mo, NULL, NULL), MLP_OK);
    assert_int_equal(mo.n_versions, N_WRITERS * RUNS_PER_WRITER);
    for (int i = 0; i < mo.n_versions; i++) assert_int_equal(mo.versions[i], i + 1);
    store_model_clear(&mo);
    assert_null(mo.versions);
    store_run *items = NULL;
    int n = 0;
    long total = 0;
    run_state ok = RUN_SUCCEEDED;
    assert_int_equal(store_run_list(f->s, &ok, NULL, NULL, 100, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(total, N_WRITERS * RUNS_PER_WRITER);
    for (int i = 0; i < n; i++) assert_int_equal(items[i].epoch, 3);
    store_runs_free(items, n);
}

/* ---------------------------------------------------------------- crashes and I/O errors */

static void crash_keeps_acknowledged_writes(void **state)
{
    fixture *f = *state;
    store_close(f->s);
    f->s = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store *s = NULL;
        if (store_open(f->dir, &s, NULL) != MLP_OK) _exit(10);
        ds_table *t = make_table(200, 6);
        store_dataset d;
        if (store_dataset_create(s, "acked", t, &d, NULL) != MLP_OK) _exit(11);
        store_run r;
        memset(&r, 0, sizeof r);
        snprintf(r.task, sizeof r.task, "regression");
        snprintf(r.dataset_id, sizeof r.dataset_id, "%s", d.id);
        snprintf(r.model_name, sizeof r.model_name, "m");
        r.request_json = (char *)"{}";
        r.epochs = 5;
        r.owner_id = 1;
        if (store_run_create(s, &r, NULL) != MLP_OK || store_run_start(s, r.id) != MLP_OK)
            _exit(12);
        run_metrics m = metrics_for(1);
        if (store_run_epoch(s, r.id, 1, &m, "state-1", 7) != MLP_OK) _exit(13);
        /* An upload that was never acknowledged: only its temporary exists. */
        char tmp[160];
        snprintf(tmp, sizeof tmp, "%s/datasets/.tmp-%d-99.f32", f->dir, (int)getpid());
        FILE *fp = fopen(tmp, "wb");
        if (fp) fclose(fp);
        raise(SIGKILL); /* kill -9: no close, no flush, no atexit */
        _exit(14);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    mlp_error err = {0};
    assert_int_equal(store_open(f->dir, &f->s, &err), MLP_OK);
    ds_table *t = make_table(200, 6), *l = NULL;
    assert_int_equal(store_dataset_load(f->s, "ds_1", &l), MLP_OK);
    assert_memory_equal(l->data, t->data, 200 * 6 * sizeof(float));
    ds_table_free(l);
    ds_table_free(t);
    store_run *items = NULL;
    int n = 0;
    assert_int_equal(store_run_list_unfinished(f->s, &items, &n), MLP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(items[0].status, RUN_RUNNING);
    assert_int_equal(items[0].epoch, 1);
    void *ck = NULL;
    size_t len = 0;
    int ep = 0;
    assert_int_equal(store_run_resume_point(f->s, items[0].id, &ck, &len, &ep), MLP_OK);
    assert_int_equal(ep, 1);
    assert_memory_equal(ck, "state-1", 7);
    free(ck);
    store_runs_free(items, n);
    int tmp = 0, files = 0;
    count_dir(f->dir, &tmp, &files);
    assert_int_equal(tmp, 0);
    assert_int_equal(files, 1);
}

static void unusable_data_dir(void **state)
{
    fixture *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/plainfile", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    strcat(path, "/sub");
    store *s = NULL;
    mlp_error err = {0};
    assert_int_equal(store_open(path, &s, &err), MLP_EIO);
    assert_null(s);
    assert_non_null(strstr(err.msg, "plainfile"));
    assert_int_equal(store_open("", &s, &err), MLP_EINVAL);

    /* A database file that is not SQLite. */
    char bad[100];
    snprintf(bad, sizeof bad, "%s/bad", f->dir);
    assert_int_equal(mkdir(bad, 0755), 0);
    snprintf(path, sizeof path, "%s/mlpd.db", bad);
    fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 8192; i++) fputc('x', fp);
    fclose(fp);
    memset(&err, 0, sizeof err);
    assert_int_not_equal(store_open(bad, &s, &err), MLP_OK);
    assert_null(s);
    assert_true(err.msg[0] != '\0');
}

static void file_size_limit_is_enospc(void **state)
{
    fixture *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The parent's connections are not used across fork: a store of its own. A 256 KiB
         * file size limit stands in for a full disk: writes fail with EFBIG. */
        store *s = NULL;
        if (store_open(f->dir, &s, NULL) != MLP_OK) _exit(19);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {256 * 1024, 256 * 1024};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(20);
        ds_table *t = make_table(20000, 8); /* 640 KB */
        store_dataset d;
        mlp_error err = {0};
        mlp_err e = store_dataset_create(s, "big", t, &d, &err);
        /* the message may become a 507 detail: it names the file, not where the data dir is */
        if (e == MLP_ENOSPC && strstr(err.msg, "dataset file") && !strstr(err.msg, f->dir))
            _exit(0);
        _exit(21 + (int)e);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* Nothing half-written is visible or left behind. */
    store_dataset *items = NULL;
    int n = 0;
    long total = -1;
    assert_int_equal(store_dataset_list(f->s, 10, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(total, 0);
    free(items);
    int tmp = 0, files = 0;
    count_dir(f->dir, &tmp, &files);
    assert_int_equal(files, 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(open_migrates_once),
        T(dataset_known_sha256),
        T(dataset_round_trip),
        T(dataset_spanning_write_chunks),
        T(dataset_delete_conflict),
        T(dataset_file_durable_and_orphans),
        T(run_lifecycle),
        T(run_cancel_fail_delete),
        T(run_cancel_request_is_durable),
        T(run_resume_is_counted),
        T(run_create_respects_queue_limit),
        T(run_list_filters),
        T(metrics_query),
        T(models_versions_aliases),
        T(concurrent_writers_and_readers),
        T(crash_keeps_acknowledged_writes),
        T(unusable_data_dir),
        T(file_size_limit_is_enospc),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
