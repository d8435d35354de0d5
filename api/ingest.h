/* ingest.h — the dataset upload pipeline: request body bytes in, ds_table out.
 *
 * The HTTP handler for POST /api/v1/datasets creates one ingest per request from the
 * Content-Type and Content-Encoding headers, feeds the body chunks as libmicrohttpd delivers
 * them and finishes when the body is complete. Everything is parsed while it arrives (a JSON
 * body row by row, jsonrows.h); only IDX labels are held whole, bounded.
 *
 *   text/csv                    CSV (csv.h), header per opts->header
 *   application/json            {"name"?, "columns"?: [..], "rows": [[..], ..]}
 *   multipart/form-data         part "file" (CSV or IDX, sniffed), or parts "images" + "labels"
 *                               (IDX pair, in either order; columns p0..p{d-1} + label), and an
 *                               optional field "name"; any other part name is MLP_EINVAL
 *   application/octet-stream    one IDX file
 *   application/gzip, x-gzip    gzip of any of CSV, IDX or JSON (sniffed after inflating)
 * Any body (and any multipart file part) may be gzip: recognised by its magic bytes, or required
 * by Content-Encoding: gzip. An unknown Content-Type or Content-Encoding is MLP_EUNSUPPORTED
 * naming it; a missing Content-Type too.
 *
 * Limits: raw body bytes, and separately the decoded bytes reaching the format parsers
 * (inflated, summed over all parts), are bounded by opts->max_bytes (MLP_ETOOLARGE, so a zip
 * bomb stops within 64 KiB past the limit); the memory of the decoded table (4 bytes a cell plus
 * category names, see ds_builder_new) by opts->max_table_bytes, checked as rows arrive and
 * before the matrix grows, so a small gzip that decodes to a huge matrix costs at most that.
 *
 * Quota: with opts->storage_limit set, the upload is refused (MLP_ENOSPC naming the quota, its
 * limit and use) as soon as the matrix decoded so far (rows x columns x 4 bytes, what the store
 * keeps) would bring the uploader past it, while the body still arrives; the store checks again
 * when it commits the dataset (store_dataset_create_owned), so parallel uploads cannot pass it.
 *
 * Errors carry err->row / err->col (1-based data rows, header not counted, see csv.h) for cell
 * problems, and err->field for JSON bodies ("rows[3][2]", 0-based JSON indices) and form parts.
 *
 * Owns: every parser and the table until ingest_finish hands it out. Borrows: nothing.
 * Threading: one ingest belongs to one request, fed from one thread at a time. */
#ifndef INGEST_H
#define INGEST_H

#include "csv.h"
#include "dataset.h"
#include "mlp.h"

#include <stddef.h>

typedef struct {
    csv_header header;      /* CSV header mode (?header=) */
    size_t max_bytes;       /* bound on raw and on decoded body bytes; 0 = unbounded */
    size_t max_table_bytes; /* memory budget of the decoded table (ds_builder_new); 0 = none */
    size_t size_hint; /* expected body bytes (Content-Length), 0 = unknown: lets an uncompressed
                         CSV reserve its matrix once (csv_set_size_hint) */
    int max_depth;    /* bound on the nesting of a JSON body (--max-json-depth); 0 = 64 */
    long long storage_limit; /* the uploader's storage_bytes quota (server/quota.h); 0 = none */
    long long storage_used;  /* bytes the uploader already stores */
} ingest_opts;

typedef struct ingest ingest;

/* content_type is the raw header value (parameters allowed), content_encoding may be NULL.
 * *out is new. */
mlp_err ingest_new(const char *content_type, const char *content_encoding, const ingest_opts *opts,
                   ingest **out, mlp_error *err);
/* Feeds the next len body bytes. Errors are sticky: the request should be answered with the
 * first one. */
mlp_err ingest_feed(ingest *in, const void *data, size_t len, mlp_error *err);
/* Ends the body and builds the table; an IDX image file (n × H × W, or n × H × W × C) gives
 * the table its image shape. *out is new; *name_from_form (may be NULL to ignore) is a
 * new string holding the multipart "name" field or the JSON "name", or NULL when there was none
 * (the caller validates it). */
mlp_err ingest_finish(ingest *in, ds_table **out, char **name_from_form, mlp_error *err);
/* NULL-tolerant. */
void ingest_free(ingest *in);

#endif
