/* users.c — class mode's users, their API keys, the caller's /me and the audit log
 * (README, Class mode; routes at the end of api/routes.def).
 *
 * Rules: an admin may do everything here. A student or staff member may read their own user
 * (GET /users/{name}, GET /me) and list, issue and revoke their OWN keys; another user's name
 * answers 404 as if it did not exist, so that names are not revealed; the other routes need
 * the admin scope (403 from the access check, naming the role). Every write is recorded in the
 * audit log right after it commits (server/audit.h: best effort).
 *
 * Deleting a user hands their datasets, runs and models to the admin who deletes them, or with
 * ?purge=true deletes them, which is refused (409) while one of their runs (or a run on their
 * data) is queued or running: cancel it first. User 1 (the bootstrap admin) cannot be deleted.
 *
 * Roster import (POST /users:import) reads CSV "name,display_name,role" (a header row naming
 * the columns, name first; display_name and role optional, role student by default), checks
 * every row before creating anyone, and answers CSV "name,key,status": status "created" with
 * the new key, or "exists" with an empty key for a name already taken (that user is left as
 * it was). */
#include "audit.h"
#include "handlers.h"
#include "problem.h"
#include "modelsvc.h"
#include "quota.h"
#include "store.h"
#include "users.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IMPORT_MAX_ROWS 1000

/* The JSON names of the quotas, in store_quota order. */
static const char *const quota_names[STORE_QUOTA_N] = {
    "storage_bytes", "active_runs", "train_seconds_per_day", "models", "predict_per_second"};

static json_t *quotas_json(const store_user *u)
{
    json_t *q = json_object();
    for (int i = 0; i < STORE_QUOTA_N; i++)
        json_object_set_new(q, quota_names[i],
                            u->quota[i] < 0 ? json_null() : json_integer(u->quota[i]));
    return q;
}

static json_t *user_json(const store_user *u)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:o}", "id", (json_int_t)u->id, "name", u->name,
                     "role", user_role_name(u->role), "display_name", u->display_name, "created_at",
                     u->created_at, "quotas", quotas_json(u));
}

static json_t *key_json(const store_key *k)
{
    return json_pack("{s:I, s:s, s:s, s:o, s:o}", "id", (json_int_t)k->id, "prefix", k->prefix,
                     "created_at", k->created_at, "last_used_at",
                     k->last_used_at[0] ? json_string(k->last_used_at) : json_null(), "revoked_at",
                     k->revoked_at[0] ? json_string(k->revoked_at) : json_null());
}

/* A newly issued key: its listing fields and, this once, the key itself. */
static json_t *issued_json(const store_key *k, const char *key)
{
    json_t *j = key_json(k);
    json_object_set_new(j, "key", json_string(key));
    return j;
}

static int is_admin(const http_req *req)
{
    return req->who.role == ROLE_ADMIN;
}

/* Loads the path's {name} into *u. A non-admin naming another user gets the same 404 as for an
 * unknown name. 0, or -1 with resp filled. */
static int load_user(http_req *req, http_resp *resp, store_user *u)
{
    const char *name = route_param(&req->m, "name");
    if (!name || (!is_admin(req) && strcmp(name, req->who.name) != 0)) {
        api_failf(req, resp, 404, NULL, "user %.64s not found", name ? name : "");
        return -1;
    }
    mlp_err e = store_user_get(req->app->store, name, u);
    if (e == MLP_ENOTFOUND) {
        api_failf(req, resp, 404, NULL, "user %.64s not found", name);
        return -1;
    }
    if (e) {
        api_fail(req, resp, e, NULL);
        return -1;
    }
    return 0;
}

/* Reads an optional "quotas" object into u->quota (marking each given field in *set). 0, or -1
 * with resp filled naming the field. */
static int parse_quotas(http_req *req, http_resp *resp, json_t *q, store_user *u, unsigned *set)
{
    const char *key;
    json_t *v;
    if (!json_is_object(q)) {
        api_failf(req, resp, 400, "quotas", "quotas must be an object");
        return -1;
    }
    json_object_foreach(q, key, v)
    {
        int i = 0;
        while (i < STORE_QUOTA_N && strcmp(key, quota_names[i]) != 0) i++;
        char field[64];
        snprintf(field, sizeof field, "quotas.%.40s", key);
        if (i == STORE_QUOTA_N) {
            api_failf(req, resp, 400, field,
                      "%s: unknown quota (storage_bytes, active_runs, train_seconds_per_day, "
                      "models, predict_per_second)",
                      field);
            return -1;
        }
        if (json_is_null(v)) {
            u->quota[i] = -1;
        } else if (json_is_integer(v) && json_integer_value(v) >= 0) {
            u->quota[i] = json_integer_value(v);
        } else {
            api_failf(req, resp, 400, field,
                      "%s must be an integer >= 0, or null for the server default", field);
            return -1;
        }
        *set |= STORE_USER_SET_QUOTA(i);
    }
    return 0;
}

/* Reads role and display_name (when present) into u. 0, or -1 with resp filled. */
static int parse_role_display(http_req *req, http_resp *resp, json_t *body, store_user *u,
                              unsigned *set)
{
    json_t *v = json_object_get(body, "role");
    if (v) {
        if (!json_is_string(v) || user_role_parse(json_string_value(v), &u->role) != MLP_OK) {
            api_failf(req, resp, 400, "role", "role must be one of admin, staff, student");
            return -1;
        }
        *set |= STORE_USER_SET_ROLE;
    }
    v = json_object_get(body, "display_name");
    if (v) {
        if (!json_is_string(v) || json_string_length(v) > STORE_USER_DISPLAY_MAX) {
            api_failf(req, resp, 400, "display_name",
                      "display_name must be a string of at most %d bytes", STORE_USER_DISPLAY_MAX);
            return -1;
        }
        snprintf(u->display_name, sizeof u->display_name, "%s", json_string_value(v));
        *set |= STORE_USER_SET_DISPLAY;
    }
    return 0;
}

/* Refuses fields not in allowed (NULL-terminated). 0, or -1 with resp filled. */
static int only_fields(http_req *req, http_resp *resp, json_t *body, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++) ok |= strcmp(*a, key) == 0;
        if (!ok) {
            api_failf(req, resp, 400, key, "%.64s: unknown field", key);
            return -1;
        }
    }
    return 0;
}

/* The audit detail of a user's fields (new string). */
static char *user_detail(const store_user *u, unsigned set, const char *via)
{
    json_t *d = json_object();
    if (set & STORE_USER_SET_ROLE)
        json_object_set_new(d, "role", json_string(user_role_name(u->role)));
    if (set & STORE_USER_SET_DISPLAY)
        json_object_set_new(d, "display_name", json_string(u->display_name));
    json_t *q = json_object();
    for (int i = 0; i < STORE_QUOTA_N; i++)
        if (set & STORE_USER_SET_QUOTA(i))
            json_object_set_new(q, quota_names[i],
                                u->quota[i] < 0 ? json_null() : json_integer(u->quota[i]));
    if (json_object_size(q))
        json_object_set_new(d, "quotas", q);
    else
        json_decref(q);
    if (via) json_object_set_new(d, "via", json_string(via));
    char *s = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    return s;
}

/* Creates user *u with a first key (written to key_out, USERS_KEY_LEN + 1 bytes; *k filled),
 * and records it. MLP_ECONFLICT when the name is taken. */
static mlp_err create_user(http_req *req, store_user *u, unsigned set, const char *via,
                           char *key_out, store_key *k, mlp_error *err)
{
    unsigned char digest[32];
    char prefix[USERS_KEY_PREFIX_LEN + 1];
    long long key_id = 0;
    mlp_err e = users_key_generate(key_out, digest, prefix);
    if (e) return mlp_fail(err, e, "the random generator failed (OpenSSL RAND_bytes)");
    e = store_user_create(req->app->store, u, digest, prefix, &key_id, err);
    if (e) return e;
    memset(k, 0, sizeof *k);
    k->id = key_id;
    k->user_id = u->id;
    snprintf(k->prefix, sizeof k->prefix, "%s", prefix);
    snprintf(k->created_at, sizeof k->created_at, "%s", u->created_at);
    char res[96];
    snprintf(res, sizeof res, "users/%s", u->name);
    char *detail = user_detail(u, set | STORE_USER_SET_ROLE, via);
    audit_record(req->app, &req->who, "user.create", res, detail);
    free(detail);
    return MLP_OK;
}

void usr_create(http_req *req, http_resp *resp)
{
    static const char *const fields[] = {"name", "role", "display_name", "quotas", NULL};
    json_t *body = api_body_object(req, resp);
    if (!body) return;
    store_user u;
    memset(&u, 0, sizeof u);
    for (int i = 0; i < STORE_QUOTA_N; i++) u.quota[i] = -1;
    u.role = ROLE_STUDENT;
    unsigned set = 0;
    char key[USERS_KEY_LEN + 1];
    store_key k;
    mlp_error err;
    mlp_error_clear(&err);
    json_t *name = json_object_get(body, "name");
    if (only_fields(req, resp, body, fields)) goto out;
    if (!json_is_string(name) || !api_name_ok(json_string_value(name))) {
        api_failf(req, resp, 400, "name",
                  "name must match [A-Za-z0-9][A-Za-z0-9._-]{0,63} (API.md, Naming)");
        goto out;
    }
    snprintf(u.name, sizeof u.name, "%s", json_string_value(name));
    if (parse_role_display(req, resp, body, &u, &set)) goto out;
    json_t *q = json_object_get(body, "quotas");
    if (q && parse_quotas(req, resp, q, &u, &set)) goto out;
    mlp_err e = create_user(req, &u, set, NULL, key, &k, &err);
    if (e) {
        api_fail(req, resp, e, &err);
        goto out;
    }
    snprintf(resp->location, sizeof resp->location, "/api/v1/users/%s", u.name);
    api_json(resp, 201,
             json_pack("{s:o, s:o}", "user", user_json(&u), "key", issued_json(&k, key)));
    OPENSSL_cleanse(key, sizeof key);
out:
    json_decref(body);
}

/* ---- roster import ---- */

/* Splits one CSV line (no newline) into at most max fields: plain, or double-quoted with ""
 * for a quote. Fields are written NUL-terminated into buf (cap bytes). Returns the field count,
 * or -1 for a malformed line or one that does not fit. */
static int csv_fields(const char *line, size_t len, char *buf, size_t cap, char **f, int max)
{
    size_t i = 0, o = 0;
    int n = 0;
    for (;;) {
        if (n == max) return -1;
        f[n++] = buf + o;
        if (i < len && line[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) return -1;
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        i++;
                    } else {
                        i++;
                        break;
                    }
                }
                if (o + 1 >= cap) return -1;
                buf[o++] = line[i++];
            }
            if (i < len && line[i] != ',') return -1;
        } else {
            while (i < len && line[i] != ',') {
                if (line[i] == '"' || o + 1 >= cap) return -1;
                buf[o++] = line[i++];
            }
        }
        if (o + 1 >= cap) return -1;
        buf[o++] = '\0';
        if (i >= len) return n;
        i++; /* the ',' */
    }
}

/* Trims surrounding blanks in place. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    return s;
}

typedef struct {
    char name[USER_NAME_MAX + 1];
    char display[STORE_USER_DISPLAY_MAX + 1];
    user_role role;
} roster_row;

/* Parses the roster in body[0..len) into rows (new). 0, or -1 with resp filled naming the
 * line. */
static int roster_parse(http_req *req, http_resp *resp, const char *body, size_t len,
                        roster_row **rows_out, int *n_out)
{
    roster_row *rows = NULL;
    int n = 0, line_no = 0, cols = 0, col_display = -1, col_role = -1;
    char buf[512], *f[8];
    *rows_out = NULL;
    *n_out = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - (body + pos)) : len - pos;
        const char *line = body + pos;
        pos += l + (nl ? 1 : 0);
        line_no++;
        if (l && line[l - 1] == '\r') l--;
        if (l == 0) continue;
        int nf = csv_fields(line, l, buf, sizeof buf, f, 8);
        if (nf < 0) {
            api_failf(req, resp, 400, "csv", "line %d: not a CSV row of at most 3 fields", line_no);
            goto fail;
        }
        if (cols == 0) { /* the header */
            for (int i = 0; i < nf; i++) {
                const char *h = trim(f[i]);
                if (i == 0 && strcmp(h, "name") == 0) continue;
                if (i > 0 && strcmp(h, "display_name") == 0 && col_display < 0)
                    col_display = i;
                else if (i > 0 && strcmp(h, "role") == 0 && col_role < 0)
                    col_role = i;
                else {
                    api_failf(req, resp, 400, "csv",
                              "line 1: the header must be name, then display_name and/or role");
                    goto fail;
                }
            }
            cols = nf;
            continue;
        }
        if (nf != cols) {
            api_failf(req, resp, 400, "csv", "line %d: %d fields, the header has %d", line_no, nf,
                      cols);
            goto fail;
        }
        if (n == IMPORT_MAX_ROWS) {
            api_failf(req, resp, 413, "csv", "a roster has at most %d rows", IMPORT_MAX_ROWS);
            goto fail;
        }
        roster_row *nr = realloc(rows, (size_t)(n + 1) * sizeof *rows);
        if (!nr) {
            api_failf(req, resp, 503, NULL, "out of memory reading the roster");
            goto fail;
        }
        rows = nr;
        roster_row *r = &rows[n];
        memset(r, 0, sizeof *r);
        const char *name = trim(f[0]);
        if (!api_name_ok(name)) {
            api_failf(req, resp, 400, "name",
                      "line %d: name must match [A-Za-z0-9][A-Za-z0-9._-]{0,63} (API.md, Naming)",
                      line_no);
            goto fail;
        }
        snprintf(r->name, sizeof r->name, "%s", name);
        r->role = ROLE_STUDENT;
        if (col_display > 0) {
            const char *d = trim(f[col_display]);
            if (strlen(d) > STORE_USER_DISPLAY_MAX) {
                api_failf(req, resp, 400, "display_name",
                          "line %d: display_name has more than %d bytes", line_no,
                          STORE_USER_DISPLAY_MAX);
                goto fail;
            }
            snprintf(r->display, sizeof r->display, "%s", d);
        }
        if (col_role > 0 && *trim(f[col_role]) &&
            user_role_parse(trim(f[col_role]), &r->role) != MLP_OK) {
            api_failf(req, resp, 400, "role", "line %d: role must be admin, staff or student",
                      line_no);
            goto fail;
        }
        n++;
    }
    if (cols == 0) {
        api_failf(req, resp, 400, "csv", "the roster is empty: it needs a header row");
        goto fail;
    }
    *rows_out = rows;
    *n_out = n;
    return 0;
fail:
    free(rows);
    return -1;
}

void usr_import(http_req *req, http_resp *resp)
{
    const char *ct = http_header(req, "Content-Type");
    if (ct && strncasecmp(ct, "text/csv", 8) != 0) {
        api_failf(req, resp, 415, NULL, "a roster is text/csv (name,display_name,role)");
        return;
    }
    roster_row *rows = NULL;
    int n = 0;
    if (roster_parse(req, resp, req->body ? req->body : "", req->body ? req->body_len : 0, &rows,
                     &n))
        return;
    /* "name,key,status\n" then per row at most name + key + status + separators. */
    size_t cap = 32 + (size_t)n * (USER_NAME_MAX + USERS_KEY_LEN + 16);
    char *out = malloc(cap);
    size_t len = 0;
    if (!out) {
        api_failf(req, resp, 503, NULL, "out of memory answering the roster");
        goto done;
    }
    len += (size_t)snprintf(out, cap, "name,key,status\n");
    for (int i = 0; i < n; i++) {
        store_user u;
        memset(&u, 0, sizeof u);
        for (int q = 0; q < STORE_QUOTA_N; q++) u.quota[q] = -1;
        snprintf(u.name, sizeof u.name, "%s", rows[i].name);
        snprintf(u.display_name, sizeof u.display_name, "%s", rows[i].display);
        u.role = rows[i].role;
        char key[USERS_KEY_LEN + 1];
        store_key k;
        mlp_error err;
        mlp_error_clear(&err);
        mlp_err e = create_user(req, &u, STORE_USER_SET_DISPLAY, "import", key, &k, &err);
        if (e == MLP_ECONFLICT) {
            len += (size_t)snprintf(out + len, cap - len, "%s,,exists\n", u.name);
            continue;
        }
        if (e) {
            /* Rows before this one were created: their keys are in no answer, and a second
             * import reports them as existing (issue them new keys). */
            api_fail(req, resp, e, &err);
            OPENSSL_cleanse(out, len);
            free(out);
            goto done;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s,%s,created\n", u.name, key);
        OPENSSL_cleanse(key, sizeof key);
    }
    resp_take(resp, 200, "text/csv; charset=utf-8", out, len);
done:
    free(rows);
}

/* ---- reading, changing, deleting users ---- */

void usr_list(http_req *req, http_resp *resp)
{
    int limit, offset, n = 0;
    long total = 0;
    store_user *items = NULL;
    if (api_paging(req, resp, &limit, &offset)) return;
    mlp_err e = store_user_list(req->app->store, limit, offset, &items, &n, &total);
    if (e) {
        api_fail(req, resp, e, NULL);
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, user_json(&items[i]));
    free(items);
    api_json(resp, 200, json_pack("{s:o, s:I}", "items", arr, "total", (json_int_t)total));
}

static json_t *me_json(http_req *req, const store_user *u);

void usr_get(http_req *req, http_resp *resp)
{
    store_user u;
    if (load_user(req, resp, &u)) return;
    json_t *o = me_json(req, &u);
    if (!o) {
        api_failf(req, resp, 500, NULL, "could not read the usage of %s from the store", u.name);
        return;
    }
    api_json(resp, 200, o);
}

void usr_patch(http_req *req, http_resp *resp)
{
    static const char *const fields[] = {"role", "display_name", "quotas", NULL};
    store_user u;
    if (load_user(req, resp, &u)) return;
    json_t *body = api_body_object(req, resp);
    if (!body) return;
    unsigned set = 0;
    user_role was = u.role;
    mlp_error err;
    mlp_error_clear(&err);
    if (only_fields(req, resp, body, fields)) goto out;
    if (parse_role_display(req, resp, body, &u, &set)) goto out;
    json_t *q = json_object_get(body, "quotas");
    if (q && parse_quotas(req, resp, q, &u, &set)) goto out;
    store_user want = u;
    mlp_err e = store_user_update(req->app->store, &u, set, &err);
    if (e) {
        api_fail(req, resp, e, &err);
        goto out;
    }
    /* A role change changes what the user's keys may do: their next request reads it anew. */
    if (u.role != was) users_forget_user(req->app->users, u.id);
    if (set) {
        char res[96];
        snprintf(res, sizeof res, "users/%s", u.name);
        char *detail = user_detail(&want, set, NULL);
        audit_record(req->app, &req->who, "user.update", res, detail);
        free(detail);
    }
    api_json(resp, 200, user_json(&u));
out:
    json_decref(body);
}

void usr_delete(http_req *req, http_resp *resp)
{
    store_user u;
    if (load_user(req, resp, &u)) return;
    const char *p = http_query(req, "purge");
    int purge = 0;
    if (p && strcmp(p, "true") == 0)
        purge = 1;
    else if (p && strcmp(p, "false") != 0) {
        api_failf(req, resp, 400, "purge", "purge must be true or false");
        return;
    }
    if (u.id == req->who.id) {
        api_failf(req, resp, 409, NULL,
                  "an admin cannot delete their own user (their resources would have no heir)");
        return;
    }
    /* The deleting admin inherits; a caller acting as no stored user hands to user 1. */
    long long heir = req->who.id > 0 ? req->who.id : USER_BOOTSTRAP_ID;
    store_model *purged = NULL;
    int n_purged = 0;
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err e =
        store_user_delete(req->app->store, u.name, heir, purge, NULL, &purged, &n_purged, &err);
    if (e) {
        api_fail(req, resp, e, &err);
        return;
    }
    users_forget_user(req->app->users, u.id);
    modelsvc_forget_purged(req->app->reg, purged, n_purged);
    store_models_free(purged, n_purged);
    char res[96];
    snprintf(res, sizeof res, "users/%s", u.name);
    json_t *d = purge ? json_pack("{s:b}", "purge", 1)
                      : json_pack("{s:b, s:s}", "purge", 0, "heir", req->who.name);
    char *detail = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    audit_record(req->app, &req->who, "user.delete", res, detail);
    free(detail);
    resp_take(resp, 204, NULL, NULL, 0);
}

/* ---- keys ---- */

void usr_key_create(http_req *req, http_resp *resp)
{
    store_user u;
    if (load_user(req, resp, &u)) return;
    char key[USERS_KEY_LEN + 1], prefix[USERS_KEY_PREFIX_LEN + 1];
    unsigned char digest[32];
    store_key k;
    if (users_key_generate(key, digest, prefix) != MLP_OK) {
        api_failf(req, resp, 500, NULL, "the random generator failed (OpenSSL RAND_bytes)");
        return;
    }
    mlp_err e = store_key_create(req->app->store, u.id, digest, prefix, &k);
    if (e) {
        OPENSSL_cleanse(key, sizeof key);
        api_fail(req, resp, e, NULL);
        return;
    }
    char res[128], detail[96];
    snprintf(res, sizeof res, "users/%s/keys/%lld", u.name, k.id);
    snprintf(detail, sizeof detail, "{\"prefix\":\"%s\"}", k.prefix);
    audit_record(req->app, &req->who, "key.create", res, detail);
    snprintf(resp->location, sizeof resp->location, "/api/v1/users/%s/keys", u.name);
    api_json(resp, 201, issued_json(&k, key));
    OPENSSL_cleanse(key, sizeof key);
}

void usr_key_list(http_req *req, http_resp *resp)
{
    store_user u;
    if (load_user(req, resp, &u)) return;
    store_key *items = NULL;
    int n = 0;
    mlp_err e = store_key_list(req->app->store, u.id, &items, &n);
    if (e) {
        api_fail(req, resp, e, NULL);
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, key_json(&items[i]));
    free(items);
    api_json(resp, 200, json_pack("{s:o}", "items", arr));
}

void usr_key_revoke(http_req *req, http_resp *resp)
{
    store_user u;
    if (load_user(req, resp, &u)) return;
    const char *id = route_param(&req->m, "key_id");
    char *end = NULL;
    long long kid = id ? strtoll(id, &end, 10) : 0;
    if (!id || !*id || *end || kid < 1) {
        api_failf(req, resp, 404, NULL, "user %s has no key %.32s", u.name, id ? id : "");
        return;
    }
    mlp_err e = store_key_revoke(req->app->store, u.id, kid);
    if (e == MLP_ENOTFOUND) {
        api_failf(req, resp, 404, NULL, "user %s has no key %lld", u.name, kid);
        return;
    }
    if (e) {
        api_fail(req, resp, e, NULL);
        return;
    }
    users_forget_key(req->app->users, kid);
    char res[128];
    snprintf(res, sizeof res, "users/%s/keys/%lld", u.name, kid);
    audit_record(req->app, &req->who, "key.revoke", res, NULL);
    resp_take(resp, 204, NULL, NULL, 0);
}

/* ---- the caller ---- */

/* A user with their quotas as stored (null = the server default) and what they use of each:
 * GET /me's answer for the caller, and GET /users/{name}'s. New reference; NULL when the usage
 * could not be read. */
static json_t *me_json(http_req *req, const store_user *u)
{
    json_t *me = user_json(u);
    quota_usage qu;
    if (req->app->quota) {
        if (quota_usage_of(req->app->quota, u->id, &qu) != MLP_OK) {
            json_decref(me);
            return NULL;
        }
        json_t *usage = json_object(); /* server/quota.h: limit null = unlimited */
        for (int k = 0; k < QUOTA_N; k++)
            json_object_set_new(
                usage, quota_name((quota_kind)k),
                json_pack("{s:I, s:o}", "used", (json_int_t)qu.used[k], "limit",
                          qu.limit[k] > 0 ? json_integer(qu.limit[k]) : json_null()));
        json_object_set_new(me, "usage", usage);
    }
    return me;
}

void usr_me(http_req *req, http_resp *resp)
{
    store_user u;
    mlp_err e = store_user_get_id(req->app->store, req->who.id, &u);
    if (e == MLP_ENOTFOUND) { /* deleted between the key's check and this read */
        api_failf(req, resp, 401, NULL, "the API key's user no longer exists");
        resp->www_authenticate = "Bearer realm=\"mlpd\"";
        return;
    }
    if (e) {
        api_fail(req, resp, e, NULL);
        return;
    }
    json_t *me = me_json(req, &u);
    if (!me) {
        api_failf(req, resp, 500, NULL, "could not read the caller's usage from the store");
        return;
    }
    api_json(resp, 200, me);
}

/* ---- the audit log ---- */

void usr_audit(http_req *req, http_resp *resp)
{
    int limit, offset, n = 0;
    long total = 0;
    store_audit *items = NULL;
    if (api_paging(req, resp, &limit, &offset)) return;
    mlp_err e =
        store_audit_list(req->app->store, http_query(req, "actor"), http_query(req, "action"),
                         http_query(req, "resource"), limit, offset, &items, &n, &total);
    if (e) {
        api_fail(req, resp, e, NULL);
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        const store_audit *a = &items[i];
        json_t *detail = json_loads(a->detail ? a->detail : "{}", 0, NULL);
        if (!json_is_object(detail)) {
            json_decref(detail);
            detail = json_object();
        }
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:{s:I, s:s}, s:s, s:s, s:o}", "id", (json_int_t)a->id, "at",
                           a->at, "actor", "id", (json_int_t)a->actor_id, "name", a->actor_name,
                           "action", a->action, "resource", a->resource, "detail", detail));
    }
    store_audits_free(items, n);
    api_json(resp, 200, json_pack("{s:o, s:I}", "items", arr, "total", (json_int_t)total));
}
