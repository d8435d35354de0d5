/* fairq.h — the order in which queued runs start: fair share between users, FIFO within one.
 *
 * The queue holds run ids, each with its owner (users.id) and a class: RESUME (a run a previous
 * process left running: it goes first, in the order pushed), HIGH (params.priority "high", for
 * staff and admin: ahead of the fair-share order, FIFO among themselves) or NORMAL. Among NORMAL
 * runs, the next to start is the oldest run of the owner with the fewest training seconds used
 * over the recent window (the caller measures it: jobs.c uses the usage ledger's last hour,
 * server/store.h "usage"), ties going to the owner with fewer runs training now, then to the
 * oldest run. An owner the caller marks blocked (a spent train-seconds quota) is skipped in every
 * class until unblocked.
 *
 * This module is pure bookkeeping, with no clock, store or threads, so that the policy can be
 * tested on its own (tests/server/test_fairq.c).
 *
 * Owns: its items. Threading: none; the caller (jobs.c) holds its mutex around every call. */
#ifndef FAIRQ_H
#define FAIRQ_H

#include "mlp.h"

enum { FAIRQ_NORMAL = 0, FAIRQ_HIGH = 1, FAIRQ_RESUME = 2 };

typedef struct {
    char id[24];            /* run id, "run_N" */
    long long owner;        /* users.id */
    int cls;                /* FAIRQ_* */
    unsigned long long seq; /* push order */
} fairq_item;

/* What the caller knows of one owner when choosing: training seconds over the fair-share window,
 * runs it trains now, and whether its runs must wait (quota). */
typedef struct {
    long long owner;
    double used_s;
    int running;
    int blocked;
} fairq_usage;

typedef struct fairq fairq;

/* *out new. */
mlp_err fairq_new(fairq **out);
/* NULL-tolerant. */
void fairq_free(fairq *q);
/* Appends run id (at most 23 bytes) of owner in class cls. MLP_ENOMEM. */
mlp_err fairq_push(fairq *q, const char *id, long long owner, int cls);
/* Removes run id; 1 when it was there, else 0. */
int fairq_remove(fairq *q, const char *id);
/* Items waiting, blocked or not. */
int fairq_len(const fairq *q);
/* The distinct owners with waiting items, at most cap of them, into owners[]; returns how many
 * were written. */
int fairq_owners(const fairq *q, long long *owners, int cap);
/* Pops the next run to start into *out given the owners' usage (an owner missing from u counts
 * as unused, unblocked and idle). 1 when one was popped, 0 when none is eligible (empty, or every
 * waiting owner blocked). */
int fairq_pop(fairq *q, const fairq_usage *u, int n_u, fairq_item *out);

#endif
