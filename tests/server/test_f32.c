/* test_f32.c — the .f32 matrix format (f32.h) over a blob directory: a round trip through the
 * aligned writer (a matrix larger than one 4 MiB chunk, and an empty one), the header bytes on
 * disk, the SHA-256 of the matrix bytes (a known answer), a damaged byte caught by the
 * checksum, and short, garbled or mis-shaped files refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob.h"
#include "f32.h"
#include "tmpdir.h"

typedef struct {
    char dir[64];
    char sub[80];
    blob_store *b;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/mlpd-f32-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->sub, sizeof f->sub, "%s/m", f->dir);
    if (blob_dir_open(f->sub, ".f32", "matrix file", &f->b, NULL) != MLP_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    blob_store_free(f->b);
    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static void write_matrix(fixture *f, const char *id, const float *v, long rows, int cols,
                         char sha[F32_SHA_HEX])
{
    blob_put *p = NULL;
    mlp_error err = {0};
    assert_int_equal(blob_put_begin(f->b, &p, &err), MLP_OK);
    assert_int_equal(f32_write(p, v, rows, cols, sha, &err), MLP_OK);
    assert_int_equal(blob_put_commit(p, id, &err), MLP_OK);
}

static float *make(long rows, int cols)
{
    float *v = malloc((size_t)rows * (size_t)cols * sizeof *v);
    assert_non_null(v);
    for (long i = 0; i < rows * cols; i++) v[i] = (float)i * 0.25f - 3.0f;
    return v;
}

static void round_trip(void **state)
{
    fixture *f = *state;
    const long rows = 70000; /* 70000 x 17 x 4 bytes: more than one 4 MiB chunk */
    const int cols = 17;
    float *v = make(rows, cols);
    char sha[F32_SHA_HEX], want[F32_SHA_HEX];
    write_matrix(f, "ds_1", v, rows, cols, sha);
    assert_int_equal(f32_sha256(v, (size_t)rows * cols * 4, want), MLP_OK); /* LE host */
    assert_string_equal(sha, want);

    /* The header on disk: magic, rows, cols as little-endian u64, zero padding. */
    char path[160];
    snprintf(path, sizeof path, "%s/ds_1.f32", f->sub);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char hdr[F32_HEADER_BYTES];
    assert_int_equal(fread(hdr, 1, sizeof hdr, fp), sizeof hdr);
    fclose(fp);
    assert_memory_equal(hdr, "MLPDF32\n", 8);
    assert_int_equal(hdr[8], rows & 0xff);
    assert_int_equal(hdr[9], (rows >> 8) & 0xff);
    assert_int_equal(hdr[16], cols);
    for (int i = 24; i < 32; i++) assert_int_equal(hdr[i], 0);

    blob_get *g = NULL;
    float *all = NULL;
    assert_int_equal(blob_open(f->b, "ds_1", &g), MLP_OK);
    assert_int_equal(f32_check(g, rows, cols), MLP_OK);
    assert_int_equal(f32_read_all(g, rows, cols, sha, &all), MLP_OK);
    assert_memory_equal(all, v, (size_t)rows * cols * 4);
    float some[3 * 17];
    assert_int_equal(f32_read_rows(g, cols, 65000, 3, some), MLP_OK);
    assert_memory_equal(some, v + 65000L * cols, sizeof some);
    /* The wrong shape is refused by the header check. */
    assert_int_equal(f32_check(g, rows - 1, cols), MLP_ECORRUPT);
    assert_int_equal(f32_check(g, rows, cols + 1), MLP_ECORRUPT);
    blob_close(g);
    free(all);
    free(v);
}

static void empty_matrix(void **state)
{
    fixture *f = *state;
    char sha[F32_SHA_HEX];
    write_matrix(f, "ds_2", NULL, 0, 3, sha);
    /* SHA-256 of no bytes */
    assert_string_equal(sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    blob_get *g = NULL;
    float *all = NULL;
    assert_int_equal(blob_open(f->b, "ds_2", &g), MLP_OK);
    assert_int_equal(blob_size(g), F32_HEADER_BYTES);
    assert_int_equal(f32_check(g, 0, 3), MLP_OK);
    assert_int_equal(f32_read_all(g, 0, 3, sha, &all), MLP_OK);
    free(all);
    blob_close(g);
}

/* Overwrites n bytes at off of blob id's file. */
static void poke(fixture *f, const char *id, long off, const void *bytes, size_t n)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s.f32", f->sub, id);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
    close(fd);
}

static void damaged_byte_fails_checksum(void **state)
{
    fixture *f = *state;
    float *v = make(100, 4);
    char sha[F32_SHA_HEX];
    write_matrix(f, "ds_3", v, 100, 4, sha);
    poke(f, "ds_3", F32_HEADER_BYTES + 777, "\x5a", 1);
    blob_get *g = NULL;
    float *all = (float *)1;
    assert_int_equal(blob_open(f->b, "ds_3", &g), MLP_OK);
    assert_int_equal(f32_check(g, 100, 4), MLP_OK); /* the header is fine */
    assert_int_equal(f32_read_all(g, 100, 4, sha, &all), MLP_ECORRUPT);
    assert_null(all);
    blob_close(g);
    free(v);
}

static void short_or_garbled_refused(void **state)
{
    fixture *f = *state;
    float *v = make(50, 2);
    char sha[F32_SHA_HEX];
    blob_get *g = NULL;

    /* truncated: one float short */
    write_matrix(f, "ds_4", v, 50, 2, sha);
    char path[160];
    snprintf(path, sizeof path, "%s/ds_4.f32", f->sub);
    assert_int_equal(truncate(path, F32_HEADER_BYTES + 50 * 2 * 4 - 4), 0);
    assert_int_equal(blob_open(f->b, "ds_4", &g), MLP_OK);
    assert_int_equal(f32_check(g, 50, 2), MLP_ECORRUPT);
    blob_close(g);

    /* shorter than the header */
    assert_int_equal(truncate(path, 10), 0);
    assert_int_equal(blob_open(f->b, "ds_4", &g), MLP_OK);
    assert_int_equal(f32_check(g, 50, 2), MLP_ECORRUPT);
    blob_close(g);

    /* bad magic */
    write_matrix(f, "ds_5", v, 50, 2, sha);
    poke(f, "ds_5", 0, "XLPD", 4);
    assert_int_equal(blob_open(f->b, "ds_5", &g), MLP_OK);
    assert_int_equal(f32_check(g, 50, 2), MLP_ECORRUPT);
    blob_close(g);

    /* a header that claims another shape of the same size */
    write_matrix(f, "ds_6", v, 50, 2, sha);
    assert_int_equal(blob_open(f->b, "ds_6", &g), MLP_OK);
    assert_int_equal(f32_check(g, 25, 4), MLP_ECORRUPT);
    assert_int_equal(f32_check(g, 50, 2), MLP_OK);
    blob_close(g);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_matrix, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_byte_fails_checksum, setup, teardown),
        cmocka_unit_test_setup_teardown(short_or_garbled_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
