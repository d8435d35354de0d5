/* audit.c — best-effort audit entries after committed writes (see audit.h). */
#include "audit.h"

#include <stdio.h>
#include <string.h>

static void append(store *s, const principal *who, const char *action, const char *resource,
                   const char *detail_json)
{
    mlp_err e = store_audit_append(s, who, action, resource, detail_json);
    if (e != MLP_OK)
        fprintf(stderr, "mlpd: audit entry lost (%s): %s %s by %s (user %lld) %s\n",
                mlp_strerror(e), action, resource, who->name[0] ? who->name : "(anonymous)",
                who->id, detail_json ? detail_json : "{}");
}

void audit_record(app *a, const principal *who, const char *action, const char *resource,
                  const char *detail_json)
{
    append(a->store, who, action, resource, detail_json);
}

/* An entry by user user_id, whose name is read from the store. */
static void record_by(store *s, long long user_id, const char *action, const char *resource,
                      const char *detail_json)
{
    principal who;
    memset(&who, 0, sizeof who);
    who.id = user_id;
    store_user u;
    if (store_user_get_id(s, user_id, &u) == MLP_OK) {
        who.role = u.role;
        snprintf(who.name, sizeof who.name, "%s", u.name);
    }
    append(s, &who, action, resource, detail_json);
}

void audit_publish(store *s, long long owner_id, const char *run_id, const char *model, int version)
{
    char res[96], detail[96];
    snprintf(res, sizeof res, "models/%s", model);
    /* run ids are the store's own ("run_12"): nothing in them needs escaping */
    snprintf(detail, sizeof detail, "{\"version\":%d,\"run_id\":\"%s\"}", version, run_id);
    record_by(s, owner_id, "model.publish", res, detail);
}
