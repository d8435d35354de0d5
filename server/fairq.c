/* fairq.c — the fair-share order of queued runs (see fairq.h). A plain array kept in push order:
 * queues hold at most --max-queued-runs (default 100) plus the runs paused by a quota, so a
 * linear scan per pop costs nothing next to a run. */
#include "fairq.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fairq {
    fairq_item *v; /* push order */
    int n, cap;
    unsigned long long next_seq;
};

mlp_err fairq_new(fairq **out)
{
    fairq *q = calloc(1, sizeof *q);
    if (!q) return MLP_ENOMEM;
    *out = q;
    return MLP_OK;
}

void fairq_free(fairq *q)
{
    if (!q) return;
    free(q->v);
    free(q);
}

mlp_err fairq_push(fairq *q, const char *id, long long owner, int cls)
{
    assert(q && id && strlen(id) < sizeof q->v[0].id);
    assert(cls == FAIRQ_NORMAL || cls == FAIRQ_HIGH || cls == FAIRQ_RESUME);
    if (q->n == q->cap) {
        int ncap = q->cap ? q->cap * 2 : 64;
        fairq_item *v = realloc(q->v, (size_t)ncap * sizeof *v);
        if (!v) return MLP_ENOMEM;
        q->v = v;
        q->cap = ncap;
    }
    fairq_item *it = &q->v[q->n++];
    memset(it, 0, sizeof *it);
    snprintf(it->id, sizeof it->id, "%s", id);
    it->owner = owner;
    it->cls = cls;
    it->seq = q->next_seq++;
    return MLP_OK;
}

static void remove_at(fairq *q, int i)
{
    memmove(&q->v[i], &q->v[i + 1], (size_t)(q->n - i - 1) * sizeof q->v[0]);
    q->n--;
}

int fairq_remove(fairq *q, const char *id)
{
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->v[i].id, id) == 0) {
            remove_at(q, i);
            return 1;
        }
    return 0;
}

int fairq_len(const fairq *q)
{
    return q->n;
}

int fairq_owners(const fairq *q, long long *owners, int cap)
{
    int k = 0;
    for (int i = 0; i < q->n && k < cap; i++) {
        int seen = 0;
        for (int j = 0; j < k && !seen; j++) seen = owners[j] == q->v[i].owner;
        if (!seen) owners[k++] = q->v[i].owner;
    }
    return k;
}

static const fairq_usage *usage_of(const fairq_usage *u, int n_u, long long owner)
{
    for (int i = 0; i < n_u; i++)
        if (u[i].owner == owner) return &u[i];
    return NULL;
}

int fairq_pop(fairq *q, const fairq_usage *u, int n_u, fairq_item *out)
{
    static const fairq_usage idle = {0, 0.0, 0, 0};
    int best = -1;
    for (int i = 0; i < q->n; i++) {
        const fairq_usage *ui = usage_of(u, n_u, q->v[i].owner);
        if (!ui) ui = &idle;
        if (ui->blocked) continue;
        if (best < 0) {
            best = i;
            continue;
        }
        const fairq_item *a = &q->v[i], *b = &q->v[best];
        if (a->cls != b->cls) { /* RESUME > HIGH > NORMAL */
            if (a->cls > b->cls) best = i;
            continue;
        }
        if (a->cls != FAIRQ_NORMAL || a->owner == b->owner) continue; /* FIFO: b is older */
        const fairq_usage *ub = usage_of(u, n_u, b->owner);
        if (!ub) ub = &idle;
        if (ui->used_s < ub->used_s || (ui->used_s == ub->used_s && ui->running < ub->running))
            best = i;
    }
    if (best < 0) return 0;
    *out = q->v[best];
    remove_at(q, best);
    return 1;
}
