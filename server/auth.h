/* auth.h — API keys, scopes and who a request acts as (API.md, Security; README, Class mode).
 * Two kinds of key. Flag keys come from --api-key KEY:SCOPE and MLPD_API_KEYS
 * ("k1:admin,k2:predict"); only their SHA-256 digests are kept, and a presented key is hashed
 * and compared with every flag digest in constant time (CRYPTO_memcmp), so neither the answer's
 * timing nor memory reveals a key; a flag key acts as the bootstrap admin (user.h). Class-mode
 * keys belong to users in the database (server/users.h resolves them, through its cache); their
 * scope follows the user's role (auth_role_scope). A presented key is tried as a flag key first,
 * then as a user's key. Scopes: admin > train > predict; the route table (api/routes.def) gives
 * each route the scope it needs, and server/http.c asks auth_decide_who once per request, right
 * after the route match; finer rules (whose resource it is) are the handlers'.
 *
 * Owns: the flag digest table. Borrows: the users service. Threading: the table is built once in
 * main before the HTTP daemon starts, then read-only; every function is reentrant. */
#ifndef AUTH_H
#define AUTH_H

#include "mlp.h"
#include "router.h"
#include "user.h"

#include <stddef.h>

typedef struct auth_keys auth_keys;

/* Parses a comma-separated "KEY:SCOPE,KEY:SCOPE" list (the last ':' splits; KEY is 8..256 bytes
 * of printable ASCII without spaces or ','; SCOPE is admin, train or predict) into *out (new).
 * An empty or NULL list gives a table with no keys (the server is open). list is wiped
 * (overwritten with zeros) before returning, whatever the outcome, so the plain keys do not
 * linger in memory. MLP_EINVAL with detail naming the entry (never the key) on a bad entry. */
mlp_err auth_keys_new(char *list, auth_keys **out, mlp_error *err);
/* NULL-tolerant. */
void auth_keys_free(auth_keys *k);
/* Keys configured (0 for NULL). */
size_t auth_keys_count(const auth_keys *k);

/* Scope of a presented key, or SCOPE_NONE when it matches no key; *index (may be NULL) gets the
 * key's position (stable for the process: used as the rate-limit bucket of keyed callers). Every
 * stored digest is compared, in constant time. */
route_scope auth_lookup(const auth_keys *k, const char *key, size_t len, int *index);

/* The access decision for one request to a route needing `need`. presented is the key from
 * "Authorization: Bearer" (or an allowed ?access_token=), plen bytes, NULL when none. Returns 0
 * (allowed), 401 (no key / unknown key) or 403 (scope too small), with *detail a static sentence
 * for the error body and *index the matched key (-1 for anonymous callers). With no key configured
 * every request is allowed; with public_predict anonymous callers may use SCOPE_PREDICT routes. A
 * presented but unknown key is 401 even where anonymous use is allowed. */
int auth_decide(const auth_keys *k, int public_predict, route_scope need, const char *presented,
                size_t plen, int *index, const char **detail);

struct users;
/* The scope a user's key has: admin -> SCOPE_ADMIN; staff and student -> SCOPE_TRAIN;
 * ROLE_NONE -> SCOPE_NONE. */
route_scope auth_role_scope(user_role r);

/* auth_decide, with who the request acts as in *who: a flag key, and every caller of a server
 * with no flag key, act as the bootstrap admin; a user's key (resolved through u, which may be
 * NULL for none) acts as that user, with auth_role_scope's scope, also on a server with no flag
 * key; an anonymous caller (let in by public_predict or a SCOPE_NONE route) is
 * user_anonymous(). On refusal *who is user_anonymous(). */
int auth_decide_who(const auth_keys *k, struct users *u, int public_predict, route_scope need,
                    const char *presented, size_t plen, int *index, principal *who,
                    const char **detail);

/* The key in an "Authorization" header value: the token after "Bearer " (case-insensitive
 * scheme, surrounding blanks skipped), with its length; NULL when the header is not Bearer. */
const char *auth_bearer(const char *header, size_t *len);

#endif
