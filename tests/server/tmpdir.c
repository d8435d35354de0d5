/* tmpdir.c — server test support (see tmpdir.h). */
#include "tmpdir.h"
#include "store.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void tmpdir_remove(const char *dir)
{
    if (dir && dir[0]) nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int tmpdir_store(const char *name, char *dir, size_t cap, store **s)
{
    *s = NULL;
    snprintf(dir, cap, "/tmp/mlpd-%s-XXXXXX", name);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        dir[0] = '\0';
        return -1;
    }
    mlp_error err = {0};
    if (store_open(dir, s, &err) != MLP_OK) {
        fprintf(stderr, "store_open %s: %s\n", dir, err.msg);
        return -1;
    }
    return 0;
}

void tmpdir_store_close(store *s, const char *dir)
{
    if (s) store_close(s);
    tmpdir_remove(dir);
}
