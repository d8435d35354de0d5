/* ingest.c — upload pipeline (see ingest.h).
 *
 * A "stream" is one byte sequence to decode: the request body, or the body of one multipart
 * part. Each stream runs through its own gunzip (pass-through unless the bytes start with the
 * gzip magic), then into a leaf chosen by content type or, when the type leaves it open
 * (application/gzip, a multipart "file" part), by sniffing the first four decoded bytes: IDX
 * magic, a '{' for JSON, else CSV. The leaves are the CSV, IDX and JSON (jsonrows.h) push
 * parsers, the "name" field buffer, and for the body of a multipart request the multipart parser,
 * whose callbacks open, feed and close part streams. All leaves share one ds_builder. */
#include "ingest.h"

#include "gunzip.h"
#include "idx.h"
#include "jsonrows.h"
#include "multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_NAME_FIELD 256

enum {
    K_SNIFF,     /* decide from the first bytes among `allowed` */
    K_CSV,       /* -> csv parser */
    K_JSON,      /* -> in->jr, the streaming JSON reader */
    K_IDX,       /* -> single IDX parser */
    K_IMAGES,    /* -> in->images */
    K_LABELS,    /* -> in->labels */
    K_NAME,      /* -> in->name buffer */
    K_MULTIPART, /* -> in->mp */
    K_IGNORE
};

enum { A_CSV = 1, A_IDX = 2, A_JSON = 4 };

typedef struct {
    struct ingest *in;     /* back pointer */
    gunzip *gz;            /* owned */
    int kind;              /* K_* */
    unsigned allowed;      /* A_* for K_SNIFF */
    unsigned char head[4]; /* sniffed bytes not yet forwarded */
    size_t nhead;
    const char *what; /* "body", "part \"file\"" ... for messages */
} stream;

struct ingest {
    ingest_opts opts;
    ds_builder *b;     /* owned */
    size_t raw_bytes;  /* body bytes fed */
    size_t leaf_bytes; /* decoded bytes that reached a leaf, all streams */
    stream body;
    stream part; /* the open multipart part, when part_open */
    int part_open;
    multipart *mp;      /* owned, multipart bodies only */
    csv_parser *csv;    /* owned; one CSV per upload */
    idx_parser *idx;    /* owned single IDX file */
    idx_parser *images; /* owned pair parsers */
    idx_parser *labels;
    int seen_file, seen_images, seen_labels, seen_name;
    int csv_hinted; /* the size hint went to the CSV parser (or was not for it) */
    char *name;     /* name field bytes, NUL-terminated, or NULL */
    size_t name_len;
    jsonrows *jr; /* owned; JSON bodies only */
    mlp_err failed;
    mlp_error failed_err;
};

static mlp_err stream_sink(void *ctx, const unsigned char *d, size_t n, mlp_error *err);

static mlp_err stream_open(ingest *in, stream *s, int kind, unsigned allowed, int force_gzip,
                           const char *what, mlp_error *err)
{
    memset(s, 0, sizeof *s);
    s->in = in;
    s->kind = kind;
    s->allowed = allowed;
    s->what = what;
    if (gunzip_new(in->opts.max_bytes, force_gzip, stream_sink, s, &s->gz) != MLP_OK)
        return mlp_fail(err, MLP_ENOMEM, "out of memory");
    return MLP_OK;
}

static mlp_err leaf_start(ingest *in, stream *s, mlp_error *err)
{
    switch (s->kind) {
    case K_CSV:
        if (in->csv) return mlp_fail(err, MLP_EINVAL, "more than one CSV file in the upload");
        if (csv_new(in->b, in->opts.header, &in->csv) != MLP_OK)
            return mlp_fail(err, MLP_ENOMEM, "out of memory");
        break;
    case K_JSON:
        if (jr_new(in->b, in->opts.max_depth, &in->jr) != MLP_OK)
            return mlp_fail(err, MLP_ENOMEM, "out of memory");
        break;
    case K_IDX:
        if (in->idx) return mlp_fail(err, MLP_EINVAL, "more than one IDX file in the upload");
        if (idx_new(in->b, IDX_SINGLE, in->opts.max_bytes, &in->idx) != MLP_OK)
            return mlp_fail(err, MLP_ENOMEM, "out of memory");
        break;
    default:
        break;
    }
    return MLP_OK;
}

static mlp_err append_buf(char **buf, size_t *len, size_t *cap, const unsigned char *d, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < *len + n + 1) c *= 2;
        char *nb = realloc(*buf, c);
        if (!nb) return MLP_ENOMEM;
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, d, n);
    *len += n;
    (*buf)[*len] = '\0';
    return MLP_OK;
}

/* Hands decoded bytes to the leaf of stream s. */
static mlp_err leaf_feed(ingest *in, stream *s, const unsigned char *d, size_t n, mlp_error *err)
{
    if (s->kind != K_MULTIPART && s->kind != K_IGNORE) {
        if (in->opts.max_bytes && n > in->opts.max_bytes - in->leaf_bytes)
            return mlp_fail(err, MLP_ETOOLARGE,
                            "the upload decodes to more than the limit of %zu bytes",
                            in->opts.max_bytes);
        in->leaf_bytes += n;
    }
    switch (s->kind) {
    case K_CSV:
        if (!in->csv_hinted) { /* by now gunzip knows whether it inflates: then no hint */
            in->csv_hinted = 1;
            if (in->opts.size_hint && !gunzip_is_gzip(s->gz))
                csv_set_size_hint(in->csv, in->opts.size_hint);
        }
        return csv_feed(in->csv, (const char *)d, n, err);
    case K_IDX:
        return idx_feed(in->idx, d, n, err);
    case K_IMAGES:
        return idx_feed(in->images, d, n, err);
    case K_LABELS:
        return idx_feed(in->labels, d, n, err);
    case K_MULTIPART:
        return multipart_feed(in->mp, d, n, err);
    case K_JSON:
        return jr_feed(in->jr, d, n, err);
    case K_NAME: {
        if (in->name_len + n > MAX_NAME_FIELD) {
            if (err) snprintf(err->field, sizeof err->field, "name");
            return mlp_fail(err, MLP_EINVAL, "the name field is longer than %d bytes",
                            MAX_NAME_FIELD);
        }
        size_t len = in->name_len, cap = in->name ? MAX_NAME_FIELD + 1 : 0;
        if (!in->name && !(in->name = malloc(MAX_NAME_FIELD + 1)))
            return mlp_fail(err, MLP_ENOMEM, "out of memory");
        cap = MAX_NAME_FIELD + 1;
        if (append_buf(&in->name, &len, &cap, d, n) != MLP_OK)
            return mlp_fail(err, MLP_ENOMEM, "out of memory");
        in->name_len = len;
        return MLP_OK;
    }
    default:
        return MLP_OK;
    }
}

/* Chooses the leaf of a sniffing stream from the bytes in s->head. */
static mlp_err sniff_decide(ingest *in, stream *s, mlp_error *err)
{
    size_t k = 0;
    while (k < s->nhead &&
           (s->head[k] == ' ' || s->head[k] == '\t' || s->head[k] == '\r' || s->head[k] == '\n'))
        k++;
    if ((s->allowed & A_IDX) && idx_sniff(s->head, s->nhead))
        s->kind = K_IDX;
    else if ((s->allowed & A_JSON) && k < s->nhead && s->head[k] == '{')
        s->kind = K_JSON;
    else if (s->allowed & A_CSV)
        s->kind = K_CSV;
    else
        return mlp_fail(err, MLP_EUNSUPPORTED, "%s is not a recognised format", s->what);
    mlp_err rc = leaf_start(in, s, err);
    if (rc != MLP_OK) return rc;
    size_t nh = s->nhead;
    s->nhead = 0;
    return leaf_feed(in, s, s->head, nh, err);
}

static mlp_err stream_sink(void *ctx, const unsigned char *d, size_t n, mlp_error *err)
{
    stream *s = ctx;
    ingest *in = s->in;
    if (s->kind == K_SNIFF) {
        while (n && s->nhead < sizeof s->head) {
            s->head[s->nhead++] = *d++;
            n--;
        }
        if (s->nhead < sizeof s->head) return MLP_OK;
        mlp_err rc = sniff_decide(in, s, err);
        if (rc != MLP_OK) return rc;
    }
    if (n == 0) return MLP_OK;
    return leaf_feed(in, s, d, n, err);
}

/* The stream's raw bytes are all fed: flush gunzip and the sniffer, finish the leaf. */
static mlp_err stream_close(ingest *in, stream *s, mlp_error *err)
{
    mlp_err rc = gunzip_finish(s->gz, err);
    if (rc != MLP_OK) return rc;
    if (s->kind == K_SNIFF) {
        if (s->nhead == 0)
            return mlp_fail(err, MLP_EINVAL, "%s is empty: dataset has no rows", s->what);
        if ((rc = sniff_decide(in, s, err)) != MLP_OK) return rc;
    }
    switch (s->kind) {
    case K_CSV:
        return csv_finish(in->csv, err);
    case K_IDX:
        return idx_finish(in->idx, err);
    case K_IMAGES:
        return idx_finish(in->images, err);
    case K_LABELS:
        return idx_finish(in->labels, err);
    case K_MULTIPART:
        return multipart_finish(in->mp, err);
    default:
        return MLP_OK;
    }
}

/* ---------------------------------------------------------------- multipart callbacks */

static mlp_err part_begin(void *ctx, const char *name, const char *filename,
                          const char *content_type, mlp_error *err)
{
    (void)filename;
    (void)content_type;
    ingest *in = ctx;
    int kind;
    unsigned allowed = 0;
    int *seen;
    const char *what;
    if (strcmp(name, "file") == 0) {
        kind = K_SNIFF;
        allowed = A_CSV | A_IDX;
        seen = &in->seen_file;
        what = "part \"file\"";
    } else if (strcmp(name, "images") == 0) {
        kind = K_IMAGES;
        seen = &in->seen_images;
        what = "part \"images\"";
    } else if (strcmp(name, "labels") == 0) {
        kind = K_LABELS;
        seen = &in->seen_labels;
        what = "part \"labels\"";
    } else if (strcmp(name, "name") == 0) {
        kind = K_NAME;
        seen = &in->seen_name;
        what = "field \"name\"";
    } else {
        if (err) snprintf(err->field, sizeof err->field, "%s", name);
        return mlp_fail(err, MLP_EINVAL,
                        "unknown form field \"%.64s\" (expected file, images, labels or name)",
                        name);
    }
    if (*seen) {
        if (err) snprintf(err->field, sizeof err->field, "%s", name);
        return mlp_fail(err, MLP_EINVAL, "form field \"%s\" appears twice", name);
    }
    *seen = 1;
    if (in->seen_file && (in->seen_images || in->seen_labels))
        return mlp_fail(err, MLP_EINVAL,
                        "send either a \"file\" part or \"images\" + \"labels\" parts, not both");
    if (kind == K_IMAGES && idx_new(in->b, IDX_IMAGES, in->opts.max_bytes, &in->images) != MLP_OK)
        return mlp_fail(err, MLP_ENOMEM, "out of memory");
    if (kind == K_LABELS && idx_new(NULL, IDX_LABELS, in->opts.max_bytes, &in->labels) != MLP_OK)
        return mlp_fail(err, MLP_ENOMEM, "out of memory");
    mlp_err rc = stream_open(in, &in->part, kind, allowed, 0, what, err);
    if (rc != MLP_OK) return rc;
    in->part_open = 1;
    return MLP_OK;
}

static mlp_err part_data(void *ctx, const unsigned char *d, size_t n, mlp_error *err)
{
    ingest *in = ctx;
    return gunzip_feed(in->part.gz, d, n, err);
}

static mlp_err part_end(void *ctx, mlp_error *err)
{
    ingest *in = ctx;
    mlp_err rc = stream_close(in, &in->part, err);
    gunzip_free(in->part.gz);
    in->part.gz = NULL;
    in->part_open = 0;
    return rc;
}

static const multipart_callbacks mp_callbacks = {part_begin, part_data, part_end};

/* ---------------------------------------------------------------- public */

static int media_is(const char *ct, size_t len, const char *type)
{
    return strlen(type) == len && strncasecmp(ct, type, len) == 0;
}

mlp_err ingest_new(const char *content_type, const char *content_encoding, const ingest_opts *opts,
                   ingest **out, mlp_error *err)
{
    *out = NULL;
    mlp_err rc = MLP_OK;
    int force = 0;
    if (content_encoding && *content_encoding && strcasecmp(content_encoding, "identity") != 0) {
        if (strcasecmp(content_encoding, "gzip") == 0 ||
            strcasecmp(content_encoding, "x-gzip") == 0)
            force = 1;
        else
            return mlp_fail(err, MLP_EUNSUPPORTED,
                            "Content-Encoding \"%.64s\" is not supported (use gzip or none)",
                            content_encoding);
    }
    if (!content_type || !*content_type)
        return mlp_fail(err, MLP_EUNSUPPORTED,
                        "no Content-Type: send text/csv, application/json, multipart/form-data, "
                        "application/octet-stream (IDX) or application/gzip");
    const char *ct = content_type;
    while (*ct == ' ' || *ct == '\t') ct++;
    size_t len = strcspn(ct, ";");
    while (len && (ct[len - 1] == ' ' || ct[len - 1] == '\t')) len--;

    ingest *in = calloc(1, sizeof *in);
    if (!in) return mlp_fail(err, MLP_ENOMEM, "out of memory");
    in->opts = *opts;
    if (ds_builder_new(opts->max_table_bytes, &in->b) != MLP_OK) {
        rc = mlp_fail(err, MLP_ENOMEM, "out of memory");
        goto out;
    }
    if (media_is(ct, len, "text/csv")) {
        rc = stream_open(in, &in->body, K_CSV, 0, force, "body", err);
        if (rc == MLP_OK) rc = leaf_start(in, &in->body, err);
    } else if (media_is(ct, len, "application/json")) {
        rc = stream_open(in, &in->body, K_JSON, 0, force, "body", err);
        if (rc == MLP_OK) rc = leaf_start(in, &in->body, err);
    } else if (media_is(ct, len, "application/octet-stream")) {
        rc = stream_open(in, &in->body, K_IDX, 0, force, "body", err);
        if (rc == MLP_OK) rc = leaf_start(in, &in->body, err);
    } else if (media_is(ct, len, "application/gzip") || media_is(ct, len, "application/x-gzip")) {
        if (force) {
            rc = mlp_fail(err, MLP_EUNSUPPORTED,
                          "application/gzip with Content-Encoding: gzip (gzip twice) is not "
                          "supported");
            goto out;
        }
        rc = stream_open(in, &in->body, K_SNIFF, A_CSV | A_IDX | A_JSON, 1, "body", err);
    } else if (media_is(ct, len, "multipart/form-data")) {
        char boundary[80];
        if ((rc = multipart_boundary(content_type, boundary, sizeof boundary, err)) != MLP_OK)
            goto out;
        if (multipart_new(boundary, &mp_callbacks, in, &in->mp) != MLP_OK) {
            rc = mlp_fail(err, MLP_ENOMEM, "out of memory");
            goto out;
        }
        rc = stream_open(in, &in->body, K_MULTIPART, 0, force, "body", err);
    } else {
        rc = mlp_fail(err, MLP_EUNSUPPORTED,
                      "Content-Type \"%.*s\" is not supported: send text/csv, application/json, "
                      "multipart/form-data, application/octet-stream (IDX) or application/gzip",
                      (int)(len > 100 ? 100 : len), ct);
    }
out:
    if (rc != MLP_OK) {
        ingest_free(in);
        return rc;
    }
    *out = in;
    return MLP_OK;
}

/* MLP_ENOSPC once the matrix decoded so far would pass the uploader's storage quota. */
static mlp_err storage_check(const ingest *in, mlp_error *e)
{
    if (in->opts.storage_limit <= 0) return MLP_OK;
    long long matrix = (long long)ds_builder_rows(in->b) * ds_builder_cols(in->b) * 4;
    if (in->opts.storage_used + matrix <= in->opts.storage_limit) return MLP_OK;
    return mlp_fail(e, MLP_ENOSPC,
                    "quota storage_bytes exceeded: limit %lld, used %lld, and this upload is "
                    "already %lld bytes of matrix; delete datasets or model versions to make room",
                    in->opts.storage_limit, in->opts.storage_used, matrix);
}

mlp_err ingest_feed(ingest *in, const void *data, size_t len, mlp_error *err)
{
    if (in->failed) {
        if (err) *err = in->failed_err;
        return in->failed;
    }
    mlp_error e = {0};
    mlp_err rc;
    if (in->opts.max_bytes && len > in->opts.max_bytes - in->raw_bytes)
        rc = mlp_fail(&e, MLP_ETOOLARGE, "the upload is larger than the limit of %zu bytes",
                      in->opts.max_bytes);
    else
        rc = gunzip_feed(in->body.gz, data, len, &e);
    in->raw_bytes += len;
    if (rc == MLP_OK) rc = storage_check(in, &e);
    if (rc != MLP_OK) {
        in->failed = rc;
        in->failed_err = e;
        if (err) *err = e;
    }
    return rc;
}

mlp_err ingest_finish(ingest *in, ds_table **out, char **name_from_form, mlp_error *err)
{
    *out = NULL;
    if (name_from_form) *name_from_form = NULL;
    if (in->failed) {
        if (err) *err = in->failed_err;
        return in->failed;
    }
    mlp_error e = {0};
    char *name = NULL;
    mlp_err rc = stream_close(in, &in->body, &e);
    if (rc != MLP_OK) goto out;
    if (in->mp) {
        if (in->seen_images || in->seen_labels) {
            if (!in->seen_images || !in->seen_labels) {
                rc = mlp_fail(&e, MLP_EINVAL,
                              "an IDX upload needs both \"images\" and "
                              "\"labels\" parts");
                goto out;
            }
            if ((rc = idx_attach_labels(in->b, in->images, in->labels, &e)) != MLP_OK) goto out;
        } else if (!in->seen_file) {
            rc = mlp_fail(&e, MLP_EINVAL,
                          "the form has no \"file\" part (nor \"images\" + \"labels\" parts)");
            goto out;
        }
        if (in->name) {
            if (!(name = strdup(in->name))) {
                rc = mlp_fail(&e, MLP_ENOMEM, "out of memory");
                goto out;
            }
        } else if (in->seen_name && !(name = strdup(""))) {
            rc = mlp_fail(&e, MLP_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (in->body.kind == K_JSON && (rc = jr_finish(in->jr, &name, &e)) != MLP_OK) goto out;
    rc = ds_builder_finish(in->b, out, &e);
    if (rc == MLP_OK && !idx_image_shape(in->images, (*out)->image))
        idx_image_shape(in->idx, (*out)->image);
out:
    if (rc != MLP_OK) {
        free(name);
        in->failed = rc;
        in->failed_err = e;
        if (err) *err = e;
        return rc;
    }
    if (name_from_form)
        *name_from_form = name;
    else
        free(name);
    return MLP_OK;
}

void ingest_free(ingest *in)
{
    if (!in) return;
    gunzip_free(in->body.gz);
    gunzip_free(in->part.gz);
    multipart_free(in->mp);
    csv_free(in->csv);
    idx_free(in->idx);
    idx_free(in->images);
    idx_free(in->labels);
    ds_builder_free(in->b);
    free(in->name);
    jr_free(in->jr);
    free(in);
}
