/* users.h — class mode's API keys: issuing them, and resolving a presented key to the user it
 * belongs to through a bounded in-memory cache in front of the store.
 *
 * Keys: 32 bytes from OpenSSL's RAND_bytes rendered as "mlpd_" + unpadded base64url (48
 * characters). Only their SHA-256 digest is stored (store.h api_keys); the key itself is shown
 * once, when issued. A key's listing prefix is its first USERS_KEY_PREFIX_LEN characters
 * ("mlpd_" and 8 of the random part).
 *
 * Resolution (users_resolve): a well-formed key is hashed, then looked up in the cache (digest ->
 * principal and key id), and on a miss in the store; a hit costs one SHA-256 and one mutex, no
 * database access. The cache is direct-mapped (USERS_CACHE_SLOTS entries, by digest), so its
 * size is bounded whatever the number of keys; a collision just evicts. Only valid keys are
 * cached. Every write that changes what a key resolves to (revoke, user delete, role change)
 * calls users_forget_key / users_forget_user after its commit, so a revoked key is refused on
 * its next request, without a restart. A generation counter, bumped by each forget, keeps a
 * lookup that read the store before a forget from caching the stale answer.
 * last_used_at is written at most once a minute per key (the cache remembers when), never once
 * per request.
 *
 * Owns: the cache. Borrows: the store (must outlive the users service).
 * Threading: every function may be called from any thread; the cache is guarded by one mutex
 * that is never held across a database call. */
#ifndef USERS_H
#define USERS_H

#include "mlp.h"
#include "store.h"
#include "user.h"

#include <stddef.h>

#define USERS_KEY_RAW        32
#define USERS_KEY_LEN        48 /* "mlpd_" + 43 base64url characters */
#define USERS_KEY_PREFIX_LEN 13
#define USERS_CACHE_SLOTS    1024
#define USERS_TOUCH_EVERY_S  60 /* last_used_at granularity */

typedef struct users users;

/* A service over s (borrowed). *out new. MLP_ENOMEM. */
mlp_err users_new(store *s, users **out);
/* NULL-tolerant. */
void users_free(users *u);

/* Renders raw key bytes as "mlpd_<base64url>" into out (USERS_KEY_LEN + 1 bytes, NUL-ended). */
void users_key_render(const unsigned char raw[USERS_KEY_RAW], char out[USERS_KEY_LEN + 1]);
/* 1 when key[0..len) has the shape users_key_render gives (prefix, length, alphabet, and a last
 * character that encodes no stray bits), else 0: anything else is never looked up. */
int users_key_parse_ok(const char *key, size_t len);
/* A fresh random key (out: USERS_KEY_LEN + 1 bytes), its digest (32 bytes) and its listing
 * prefix (USERS_KEY_PREFIX_LEN + 1 bytes). MLP_EIO when the random generator fails. */
mlp_err users_key_generate(char *out, unsigned char *digest, char *prefix);

/* The user holding the valid key key[0..len): 1 with *who filled, 0 when it is no valid key
 * (malformed, unknown, revoked, or the store failed: a failure is logged). Refreshes the key's
 * last_used_at when it is older than USERS_TOUCH_EVERY_S. */
int users_resolve(users *u, const char *key, size_t len, principal *who);
/* Drops the cached entry of key key_id, or of every key of user_id. Call after the write
 * committed. NULL-tolerant u. */
void users_forget_key(users *u, long long key_id);
void users_forget_user(users *u, long long user_id);
/* Cached entries (for tests). */
int users_cached(users *u);

#endif
