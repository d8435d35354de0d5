/* audit.h — the audit log of class mode: who changed what, appended after each write.
 *
 * audit_record is BEST EFFORT and NOT in the write's transaction: call it right after the write
 * committed (and before answering). If the append fails (disk full, database busy past its
 * timeout) the write still stands and the failure is logged to stderr with the entry it lost,
 * so a 2xx answer means the write is durable, not that its audit entry is. Entries are rows of
 * the append-only table audit (migration 0004), listed by GET /api/v1/audit.
 *
 * Actions are "<resource kind>.<verb>" ("user.create", "key.revoke", "dataset.delete", ...);
 * resource is a path below /api/v1 ("users/ann", "users/ann/keys/3", "datasets/ds_4"); detail
 * is a JSON object as text (NULL for {}), never a secret (a key is named by its id and prefix).
 *
 * Owns: nothing. Borrows: the app's store. Threading: any thread. */
#ifndef AUDIT_H
#define AUDIT_H

#include "app.h"
#include "user.h"

/* Appends one entry by `who` (borrowed); strings borrowed. Logs (never returns) a failure. */
void audit_record(app *a, const principal *who, const char *action, const char *resource,
                  const char *detail_json);

#endif
