/* csv.h — push parser for comma-separated uploads, feeding a ds_builder row by row.
 *
 * Bytes arrive in chunks of any size (one byte at a time works) and are parsed as they come:
 * RFC 4180 quoting ("a,b", "say ""hi""", newlines inside quotes), LF, CRLF or CR line ends, a
 * leading UTF-8 byte-order mark dropped, blank lines at the end ignored (a blank line followed
 * by more data is an error). A quote inside an unquoted cell, or anything but a comma or line
 * end after a closing quote, is MLP_EINVAL. The header row is decided by csv_header: in AUTO
 * mode the first row is the header when any of its non-empty cells is not a number (the strict
 * test of ds_parse_number).
 *
 * Row numbers in errors are DATA rows, 1-based, as in dataset.h: the header line is never
 * counted ("data row 1" is the first row after the header). Each message also names the
 * physical line of the file where the row starts ("(CSV line 2)"), which does count the header.
 *
 * A cell is at most CSV_MAX_CELL_BYTES and a row at most CSV_MAX_ROW_BYTES (as the JSON reader,
 * api/jsonrows.h): a longer one is MLP_ETOOLARGE (413) naming the column, checked as the bytes
 * arrive, before the row buffer grows.
 *
 * Owns: its row buffer. Borrows: the ds_builder, which must outlive the parser.
 * Threading: one parser belongs to one thread. */
#ifndef CSV_H
#define CSV_H

#include "dataset.h"
#include "mlp.h"

#include <stddef.h>

#define CSV_MAX_CELL_BYTES (64 * 1024)        /* one cell's text */
#define CSV_MAX_ROW_BYTES  (64 * 1024 * 1024) /* one row's text */

typedef enum { CSV_HEADER_AUTO = 0, CSV_HEADER_TRUE, CSV_HEADER_FALSE } csv_header;

/* Parses "auto" | "true" | "false" (NULL or "" is auto); anything else is MLP_EINVAL with
 * err->field "header". */
mlp_err csv_header_parse(const char *s, csv_header *out, mlp_error *err);

typedef struct csv_parser csv_parser;

/* *out is new. b is borrowed and receives the header (ds_builder_set_columns) and every row. */
mlp_err csv_new(ds_builder *b, csv_header mode, csv_parser **out);
/* Expected total bytes of the CSV text (e.g. the request's Content-Length), 0 = unknown. Once
 * 1024 rows are in, the parser reserves the builder's matrix for the rows that many bytes
 * should hold (from the bytes per row so far, plus 5%), so a big upload fills one matrix that is
 * only shrunk at the end. Only a hint: a wrong one costs untouched address space or extra
 * growth blocks, never a wrong result. */
void csv_set_size_hint(csv_parser *p, size_t bytes);
/* Parses the next len bytes. An error is sticky: later calls return it again. */
mlp_err csv_feed(csv_parser *p, const char *data, size_t len, mlp_error *err);
/* Ends the input: flushes a last row without a line end; an open quote is MLP_EINVAL. Does not
 * finish the builder. */
mlp_err csv_finish(csv_parser *p, mlp_error *err);
/* NULL-tolerant. */
void csv_free(csv_parser *p);

#endif
