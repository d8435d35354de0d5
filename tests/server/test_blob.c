/* test_blob.c — the local-directory blob store (blob.h, blob_dir.c): put, read back and delete
 * by id, a missing id, bad ids, a put that fails or is aborted leaves nothing behind, a commit
 * replaces, and the sweep removes temporaries and unkept blobs only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blob.h"
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
    snprintf(f->dir, sizeof f->dir, "/tmp/mlpd-blob-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->sub, sizeof f->sub, "%s/blobs", f->dir);
    if (blob_dir_open(f->sub, ".bin", "test file", &f->b, NULL) != MLP_OK) return -1;
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

/* Entries in the blob directory (without . and ..). */
static int count_files(const fixture *f)
{
    DIR *d = opendir(f->sub);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static void put(fixture *f, const char *id, const void *bytes, size_t n)
{
    blob_put *p = NULL;
    mlp_error err = {0};
    assert_int_equal(blob_put_begin(f->b, &p, &err), MLP_OK);
    assert_int_equal(blob_put_write(p, bytes, n, &err), MLP_OK);
    assert_int_equal(blob_put_commit(p, id, &err), MLP_OK);
}

static void round_trip(void **state)
{
    fixture *f = *state;
    /* An aligned 8 KiB buffer takes the O_DIRECT path, the 5-byte tail the buffered one. */
    unsigned char *big = NULL;
    assert_int_equal(posix_memalign((void **)&big, 4096, 8192), 0);
    for (int i = 0; i < 8192; i++) big[i] = (unsigned char)(i * 7 + 3);
    blob_put *p = NULL;
    assert_int_equal(blob_put_begin(f->b, &p, NULL), MLP_OK);
    assert_int_equal(blob_put_write(p, big, 8192, NULL), MLP_OK);
    assert_int_equal(blob_put_write(p, "tail!", 5, NULL), MLP_OK);
    assert_int_equal(blob_put_end(p, NULL), MLP_OK);
    assert_int_equal(blob_put_commit(p, "ds_1", NULL), MLP_OK);

    char path[160];
    snprintf(path, sizeof path, "%s/ds_1.bin", f->sub);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 8197);
    assert_int_equal(count_files(f), 1);

    blob_get *g = NULL;
    assert_int_equal(blob_open(f->b, "ds_1", &g), MLP_OK);
    assert_int_equal(blob_size(g), 8197);
    unsigned char back[8197];
    assert_int_equal(blob_read(g, back, sizeof back, 0), MLP_OK);
    assert_memory_equal(back, big, 8192);
    assert_memory_equal(back + 8192, "tail!", 5);
    unsigned char mid[4];
    assert_int_equal(blob_read(g, mid, 4, 8193), MLP_OK);
    assert_memory_equal(mid, "ail!", 4);
    /* Reading past the end is a damaged blob, not a short success. */
    assert_int_equal(blob_read(g, mid, 4, 8195), MLP_ECORRUPT);
    blob_close(g);
    free(big);

    /* A second commit under the same id replaces it. */
    put(f, "ds_1", "new", 3);
    assert_int_equal(blob_open(f->b, "ds_1", &g), MLP_OK);
    assert_int_equal(blob_size(g), 3);
    blob_close(g);

    assert_int_equal(blob_delete(f->b, "ds_1"), MLP_OK);
    assert_int_equal(count_files(f), 0);
    assert_int_equal(blob_open(f->b, "ds_1", &g), MLP_ENOTFOUND);
    assert_null(g);
}

static void missing_and_bad_ids(void **state)
{
    fixture *f = *state;
    blob_get *g = NULL;
    assert_int_equal(blob_open(f->b, "ds_9", &g), MLP_ENOTFOUND);
    assert_int_equal(blob_delete(f->b, "ds_9"), MLP_ENOTFOUND);
    /* Ids never reach outside the directory. */
    assert_int_equal(blob_open(f->b, "../x", &g), MLP_ENOTFOUND);
    assert_int_equal(blob_open(f->b, "", &g), MLP_ENOTFOUND);
    assert_int_equal(blob_open(f->b, NULL, &g), MLP_ENOTFOUND);
    blob_put *p = NULL;
    mlp_error err = {0};
    assert_int_equal(blob_put_begin(f->b, &p, NULL), MLP_OK);
    assert_int_equal(blob_put_write(p, "x", 1, NULL), MLP_OK);
    assert_int_equal(blob_put_commit(p, "a/b", &err), MLP_EINVAL);
    assert_int_equal(count_files(f), 0);
    blob_close(NULL);
    blob_put_abort(NULL);
    blob_store_free(NULL);
}

static void abort_leaves_nothing(void **state)
{
    fixture *f = *state;
    blob_put *p = NULL;
    assert_int_equal(blob_put_begin(f->b, &p, NULL), MLP_OK);
    assert_int_equal(blob_put_write(p, "partial", 7, NULL), MLP_OK);
    assert_int_equal(count_files(f), 1); /* the temporary */
    blob_put_abort(p);
    assert_int_equal(count_files(f), 0);
}

/* A put that fails for want of space (a file size limit standing in for a full disk) is
 * MLP_ENOSPC, names the file but not the directory, and leaves nothing once aborted. */
static void failed_put_leaves_nothing(void **state)
{
    fixture *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {64 * 1024, 64 * 1024};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(20);
        static unsigned char buf[128 * 1024];
        blob_put *p = NULL;
        mlp_error err = {0};
        if (blob_put_begin(f->b, &p, &err) != MLP_OK) _exit(21);
        mlp_err e = blob_put_write(p, buf, sizeof buf, &err);
        blob_put_abort(p);
        if (e == MLP_ENOSPC && strstr(err.msg, "test file") && !strstr(err.msg, f->dir)) _exit(0);
        _exit(22);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_files(f), 0);
}

static int keep_odd(const char *id, void *arg)
{
    (*(int *)arg)++;
    return id[strlen(id) - 1] % 2 == 1;
}

static void sweep_removes_orphans_only(void **state)
{
    fixture *f = *state;
    put(f, "ds_1", "a", 1);
    put(f, "ds_2", "b", 1);
    put(f, "ds_3", "c", 1);
    blob_put *p = NULL;
    assert_int_equal(blob_put_begin(f->b, &p, NULL), MLP_OK); /* a temporary a crash left */
    char other[160];
    snprintf(other, sizeof other, "%s/notes.txt", f->sub); /* not a blob: untouched */
    FILE *fp = fopen(other, "w");
    assert_non_null(fp);
    fclose(fp);
    int asked = 0;
    assert_int_equal(blob_sweep(f->b, keep_odd, &asked), 2); /* ds_2 and the temporary */
    assert_int_equal(asked, 3);
    blob_get *g = NULL;
    assert_int_equal(blob_open(f->b, "ds_2", &g), MLP_ENOTFOUND);
    assert_int_equal(blob_open(f->b, "ds_3", &g), MLP_OK);
    blob_close(g);
    assert_int_equal(count_files(f), 3); /* ds_1, ds_3, notes.txt */
    blob_put_abort(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_and_bad_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_put_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(sweep_removes_orphans_only, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
