/* app.h — the services one daemon runs, handed to every request handler (req->app).
 *
 * Owns: nothing itself; main.c creates and destroys each service in order.
 * Threading: the pointers are set before the HTTP daemon starts and never change; each
 * service documents its own thread safety. */
#ifndef APP_H
#define APP_H

#include <stdatomic.h>
#include <stddef.h>

struct config;
struct store;
struct jobs;
struct registry;
struct events;
struct sched;
struct quota;
struct users;
struct batcher;

typedef struct app {
    const struct config *cfg;
    struct store *store;
    struct jobs *jobs;
    struct registry *reg;
    struct events *events;    /* live run events (server/events.h) */
    struct sched *sched;      /* the CPU policy: inference first (server/cpusched.h) */
    struct quota *quota;      /* per-user limits and usage (server/quota.h) */
    struct users *users;      /* class-mode API keys and their cache (server/users.h) */
    struct batcher *batch;    /* small requests on large models (server/batcher.h); NULL = off */
    atomic_int shutting_down; /* 1 after SIGTERM/SIGINT: new work gets 503 */
    double started;           /* monotonic seconds at start */
} app;

#endif
