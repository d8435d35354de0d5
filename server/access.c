/* access.c — the rules of class mode (see access.h). */
#include "access.h"

#include <assert.h>
#include <string.h>

const char *access_vis_name(visibility v)
{
    switch (v) {
    case VIS_PUBLIC:
        return "public";
    case VIS_CLASS:
        return "class";
    case VIS_PRIVATE:
        break;
    }
    return "private";
}

mlp_err access_vis_parse(const char *s, visibility *out)
{
    static const visibility all[] = {VIS_PRIVATE, VIS_CLASS, VIS_PUBLIC};
    if (!s) return MLP_EINVAL;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, access_vis_name(all[i])) == 0) {
            *out = all[i];
            return MLP_OK;
        }
    return MLP_EINVAL;
}

visibility access_default_vis(user_role creator)
{
    return creator >= ROLE_STAFF ? VIS_CLASS : VIS_PRIVATE;
}

int access_sees_all(const principal *who)
{
    assert(who);
    return who->role >= ROLE_STAFF;
}

static int owns(const principal *who, long long owner_id)
{
    return who->role >= ROLE_STUDENT && who->id == owner_id;
}

access_verdict access_see(const principal *who, long long owner_id, visibility v)
{
    assert(who);
    if (access_sees_all(who) || owns(who, owner_id) || v == VIS_PUBLIC) return ACCESS_OK;
    if (v == VIS_CLASS && who->role >= ROLE_STUDENT) return ACCESS_OK;
    return ACCESS_HIDDEN;
}

access_verdict access_change(const principal *who, long long owner_id, visibility v)
{
    access_verdict s = access_see(who, owner_id, v);
    if (s != ACCESS_OK) return s;
    return access_sees_all(who) || owns(who, owner_id) ? ACCESS_OK : ACCESS_DENIED;
}

access_verdict access_rows(const principal *who, long long owner_id, visibility v, int rows_visible)
{
    access_verdict c = access_change(who, owner_id, v);
    return c == ACCESS_DENIED && rows_visible ? ACCESS_OK : c;
}

access_verdict access_run(const principal *who, long long run_owner, int has_model,
                          long long model_owner, visibility model_vis, int change)
{
    assert(who);
    if (access_sees_all(who) || owns(who, run_owner)) return ACCESS_OK;
    int seen =
        has_model && model_vis >= VIS_CLASS && access_see(who, model_owner, model_vis) == ACCESS_OK;
    if (!seen) return ACCESS_HIDDEN;
    return change ? ACCESS_DENIED : ACCESS_OK;
}

access_verdict access_sweep(const principal *who, long long sweep_owner)
{
    assert(who);
    return access_sees_all(who) || owns(who, sweep_owner) ? ACCESS_OK : ACCESS_HIDDEN;
}

access_verdict access_role(const principal *who, user_role min)
{
    assert(who);
    return who->role >= min ? ACCESS_OK : ACCESS_DENIED;
}
