/* user.h — who is calling: the roles of class mode and the principal a request acts as.
 * A leaf of domain words shared by the HTTP layer (which resolves a key to a principal), the
 * store (which records owners) and the handlers (which decide what a principal may see and
 * change); it owns nothing.
 *
 * Roles: admin (the teacher: everything), staff (teaching assistants: train, and read
 * everything), student (their own resources and what the class shares). ROLE_NONE is an
 * anonymous caller (only where --public-predict lets one in).
 *
 * Threading: values only; every function is reentrant. */
#ifndef USER_H
#define USER_H

#include "mlp.h"

/* Ordered: a larger role may do what a smaller one may. */
typedef enum { ROLE_NONE = 0, ROLE_STUDENT, ROLE_STAFF, ROLE_ADMIN } user_role;

/* The user id of the bootstrap admin "admin" (migration 0003): keys from --api-key and
 * MLPD_API_KEYS act as it, and so does every caller of a server with no key configured. */
#define USER_BOOTSTRAP_ID 1LL
#define USER_NAME_MAX     64

typedef struct principal {
    long long id; /* users.id; 0 for an anonymous caller */
    user_role role;
    char name[USER_NAME_MAX + 1]; /* "" for an anonymous caller */
} principal;

/* "admin", "staff", "student" ("none" for ROLE_NONE). */
const char *user_role_name(user_role r);
/* The inverse, for the three stored roles; MLP_EINVAL for anything else (ROLE_NONE included). */
mlp_err user_role_parse(const char *s, user_role *out);
/* The bootstrap admin, and the anonymous caller. */
principal user_bootstrap(void);
principal user_anonymous(void);

#endif
