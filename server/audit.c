/* audit.c — best-effort audit entries after committed writes (see audit.h). */
#include "audit.h"
#include "store.h"

#include <stdio.h>

void audit_record(app *a, const principal *who, const char *action, const char *resource,
                  const char *detail_json)
{
    mlp_err e = store_audit_append(a->store, who, action, resource, detail_json);
    if (e != MLP_OK)
        fprintf(stderr, "mlpd: audit entry lost (%s): %s %s by %s %s\n", mlp_strerror(e), action,
                resource, who->name[0] ? who->name : "(anonymous)",
                detail_json ? detail_json : "{}");
}
