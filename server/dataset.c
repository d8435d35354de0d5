/* dataset.c — the row-by-row table builder behind every upload format (see dataset.h).
 *
 * Rows land in a row-major float matrix: a base block grown by doubling up to BLOCK_BYTES, then
 * further blocks of BLOCK_BYTES each (no realloc copying of a big matrix, no re-faulting of its
 * pages), joined into one matrix at finish (peak memory: the blocks plus the final matrix, about
 * 2x; a single block is just shrunk). ds_builder_reserve sizes the base block up front. Each
 * column starts numeric; the
 * first cell that is not a number turns it categorical: from then on its cells hold level
 * indices (in order of first appearance, through a small open-addressing hash of the level
 * strings), and the numbers already stored are converted to levels. A number inside a
 * categorical column becomes the level named by its shortest float spelling ("1.0" and "1" are
 * one level "1"), so the result does not depend on where in the file the first text cell sits.
 * At finish, levels are sorted (numerically when all look like numbers), cell indices remapped,
 * and statistics of numeric columns computed in double precision. Parsing and spelling a cell's
 * number are dsnum.c's. After any error the builder
 * is only good for ds_builder_free. */
#include "dataset.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MAX_LEVELS  (1 << 24)          /* level indices are stored in floats: exact up to 2^24 */
#define BLOCK_BYTES ((size_t)32 << 20) /* size of the growth blocks past the base block */
/* What one level costs beyond its bytes and NUL: its pointer, its length, two hash slots and
 * the malloc header of its copy. Counted against the memory budget with the matrix. */
#define LEVEL_OVERHEAD 40

typedef struct {
    int cat;             /* 1 once the column is categorical */
    int declared;        /* levels fixed up front by ds_builder_declare_categorical */
    long first_text_row; /* 1-based data row of the first non-number cell, or 0 */
    char **levels;       /* n_levels owned strings, in order of first appearance */
    size_t *level_len;   /* n_levels byte lengths */
    int n_levels, cap_levels;
    int *slots;     /* hash of levels: level index + 1, 0 = empty; n_slots entries */
    size_t n_slots; /* power of two, or 0 */
} col_state;

struct ds_builder {
    size_t max_bytes;   /* memory budget: matrix rows*cols*4 + level_bytes; 0 = unbounded */
    size_t level_bytes; /* level strings held: len + 1 + LEVEL_OVERHEAD each, all columns */
    int cols;           /* 0 until the header or first row fixes the width */
    char **names;       /* cols owned names */
    long rows;          /* rows added */
    long cap_rows;      /* rows the base block and the growth blocks can hold together */
    float *data;        /* base block: base_rows * cols floats, row-major */
    long base_rows;     /* rows of the base block */
    float **blocks;     /* n_blocks growth blocks of block_rows * cols floats each */
    int n_blocks, cap_blocks;
    long block_rows; /* rows per growth block (0 until the first one) */
    col_state *cs;   /* cols entries */
    int n_cat;       /* categorical columns so far (0: the all-numeric fast path applies) */
};

/* Start of data row r (0-based, r < cap_rows). */
static inline float *row_ptr(const ds_builder *b, long r)
{
    if (r < b->base_rows) return b->data + (size_t)r * (size_t)b->cols;
    long k = r - b->base_rows;
    return b->blocks[k / b->block_rows] + (size_t)(k % b->block_rows) * (size_t)b->cols;
}

/* MLP_ETOOLARGE: `rows` rows would not fit the memory budget. */
static mlp_err over_budget(const ds_builder *b, long rows, mlp_error *err)
{
    return mlp_fail(err, MLP_ETOOLARGE,
                    "the dataset (%ld rows x %d columns, 4 bytes a cell, plus %zu bytes of "
                    "category names) exceeds the memory limit of %zu bytes",
                    rows, b->cols, b->level_bytes, b->max_bytes);
}

/* ---------------------------------------------------------------- levels */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void col_state_clear(col_state *c)
{
    for (int i = 0; i < c->n_levels; i++) free(c->levels[i]);
    free(c->levels);
    free(c->level_len);
    free(c->slots);
    memset(c, 0, sizeof *c);
}

static mlp_err rehash(col_state *c, size_t n_slots)
{
    int *slots = calloc(n_slots, sizeof *slots);
    if (!slots) return MLP_ENOMEM;
    for (int i = 0; i < c->n_levels; i++) {
        size_t k = hash_bytes(c->levels[i], c->level_len[i]) & (n_slots - 1);
        while (slots[k]) k = (k + 1) & (n_slots - 1);
        slots[k] = i + 1;
    }
    free(c->slots);
    c->slots = slots;
    c->n_slots = n_slots;
    return MLP_OK;
}

/* Index of level s[0..n) in column c, adding it when new (unless the column is declared). */
static mlp_err level_index(ds_builder *b, int col, const char *s, size_t n, int *idx,
                           mlp_error *err)
{
    col_state *c = &b->cs[col];
    if (c->n_slots == 0 || (size_t)(c->n_levels + 1) * 2 > c->n_slots) {
        if (rehash(c, c->n_slots ? c->n_slots * 2 : 16) != MLP_OK)
            return mlp_fail(err, MLP_ENOMEM, "out of memory");
    }
    size_t k = hash_bytes(s, n) & (c->n_slots - 1);
    while (c->slots[k]) {
        int i = c->slots[k] - 1;
        if (c->level_len[i] == n && memcmp(c->levels[i], s, n) == 0) {
            *idx = i;
            return MLP_OK;
        }
        k = (k + 1) & (c->n_slots - 1);
    }
    if (c->declared) {
        if (err) {
            err->row = b->rows + 1;
            err->col = col + 1;
        }
        return mlp_fail(err, MLP_EINVAL,
                        "data row %ld, column %d (\"%s\"): value \"%.*s\" is not one of the "
                        "declared levels",
                        b->rows + 1, col + 1, b->names[col], (int)(n > 64 ? 64 : n), s);
    }
    if (c->n_levels >= MAX_LEVELS) {
        if (err) err->col = col + 1;
        return mlp_fail(err, MLP_EINVAL, "column %d (\"%s\") has more than %d distinct values",
                        col + 1, b->names[col], MAX_LEVELS);
    }
    if (c->n_levels == c->cap_levels) {
        int cap = c->cap_levels ? c->cap_levels * 2 : 16;
        char **lv = realloc(c->levels, (size_t)cap * sizeof *lv);
        if (!lv) return mlp_fail(err, MLP_ENOMEM, "out of memory");
        c->levels = lv;
        size_t *ll = realloc(c->level_len, (size_t)cap * sizeof *ll);
        if (!ll) return mlp_fail(err, MLP_ENOMEM, "out of memory");
        c->level_len = ll;
        c->cap_levels = cap;
    }
    size_t cost = n + 1 + LEVEL_OVERHEAD;
    if (b->max_bytes && (cost > b->max_bytes - b->level_bytes ||
                         (size_t)b->rows > (b->max_bytes - b->level_bytes - cost) /
                                               ((size_t)b->cols * sizeof(float)))) {
        if (err) err->col = col + 1;
        return over_budget(b, b->rows, err);
    }
    char *copy = malloc(n + 1);
    if (!copy) return mlp_fail(err, MLP_ENOMEM, "out of memory");
    b->level_bytes += cost;
    memcpy(copy, s, n);
    copy[n] = '\0';
    c->levels[c->n_levels] = copy;
    c->level_len[c->n_levels] = n;
    c->slots[k] = c->n_levels + 1;
    *idx = c->n_levels++;
    return MLP_OK;
}

static mlp_err number_level(ds_builder *b, int col, float v, int *idx, mlp_error *err)
{
    char buf[48];
    ds_format_float(v, buf, sizeof buf);
    return level_index(b, col, buf, strlen(buf), idx, err);
}

/* Turns numeric column `col` categorical: the numbers already stored become levels. */
static mlp_err make_categorical(ds_builder *b, int col, mlp_error *err)
{
    col_state *c = &b->cs[col];
    c->cat = 1;
    b->n_cat++;
    c->first_text_row = b->rows + 1;
    for (long r = 0; r < b->rows; r++) {
        float *cell = row_ptr(b, r) + col;
        int idx;
        mlp_err rc = number_level(b, col, *cell, &idx, err);
        if (rc != MLP_OK) return rc;
        *cell = (float)idx;
    }
    return MLP_OK;
}

/* ---------------------------------------------------------------- builder */

mlp_err ds_builder_new(size_t max_bytes, ds_builder **out)
{
    *out = NULL;
    ds_builder *b = calloc(1, sizeof *b);
    if (!b) return MLP_ENOMEM;
    b->max_bytes = max_bytes;
    *out = b;
    return MLP_OK;
}

static void builder_reset(ds_builder *b)
{
    if (b->names)
        for (int i = 0; i < b->cols; i++) free(b->names[i]);
    free(b->names);
    if (b->cs)
        for (int i = 0; i < b->cols; i++) col_state_clear(&b->cs[i]);
    free(b->cs);
    free(b->data);
    for (int i = 0; i < b->n_blocks; i++) free(b->blocks[i]);
    free(b->blocks);
    size_t max_bytes = b->max_bytes;
    memset(b, 0, sizeof *b);
    b->max_bytes = max_bytes;
}

void ds_builder_free(ds_builder *b)
{
    if (!b) return;
    builder_reset(b);
    free(b);
}

long ds_builder_rows(const ds_builder *b)
{
    return b->rows;
}

int ds_builder_cols(const ds_builder *b)
{
    return b->cols;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Takes `names` (cols owned strings) on success and failure alike. */
static mlp_err fix_columns(ds_builder *b, int cols, char **names, mlp_error *err)
{
    mlp_err rc = MLP_OK;
    char **sorted = NULL;
    col_state *cs = NULL;
    if (b->cols != 0 || b->rows != 0) {
        rc = mlp_fail(err, MLP_EINVAL, "columns are already fixed");
        goto out;
    }
    if (cols < 1 || cols > DS_MAX_COLS) {
        rc =
            mlp_fail(err, MLP_EINVAL, "a dataset needs 1 to %d columns, not %d", DS_MAX_COLS, cols);
        goto out;
    }
    sorted = malloc((size_t)cols * sizeof *sorted);
    cs = calloc((size_t)cols, sizeof *cs);
    if (!sorted || !cs) {
        rc = mlp_fail(err, MLP_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(sorted, names, (size_t)cols * sizeof *sorted);
    qsort(sorted, (size_t)cols, sizeof *sorted, cmp_strp);
    for (int i = 1; i < cols; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            rc = mlp_fail(err, MLP_EINVAL, "column name \"%.100s\" appears more than once",
                          sorted[i]);
            goto out;
        }
    }
    b->cols = cols;
    b->names = names;
    b->cs = cs;
    names = NULL;
    cs = NULL;
out:
    free(sorted);
    free(cs);
    if (rc != MLP_OK) {
        if (names)
            for (int i = 0; i < cols; i++) free(names[i]);
        free(names);
    }
    return rc;
}

mlp_err ds_builder_set_columns(ds_builder *b, int cols, const char *const *names, mlp_error *err)
{
    if (cols < 1 || cols > DS_MAX_COLS)
        return mlp_fail(err, MLP_EINVAL, "a dataset needs 1 to %d columns, not %d", DS_MAX_COLS,
                        cols);
    char **copy = calloc((size_t)cols, sizeof *copy);
    if (!copy) return mlp_fail(err, MLP_ENOMEM, "out of memory");
    for (int i = 0; i < cols; i++) {
        if (!names[i] || !names[i][0]) {
            for (int k = 0; k < i; k++) free(copy[k]);
            free(copy);
            if (err) err->col = i + 1;
            return mlp_fail(err, MLP_EINVAL, "column %d has an empty name", i + 1);
        }
        copy[i] = strdup(names[i]);
        if (!copy[i]) {
            for (int k = 0; k < i; k++) free(copy[k]);
            free(copy);
            return mlp_fail(err, MLP_ENOMEM, "out of memory");
        }
    }
    return fix_columns(b, cols, copy, err);
}

mlp_err ds_builder_rename_columns(ds_builder *b, int cols, const char *const *names, mlp_error *err)
{
    if (b->cols == 0) return ds_builder_set_columns(b, cols, names, err);
    if (cols != b->cols)
        return mlp_fail(err, MLP_EINVAL, "%d column names for rows of %d cells", cols, b->cols);
    /* Checked on a fresh builder (names non-empty and distinct), then moved over. */
    ds_builder *tmp = NULL;
    if (ds_builder_new(0, &tmp) != MLP_OK) return mlp_fail(err, MLP_ENOMEM, "out of memory");
    mlp_err rc = ds_builder_set_columns(tmp, cols, names, err);
    if (rc == MLP_OK) {
        char **old = b->names;
        b->names = tmp->names;
        tmp->names = old;
    }
    ds_builder_free(tmp);
    return rc;
}

mlp_err ds_builder_set_prefix_names(ds_builder *b, int cols, const char *prefix, mlp_error *err)
{
    if (cols < 1 || cols > DS_MAX_COLS)
        return mlp_fail(err, MLP_EINVAL, "a dataset needs 1 to %d columns, not %d", DS_MAX_COLS,
                        cols);
    char **names = calloc((size_t)cols, sizeof *names);
    if (!names) return mlp_fail(err, MLP_ENOMEM, "out of memory");
    for (int i = 0; i < cols; i++) {
        if (asprintf(&names[i], "%s%d", prefix, i) < 0) {
            names[i] = NULL;
            for (int k = 0; k < i; k++) free(names[k]);
            free(names);
            return mlp_fail(err, MLP_ENOMEM, "out of memory");
        }
    }
    return fix_columns(b, cols, names, err);
}

/* Asks for transparent huge pages on a big matrix: first-touch page faults are a large part of
 * the cost of filling hundreds of MB (one fault per 2 MiB instead of per 4 KiB). Advisory only. */
static void advise_huge(void *p, size_t bytes)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (bytes < 4 * huge) return;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), e = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

/* Rows of b->cols floats the memory budget leaves room for next to the levels held. */
static size_t budget_rows(const ds_builder *b)
{
    if (!b->max_bytes) return SIZE_MAX;
    if (b->level_bytes >= b->max_bytes) return 0;
    return (b->max_bytes - b->level_bytes) / ((size_t)b->cols * sizeof(float));
}

/* Adds one growth block of block_rows rows. */
static mlp_err add_block(ds_builder *b, size_t cols, mlp_error *err)
{
    if (b->block_rows == 0) {
        size_t br = BLOCK_BYTES / (cols * sizeof(float));
        b->block_rows = br ? (long)br : 1;
    }
    if (b->n_blocks == b->cap_blocks) {
        int cap = b->cap_blocks ? b->cap_blocks * 2 : 16;
        float **nb = realloc(b->blocks, (size_t)cap * sizeof *nb);
        if (!nb) return mlp_fail(err, MLP_ENOMEM, "out of memory");
        b->blocks = nb;
        b->cap_blocks = cap;
    }
    size_t bytes = (size_t)b->block_rows * cols * sizeof(float);
    float *d = malloc(bytes);
    if (!d)
        return mlp_fail(err, MLP_ENOMEM, "out of memory for a %ld x %zu block", b->block_rows,
                        cols);
    advise_huge(d, bytes);
    b->blocks[b->n_blocks++] = d;
    b->cap_rows += b->block_rows;
    return MLP_OK;
}

/* Makes room for row index `rows` (one more row): the base block doubles until it holds
 * BLOCK_BYTES, then growth blocks are added. */
static mlp_err grow_to(ds_builder *b, long want_rows, mlp_error *err)
{
    if (want_rows <= b->cap_rows) return MLP_OK;
    size_t cols = (size_t)b->cols;
    size_t room = budget_rows(b);
    if ((size_t)want_rows > room) return over_budget(b, want_rows, err);
    if ((size_t)want_rows > SIZE_MAX / sizeof(float) / cols || want_rows == LONG_MAX)
        return mlp_fail(err, MLP_ETOOLARGE, "dataset too large");
    if (b->n_blocks > 0 || (size_t)b->base_rows * cols * sizeof(float) >= BLOCK_BYTES)
        return add_block(b, cols, err);
    size_t cap = b->base_rows ? (size_t)b->base_rows * 2 : 64;
    if (cap < (size_t)want_rows) cap = (size_t)want_rows;
    if (cap > room) cap = room;
    if (cap > SIZE_MAX / sizeof(float) / cols || cap > (size_t)LONG_MAX)
        return mlp_fail(err, MLP_ETOOLARGE, "dataset too large");
    float *d = realloc(b->data, cap * cols * sizeof(float));
    if (!d) return mlp_fail(err, MLP_ENOMEM, "out of memory for a %zu x %zu matrix", cap, cols);
    advise_huge(d, cap * cols * sizeof(float));
    b->data = d;
    b->base_rows = b->cap_rows = (long)cap;
    return MLP_OK;
}

mlp_err ds_builder_reserve(ds_builder *b, long rows, mlp_error *err)
{
    if (b->cols == 0) return mlp_fail(err, MLP_EINVAL, "reserve before the columns are known");
    if (rows <= b->cap_rows || b->n_blocks > 0) return MLP_OK; /* advisory once blocks exist */
    size_t cols = (size_t)b->cols;
    if ((size_t)rows > budget_rows(b)) return over_budget(b, rows, err);
    if ((size_t)rows > SIZE_MAX / sizeof(float) / cols)
        return mlp_fail(err, MLP_ETOOLARGE, "dataset too large");
    float *d = realloc(b->data, (size_t)rows * cols * sizeof(float));
    if (!d) return mlp_fail(err, MLP_ENOMEM, "out of memory for a %ld x %zu matrix", rows, cols);
    advise_huge(d, (size_t)rows * cols * sizeof(float));
    b->data = d;
    b->base_rows = b->cap_rows = rows;
    return MLP_OK;
}

/* Joins the base and growth blocks into one matrix of exactly rows * cols floats in b->data
 * (freeing each block once copied), or shrinks a lone base block. */
static mlp_err join_blocks(ds_builder *b, mlp_error *err)
{
    size_t cols = (size_t)b->cols, cells = (size_t)b->rows * cols;
    if (b->n_blocks == 0) {
        if (b->base_rows > b->rows) {
            float *shrunk = realloc(b->data, cells * sizeof(float));
            if (shrunk) b->data = shrunk;
        }
    } else {
        float *d = malloc(cells * sizeof(float));
        if (!d) return mlp_fail(err, MLP_ENOMEM, "out of memory for the final matrix");
        advise_huge(d, cells * sizeof(float));
        size_t base_cells = (size_t)b->base_rows * cols;
        memcpy(d, b->data, base_cells * sizeof(float));
        free(b->data);
        b->data = d;
        size_t at = base_cells, block_cells = (size_t)b->block_rows * cols;
        for (int i = 0; i < b->n_blocks; i++) {
            size_t n = cells - at < block_cells ? cells - at : block_cells;
            memcpy(d + at, b->blocks[i], n * sizeof(float));
            at += n;
            free(b->blocks[i]);
            b->blocks[i] = NULL;
        }
        b->n_blocks = 0;
    }
    b->base_rows = b->cap_rows = b->rows;
    return MLP_OK;
}

static mlp_err default_names(ds_builder *b, int n, mlp_error *err)
{
    return ds_builder_set_prefix_names(b, n, "c", err);
}

static mlp_err ragged(const ds_builder *b, int n, mlp_error *err)
{
    if (err) {
        err->row = b->rows + 1;
        err->col = 0;
    }
    return mlp_fail(err, MLP_EINVAL, "data row %ld has %d cells, expected %d", b->rows + 1, n,
                    b->cols);
}

/* The common case of pixel-like data, inlined: up to 9 plain digits (exact in a float after
 * one rounding of an exact integer). */
static inline int small_uint(const char *s, size_t len, float *v)
{
    if (len == 0 || len > 9) return 0;
    uint32_t x = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9) return 0;
        x = x * 10 + d;
    }
    *v = (float)x;
    return 1;
}

mlp_err ds_builder_add_text_row(ds_builder *b, int n, const char *const *cells, const size_t *lens,
                                mlp_error *err)
{
    mlp_err rc;
    if (b->cols == 0 && (rc = default_names(b, n, err)) != MLP_OK) return rc;
    if (n != b->cols) return ragged(b, n, err);
    if ((rc = grow_to(b, b->rows + 1, err)) != MLP_OK) return rc;
    float *row = row_ptr(b, b->rows);
    int j0 = 0;
    if (b->n_cat == 0) {
        while (j0 < n && small_uint(cells[j0], lens[j0], &row[j0])) j0++;
        if (j0 == n) {
            b->rows++;
            return MLP_OK;
        }
    }
    for (int j = j0; j < n; j++) {
        const char *s = cells[j];
        size_t len = lens[j];
        float v;
        int is_num = small_uint(s, len, &v) || ds_parse_number(s, len, &v);
        col_state *c = &b->cs[j];
        if (!is_num) {
            while (len && ds_is_space(*s)) s++, len--;
            while (len && ds_is_space(s[len - 1])) len--;
            if (len == 0) {
                if (err) {
                    err->row = b->rows + 1;
                    err->col = j + 1;
                }
                return mlp_fail(err, MLP_EINVAL, "data row %ld, column %d (\"%s\"): empty cell",
                                b->rows + 1, j + 1, b->names[j]);
            }
        }
        if (!c->cat) {
            if (is_num) {
                row[j] = v;
                continue;
            }
            if ((rc = make_categorical(b, j, err)) != MLP_OK) return rc;
        }
        int idx;
        rc = is_num ? number_level(b, j, v, &idx, err) : level_index(b, j, s, len, &idx, err);
        if (rc != MLP_OK) return rc;
        if (!is_num && c->first_text_row == 0) c->first_text_row = b->rows + 1;
        row[j] = (float)idx;
    }
    b->rows++;
    return MLP_OK;
}

mlp_err ds_builder_add_row(ds_builder *b, int n, const float *vals, mlp_error *err)
{
    mlp_err rc;
    if (b->cols == 0 && (rc = default_names(b, n, err)) != MLP_OK) return rc;
    if (n != b->cols) return ragged(b, n, err);
    if ((rc = grow_to(b, b->rows + 1, err)) != MLP_OK) return rc;
    float *row = row_ptr(b, b->rows);
    for (int j = 0; j < n; j++) {
        float v = vals[j];
        if (!isfinite(v)) {
            if (err) {
                err->row = b->rows + 1;
                err->col = j + 1;
            }
            return mlp_fail(err, MLP_EINVAL,
                            "data row %ld, column %d (\"%s\"): value is not finite", b->rows + 1,
                            j + 1, b->names[j]);
        }
        col_state *c = &b->cs[j];
        if (c->cat) {
            if (c->declared) {
                if (v < 0 || v >= (float)c->n_levels || v != floorf(v)) {
                    if (err) {
                        err->row = b->rows + 1;
                        err->col = j + 1;
                    }
                    return mlp_fail(err, MLP_EINVAL,
                                    "data row %ld, column %d (\"%s\"): %g is not a level index "
                                    "(0..%d)",
                                    b->rows + 1, j + 1, b->names[j], (double)v, c->n_levels - 1);
                }
            } else {
                int idx;
                if ((rc = number_level(b, j, v, &idx, err)) != MLP_OK) return rc;
                v = (float)idx;
            }
        }
        row[j] = v;
    }
    b->rows++;
    return MLP_OK;
}

mlp_err ds_builder_declare_categorical(ds_builder *b, int col, int n_levels,
                                       const char *const *levels, mlp_error *err)
{
    if (col < 0 || col >= b->cols)
        return mlp_fail(err, MLP_EINVAL, "no column %d to declare categorical", col + 1);
    col_state *c = &b->cs[col];
    if (c->cat) return mlp_fail(err, MLP_EINVAL, "column %d is already categorical", col + 1);
    if (n_levels < 1 || n_levels > MAX_LEVELS)
        return mlp_fail(err, MLP_EINVAL, "column %d: %d levels (need 1 to %d)", col + 1, n_levels,
                        MAX_LEVELS);
    for (long r = 0; r < b->rows; r++) {
        float v = row_ptr(b, r)[col];
        if (v < 0 || v >= (float)n_levels || v != floorf(v))
            return mlp_fail(err, MLP_EINVAL, "data row %ld, column %d: %g is not a level index",
                            r + 1, col + 1, (double)v);
    }
    for (int i = 0; i < n_levels; i++) {
        int idx;
        mlp_err rc = level_index(b, col, levels[i], strlen(levels[i]), &idx, err);
        if (rc != MLP_OK) return rc;
        if (idx != i) {
            col_state_clear(c);
            return mlp_fail(err, MLP_EINVAL, "column %d: level \"%.64s\" is declared twice",
                            col + 1, levels[i]);
        }
    }
    c->cat = 1;
    c->declared = 1;
    b->n_cat++;
    return MLP_OK;
}

mlp_err ds_builder_set_column(ds_builder *b, int col, long n, const float *vals, mlp_error *err)
{
    if (col < 0 || col >= b->cols) return mlp_fail(err, MLP_EINVAL, "no column %d", col + 1);
    if (n != b->rows)
        return mlp_fail(err, MLP_EINVAL, "column %d: %ld values for %ld rows", col + 1, n, b->rows);
    const col_state *c = &b->cs[col];
    if (c->cat && !c->declared)
        return mlp_fail(err, MLP_EINVAL, "column %d is categorical without declared levels",
                        col + 1);
    for (long r = 0; r < n; r++) {
        float v = vals[r];
        int bad = c->cat ? (v < 0 || v >= (float)c->n_levels || v != floorf(v)) : !isfinite(v);
        if (bad) {
            if (err) {
                err->row = r + 1;
                err->col = col + 1;
            }
            return mlp_fail(err, MLP_EINVAL, "data row %ld, column %d (\"%s\"): invalid value %g",
                            r + 1, col + 1, b->names[col], (double)v);
        }
        row_ptr(b, r)[col] = v;
    }
    return MLP_OK;
}

/* ---------------------------------------------------------------- finish */

typedef struct {
    const char *s;
    float v;
    int old;
} level_key;

static int cmp_level_num(const void *pa, const void *pb)
{
    const level_key *a = pa, *b = pb;
    if (a->v < b->v) return -1;
    if (a->v > b->v) return 1;
    return strcmp(a->s, b->s);
}

static int cmp_level_str(const void *pa, const void *pb)
{
    const level_key *a = pa, *b = pb;
    return strcmp(a->s, b->s);
}

/* Sorts the levels of column j into dst (new strings taken from the builder), remapping the
 * column's cells. */
static mlp_err finish_categorical(ds_builder *b, int j, ds_column *dst, mlp_error *err)
{
    col_state *c = &b->cs[j];
    int n = c->n_levels;
    level_key *keys = malloc((size_t)n * sizeof *keys);
    float *map = malloc((size_t)n * sizeof *map);
    char **levels = malloc((size_t)n * sizeof *levels);
    if (!keys || !map || !levels) {
        free(keys);
        free(map);
        free(levels);
        return mlp_fail(err, MLP_ENOMEM, "out of memory");
    }
    int numeric = 1;
    for (int i = 0; i < n; i++) {
        keys[i].s = c->levels[i];
        keys[i].old = i;
        keys[i].v = 0;
        if (numeric && !ds_parse_number(c->levels[i], c->level_len[i], &keys[i].v)) numeric = 0;
    }
    qsort(keys, (size_t)n, sizeof *keys, numeric ? cmp_level_num : cmp_level_str);
    for (int i = 0; i < n; i++) {
        map[keys[i].old] = (float)i;
        levels[i] = c->levels[keys[i].old];
    }
    for (long r = 0; r < b->rows; r++) {
        float *cell = &b->data[(size_t)r * (size_t)b->cols + (size_t)j];
        *cell = map[(int)*cell];
    }
    dst->type = COL_CATEGORICAL;
    dst->n_levels = n;
    dst->levels = levels;
    dst->first_text_row = c->first_text_row;
    free(c->levels); /* the strings now belong to dst */
    c->levels = NULL;
    c->n_levels = 0;
    free(keys);
    free(map);
    return MLP_OK;
}

/* Statistics of every numeric column, walking the matrix row by row (a column-wise walk is a
 * cache miss per cell on wide tables): pass 1 min, max and sum, pass 2 squared deviations. */
static mlp_err numeric_stats(const ds_builder *b, ds_table *t, mlp_error *err)
{
    size_t cols = (size_t)b->cols;
    double *acc = malloc(4 * cols * sizeof *acc);
    if (!acc) return mlp_fail(err, MLP_ENOMEM, "out of memory");
    double *mn = acc, *mx = acc + cols, *sum = acc + 2 * cols, *ss = acc + 3 * cols;
    for (size_t j = 0; j < cols; j++) {
        mn[j] = INFINITY;
        mx[j] = -INFINITY;
        sum[j] = ss[j] = 0;
    }
    for (long r = 0; r < b->rows; r++) {
        const float *row = b->data + (size_t)r * cols;
        for (size_t j = 0; j < cols; j++) {
            double v = row[j];
            mn[j] = v < mn[j] ? v : mn[j];
            mx[j] = v > mx[j] ? v : mx[j];
            sum[j] += v;
        }
    }
    for (size_t j = 0; j < cols; j++) sum[j] /= (double)b->rows; /* now the mean */
    for (long r = 0; r < b->rows; r++) {
        const float *row = b->data + (size_t)r * cols;
        for (size_t j = 0; j < cols; j++) {
            double d = row[j] - sum[j];
            ss[j] += d * d;
        }
    }
    for (size_t j = 0; j < cols; j++) {
        ds_column *dst = &t->columns[j];
        if (b->cs[j].cat) continue;
        dst->type = COL_NUMERIC;
        dst->min = mn[j];
        dst->max = mx[j];
        dst->mean = sum[j];
        dst->std = sqrt(ss[j] / (double)b->rows);
    }
    free(acc);
    return MLP_OK;
}

mlp_err ds_builder_finish(ds_builder *b, ds_table **out, mlp_error *err)
{
    *out = NULL;
    if (b->rows == 0) return mlp_fail(err, MLP_EINVAL, "dataset has no rows");
    ds_table *t = calloc(1, sizeof *t);
    if (!t) return mlp_fail(err, MLP_ENOMEM, "out of memory");
    t->columns = calloc((size_t)b->cols, sizeof *t->columns);
    if (!t->columns) {
        free(t);
        return mlp_fail(err, MLP_ENOMEM, "out of memory");
    }
    t->cols = b->cols;
    t->rows = b->rows;
    mlp_err rc = join_blocks(b, err);
    if (rc != MLP_OK) {
        ds_table_free(t);
        return rc;
    }
    for (int j = 0; j < b->cols; j++) {
        ds_column *dst = &t->columns[j];
        if (b->cs[j].cat) {
            rc = finish_categorical(b, j, dst, err);
            if (rc != MLP_OK) {
                ds_table_free(t);
                return rc;
            }
        }
        dst->name = b->names[j];
        b->names[j] = NULL;
    }
    rc = numeric_stats(b, t, err);
    if (rc != MLP_OK) {
        ds_table_free(t);
        return rc;
    }
    t->data = b->data;
    b->data = NULL;
    builder_reset(b);
    *out = t;
    return MLP_OK;
}

/* ---------------------------------------------------------------- table */

void ds_table_free(ds_table *t)
{
    if (!t) return;
    if (t->columns) {
        for (int j = 0; j < t->cols; j++) {
            ds_column *c = &t->columns[j];
            free(c->name);
            for (int i = 0; i < c->n_levels; i++) free(c->levels[i]);
            free(c->levels);
        }
    }
    free(t->columns);
    free(t->data);
    free(t);
}

int ds_table_find(const ds_table *t, const char *name)
{
    for (int j = 0; j < t->cols; j++)
        if (t->columns[j].name && strcmp(t->columns[j].name, name) == 0) return j;
    return -1;
}
