/* test_spread.c — connections opened together spread evenly over the HTTP threads (server/http.c,
 * Accepting): with --threads 2, 16 connections opened at once end up 8 and 8 in the two workers'
 * epoll sets (read from /proc/<pid>/fdinfo, Linux), and every one of them is served. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define N_CONNS 16

static srv S;

static int setup(void **state)
{
    (void)state;
    static const char *const extra[] = {"--threads", "2", NULL};
    return srv_start(&S, extra);
}

static int teardown(void **state)
{
    (void)state;
    return srv_finish(&S);
}

/* The registrations of each epoll descriptor of pid, into n[] (at most cap of them); the count
 * of epoll descriptors. */
static int epoll_sets(pid_t pid, int *n, int cap)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d) return -1;
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && k < cap) {
        char link[320], target[64];
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0) continue;
        target[len] = '\0';
        if (strcmp(target, "anon_inode:[eventpoll]") != 0) continue;
        char info[320], line[256];
        snprintf(info, sizeof info, "/proc/%d/fdinfo/%s", (int)pid, e->d_name);
        FILE *f = fopen(info, "r");
        if (!f) continue;
        n[k] = 0;
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "tfd:", 4) == 0) n[k]++;
        fclose(f);
        k++;
    }
    closedir(d);
    return k;
}

static void test_even_spread(void **state)
{
    (void)state;
    int before[8], after[8];
    int k0 = epoll_sets(S.pid, before, 8);
    assert_int_equal(k0, 2); /* one epoll set per worker (MHD makes none for the master) */
    int fds[N_CONNS];
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)S.port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    for (int i = 0; i < N_CONNS; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof sa), 0);
    }
    int k = 0, spread = 0;
    for (int tries = 0; tries < 100; tries++) { /* accepted within a few ms */
        k = epoll_sets(S.pid, after, 8);
        int added = 0;
        for (int i = 0; i < k && k == k0; i++) added += after[i] - before[i];
        if (added == N_CONNS) {
            spread = 1;
            break;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(spread);
    for (int i = 0; i < k; i++) assert_int_equal(after[i] - before[i], N_CONNS / 2);
    /* each connection is served */
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < N_CONNS; i++) {
        assert_int_equal(write(fds[i], req, sizeof req - 1), (ssize_t)(sizeof req - 1));
        char buf[64] = {0};
        assert_true(read(fds[i], buf, sizeof buf - 1) > 12);
        assert_true(strncmp(buf, "HTTP/1.1 200", 12) == 0);
        close(fds[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_even_spread)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
