/* users.c — key issuing, and key -> principal resolution through a bounded cache (see users.h). */
#include "users.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_HEAD     "mlpd_"
#define KEY_HEAD_LEN 5

typedef struct {
    int used;
    unsigned char digest[32];
    long long key_id;
    principal who;
    long long last_used; /* Unix seconds of the last last_used_at write (or the stored one) */
} cache_slot;

struct users {
    store *s;               /* borrowed */
    pthread_mutex_t mu;     /* guards slots and gen */
    unsigned long long gen; /* bumped by every forget */
    cache_slot *slots;      /* USERS_CACHE_SLOTS, owned */
};

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

void users_key_render(const unsigned char raw[USERS_KEY_RAW], char out[USERS_KEY_LEN + 1])
{
    char *o = out;
    memcpy(o, KEY_HEAD, KEY_HEAD_LEN);
    o += KEY_HEAD_LEN;
    size_t i = 0;
    for (; i + 3 <= USERS_KEY_RAW; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        *o++ = b64url[v >> 18 & 63];
        *o++ = b64url[v >> 12 & 63];
        *o++ = b64url[v >> 6 & 63];
        *o++ = b64url[v & 63];
    }
    /* 32 = 30 + 2: two bytes left, three characters, no padding. */
    unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8;
    *o++ = b64url[v >> 18 & 63];
    *o++ = b64url[v >> 12 & 63];
    *o++ = b64url[v >> 6 & 63];
    *o = '\0';
}

int users_key_parse_ok(const char *key, size_t len)
{
    if (!key || len != USERS_KEY_LEN || memcmp(key, KEY_HEAD, KEY_HEAD_LEN) != 0) return 0;
    for (size_t i = KEY_HEAD_LEN; i < len; i++)
        if (b64url_value((unsigned char)key[i]) < 0) return 0;
    /* The last character carries 4 bits of key and 2 zero bits. */
    return (b64url_value((unsigned char)key[len - 1]) & 3) == 0;
}

static int sha256(const void *s, size_t len, unsigned char out[32])
{
    unsigned int olen = 0;
    return EVP_Digest(s, len, out, &olen, EVP_sha256(), NULL) == 1 && olen == 32 ? 0 : -1;
}

mlp_err users_key_generate(char *out, unsigned char *digest, char *prefix)
{
    unsigned char raw[USERS_KEY_RAW];
    if (RAND_bytes(raw, sizeof raw) != 1) return MLP_EIO;
    users_key_render(raw, out);
    OPENSSL_cleanse(raw, sizeof raw);
    if (sha256(out, USERS_KEY_LEN, digest) != 0) return MLP_EIO;
    memcpy(prefix, out, USERS_KEY_PREFIX_LEN);
    prefix[USERS_KEY_PREFIX_LEN] = '\0';
    return MLP_OK;
}

mlp_err users_new(store *s, users **out)
{
    users *u = calloc(1, sizeof *u);
    if (!u) return MLP_ENOMEM;
    u->slots = calloc(USERS_CACHE_SLOTS, sizeof *u->slots);
    if (!u->slots || pthread_mutex_init(&u->mu, NULL) != 0) {
        free(u->slots);
        free(u);
        return MLP_ENOMEM;
    }
    u->s = s;
    *out = u;
    return MLP_OK;
}

void users_free(users *u)
{
    if (!u) return;
    pthread_mutex_destroy(&u->mu);
    free(u->slots);
    free(u);
}

/* The slot of a digest: its first bytes are uniformly random already. */
static size_t slot_of(const unsigned char d[32])
{
    size_t h = (size_t)d[0] | (size_t)d[1] << 8 | (size_t)d[2] << 16;
    return h % USERS_CACHE_SLOTS;
}

int users_resolve(users *u, const char *key, size_t len, principal *who)
{
    unsigned char d[32];
    if (!u || !users_key_parse_ok(key, len) || sha256(key, len, d) != 0) return 0;
    size_t at = slot_of(d);
    long long now = (long long)time(NULL), touch_id = 0;
    int found = 0;
    pthread_mutex_lock(&u->mu);
    cache_slot *c = &u->slots[at];
    unsigned long long gen = u->gen;
    if (c->used && CRYPTO_memcmp(c->digest, d, sizeof d) == 0) {
        *who = c->who;
        found = 1;
        if (now - c->last_used >= USERS_TOUCH_EVERY_S) {
            c->last_used = now;
            touch_id = c->key_id;
        }
    }
    pthread_mutex_unlock(&u->mu);
    if (!found) {
        principal p;
        long long key_id = 0, last_used = 0;
        mlp_err e = store_key_lookup(u->s, d, &p, &key_id, &last_used);
        if (e != MLP_OK) {
            if (e != MLP_ENOTFOUND)
                fprintf(stderr, "mlpd: API key lookup failed: %s\n", mlp_strerror(e));
            return 0;
        }
        *who = p;
        found = 1;
        if (now - last_used >= USERS_TOUCH_EVERY_S) {
            last_used = now;
            touch_id = key_id;
        }
        pthread_mutex_lock(&u->mu);
        if (u->gen == gen) { /* no forget since the read: the answer is current */
            c->used = 1;
            memcpy(c->digest, d, sizeof d);
            c->key_id = key_id;
            c->who = p;
            c->last_used = last_used;
        }
        pthread_mutex_unlock(&u->mu);
    }
    if (touch_id) {
        mlp_err e = store_key_touch(u->s, touch_id);
        if (e != MLP_OK)
            fprintf(stderr, "mlpd: cannot record the use of API key %lld: %s\n", touch_id,
                    mlp_strerror(e));
    }
    return found;
}

/* Drops every slot whose key id (by_user 0) or user id (by_user 1) is id. */
static void forget(users *u, long long id, int by_user)
{
    if (!u) return;
    pthread_mutex_lock(&u->mu);
    u->gen++;
    for (size_t i = 0; i < USERS_CACHE_SLOTS; i++) {
        cache_slot *c = &u->slots[i];
        if (c->used && (by_user ? c->who.id : c->key_id) == id) memset(c, 0, sizeof *c);
    }
    pthread_mutex_unlock(&u->mu);
}

void users_forget_key(users *u, long long key_id)
{
    forget(u, key_id, 0);
}

void users_forget_user(users *u, long long user_id)
{
    forget(u, user_id, 1);
}

int users_cached(users *u)
{
    int n = 0;
    pthread_mutex_lock(&u->mu);
    for (size_t i = 0; i < USERS_CACHE_SLOTS; i++) n += u->slots[i].used;
    pthread_mutex_unlock(&u->mu);
    return n;
}
