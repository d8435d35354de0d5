/* tmpdir.h — server test support: a test's temporary directory tree (the store, blob and job
 * suites each make one under /tmp with mkdtemp), removed with everything under it, and a store
 * opened in a fresh one (tmpdir_store) for the suites that test through the store.
 * Owns: nothing; the caller owns the directory and the store it is given.
 * Threading: none (call from the test's main thread). */
#ifndef TESTS_SERVER_TMPDIR_H
#define TESTS_SERVER_TMPDIR_H

#include <stddef.h>

/* Removes dir and everything under it, without following symbolic links. NULL or "" is a no-op. */
void tmpdir_remove(const char *dir);

typedef struct store store;
/* Makes /tmp/mlpd-<name>-XXXXXX into dir (cap bytes) and opens a store there (*s new): 0, or -1
 * with the reason on stderr. */
int tmpdir_store(const char *name, char *dir, size_t cap, store **s);
/* Closes s (may be NULL) and removes dir. */
void tmpdir_store_close(store *s, const char *dir);

#endif
