/* csv.c — RFC 4180 push parser (see csv.h).
 *
 * A small state machine over the bytes of each chunk. Unquoted runs are found with a 256-entry
 * table and copied into the current row's buffer in one memcpy; cells are recorded as offsets
 * (the buffer may move while it grows) and turned into pointers when the row ends, then handed
 * to ds_builder_add_text_row, which parses the numbers. Nothing but the current row is kept. */
#include "csv.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    ST_FIELD_START, /* at the start of a cell */
    ST_UNQUOTED,    /* inside an unquoted cell */
    ST_QUOTED,      /* inside a quoted cell */
    ST_QUOTE,       /* saw a quote inside a quoted cell: escaped quote or closing quote */
    ST_CR           /* just ended a row on CR: swallow one LF */
};

struct csv_parser {
    ds_builder *b; /* borrowed */
    csv_header mode;
    int state;          /* ST_* */
    int seen_first_row; /* the header decision has been made */
    char *buf;          /* current row's cell bytes (unquoted), len used, cap allocated */
    size_t len, cap;
    size_t *starts;    /* ncells cell offsets into buf; cap_cells allocated */
    size_t *lens;      /* ncells cell lengths */
    const char **ptrs; /* cap_cells scratch pointers built at row end */
    int ncells, cap_cells;
    size_t cell_start;    /* offset of the cell being read */
    int row_has_quote;    /* a cell of the current row was quoted (so it is not blank) */
    long line;            /* physical line being read, 1-based */
    long row_line;        /* physical line where the current row starts */
    long blank_line;      /* line of the first blank line not yet followed by data, or 0 */
    size_t size_hint;     /* expected total bytes, 0 = unknown or already used */
    size_t fed;           /* bytes fed so far */
    mlp_err failed;       /* sticky error */
    mlp_error failed_err; /* its detail */
};

/* Bytes that end an unquoted run. A NUL byte is refused: it would cut a cell short when the
 * cell becomes a C string (binary data is not CSV). */
static const unsigned char special[256] = {
    [','] = 1, ['\n'] = 1, ['\r'] = 1, ['"'] = 1, ['\0'] = 1};

mlp_err csv_header_parse(const char *s, csv_header *out, mlp_error *err)
{
    if (!s || !*s || strcmp(s, "auto") == 0) {
        *out = CSV_HEADER_AUTO;
    } else if (strcmp(s, "true") == 0) {
        *out = CSV_HEADER_TRUE;
    } else if (strcmp(s, "false") == 0) {
        *out = CSV_HEADER_FALSE;
    } else {
        if (err) snprintf(err->field, sizeof err->field, "header");
        return mlp_fail(err, MLP_EINVAL, "header must be auto, true or false, not \"%.32s\"", s);
    }
    return MLP_OK;
}

mlp_err csv_new(ds_builder *b, csv_header mode, csv_parser **out)
{
    *out = NULL;
    csv_parser *p = calloc(1, sizeof *p);
    if (!p) return MLP_ENOMEM;
    p->b = b;
    p->mode = mode;
    p->line = 1;
    p->row_line = 1;
    *out = p;
    return MLP_OK;
}

void csv_free(csv_parser *p)
{
    if (!p) return;
    free(p->buf);
    free(p->starts);
    free(p->lens);
    free(p->ptrs);
    free(p);
}

static mlp_err fail(csv_parser *p, mlp_error *err, mlp_err code, const char *msg)
{
    p->failed = code;
    mlp_fail(&p->failed_err, code, "%s (CSV line %ld)", msg, p->line);
    if (err) *err = p->failed_err;
    return code;
}

/* Appends to the current row's buffer; MLP_ETOOLARGE (nothing grown) past CSV_MAX_CELL_BYTES
 * for the cell or CSV_MAX_ROW_BYTES for the row. */
static mlp_err append(csv_parser *p, const char *s, size_t n)
{
    if (p->len - p->cell_start + n > CSV_MAX_CELL_BYTES || p->len + n > CSV_MAX_ROW_BYTES)
        return MLP_ETOOLARGE;
    if (p->len + n > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + n) cap *= 2;
        char *nb = realloc(p->buf, cap);
        if (!nb) return MLP_ENOMEM;
        p->buf = nb;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    return MLP_OK;
}

/* The error of an append of n bytes that failed with rc: past a cap, it names the column (or
 * the row) and the cap, at the line where the row starts. */
static mlp_err append_failed(csv_parser *p, mlp_error *err, mlp_err rc, size_t n)
{
    if (rc != MLP_ETOOLARGE) return fail(p, err, rc, "out of memory");
    int cell = p->len - p->cell_start + n > CSV_MAX_CELL_BYTES;
    char msg[96];
    if (cell)
        snprintf(msg, sizeof msg, "column %d: a cell longer than %d bytes", p->ncells + 1,
                 CSV_MAX_CELL_BYTES);
    else
        snprintf(msg, sizeof msg, "a row longer than %d bytes", CSV_MAX_ROW_BYTES);
    long save_line = p->line;
    p->line = p->row_line;
    fail(p, err, rc, msg);
    p->line = save_line;
    p->failed_err.col = cell ? p->ncells + 1 : 0;
    if (err) *err = p->failed_err;
    return rc;
}

static mlp_err grow_cells(csv_parser *p)
{
    if (p->ncells >= DS_MAX_COLS) return MLP_EINVAL;
    int cap = p->cap_cells ? p->cap_cells * 2 : 64;
    size_t *s = realloc(p->starts, (size_t)cap * sizeof *s);
    if (!s) return MLP_ENOMEM;
    p->starts = s;
    size_t *l = realloc(p->lens, (size_t)cap * sizeof *l);
    if (!l) return MLP_ENOMEM;
    p->lens = l;
    const char **q = realloc(p->ptrs, (size_t)cap * sizeof *q);
    if (!q) return MLP_ENOMEM;
    p->ptrs = q;
    p->cap_cells = cap;
    return MLP_OK;
}

static mlp_err end_cell(csv_parser *p)
{
    if (p->ncells == p->cap_cells) {
        mlp_err rc = grow_cells(p);
        if (rc != MLP_OK) return rc;
    }
    p->starts[p->ncells] = p->cell_start;
    p->lens[p->ncells] = p->len - p->cell_start;
    p->ncells++;
    p->cell_start = p->len;
    return MLP_OK;
}

static int all_trimmed_empty_or_number(const char *s, size_t n)
{
    float v;
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    return n == 0 || ds_parse_number(s, n, &v);
}

static mlp_err set_header(csv_parser *p, mlp_error *err)
{
    mlp_err rc = MLP_OK;
    char **names = calloc((size_t)p->ncells, sizeof *names);
    if (!names) return fail(p, err, MLP_ENOMEM, "out of memory");
    for (int j = 0; j < p->ncells; j++) {
        const char *s = p->ptrs[j];
        size_t n = p->lens[j];
        while (n && (*s == ' ' || *s == '\t')) s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
        names[j] = strndup(s, n);
        if (!names[j]) {
            rc = fail(p, err, MLP_ENOMEM, "out of memory");
            goto out;
        }
    }
    mlp_error e = {0};
    rc = ds_builder_set_columns(p->b, p->ncells, (const char *const *)names, &e);
    if (rc != MLP_OK) {
        char msg[sizeof e.msg + 16];
        snprintf(msg, sizeof msg, "header: %s", e.msg);
        long col = e.col;
        fail(p, err, rc, msg);
        p->failed_err.row = 0;
        p->failed_err.col = col;
        if (err) *err = p->failed_err;
    }
out:
    for (int j = 0; j < p->ncells; j++) free(names[j]);
    free(names);
    return rc;
}

/* Hands the row in p->ptrs / p->lens (ncells cells) to the builder. */
static mlp_err submit(csv_parser *p, mlp_error *err)
{
    for (int j = 0; j < p->ncells; j++) /* a long cell read in one piece by fast_row */
        if (p->lens[j] > CSV_MAX_CELL_BYTES) {
            char msg[96];
            snprintf(msg, sizeof msg, "column %d: a cell longer than %d bytes", j + 1,
                     CSV_MAX_CELL_BYTES);
            long save_line = p->line;
            p->line = p->row_line;
            fail(p, err, MLP_ETOOLARGE, msg);
            p->line = save_line;
            p->failed_err.col = j + 1;
            if (err) *err = p->failed_err;
            return MLP_ETOOLARGE;
        }
    mlp_error e = {0};
    mlp_err rc = ds_builder_add_text_row(p->b, p->ncells, p->ptrs, p->lens, &e);
    if (rc != MLP_OK) {
        long save_line = p->line;
        p->line = p->row_line;
        fail(p, err, rc, e.msg);
        p->line = save_line;
        p->failed_err.row = e.row;
        p->failed_err.col = e.col;
        if (err) *err = p->failed_err;
    }
    return rc;
}

/* Fast path for the common row: wholly inside the chunk, no quotes, no blank line pending,
 * header already decided. Cells point straight into the chunk (no copy). Returns 1 when it
 * consumed a row (*i moved past its line end), 0 when the slow path must handle it, -1 on
 * error. */
static int fast_row(csv_parser *p, const char *d, size_t n, size_t *i, mlp_error *err)
{
    size_t k = *i, start = k;
    if (!p->seen_first_row || p->blank_line || k >= n || d[k] == '\n' || d[k] == '\r' ||
        d[k] == '"')
        return 0;
    p->ncells = 0;
    for (;;) {
        while (k < n && !special[(unsigned char)d[k]]) k++;
        if (k == n || d[k] == '"' || d[k] == '\0') break;
        if (p->ncells == p->cap_cells) {
            mlp_err rc = grow_cells(p);
            if (rc != MLP_OK) {
                p->ncells = 0;
                return -(fail(p, err, rc,
                              rc == MLP_EINVAL ? "row has more cells than the column limit"
                                               : "out of memory") != MLP_OK);
            }
        }
        p->ptrs[p->ncells] = d + start;
        p->lens[p->ncells] = k - start;
        p->ncells++;
        char c = d[k];
        if (c == ',') {
            start = ++k;
            continue;
        }
        /* a line end: LF, CRLF (both in the chunk), or a CR at the chunk's end (slow path) */
        if (c == '\r') {
            if (k + 1 >= n) break;
            if (d[k + 1] == '\n') k++;
        }
        mlp_err rc = submit(p, err);
        p->ncells = 0;
        if (rc != MLP_OK) return -1;
        p->line++;
        p->row_line = p->line;
        *i = k + 1;
        return 1;
    }
    p->ncells = 0;
    return 0;
}

static mlp_err end_row(csv_parser *p, mlp_error *err)
{
    mlp_err rc = end_cell(p);
    if (rc == MLP_EINVAL) return fail(p, err, rc, "row has more cells than the column limit");
    if (rc != MLP_OK) return fail(p, err, rc, "out of memory");
    int blank = p->ncells == 1 && p->len == 0 && !p->row_has_quote;
    if (blank) {
        if (!p->blank_line) p->blank_line = p->row_line;
        goto next;
    }
    if (p->blank_line) {
        mlp_error e = {0};
        e.row = ds_builder_rows(p->b) + 1;
        p->line = p->blank_line;
        char msg[128];
        snprintf(msg, sizeof msg, "data row %ld is blank", e.row);
        fail(p, err, MLP_EINVAL, msg);
        p->failed_err.row = e.row;
        if (err) *err = p->failed_err;
        return MLP_EINVAL;
    }
    /* buf is still NULL when every cell so far was empty (nothing was copied) */
    for (int j = 0; j < p->ncells; j++) p->ptrs[j] = p->buf ? p->buf + p->starts[j] : "";
    if (!p->seen_first_row) {
        p->seen_first_row = 1;
        /* Excel's UTF-8 byte-order mark. */
        if (p->lens[0] >= 3 && memcmp(p->ptrs[0], "\xEF\xBB\xBF", 3) == 0) {
            p->ptrs[0] += 3;
            p->lens[0] -= 3;
        }
        int header = p->mode == CSV_HEADER_TRUE;
        if (p->mode == CSV_HEADER_AUTO)
            for (int j = 0; j < p->ncells && !header; j++)
                header = !all_trimmed_empty_or_number(p->ptrs[j], p->lens[j]);
        if (header) {
            if ((rc = set_header(p, err)) != MLP_OK) return rc;
            goto next;
        }
    }
    if ((rc = submit(p, err)) != MLP_OK) return rc;
next:
    p->len = 0;
    p->ncells = 0;
    p->cell_start = 0;
    p->row_has_quote = 0;
    p->line++;
    p->row_line = p->line;
    return MLP_OK;
}

static long count_nl(const char *s, size_t n)
{
    long k = 0;
    const char *e = s + n;
    while ((s = memchr(s, '\n', (size_t)(e - s))) != NULL) {
        k++;
        s++;
    }
    return k;
}

static mlp_err csv_feed_chunk(csv_parser *p, const char *d, size_t n, mlp_error *err);

void csv_set_size_hint(csv_parser *p, size_t bytes)
{
    p->size_hint = bytes;
}

#define HINT_ROWS 1024

/* Reserves the matrix for the rows the hinted size should hold (see csv_set_size_hint). */
static void use_size_hint(csv_parser *p)
{
    long rows = ds_builder_rows(p->b);
    if (rows < HINT_ROWS || p->fed == 0) return;
    double per_row = (double)p->fed / (double)rows; /* header included: a slight underestimate */
    double want = (double)p->size_hint / per_row * 1.05 + 64;
    double most = (double)p->size_hint / (2.0 * ds_builder_cols(p->b)) + 64; /* "0," per cell */
    if (want > most) want = most;
    p->size_hint = 0;
    if (want > (double)rows && want < (double)LONG_MAX)
        (void)ds_builder_reserve(p->b, (long)want, NULL); /* advisory: limits apply per row */
}

mlp_err csv_feed(csv_parser *p, const char *d, size_t n, mlp_error *err)
{
    mlp_err out = csv_feed_chunk(p, d, n, err);
    p->fed += n;
    if (out == MLP_OK && p->size_hint) use_size_hint(p);
    return out;
}

static mlp_err csv_feed_chunk(csv_parser *p, const char *d, size_t n, mlp_error *err)
{
    if (p->failed) {
        if (err) *err = p->failed_err;
        return p->failed;
    }
    size_t i = 0;
    mlp_err rc;
    while (i < n) {
        switch (p->state) {
        case ST_CR:
            if (d[i] == '\n') i++;
            p->state = ST_FIELD_START;
            break;
        case ST_FIELD_START:
            if (p->ncells == 0 && p->len == 0) {
                int r;
                while ((r = fast_row(p, d, n, &i, err)) == 1) {
                }
                if (r < 0) return p->failed;
                if (i == n) break;
            }
            if (d[i] == '"') {
                p->state = ST_QUOTED;
                p->row_has_quote = 1;
                i++;
                break;
            }
            p->state = ST_UNQUOTED;
            /* fall through */
        case ST_UNQUOTED: {
            size_t j = i;
            while (j < n && !special[(unsigned char)d[j]]) j++;
            if (j > i && (rc = append(p, d + i, j - i)) != MLP_OK)
                return append_failed(p, err, rc, j - i);
            i = j;
            if (j == n) break;
            char c = d[j];
            i++;
            if (c == ',') {
                if ((rc = end_cell(p)) != MLP_OK)
                    return fail(p, err, rc,
                                rc == MLP_EINVAL ? "row has more cells than the column limit"
                                                 : "out of memory");
                p->state = ST_FIELD_START;
            } else if (c == '"') {
                return fail(p, err, MLP_EINVAL,
                            "a quote inside an unquoted cell (quote the whole cell and double "
                            "the quote)");
            } else if (c == '\0') {
                return fail(p, err, MLP_EINVAL, "a NUL byte: binary data is not CSV text");
            } else {
                if ((rc = end_row(p, err)) != MLP_OK) return rc;
                p->state = c == '\r' ? ST_CR : ST_FIELD_START;
            }
            break;
        }
        case ST_QUOTED: {
            const char *q = memchr(d + i, '"', n - i);
            size_t j = q ? (size_t)(q - d) : n;
            if (j > i && memchr(d + i, '\0', j - i))
                return fail(p, err, MLP_EINVAL, "a NUL byte: binary data is not CSV text");
            if (j > i) {
                if ((rc = append(p, d + i, j - i)) != MLP_OK)
                    return append_failed(p, err, rc, j - i);
                p->line += count_nl(d + i, j - i);
            }
            i = j;
            if (q) {
                i++;
                p->state = ST_QUOTE;
            }
            break;
        }
        case ST_QUOTE: {
            char c = d[i++];
            if (c == '"') {
                if ((rc = append(p, "\"", 1)) != MLP_OK) return append_failed(p, err, rc, 1);
                p->state = ST_QUOTED;
            } else if (c == ',') {
                if ((rc = end_cell(p)) != MLP_OK)
                    return fail(p, err, rc,
                                rc == MLP_EINVAL ? "row has more cells than the column limit"
                                                 : "out of memory");
                p->state = ST_FIELD_START;
            } else if (c == '\n' || c == '\r') {
                if ((rc = end_row(p, err)) != MLP_OK) return rc;
                p->state = c == '\r' ? ST_CR : ST_FIELD_START;
            } else {
                return fail(p, err, MLP_EINVAL,
                            "unexpected character after a closing quote (expected a comma or a "
                            "line end)");
            }
            break;
        }
        }
    }
    return MLP_OK;
}

mlp_err csv_finish(csv_parser *p, mlp_error *err)
{
    if (p->failed) {
        if (err) *err = p->failed_err;
        return p->failed;
    }
    if (p->state == ST_QUOTED) {
        p->line = p->row_line;
        return fail(p, err, MLP_EINVAL, "a quoted cell is never closed");
    }
    if (p->state == ST_UNQUOTED || p->state == ST_QUOTE ||
        (p->state == ST_FIELD_START && p->ncells > 0)) {
        mlp_err rc = end_row(p, err);
        if (rc != MLP_OK) return rc;
    }
    p->state = ST_FIELD_START;
    return MLP_OK;
}
