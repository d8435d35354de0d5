/* audit.h — the audit log of class mode: who changed what, appended after each write.
 *
 * audit_record and audit_publish are BEST EFFORT and NOT in the write's transaction: call
 * them right after the write committed (and before answering). If the append fails (disk full,
 * database busy past its timeout) the write still stands and the failure is logged to stderr
 * with the entry it lost, so a 2xx answer means the write is durable, not that its audit entry
 * is. Entries are rows of the append-only table audit (migration 0004), listed by GET
 * /api/v1/audit.
 *
 * Actions are "<resource kind>.<verb>", one entry per successful write (a failed or refused
 * write records nothing, nor does a read):
 *   user.create user.update user.delete key.create key.revoke         (api/users.c)
 *   dataset.create dataset.update dataset.delete                        (api/datasets.c)
 *   run.create run.cancel run.delete                                    (api/runs.c)
 *   sweep.create sweep.delete sweep.promote                             (api/sweeps.c)
 *   model.import model.update version.delete alias.set alias.delete     (api/models.c)
 *   model.publish  (a run's version, by the run's owner, on the worker: server/jobs.c)
 * resource is a path below /api/v1 ("users/ann", "users/ann/keys/3", "datasets/ds_4",
 * "runs/run_5", "sweeps/swp_2", "models/iris": a version or alias is named in the detail);
 * detail is a JSON object as text (NULL for {}), never a secret (a key is named by its id and
 * prefix) and never a dataset's rows.
 *
 * Owns: nothing. Borrows: the app's store (or the store passed in). Threading: any thread. */
#ifndef AUDIT_H
#define AUDIT_H

#include "app.h"
#include "store.h"
#include "user.h"

/* Appends one entry by `who` (borrowed); strings borrowed. Logs (never returns) a failure. */
void audit_record(app *a, const principal *who, const char *action, const char *resource,
                  const char *detail_json);

/* Records model.publish on "models/<model>" with detail {"version": version, "run_id": run_id}:
 * run run_id of user owner_id published that version, on a job worker away from any request.
 * The actor is the run's owner, its name read from the store ("" when the user is gone by
 * then; the entry still carries the id). Strings borrowed; a failure is logged, as above. */
void audit_publish(store *s, long long owner_id, const char *run_id, const char *model,
                   int version);

#endif
