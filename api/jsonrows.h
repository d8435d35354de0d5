/* jsonrows.h — a streaming reader for the JSON dataset body
 *
 *   {"name"?: "..", "columns"?: ["..", ..], "rows": [[cell, ..], ..]}   (keys in any order)
 *
 * fed in chunks as they arrive, each row handed to a ds_builder as soon as its ']' is read, so
 * a body is never held whole nor built into a jansson tree: memory is the builder's table plus
 * the open row (its decoded text, at most JR_MAX_ROW_BYTES, and 53 bytes a cell for at most
 * DS_MAX_COLS cells), the column names and the name (at most 256 bytes). A string cell holds at
 * most JR_MAX_CELL_BYTES decoded bytes: a longer one, or a row whose text passes
 * JR_MAX_ROW_BYTES, is MLP_ETOOLARGE (413) naming the cell "rows[i][j]" (or the row "rows[i]"),
 * found as its bytes arrive, before the buffer grows past the cap. A cell is a number or a string;
 * a row of numbers only goes through ds_builder_add_row (each value read as a double, as jansson
 * does, then cast to float), a row with a string through ds_builder_add_text_row (its numbers
 * spelled as %lld or %.17g of that double, so they land in the same level as before).
 *
 * Errors match what the jansson-based reader said: "invalid JSON at line L, column C: why",
 * "unknown field", "name must be a string", "columns[j] must be a string", "rows[i] must be an
 * array", "rows[i][j] must be a number or a string", duplicate keys, nesting past max_depth
 * ("--max-json-depth"), and builder errors with err->field "rows[i][j]" (0-based JSON indices)
 * and err->row / err->col (1-based). Unlike a whole-body parse, an error is reported where it
 * is met: a bad cell in row 3 is reported even if the body is truncated later. "columns" after
 * "rows" renames the columns (same count required).
 *
 * Owns: its buffers. Borrows: the builder, for the reader's lifetime.
 * Threading: one reader belongs to one request, fed from one thread at a time. */
#ifndef JSONROWS_H
#define JSONROWS_H

#include "dataset.h"
#include "mlp.h"

#include <stddef.h>

/* A category name of 64 KiB is far past any label a model is trained on; the bound keeps one
 * huge string from being held and then copied as a level. */
#define JR_MAX_CELL_BYTES (64 * 1024)
/* The open row's decoded text (cells and their NULs): 64 MiB holds a row of DS_MAX_COLS numbers
 * of up to 60 characters each. */
#define JR_MAX_ROW_BYTES (64 * 1024 * 1024)

typedef struct jsonrows jsonrows;

/* max_depth bounds nesting (0 = 64). *out is new. */
mlp_err jr_new(ds_builder *b, int max_depth, jsonrows **out);
/* Feeds the next n bytes. Errors are sticky. */
mlp_err jr_feed(jsonrows *p, const unsigned char *d, size_t n, mlp_error *err);
/* Ends the body: it must be one complete object with "rows". *name is new (the "name" value)
 * or NULL when there was none. */
mlp_err jr_finish(jsonrows *p, char **name, mlp_error *err);
/* Bytes allocated for the open row's text (its buffers' capacity, never shrinking while the
 * reader lives): what the caps above bound. */
size_t jr_row_bytes(const jsonrows *p);
/* NULL-tolerant. */
void jr_free(jsonrows *p);

#endif
