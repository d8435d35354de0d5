/* router.c — segment-wise matching of paths against a route table handed in (see router.h). */
#include "router.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* Captures s[0..len) as the parameter named at p ("{name}..."): 1, or 0 when the value is empty,
 * holds ':', or does not fit. */
static int capture(const char *p, const char *s, size_t len, route_match *m)
{
    if (len == 0 || memchr(s, ':', len)) return 0; /* a parameter never holds ':' */
    if (len >= ROUTE_PARAM_MAX || m->n_params >= ROUTE_MAX_PARAMS) return 0;
    memcpy(m->values[m->n_params], s, len);
    m->values[m->n_params][len] = '\0';
    m->names[m->n_params] = p + 1; /* name runs to '}' — compared with route_param's strncmp */
    m->n_params++;
    return 1;
}

/* Matches one path segment [s, s+slen) against one pattern segment [p, p+plen): a literal,
 * "{param}", "{param}:verb" or "{param}:{verb}". On success the captures are written to m.
 * Returns 1 on match. */
static int match_segment(const char *p, size_t plen, const char *s, size_t slen, route_match *m)
{
    if (plen == 0 || p[0] != '{') return plen == slen && memcmp(p, s, plen) == 0;
    const char *close = memchr(p, '}', plen);
    if (!close) return 0;
    const char *suffix = close + 1; /* ":verb", ":{verb}" or "" */
    size_t sufflen = plen - (size_t)(suffix - p);
    if (sufflen > 2 && suffix[0] == ':' && suffix[1] == '{' && p[plen - 1] == '}') {
        const char *colon = memchr(s, ':', slen);
        if (!colon) return 0;
        size_t vlen = (size_t)(colon - s);
        return capture(p, s, vlen, m) && capture(suffix + 1, colon + 1, slen - vlen - 1, m);
    }
    if (slen <= sufflen) return 0;
    if (memcmp(s + slen - sufflen, suffix, sufflen) != 0) return 0;
    return capture(p, s, slen - sufflen, m);
}

static int match_path(const char *pattern, const char *path, route_match *m)
{
    m->n_params = 0;
    size_t plen_all = strlen(path);
    if (plen_all > 1 && path[plen_all - 1] == '/') plen_all--; /* one trailing slash */
    const char *p = pattern, *s = path, *s_end = path + plen_all;
    if (*p != '/' || *s != '/') return 0;
    while (*p && s < s_end) {
        p++, s++; /* skip '/' */
        const char *pe = strchr(p, '/');
        size_t plen = pe ? (size_t)(pe - p) : strlen(p);
        const char *se = memchr(s, '/', (size_t)(s_end - s));
        size_t slen = se ? (size_t)(se - s) : (size_t)(s_end - s);
        if (!match_segment(p, plen, s, slen, m)) return 0;
        p += plen;
        s += slen;
    }
    return *p == '\0' && s == s_end;
}

/* 0 when the pattern's literal start (up to its first '{') cannot be the path's: most of the
 * table fails here within a few bytes, before any segment is split. A pattern that ends before
 * its first '{' is left to match_path (the path may carry one trailing slash). */
static int literal_start_ok(const char *pattern, const char *path)
{
    for (; *pattern && *pattern != '{'; pattern++, path++)
        if (*pattern != *path) return 0;
    return 1;
}

int router_match(const route *table, size_t n, const char *method, const char *path, route_match *m,
                 char *allow, size_t allow_len)
{
    assert(table || n == 0);
    int path_hit = 0;
    size_t used = 0;
    if (allow_len) allow[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const route *r = &table[i];
        route_match tmp;
        if (!literal_start_ok(r->pattern, path) || !match_path(r->pattern, path, &tmp)) continue;
        if (strcmp(r->method, method) == 0) {
            *m = tmp;
            m->rt = r;
            return 0;
        }
        if (allow_len && !strstr(allow, r->method)) {
            int w =
                snprintf(allow + used, allow_len - used, "%s%s", path_hit ? ", " : "", r->method);
            if (w > 0 && (size_t)w < allow_len - used) used += (size_t)w;
        }
        path_hit = 1;
    }
    return path_hit ? 405 : 404;
}

route_family router_family_of(const char *path)
{
    if (strncmp(path, "/api/", 5) == 0) return FAM_MGMT;
    if (strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0) return FAM_TFS;
    if (strncmp(path, "/v2/", 4) == 0 || strcmp(path, "/v2") == 0) return FAM_V2;
    return FAM_PLAIN;
}

const char *route_param(const route_match *m, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < m->n_params; i++)
        if (strncmp(m->names[i], name, n) == 0 && m->names[i][n] == '}') return m->values[i];
    return NULL;
}
