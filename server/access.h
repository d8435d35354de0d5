/* access.h — the ownership and visibility rules of class mode, in one place: who may see a
 * dataset, run or model, who may change it, and who may read a dataset's raw rows.
 *
 * Every resource has an owner (users.id, the user whose key created it). Datasets and models
 * also have a visibility: private (owner, staff, admin), class (any user) or public (also an
 * anonymous caller, who only gets this far where --public-predict lets one in). Changing
 * (publishing versions, moving aliases, deleting, PATCH) is for the owner, staff and admin.
 * A dataset's raw rows are for the owner, staff and admin, or anyone who sees it when
 * rows_visible. A run is seen by its owner, staff and admin, and by whoever sees the model the
 * run publishes to when that model is class or public. A sweep has no visibility: it is seen
 * and changed by its owner, staff and admin only (its runs keep the rules of runs).
 *
 * Verdicts keep "may not see" (404: existence is not leaked) apart from "sees but may not"
 * (403). The SQL list filters of the store (store_*_list_for) state the same rules and are
 * tested against these functions (tests/server/test_access.c).
 *
 * Owns: nothing. Threading: pure functions; reentrant. */
#ifndef ACCESS_H
#define ACCESS_H

#include "mlp.h"
#include "user.h"

/* Ordered: each level shows the resource to more callers. */
typedef enum { VIS_PRIVATE = 0, VIS_CLASS, VIS_PUBLIC } visibility;

typedef enum {
    ACCESS_OK = 0, /* allowed */
    ACCESS_HIDDEN, /* the caller may not see it: answer 404 as if it did not exist */
    ACCESS_DENIED  /* the caller sees it but may not do this: 403 */
} access_verdict;

/* "private", "class", "public". */
const char *access_vis_name(visibility v);
/* The inverse; MLP_EINVAL for anything else (NULL included). */
mlp_err access_vis_parse(const char *s, visibility *out);
/* The visibility of what a user of role `creator` creates: private for students, class for
 * staff and admin. */
visibility access_default_vis(user_role creator);

/* 1 for staff and admin, who see and change everything. */
int access_sees_all(const principal *who);
/* OK, or HIDDEN: the owner, staff, admin; anyone signed in for class; anyone for public. */
access_verdict access_see(const principal *who, long long owner_id, visibility v);
/* OK; HIDDEN when the caller may not see it; DENIED when it may see but is not the owner,
 * staff or admin. */
access_verdict access_change(const principal *who, long long owner_id, visibility v);
/* Raw rows of a dataset: OK; HIDDEN as access_see; DENIED when seen but neither changeable by
 * the caller nor rows_visible. */
access_verdict access_rows(const principal *who, long long owner_id, visibility v,
                           int rows_visible);
/* A run (owner run_owner) that publishes to a model: has_model 0 when no model of that name
 * exists, else its owner and visibility. change: 0 to read it, 1 to cancel or delete it
 * (owner, staff, admin only). */
access_verdict access_run(const principal *who, long long run_owner, int has_model,
                          long long model_owner, visibility model_vis, int change);
/* A sweep owned by sweep_owner: OK for its owner, staff and admin (to read it, delete it or
 * promote its best run), HIDDEN for everyone else. */
access_verdict access_sweep(const principal *who, long long sweep_owner);
/* OK when who's role is at least min; a caller with no role (anonymous) is HIDDEN from
 * nothing but still refused: DENIED. */
access_verdict access_role(const principal *who, user_role min);

#endif
