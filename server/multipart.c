/* multipart.c — multipart/form-data push parser (see multipart.h).
 *
 * Why not libmicrohttpd's MHD_PostProcessor (linked already): measured with libmicrohttpd 0.9.75
 * by `bench/multipart_parse.sh 50 5` (a live MHD daemon hands each upload chunk to both parsers)
 * and `build/bench/multipart_parse --probe` (the malformed bodies of test_multipart.c):
 * - It cannot enforce our rules, and gives no reason when it fails. A part without a name,
 *   without Content-Disposition, with a header line lacking its colon, or a Content-Disposition
 *   other than form-data reaches its iterator (key NULL, or the data) and is accepted; a body
 *   with no boundary at all is accepted as empty; a nested multipart/mixed part is flattened
 *   into several files under one field name; "Content-Disposition:form-data" without a space
 *   after the colon loses its name. Where it does refuse (no closing boundary, a header line
 *   past its buffer, text after a boundary) it answers MHD_NO without saying why, so the 400s
 *   naming the defect ("a part has no name", "part headers over 16 KiB", "no boundary found
 *   (is the boundary in Content-Type right?)") could not be written.
 * - It needs a live MHD_Connection (MHD_create_post_processor reads Content-Type from it), so
 *   ingest_new, tests/server/test_multipart.c, tests/api/test_ingest.c and the fuzz targets
 *   fuzz_multipart and fuzz_ingest, which run in-process on a Content-Type string, could not
 *   drive it.
 * - Speed is not a reason either way: on a 50 MB CSV part with CRLF line ends, in the 16 KB
 *   chunks MHD delivers, this parser reads 6,800-9,500 MB/s and MHD_PostProcessor 9,800-10,200
 *   (medians of 5, two runs: bench/RESULTS.md), both over 15x the CSV parser behind it (about
 *   400 MB/s), since this parser skips a CR whose next bytes cannot start the delimiter.
 *
 * The delimiter is CRLF "--" boundary; the body is treated as if it began with a CRLF so the
 * first boundary line needs no special case. Matching keeps only a count of delimiter bytes
 * seen (held back from the part body): a boundary may not contain CR (RFC 2046 bchars), so on a
 * mismatch no suffix of the held bytes can start a new match, and they are released as data. */
#include "multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_BOUNDARY 70
#define MAX_HEADERS  16384

enum {
    S_PREAMBLE, /* before the first boundary */
    S_AD_FIRST, /* right after a delimiter: "--" or transport padding + CRLF */
    S_AD_DASH,  /* saw one '-' */
    S_AD_LWS,   /* skipping padding, expecting CR */
    S_AD_LF,    /* expecting LF */
    S_HEADERS,  /* reading part headers */
    S_BODY,     /* streaming a part body */
    S_END       /* after the closing boundary */
};

struct multipart {
    char delim[4 + MAX_BOUNDARY + 1]; /* "\r\n--" boundary, NUL-terminated */
    size_t dlen;
    const multipart_callbacks *cb; /* borrowed */
    void *ctx;                     /* borrowed */
    int state;                     /* S_* */
    size_t matched;                /* delimiter bytes matched and held back */
    char hdr[MAX_HEADERS + 1];     /* current part's header block */
    size_t hlen;
    int parts; /* parts begun */
    mlp_err failed;
    mlp_error failed_err;
};

static int is_bchar(int c)
{
    return isalnum(c) || strchr("'()+_,-./:=? ", c) != NULL;
}

/* Finds parameter `key` in a header value's "; k=v; k2="v2"" list; copies its unquoted value
 * into out. Returns 1 if found, 0 if absent, -1 if malformed or too long. */
static int header_param(const char *v, const char *key, char *out, size_t cap)
{
    const char *p = strchr(v, ';');
    size_t klen = strlen(key);
    while (p) {
        p++;
        while (*p == ' ' || *p == '\t') p++;
        const char *k = p;
        while (*p && *p != '=' && *p != ';') p++;
        size_t kl = (size_t)(p - k);
        while (kl && (k[kl - 1] == ' ' || k[kl - 1] == '\t')) kl--;
        if (*p != '=') {
            p = *p ? p : NULL;
            continue;
        }
        p++;
        while (*p == ' ' || *p == '\t') p++;
        size_t n = 0;
        int want = kl == klen && strncasecmp(k, key, klen) == 0;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1]) p++;
                if (want) {
                    if (n + 1 >= cap) return -1;
                    out[n] = *p;
                }
                n++;
                p++;
            }
            if (*p != '"') return -1;
            p++;
            while (*p == ' ' || *p == '\t') p++;
            if (*p && *p != ';') return -1;
        } else {
            while (*p && *p != ';' && *p != ' ' && *p != '\t') {
                if (want) {
                    if (n + 1 >= cap) return -1;
                    out[n] = *p;
                }
                n++;
                p++;
            }
            while (*p == ' ' || *p == '\t') p++;
            if (*p && *p != ';') return -1;
        }
        if (want) {
            out[n] = '\0';
            return 1;
        }
        p = *p ? p : NULL;
    }
    return 0;
}

mlp_err multipart_boundary(const char *content_type, char *out, size_t cap, mlp_error *err)
{
    char b[MAX_BOUNDARY + 2];
    int r = content_type ? header_param(content_type, "boundary", b, sizeof b) : 0;
    if (r == 0) return mlp_fail(err, MLP_EINVAL, "multipart/form-data without a boundary");
    size_t n = r > 0 ? strlen(b) : 0;
    if (r < 0 || n == 0 || n > MAX_BOUNDARY || b[n - 1] == ' ')
        return mlp_fail(err, MLP_EINVAL, "the multipart boundary must be 1 to %d characters",
                        MAX_BOUNDARY);
    for (size_t i = 0; i < n; i++)
        if (!is_bchar((unsigned char)b[i]))
            return mlp_fail(err, MLP_EINVAL,
                            "the multipart boundary contains a character RFC 2046 does not "
                            "allow (0x%02X)",
                            (unsigned char)b[i]);
    if (n + 1 > cap) return mlp_fail(err, MLP_EINVAL, "the multipart boundary is too long");
    memcpy(out, b, n + 1);
    return MLP_OK;
}

mlp_err multipart_new(const char *boundary, const multipart_callbacks *cb, void *ctx,
                      multipart **out)
{
    *out = NULL;
    size_t n = strlen(boundary);
    if (n == 0 || n > MAX_BOUNDARY || strchr(boundary, '\r')) return MLP_EINVAL;
    multipart *m = calloc(1, sizeof *m);
    if (!m) return MLP_ENOMEM;
    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, boundary, n + 1);
    m->dlen = 4 + n;
    m->cb = cb;
    m->ctx = ctx;
    m->state = S_PREAMBLE;
    m->matched = 2; /* the virtual CRLF before the first boundary */
    *out = m;
    return MLP_OK;
}

void multipart_free(multipart *m)
{
    free(m);
}

static mlp_err stick(multipart *m, mlp_error *err, mlp_err rc)
{
    m->failed = rc;
    if (err) m->failed_err = *err;
    return rc;
}

static mlp_err malformed(multipart *m, mlp_error *err, const char *what)
{
    return stick(m, err, mlp_fail(err, MLP_EINVAL, "malformed multipart body: %s", what));
}

static mlp_err body_bytes(multipart *m, const unsigned char *d, size_t n, mlp_error *err)
{
    if (m->state != S_BODY || n == 0) return MLP_OK;
    mlp_err rc = m->cb->part_data(m->ctx, d, n, err);
    return rc == MLP_OK ? rc : stick(m, err, rc);
}

/* Part headers are complete in m->hdr: find the disposition and start the part. */
static mlp_err begin_part(multipart *m, mlp_error *err)
{
    char name[256] = "", filename[256] = "", ctype[256] = "";
    int have_disp = 0, have_ctype = 0;
    m->hdr[m->hlen] = '\0';
    char *line = m->hdr;
    while (*line) {
        char *end = strstr(line, "\r\n");
        if (!end) return malformed(m, err, "header line without CRLF");
        *end = '\0';
        if (*line) {
            char *colon = strchr(line, ':');
            if (!colon || line[0] == ' ' || line[0] == '\t')
                return malformed(m, err, "part header line is not \"Name: value\"");
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t') v++;
            if (strcasecmp(line, "Content-Disposition") == 0) {
                if (strncasecmp(v, "form-data", 9) != 0 || (v[9] && v[9] != ';' && v[9] != ' '))
                    return malformed(m, err, "Content-Disposition is not form-data");
                int r = header_param(v, "name", name, sizeof name);
                if (r <= 0)
                    return malformed(m, err,
                                     r < 0 ? "bad Content-Disposition parameters"
                                           : "a part has no name");
                r = header_param(v, "filename", filename, sizeof filename);
                if (r < 0) return malformed(m, err, "bad Content-Disposition filename");
                have_disp = 1 + (r > 0);
            } else if (strcasecmp(line, "Content-Type") == 0) {
                snprintf(ctype, sizeof ctype, "%s", v);
                have_ctype = 1;
            }
        }
        line = end + 2;
    }
    if (!have_disp) return malformed(m, err, "a part has no Content-Disposition header");
    m->state = S_BODY;
    m->parts++;
    mlp_err rc = m->cb->part_begin(m->ctx, name, have_disp == 2 ? filename : NULL,
                                   have_ctype ? ctype : NULL, err);
    return rc == MLP_OK ? rc : stick(m, err, rc);
}

mlp_err multipart_feed(multipart *m, const unsigned char *d, size_t n, mlp_error *err)
{
    if (m->failed) {
        if (err) *err = m->failed_err;
        return m->failed;
    }
    mlp_err rc;
    size_t i = 0;
    while (i < n) {
        switch (m->state) {
        case S_PREAMBLE:
        case S_BODY:
            if (m->matched > 0) {
                if (d[i] == (unsigned char)m->delim[m->matched]) {
                    i++;
                    if (++m->matched == m->dlen) {
                        m->matched = 0;
                        if (m->state == S_BODY && (rc = m->cb->part_end(m->ctx, err)) != MLP_OK)
                            return stick(m, err, rc);
                        m->state = S_AD_FIRST;
                    }
                    break;
                }
                rc = body_bytes(m, (const unsigned char *)m->delim, m->matched, err);
                m->matched = 0;
                if (rc != MLP_OK) return rc;
                break;
            }
            {
                /* The next CR that may start the delimiter: one whose following bytes in this
                 * chunk match it as far as they go. Others (a CSV's CRLF line ends) stay data. */
                const unsigned char *cr = d + i;
                while ((cr = memchr(cr, '\r', n - (size_t)(cr - d))) != NULL) {
                    size_t avail = n - (size_t)(cr - d);
                    if (memcmp(cr, m->delim, avail < m->dlen ? avail : m->dlen) == 0) break;
                    cr++;
                }
                size_t j = cr ? (size_t)(cr - d) : n;
                if ((rc = body_bytes(m, d + i, j - i, err)) != MLP_OK) return rc;
                i = j;
                if (cr) {
                    m->matched = 1;
                    i++;
                }
            }
            break;
        case S_AD_FIRST:
            if (d[i] == '-') {
                m->state = S_AD_DASH;
                i++;
                break;
            }
            m->state = S_AD_LWS;
            break;
        case S_AD_DASH:
            if (d[i] != '-') return malformed(m, err, "a boundary is followed by a single '-'");
            m->state = S_END;
            i++;
            break;
        case S_AD_LWS:
            if (d[i] == ' ' || d[i] == '\t') {
                i++;
            } else if (d[i] == '\r') {
                m->state = S_AD_LF;
                i++;
            } else {
                return malformed(m, err, "text after a boundary on the same line");
            }
            break;
        case S_AD_LF:
            if (d[i] != '\n') return malformed(m, err, "a boundary line ends in CR without LF");
            m->state = S_HEADERS;
            m->hlen = 0;
            i++;
            break;
        case S_HEADERS:
            if (m->hlen == MAX_HEADERS) return malformed(m, err, "part headers over 16 KiB");
            m->hdr[m->hlen++] = (char)d[i++];
            if ((m->hlen == 2 && memcmp(m->hdr, "\r\n", 2) == 0) ||
                (m->hlen >= 4 && memcmp(m->hdr + m->hlen - 4, "\r\n\r\n", 4) == 0)) {
                m->hlen -= 2; /* keep one CRLF after the last line */
                if ((rc = begin_part(m, err)) != MLP_OK) return rc;
            }
            break;
        case S_END:
            return MLP_OK; /* the epilogue is ignored */
        }
    }
    return MLP_OK;
}

mlp_err multipart_finish(multipart *m, mlp_error *err)
{
    if (m->failed) {
        if (err) *err = m->failed_err;
        return m->failed;
    }
    if (m->state != S_END)
        return malformed(m, err,
                         m->parts == 0 && m->state == S_PREAMBLE
                             ? "no boundary found (is the boundary in Content-Type right?)"
                             : "the body ends before the closing boundary");
    return MLP_OK;
}
