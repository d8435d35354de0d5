/* auth.c — API key digests, constant-time lookup and the access decision (see auth.h). */
#include "auth.h"
#include "users.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AUTH_MAX_KEYS  256
#define AUTH_KEY_MIN   8
#define AUTH_KEY_MAX   256
#define AUTH_DIGEST_SZ 32

typedef struct {
    unsigned char digest[AUTH_DIGEST_SZ]; /* SHA-256 of the key */
    route_scope scope;
} auth_key;

struct auth_keys {
    auth_key *keys; /* n entries, owned */
    size_t n;
};

/* SHA-256 of s[0..len) into out. 0 ok. */
static int sha256(const void *s, size_t len, unsigned char out[AUTH_DIGEST_SZ])
{
    unsigned int olen = 0;
    if (EVP_Digest(s, len, out, &olen, EVP_sha256(), NULL) != 1 || olen != AUTH_DIGEST_SZ)
        return -1;
    return 0;
}

/* "admin" -> SCOPE_ADMIN, "train" -> SCOPE_TRAIN, "predict" -> SCOPE_PREDICT (any case); 0, or
 * -1 for anything else. */
static int scope_parse(const char *s, size_t len, route_scope *out)
{
    static const struct {
        const char *name;
        route_scope scope;
    } names[] = {{"admin", SCOPE_ADMIN}, {"train", SCOPE_TRAIN}, {"predict", SCOPE_PREDICT}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && strncasecmp(s, names[i].name, len) == 0) {
            *out = names[i].scope;
            return 0;
        }
    return -1;
}

static int key_char_ok(unsigned char c)
{
    return c > ' ' && c < 0x7f && c != ',';
}

mlp_err auth_keys_new(char *list, auth_keys **out, mlp_error *err)
{
    mlp_err rc = MLP_OK;
    size_t total = list ? strlen(list) : 0;
    auth_keys *k = calloc(1, sizeof *k);
    if (!k) {
        rc = mlp_fail(err, MLP_ENOMEM, "out of memory for the API key table");
        goto out;
    }
    size_t entry = 0;
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        entry++;
        if (n == 0) { /* tolerate "a:admin,,b:train" and a trailing ',' */
            p += end ? 1 : 0;
            if (!end) break;
            continue;
        }
        const char *colon = NULL;
        for (size_t i = 0; i < n; i++)
            if (p[i] == ':') colon = p + i;
        route_scope scope;
        size_t klen = colon ? (size_t)(colon - p) : 0;
        if (!colon || scope_parse(colon + 1, n - klen - 1, &scope) != 0) {
            rc = mlp_fail(err, MLP_EINVAL,
                          "API key entry %zu is not KEY:SCOPE with SCOPE one of admin, train, "
                          "predict",
                          entry);
            goto out;
        }
        if (klen < AUTH_KEY_MIN || klen > AUTH_KEY_MAX) {
            rc = mlp_fail(err, MLP_EINVAL, "API key entry %zu: a key has %d to %d characters",
                          entry, AUTH_KEY_MIN, AUTH_KEY_MAX);
            goto out;
        }
        for (size_t i = 0; i < klen; i++)
            if (!key_char_ok((unsigned char)p[i])) {
                rc = mlp_fail(err, MLP_EINVAL,
                              "API key entry %zu: a key is printable ASCII without spaces or ','",
                              entry);
                goto out;
            }
        if (k->n == AUTH_MAX_KEYS) {
            rc = mlp_fail(err, MLP_EINVAL, "more than %d API keys", AUTH_MAX_KEYS);
            goto out;
        }
        if (!k->keys && !(k->keys = calloc(AUTH_MAX_KEYS, sizeof *k->keys))) {
            rc = mlp_fail(err, MLP_ENOMEM, "out of memory for the API key table");
            goto out;
        }
        auth_key *dst = &k->keys[k->n];
        if (sha256(p, klen, dst->digest) != 0) {
            rc = mlp_fail(err, MLP_EIO, "SHA-256 failed (libcrypto)");
            goto out;
        }
        for (size_t i = 0; i < k->n; i++)
            if (CRYPTO_memcmp(k->keys[i].digest, dst->digest, AUTH_DIGEST_SZ) == 0) {
                rc = mlp_fail(err, MLP_EINVAL, "API key entry %zu repeats an earlier key", entry);
                goto out;
            }
        dst->scope = scope;
        k->n++;
        if (!end) break;
        p = end + 1;
    }
out:
    if (list) OPENSSL_cleanse(list, total);
    if (rc) {
        auth_keys_free(k);
        k = NULL;
    }
    *out = k;
    return rc;
}

void auth_keys_free(auth_keys *k)
{
    if (!k) return;
    if (k->keys) OPENSSL_cleanse(k->keys, AUTH_MAX_KEYS * sizeof *k->keys);
    free(k->keys);
    free(k);
}

size_t auth_keys_count(const auth_keys *k)
{
    return k ? k->n : 0;
}

route_scope auth_lookup(const auth_keys *k, const char *key, size_t len, int *index)
{
    if (index) *index = -1;
    if (!k || !k->n || !key || len == 0 || len > AUTH_KEY_MAX) return SCOPE_NONE;
    unsigned char d[AUTH_DIGEST_SZ];
    if (sha256(key, len, d) != 0) return SCOPE_NONE;
    route_scope found = SCOPE_NONE;
    int at = -1;
    /* No early exit: every digest is compared whichever one matches. */
    for (size_t i = 0; i < k->n; i++) {
        int eq = CRYPTO_memcmp(k->keys[i].digest, d, AUTH_DIGEST_SZ) == 0;
        if (eq) {
            found = k->keys[i].scope;
            at = (int)i;
        }
    }
    if (index) *index = at;
    return found;
}

const char *auth_bearer(const char *header, size_t *len)
{
    if (!header) return NULL;
    while (*header == ' ' || *header == '\t') header++;
    if (strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
        return NULL;
    const char *v = header + 7;
    while (*v == ' ' || *v == '\t') v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    if (!n) return NULL;
    *len = n;
    return v;
}

route_scope auth_role_scope(user_role r)
{
    switch (r) {
    case ROLE_ADMIN:
        return SCOPE_ADMIN;
    case ROLE_STAFF:
    case ROLE_STUDENT:
        return SCOPE_TRAIN;
    case ROLE_NONE:
        break;
    }
    return SCOPE_NONE;
}

/* The 401 sentence for a request with no key to a route needing `need`. */
static const char *no_key_detail(route_scope need)
{
    return need <= SCOPE_PREDICT ? "this route needs an API key (Authorization: Bearer <key>) "
                                   "with scope predict or higher"
           : need == SCOPE_TRAIN
               ? "this route needs an API key (Authorization: Bearer <key>) with scope "
                 "train or admin"
               : "this route needs an API key (Authorization: Bearer <key>) with scope admin";
}

/* The 403 sentence for a key of scope `have` (user's role `role`, ROLE_NONE for a flag key). */
static const char *too_small_detail(route_scope need, user_role role)
{
    if (role == ROLE_STUDENT)
        return need == SCOPE_ADMIN ? "this route needs the admin role; the API key belongs to a "
                                     "student"
                                   : "the API key's role (student) may not use this route";
    if (role == ROLE_STAFF)
        return need == SCOPE_ADMIN ? "this route needs the admin role; the API key belongs to "
                                     "staff"
                                   : "the API key's role (staff) may not use this route";
    return need == SCOPE_ADMIN   ? "this API key's scope is too small: the route needs admin"
           : need == SCOPE_TRAIN ? "this API key's scope is too small: the route needs train or "
                                   "admin"
                                 : "this API key's scope is too small";
}

int auth_decide_who(const auth_keys *k, struct users *u, int public_predict, route_scope need,
                    const char *presented, size_t plen, int *index, principal *who,
                    const char **detail)
{
    *index = -1;
    *detail = "";
    *who = user_anonymous();
    int open = auth_keys_count(k) == 0;
    principal p;
    if (need == SCOPE_NONE) {
        if (open) *who = user_bootstrap();
        return 0;
    }
    if (!presented) {
        if (open) {
            *who = user_bootstrap();
            return 0;
        }
        if (public_predict && need <= SCOPE_PREDICT) return 0;
        *detail = no_key_detail(need);
        return 401;
    }
    route_scope have = open ? SCOPE_NONE : auth_lookup(k, presented, plen, index);
    user_role role = ROLE_NONE;
    if (have != SCOPE_NONE) {
        p = user_bootstrap();
    } else if (users_resolve(u, presented, plen, &p)) {
        role = p.role;
        have = auth_role_scope(role);
    } else if (open) {
        /* A server with no flag key lets every caller in as the bootstrap admin. */
        *who = user_bootstrap();
        return 0;
    } else {
        *detail = "the API key is not valid";
        return 401;
    }
    if (have < need) {
        *detail = too_small_detail(need, role);
        return 403;
    }
    *who = p;
    return 0;
}

int auth_decide(const auth_keys *k, int public_predict, route_scope need, const char *presented,
                size_t plen, int *index, const char **detail)
{
    principal who;
    return auth_decide_who(k, NULL, public_predict, need, presented, plen, index, &who, detail);
}
