/* user.c — role names and the two built-in principals (see user.h). */
#include "user.h"

#include <string.h>

const char *user_role_name(user_role r)
{
    switch (r) {
    case ROLE_ADMIN:
        return "admin";
    case ROLE_STAFF:
        return "staff";
    case ROLE_STUDENT:
        return "student";
    case ROLE_NONE:
        break;
    }
    return "none";
}

mlp_err user_role_parse(const char *s, user_role *out)
{
    static const user_role roles[] = {ROLE_ADMIN, ROLE_STAFF, ROLE_STUDENT};
    if (!s) return MLP_EINVAL;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(s, user_role_name(roles[i])) == 0) {
            *out = roles[i];
            return MLP_OK;
        }
    return MLP_EINVAL;
}

principal user_bootstrap(void)
{
    principal p = {.id = USER_BOOTSTRAP_ID, .role = ROLE_ADMIN, .name = "admin"};
    return p;
}

principal user_anonymous(void)
{
    principal p = {.id = 0, .role = ROLE_NONE, .name = ""};
    return p;
}
