/* test_events.c — the event hub (server/events.h) against the id scheme it promises: a
 * subscriber that joins late gets exactly the ids, kinds and data a live subscriber got; a replay
 * built from the store with the same functions (as api/events.c builds it) agrees with both; a
 * state published twice is sent once. And the one metrics renderer: the SSE epoch event and the
 * run object of GET /api/v1/runs/{id} (api/runs.c run_json) print the same digits for awkward
 * values, digits that read back to the same double. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "events.h"
#include "runs.h"
#include "store.h"
#include "tmpdir.h"

#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int wakes;

static void on_wake(void *ctx, int why)
{
    (void)ctx;
    if (why & EV_WAKE_EVENT) atomic_fetch_add(&wakes, 1);
}

typedef struct {
    char dir[64];
    store *st;
    events *h;
    char run[24];
} fixture;

static const double awkward[3][2] = {{0.1, 1.0 / 3.0}, {1e-7, 2.0 / 3.0}, {0.1 + 0.2, 1e-300}};

static void setup(fixture *f)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/mlpd-events-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(store_open(f->dir, &f->st, &err), MLP_OK);
    assert_int_equal(events_new(0, &f->h), MLP_OK);
    /* a dataset for the run to name */
    ds_builder *b = NULL;
    ds_table *t = NULL;
    const char *names[] = {"x", "y"};
    assert_int_equal(ds_builder_new(0, &b), MLP_OK);
    assert_int_equal(ds_builder_set_columns(b, 2, names, &err), MLP_OK);
    float row[2] = {1, 0};
    assert_int_equal(ds_builder_add_row(b, 2, row, &err), MLP_OK);
    assert_int_equal(ds_builder_finish(b, &t, &err), MLP_OK);
    store_dataset d;
    memset(&d, 0, sizeof d);
    assert_int_equal(store_dataset_create(f->st, "ev", t, &d, &err), MLP_OK);
    ds_table_free(t);
    ds_builder_free(b);
    store_run r;
    memset(&r, 0, sizeof r);
    snprintf(r.task, sizeof r.task, "regression");
    snprintf(r.dataset_id, sizeof r.dataset_id, "%s", d.id);
    snprintf(r.model_name, sizeof r.model_name, "ev");
    r.request_json = "{\"params\": {\"learning_rate\": 0.05}, \"target\": \"y\", "
                     "\"features\": null, \"validation\": {\"fraction\": 0}}";
    r.epochs = 3;
    r.owner_id = 1;
    assert_int_equal(store_run_create(f->st, &r, &err), MLP_OK);
    r.request_json = NULL;
    snprintf(f->run, sizeof f->run, "%s", r.id);
    store_run_clear(&r);
}

static void teardown(fixture *f)
{
    events_free(f->h);
    store_close(f->st);
    tmpdir_remove(f->dir);
}

static run_metrics metrics_of(int epoch)
{
    run_metrics m;
    memset(&m, 0, sizeof m);
    m.v[MET_TRAIN_LOSS] = awkward[epoch - 1][0];
    m.v[MET_VAL_LOSS] = awkward[epoch - 1][1];
    m.present = 1u << MET_TRAIN_LOSS | 1u << MET_VAL_LOSS;
    return m;
}

/* Epoch `epoch` as a worker records it: the store first, then the hub. */
static void epoch_done(fixture *f, int epoch)
{
    run_metrics m = metrics_of(epoch);
    assert_int_equal(store_run_epoch(f->st, f->run, epoch, &m, "ck", 2), MLP_OK);
    events_publish_epoch(f->h, f->run, epoch, &m);
}

static void assert_same(const ev_item *a, int na, const ev_item *b, int nb)
{
    assert_int_equal(na, nb);
    for (int i = 0; i < na; i++) {
        assert_int_equal(a[i].seq, b[i].seq);
        assert_int_equal(a[i].kind, b[i].kind);
        assert_string_equal(a[i].data, b[i].data);
    }
}

static void late_and_live_agree(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    events_sub *live = NULL, *late = NULL;
    assert_int_equal(events_subscribe(f.h, f.run, on_wake, NULL, &live), MLP_OK);
    events_publish_status(f.h, f.st, f.run); /* queued */
    assert_int_equal(store_run_start(f.st, f.run), MLP_OK);
    events_publish_status(f.h, f.st, f.run); /* running */
    events_publish_status(f.h, f.st, f.run); /* the same state again: not sent twice */
    epoch_done(&f, 1);
    epoch_done(&f, 2);
    assert_int_equal(events_subscribe(f.h, f.run, on_wake, NULL, &late), MLP_OK);
    epoch_done(&f, 3);
    assert_int_equal(store_run_cancel(f.st, f.run), MLP_OK);
    events_publish_status(f.h, f.st, f.run); /* cancelled, then done */
    events_publish_status(f.h, f.st, f.run); /* again: nothing new */

    ev_item a[16], b[16];
    int gap = -1;
    int na = events_fetch(f.h, live, 0, a, 16, &gap);
    assert_int_equal(gap, 0);
    int nb = events_fetch(f.h, late, 0, b, 16, &gap);
    assert_int_equal(gap, 0);
    /* 1 queued, 2 running, 3..5 epochs 1..3, 6 = 3 + E final, 7 = 4 + E done */
    assert_int_equal(na, 7);
    long want_seq[] = {1, 2, 3, 4, 5, 6, 7};
    ev_kind want_kind[] = {EV_STATUS, EV_STATUS, EV_EPOCH, EV_EPOCH, EV_EPOCH, EV_STATUS, EV_DONE};
    for (int i = 0; i < na; i++) {
        assert_int_equal(a[i].seq, want_seq[i]);
        assert_int_equal(a[i].kind, want_kind[i]);
    }
    assert_same(a, na, b, nb);
    /* fetched in steps, after each id, a live cursor gets the same sequence */
    ev_item c[16];
    int nc = 0;
    for (long after = 0; nc < 16;) {
        int k = events_fetch(f.h, live, after, c + nc, 1, &gap);
        if (k == 0) break;
        after = c[nc].seq;
        nc += k;
    }
    assert_same(a, na, c, nc);

    /* A replay from the store, with the hub's own functions, as api/events.c replays. */
    store_run r;
    memset(&r, 0, sizeof r);
    assert_int_equal(store_run_get(f.st, f.run, &r), MLP_OK);
    char data[512];
    assert_true(events_status_json(data, sizeof data, r.id, RUN_QUEUED) > 0);
    assert_string_equal(a[0].data, data);
    assert_true(events_status_json(data, sizeof data, r.id, RUN_RUNNING) > 0);
    assert_string_equal(a[1].data, data);
    for (int e = 1; e <= r.epoch; e++) {
        run_metrics m = metrics_of(e);
        assert_true(events_epoch_json(data, sizeof data, e, &m) > 0);
        assert_int_equal(a[1 + e].seq, events_seq_epoch(e));
        assert_string_equal(a[1 + e].data, data);
    }
    assert_int_equal(a[5].seq, events_seq_final(r.epoch));
    assert_true(events_status_json(data, sizeof data, r.id, r.status) > 0);
    assert_string_equal(a[5].data, data);
    assert_int_equal(a[6].seq, events_seq_done(r.epoch));
    store_run_clear(&r);

    events_items_clear(a, na);
    events_items_clear(b, nb);
    events_items_clear(c, nc);
    events_unsubscribe(f.h, live);
    events_unsubscribe(f.h, late);
    teardown(&f);
}

/* The digits after "key": in s, up to the next ',' or '}'. */
static void number_after(const char *s, const char *key, char *out, size_t cap)
{
    const char *p = strstr(s, key);
    assert_non_null(p);
    p += strlen(key);
    size_t n = strcspn(p, ",}");
    assert_true(n < cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

static void sse_and_get_print_the_same_digits(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    assert_int_equal(store_run_start(f.st, f.run), MLP_OK);
    for (int e = 1; e <= 3; e++) {
        run_metrics m = metrics_of(e);
        assert_int_equal(store_run_epoch(f.st, f.run, e, &m, "ck", 2), MLP_OK);
        store_run r;
        memset(&r, 0, sizeof r);
        assert_int_equal(store_run_get(f.st, f.run, &r), MLP_OK);
        char *get = run_json(&r); /* GET /api/v1/runs/{id} */
        assert_non_null(get);
        char sse[512], mj[512];
        assert_true(events_epoch_json(sse, sizeof sse, e, &m) > 0);
        assert_true(events_metrics_json(mj, sizeof mj, &r.last) > 0);
        /* the run object's metrics are the renderer's text, the epoch event its members */
        char want[600];
        snprintf(want, sizeof want, "\"metrics\":%s", mj);
        assert_non_null(strstr(get, want));
        snprintf(want, sizeof want, "{\"epoch\":%d,%s", e, mj + 1);
        assert_string_equal(sse, want);
        const char *keys[] = {"\"train_loss\":", "\"val_loss\":"};
        for (int k = 0; k < 2; k++) {
            char x[64], y[64];
            number_after(sse, keys[k], x, sizeof x);
            number_after(strstr(get, "\"metrics\":"), keys[k], y, sizeof y);
            assert_string_equal(x, y);
            assert_true(strtod(x, NULL) == awkward[e - 1][k]); /* round-trips the double */
        }
        free(get);
        store_run_clear(&r);
    }
    /* the fewest digits that round-trip: 0.41 stays 0.41, 1/3 needs 16, 0.1+0.2 needs 17 */
    const struct {
        double v;
        const char *text;
    } shortest[] = {{0.41, "0.41"},
                    {1.0 / 3, "0.3333333333333333"},
                    {0.1 + 0.2, "0.30000000000000004"},
                    {1e-7, "1e-07"},
                    {2.5, "2.5"}};
    for (size_t i = 0; i < sizeof shortest / sizeof *shortest; i++) {
        char num[40];
        assert_int_equal(events_metric_number(num, sizeof num, shortest[i].v),
                         strlen(shortest[i].text));
        assert_string_equal(num, shortest[i].text);
    }
    run_metrics none;
    memset(&none, 0, sizeof none);
    char mj[8];
    assert_int_equal(events_metrics_json(mj, sizeof mj, &none), 2);
    assert_string_equal(mj, "{}");
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(late_and_live_agree),
        cmocka_unit_test(sse_and_get_print_the_same_digits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
