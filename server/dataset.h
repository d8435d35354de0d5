/* dataset.h — an uploaded dataset in memory (ds_table) and the row-by-row builder that the
 * upload parsers (csv.c, idx.c, api/ingest.c) feed while bytes arrive. Which text is a number
 * (ds_parse_number, the test every text parser shares) is dsnum.h's, included here.
 *
 * A column is numeric when every cell parses as a finite number; otherwise it is categorical
 * and each cell holds the index of its level (levels sorted: numerically when every level looks
 * like a number, else bytewise). Column statistics (min, max, mean, std — population std) are
 * kept for numeric columns. The builder grows its float matrix in 32 MiB blocks (no realloc
 * copies) joined once at finish, so peak memory stays within about 2x the final matrix, and
 * remembers, per categorical column, the
 * first data row whose cell is not a number, for the "column X is not numeric (row R)" error.
 * A table may carry an image shape (its numeric columns are images, laid out as core/augment.h
 * says): IDX image uploads set it, the API declares it.
 *
 * Owns: a ds_table owns its columns, names, levels and data. Borrows: nothing.
 * Threading: a builder or table belongs to one thread; a finished table may be shared read-only. */
#ifndef DATASET_H
#define DATASET_H

#include "dsnum.h"
#include "mlp.h"

#include <stddef.h>

#define DS_MAX_COLS 1000000

typedef enum { COL_NUMERIC = 0, COL_CATEGORICAL = 1 } col_type;

typedef struct {
    char *name; /* owned, NUL-terminated */
    col_type type;
    double min, max;     /* numeric columns */
    double mean, std;    /* numeric columns; population standard deviation */
    int n_levels;        /* categorical columns */
    char **levels;       /* n_levels owned strings, sorted as described above */
    long first_text_row; /* categorical: 1-based data row of the first non-number cell; else 0 */
} ds_column;

typedef struct {
    long rows;
    int cols;
    ds_column *columns; /* cols entries, owned */
    float *data;        /* rows * cols, row-major, owned; may be NULL for metadata-only tables;
                           categorical cells hold the level index */
    int image[3];       /* image shape {height, width, channels} of the numeric columns; all 0
                           when the dataset is not an image dataset (core/augment.h) */
} ds_table;

/* NULL-tolerant. Frees columns, levels, data and the table. */
void ds_table_free(ds_table *t);
/* Index of the column named `name`, or -1. */
int ds_table_find(const ds_table *t, const char *name);

typedef struct ds_builder ds_builder;

/* max_bytes is the memory budget of the table being built: the matrix (rows*cols*4 bytes) plus
 * every distinct category name (its bytes + 41 for its copy, pointer, length and hash slots).
 * A row, a reserve or a new level that would pass it is MLP_ETOOLARGE naming the budget, before
 * the memory is allocated (a declared IDX count fails at its header). 0 = unbounded.
 * *out is new. */
mlp_err ds_builder_new(size_t max_bytes, ds_builder **out);
void ds_builder_free(ds_builder *b);

/* Declares the column names (header). Must come before any row; without it, the first row
 * fixes the width and columns are named c0, c1, ... (or by ds_builder_set_default_names). */
mlp_err ds_builder_set_columns(ds_builder *b, int cols, const char *const *names, mlp_error *err);
/* Renames the columns once rows have fixed their count (a JSON "columns" after "rows"): cols
 * must equal that count (MLP_EINVAL otherwise, and for empty or repeated names). */
mlp_err ds_builder_rename_columns(ds_builder *b, int cols, const char *const *names,
                                  mlp_error *err);
/* Names columns prefix0..prefix{cols-1} (e.g. "p" for IDX images). */
mlp_err ds_builder_set_prefix_names(ds_builder *b, int cols, const char *prefix, mlp_error *err);

/* One row of text cells (CSV, JSON strings): each cell is parsed as a finite number when it is
 * one (strict: the whole cell, surrounding spaces allowed), otherwise it is kept as a level.
 * Empty cells and ragged rows are MLP_EINVAL with err->row / err->col (1-based data row and
 * column, as a spreadsheet shows) set. */
mlp_err ds_builder_add_text_row(ds_builder *b, int n, const char *const *cells, const size_t *lens,
                                mlp_error *err);
/* One row of numbers (IDX, JSON numbers). Non-finite values are MLP_EINVAL naming row/col. */
mlp_err ds_builder_add_row(ds_builder *b, int n, const float *vals, mlp_error *err);
/* Marks column `col` categorical with the given levels up front (IDX labels "0".."9"); cells
 * added later through ds_builder_add_row must then be valid level indices. */
mlp_err ds_builder_declare_categorical(ds_builder *b, int col, int n_levels,
                                       const char *const *levels, mlp_error *err);
/* Rows added so far. */
long ds_builder_rows(const ds_builder *b);
/* Columns fixed so far (0 before the header or first row). */
int ds_builder_cols(const ds_builder *b);

/* Pre-allocates room for `rows` rows once the width is known (IDX headers say the count), so
 * the matrix is allocated once. MLP_ETOOLARGE past the memory budget. Optional. */
mlp_err ds_builder_reserve(ds_builder *b, long rows, mlp_error *err);
/* Overwrites column `col` of all rows with vals[0..n-1]; n must equal the row count. Used to
 * attach IDX labels that arrive after the images. A declared categorical column needs valid
 * level indices; a numeric column needs finite values. */
mlp_err ds_builder_set_column(ds_builder *b, int col, long n, const float *vals, mlp_error *err);

/* Finishes: zero rows is MLP_EINVAL ("dataset has no rows"). Computes statistics and sorts
 * levels (remapping cell indices). *out is new; the builder is left empty. */
mlp_err ds_builder_finish(ds_builder *b, ds_table **out, mlp_error *err);

#endif
