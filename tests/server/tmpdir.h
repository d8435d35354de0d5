/* tmpdir.h — server test support: removing a test's temporary directory tree (the store, blob
 * and job suites each make one under /tmp with mkdtemp).
 * Threading: none (call from the test's main thread). */
#ifndef TESTS_SERVER_TMPDIR_H
#define TESTS_SERVER_TMPDIR_H

/* Removes dir and everything under it, without following symbolic links. NULL or "" is a no-op. */
void tmpdir_remove(const char *dir);

#endif
