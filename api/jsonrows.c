/* jsonrows.c — streaming reader of the JSON dataset body (see jsonrows.h).
 *
 * A byte-at-a-time state machine over the one accepted shape. Two layers: the lexer (inside a
 * string, with its escapes, \u surrogate pairs and UTF-8 checks as jansson makes them; inside a
 * number; skipping a nested value found where a cell belongs) and the grammar state (where in
 * the object we are). Cells of the open row collect in `cells` (each NUL-terminated) with their
 * kind and, for numbers, their value; the row goes to the builder at its ']'. Only the open row,
 * the column names and the "name" value are held.
 *
 * Why not jansson: it reads a whole document into a tree, about 40 bytes per cell on top of the
 * body itself, which is what this module exists to avoid. */
#include "jsonrows.h"

#include "sbuf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEY    128  /* longer keys are unknown fields, reported by their first 100 bytes */
#define MAX_NAME   256  /* bytes of the "name" value */
#define MAX_NUMBER 1100 /* characters of one number token */

enum { L_NONE, L_STRING, L_NUMBER, L_SKIP };
enum { D_KEY, D_NAME, D_COL, D_CELL };
enum { K_NAME, K_COLUMNS, K_ROWS };
enum {
    ST_TOP,        /* before '{' */
    ST_KEY_OR_END, /* after '{' */
    ST_KEY,        /* after ',' between members */
    ST_COLON,
    ST_VALUE,      /* the value of key cur_key */
    ST_MEMBER_END, /* ',' or '}' */
    ST_COLS_FIRST, /* after "columns": [ */
    ST_COLS_NEXT,
    ST_COLS_END,
    ST_ROWS_FIRST, /* after "rows": [ */
    ST_ROWS_NEXT,
    ST_ROWS_END,
    ST_CELL_FIRST, /* after a row's '[' */
    ST_CELL_NEXT,
    ST_CELL_END,
    ST_DONE
};

struct jsonrows {
    ds_builder *b; /* borrowed */
    int max_depth;
    int depth; /* open containers */
    int st;    /* ST_* */
    int lex;   /* L_* */
    /* string lexer */
    int dst;                      /* D_*: where the string's bytes go */
    int esc;                      /* 0, 1 after '\\', 2..5 reading the hex digits of \u */
    unsigned u;                   /* \u accumulator */
    unsigned hi_sur;              /* a high surrogate waiting for its low half, or 0 */
    int utf_need;                 /* UTF-8 continuation bytes still expected */
    unsigned char utf_lo, utf_hi; /* range of the next continuation byte */
    /* skip lexer (a container where a cell belongs) */
    int skip_depth, skip_str, skip_esc;
    /* position */
    size_t pos;        /* bytes consumed before the current one */
    size_t line_start; /* pos of the first byte of the current line */
    long line;
    /* what was seen */
    int cur_key;
    int seen[3];
    int key_long; /* the key passed MAX_KEY bytes */
    sbuf key, name, cols, cells, text;
    size_t n_colnames;
    size_t row; /* index of the open (or next) row */
    /* cells of the open row */
    size_t ncell, cap_cell;
    size_t *off;      /* start of cell j in cells.p */
    size_t *len;      /* its length */
    char *kind;       /* 's' string, 'i' integer, 'r' real */
    double *dv;       /* numbers: the value as jansson reads it */
    long long *iv;    /* integers: the value */
    float *vals;      /* one numeric row for ds_builder_add_row */
    const char **cp;  /* one text row for ds_builder_add_text_row */
    size_t *tl;       /* its lengths */
    size_t num_start; /* cells.len where the open number token starts */
    mlp_err failed;
    mlp_error failed_err;
};

mlp_err jr_new(ds_builder *b, int max_depth, jsonrows **out)
{
    *out = NULL;
    jsonrows *p = calloc(1, sizeof *p);
    if (!p) return MLP_ENOMEM;
    p->b = b;
    p->max_depth = max_depth > 0 ? max_depth : 64;
    p->line = 1;
    *out = p;
    return MLP_OK;
}

size_t jr_row_bytes(const jsonrows *p)
{
    return p->cells.cap + p->text.cap;
}

void jr_free(jsonrows *p)
{
    if (!p) return;
    free(p->key.p);
    free(p->name.p);
    free(p->cols.p);
    free(p->cells.p);
    free(p->text.p);
    free(p->off);
    free(p->len);
    free(p->kind);
    free(p->dv);
    free(p->iv);
    free(p->vals);
    free(p->cp);
    free(p->tl);
    free(p);
}

/* ---------------------------------------------------------------- errors */

static mlp_err bad_json(jsonrows *p, mlp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static mlp_err bad_json(jsonrows *p, mlp_error *err, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return mlp_fail(err, MLP_EINVAL, "invalid JSON at line %ld, column %zu: %s", p->line,
                    p->pos - p->line_start + 1, why);
}

static mlp_err shape(mlp_error *err, const char *field, const char *msg)
{
    if (err) snprintf(err->field, sizeof err->field, "%s", field);
    return mlp_fail(err, MLP_EINVAL, "%s", msg);
}

static mlp_err cell_type(jsonrows *p, mlp_error *err)
{
    if (err) {
        snprintf(err->field, sizeof err->field, "rows[%zu][%zu]", p->row, p->ncell);
        err->row = (long)p->row + 1;
        err->col = (long)p->ncell + 1;
    }
    return mlp_fail(err, MLP_EINVAL, "rows[%zu][%zu] must be a number or a string", p->row,
                    p->ncell);
}

static mlp_err row_not_array(jsonrows *p, mlp_error *err)
{
    if (err) snprintf(err->field, sizeof err->field, "rows[%zu]", p->row);
    return mlp_fail(err, MLP_EINVAL, "rows[%zu] must be an array", p->row);
}

static mlp_err col_not_string(jsonrows *p, mlp_error *err)
{
    if (err) snprintf(err->field, sizeof err->field, "columns[%zu]", p->n_colnames);
    return mlp_fail(err, MLP_EINVAL, "columns[%zu] must be a string", p->n_colnames);
}

static mlp_err too_deep(jsonrows *p, mlp_error *err)
{
    return mlp_fail(err, MLP_EINVAL, "JSON body nests deeper than --max-json-depth %d",
                    p->max_depth);
}

/* A builder error on row i: "rows[i][j]: message", keeping row/col. */
static mlp_err cell_fail(mlp_error *err, mlp_err rc, const mlp_error *e, size_t i)
{
    if (!err) return rc;
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", e->msg);
    *err = *e;
    err->row = (long)i + 1;
    if (e->col > 0)
        snprintf(err->field, sizeof err->field, "rows[%zu][%ld]", i, e->col - 1);
    else
        snprintf(err->field, sizeof err->field, "rows[%zu]", i);
    return mlp_fail(err, rc, "%s: %s", err->field, msg);
}

/* The open cell (string) would pass JR_MAX_CELL_BYTES. */
static mlp_err cell_too_long(jsonrows *p, mlp_error *err)
{
    if (err) {
        snprintf(err->field, sizeof err->field, "rows[%zu][%zu]", p->row, p->ncell);
        err->row = (long)p->row + 1;
        err->col = (long)p->ncell + 1;
    }
    return mlp_fail(err, MLP_ETOOLARGE, "rows[%zu][%zu] is a string longer than %d bytes", p->row,
                    p->ncell, JR_MAX_CELL_BYTES);
}

/* Room for n more bytes of the open row's text, and the NUL that ends its cell. */
static mlp_err row_room(jsonrows *p, size_t n, mlp_error *err)
{
    if (p->cells.len + n + 1 <= JR_MAX_ROW_BYTES) return MLP_OK;
    if (err) {
        snprintf(err->field, sizeof err->field, "rows[%zu]", p->row);
        err->row = (long)p->row + 1;
    }
    return mlp_fail(err, MLP_ETOOLARGE, "rows[%zu] holds more than %d bytes of cell text", p->row,
                    JR_MAX_ROW_BYTES);
}

static mlp_err oom(mlp_error *err)
{
    return mlp_fail(err, MLP_ENOMEM, "out of memory");
}

/* ---------------------------------------------------------------- rows */

static int open_container(jsonrows *p)
{
    return ++p->depth <= p->max_depth;
}

/* Room for cell index ncell. */
static mlp_err cell_room(jsonrows *p, mlp_error *err)
{
    if (p->ncell >= DS_MAX_COLS) {
        if (err) snprintf(err->field, sizeof err->field, "rows[%zu]", p->row);
        return mlp_fail(err, MLP_EINVAL, "rows[%zu] has more than %d cells", p->row, DS_MAX_COLS);
    }
    if (p->ncell < p->cap_cell) return MLP_OK;
    size_t c = p->cap_cell ? p->cap_cell * 2 : 64;
    size_t *off = realloc(p->off, c * sizeof *off);
    if (off) p->off = off;
    size_t *len = realloc(p->len, c * sizeof *len);
    if (len) p->len = len;
    char *kind = realloc(p->kind, c * sizeof *kind);
    if (kind) p->kind = kind;
    double *dv = realloc(p->dv, c * sizeof *dv);
    if (dv) p->dv = dv;
    long long *iv = realloc(p->iv, c * sizeof *iv);
    if (iv) p->iv = iv;
    float *vals = realloc(p->vals, c * sizeof *vals);
    if (vals) p->vals = vals;
    const char **cp = realloc(p->cp, c * sizeof *cp);
    if (cp) p->cp = cp;
    size_t *tl = realloc(p->tl, c * sizeof *tl);
    if (tl) p->tl = tl;
    if (!off || !len || !kind || !dv || !iv || !vals || !cp || !tl) return oom(err);
    p->cap_cell = c;
    return MLP_OK;
}

/* The open row is complete: hand it to the builder. */
static mlp_err end_row(jsonrows *p, mlp_error *err)
{
    size_t n = p->ncell;
    int all_numbers = 1;
    for (size_t j = 0; j < n && all_numbers; j++) all_numbers = p->kind[j] != 's';
    mlp_error e = {0};
    mlp_err rc;
    if (n == 0) {
        rc = ds_builder_add_row(p->b, 0, NULL, &e);
    } else if (all_numbers) {
        for (size_t j = 0; j < n; j++) p->vals[j] = (float)p->dv[j];
        rc = ds_builder_add_row(p->b, (int)n, p->vals, &e);
    } else {
        /* A number among strings goes through the text path, spelled as jansson's value
         * prints, so that it lands in the same level as before. */
        p->text.len = 0;
        for (size_t j = 0; j < n; j++) { /* numbers: off/len now index text */
            if (p->kind[j] == 's') continue;
            p->off[j] = p->text.len;
            if (p->kind[j] == 'i')
                sb_printf(&p->text, "%lld", p->iv[j]);
            else
                sb_printf(&p->text, "%.17g", p->dv[j]);
            p->len[j] = p->text.len - p->off[j];
        }
        if (p->text.oom) return oom(err);
        for (size_t j = 0; j < n; j++) {
            p->cp[j] = (p->kind[j] == 's' ? p->cells.p : p->text.p) + p->off[j];
            p->tl[j] = p->len[j];
        }
        rc = ds_builder_add_text_row(p->b, (int)n, p->cp, p->tl, &e);
    }
    if (rc != MLP_OK) return cell_fail(err, rc, &e, p->row);
    p->row++;
    p->ncell = 0;
    p->cells.len = 0;
    return MLP_OK;
}

/* ---------------------------------------------------------------- tokens */

/* JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number_ok(const char *s, size_t n, int *is_int)
{
    size_t i = 0;
    *is_int = 1;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return 0;
    if (s[i] == '0')
        i++;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    else
        return 0;
    if (i < n && s[i] == '.') {
        *is_int = 0;
        if (++i >= n || s[i] < '0' || s[i] > '9') return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        *is_int = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || s[i] < '0' || s[i] > '9') return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    return i == n;
}

/* The number token in cells[num_start..] is complete: check and read it as jansson does. */
static mlp_err end_number(jsonrows *p, mlp_error *err)
{
    p->lex = L_NONE;
    if (p->cells.oom) return oom(err);
    const char *s = p->cells.p + p->num_start;
    size_t n = p->cells.len - p->num_start;
    int is_int;
    if (!number_ok(s, n, &is_int)) return bad_json(p, err, "invalid number \"%.40s\"", s);
    size_t j = p->ncell;
    errno = 0;
    if (is_int) {
        long long v = strtoll(s, NULL, 10);
        if (errno == ERANGE) return bad_json(p, err, "too big %sinteger", v < 0 ? "negative " : "");
        p->iv[j] = v;
        p->dv[j] = (double)v;
        p->kind[j] = 'i';
    } else {
        double v = strtod(s, NULL);
        if (errno == ERANGE && isinf(v)) return bad_json(p, err, "real number overflow");
        p->dv[j] = v;
        p->kind[j] = 'r';
    }
    p->off[j] = p->num_start;
    p->len[j] = n;
    sb_add(&p->cells, "", 1);
    p->ncell++;
    p->st = ST_CELL_END;
    return MLP_OK;
}

static sbuf *string_dst(jsonrows *p)
{
    switch (p->dst) {
    case D_KEY:
        return &p->key;
    case D_NAME:
        return &p->name;
    case D_COL:
        return &p->cols;
    default:
        return &p->cells;
    }
}

static void start_string(jsonrows *p, int dst)
{
    p->lex = L_STRING;
    p->dst = dst;
    p->esc = 0;
    p->hi_sur = 0;
    p->utf_need = 0;
    if (dst == D_KEY) {
        p->key.len = 0;
        p->key_long = 0;
    }
    if (dst == D_CELL) p->off[p->ncell] = p->cells.len;
}

/* Appends decoded bytes of the open string, bounding the key and the name. */
static mlp_err str_add(jsonrows *p, const char *s, size_t n, mlp_error *err)
{
    if (p->dst == D_KEY) {
        if (p->key.len + n > MAX_KEY) {
            p->key_long = 1;
            n = p->key.len < MAX_KEY ? MAX_KEY - p->key.len : 0;
        }
    } else if (p->dst == D_NAME && p->name.len + n > MAX_NAME) {
        return shape(err, "name", "the name field is longer than 256 bytes");
    } else if (p->dst == D_CELL) {
        if (p->cells.len - p->off[p->ncell] + n > JR_MAX_CELL_BYTES) return cell_too_long(p, err);
        mlp_err rc = row_room(p, n, err);
        if (rc != MLP_OK) return rc;
    }
    sbuf *b = string_dst(p);
    if (n) sb_add(b, s, n);
    if (b->oom) return oom(err);
    return MLP_OK;
}

static mlp_err put_utf8(jsonrows *p, unsigned cp, mlp_error *err)
{
    char o[4];
    size_t n;
    if (cp < 0x80) {
        o[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return str_add(p, o, n, err);
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static mlp_err end_string(jsonrows *p, mlp_error *err);

/* One byte c inside a string (after its opening quote). */
static mlp_err string_byte(jsonrows *p, unsigned char c, mlp_error *err)
{
    if (p->utf_need) {
        if (c < p->utf_lo || c > p->utf_hi)
            return bad_json(p, err, "unable to decode byte 0x%x", c);
        p->utf_lo = 0x80;
        p->utf_hi = 0xBF;
        p->utf_need--;
        char ch = (char)c;
        return str_add(p, &ch, 1, err);
    }
    if (p->esc == 1) {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = c ? strchr(from, c) : NULL;
        if (p->hi_sur && c != 'u') return bad_json(p, err, "invalid Unicode '\\u%04X'", p->hi_sur);
        if (c == 'u') {
            p->esc = 2;
            p->u = 0;
            return MLP_OK;
        }
        if (!k) return bad_json(p, err, "invalid escape");
        p->esc = 0;
        return str_add(p, &to[k - from], 1, err);
    }
    if (p->esc >= 2) {
        int h = hexval(c);
        if (h < 0) return bad_json(p, err, "invalid escape");
        p->u = p->u * 16 + (unsigned)h;
        if (++p->esc < 6) return MLP_OK;
        p->esc = 0;
        unsigned u = p->u;
        if (p->hi_sur) {
            if (u < 0xDC00 || u > 0xDFFF)
                return bad_json(p, err, "invalid Unicode '\\u%04X'", p->hi_sur);
            u = 0x10000 + ((p->hi_sur - 0xD800) << 10) + (u - 0xDC00);
            p->hi_sur = 0;
            return put_utf8(p, u, err);
        }
        if (u == 0) return bad_json(p, err, "\\u0000 is not allowed");
        if (u >= 0xD800 && u <= 0xDBFF) {
            p->hi_sur = u;
            return MLP_OK;
        }
        if (u >= 0xDC00 && u <= 0xDFFF) return bad_json(p, err, "invalid Unicode '\\u%04X'", u);
        return put_utf8(p, u, err);
    }
    if (p->hi_sur && c != '\\') return bad_json(p, err, "invalid Unicode '\\u%04X'", p->hi_sur);
    if (c == '"') return end_string(p, err);
    if (c == '\\') {
        p->esc = 1;
        return MLP_OK;
    }
    if (c < 0x20) return bad_json(p, err, "control character 0x%x", c);
    if (c >= 0x80) {
        p->utf_lo = 0x80;
        p->utf_hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            p->utf_need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            p->utf_need = 2;
            if (c == 0xE0) p->utf_lo = 0xA0;
            if (c == 0xED) p->utf_hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            p->utf_need = 3;
            if (c == 0xF0) p->utf_lo = 0x90;
            if (c == 0xF4) p->utf_hi = 0x8F;
        } else {
            return bad_json(p, err, "unable to decode byte 0x%x", c);
        }
    }
    char ch = (char)c;
    return str_add(p, &ch, 1, err);
}

/* ---------------------------------------------------------------- grammar */

static mlp_err apply_columns(jsonrows *p, mlp_error *err)
{
    size_t nc = p->n_colnames;
    const char **names = malloc(nc * sizeof *names);
    if (!names) return oom(err);
    const char *s = p->cols.p;
    for (size_t j = 0; j < nc; j++) {
        names[j] = s;
        s += strlen(s) + 1;
    }
    mlp_error e = {0};
    mlp_err rc = ds_builder_rows(p->b) > 0 ? ds_builder_rename_columns(p->b, (int)nc, names, &e)
                                           : ds_builder_set_columns(p->b, (int)nc, names, &e);
    free(names);
    if (rc != MLP_OK && err) {
        *err = e;
        if (e.col > 0)
            snprintf(err->field, sizeof err->field, "columns[%ld]", e.col - 1);
        else
            snprintf(err->field, sizeof err->field, "columns");
    }
    return rc;
}

static mlp_err end_string(jsonrows *p, mlp_error *err)
{
    p->lex = L_NONE;
    switch (p->dst) {
    case D_KEY: {
        static const char *const keys[] = {"name", "columns", "rows"};
        int k = -1;
        for (int i = 0; i < 3 && !p->key_long; i++)
            if (p->key.len == strlen(keys[i]) && memcmp(p->key.p, keys[i], p->key.len) == 0) k = i;
        if (k < 0) {
            const char *key = p->key.p ? p->key.p : "";
            if (err) snprintf(err->field, sizeof err->field, "%.100s", key);
            return mlp_fail(err, MLP_EINVAL,
                            "unknown field \"%.100s\" (expected name, columns, rows)", key);
        }
        if (p->seen[k]) return bad_json(p, err, "duplicate object key");
        p->seen[k] = 1;
        p->cur_key = k;
        p->st = ST_COLON;
        return MLP_OK;
    }
    case D_NAME:
        if (p->name.oom) return oom(err);
        p->st = ST_MEMBER_END;
        return MLP_OK;
    case D_COL:
        sb_add(&p->cols, "", 1);
        if (p->cols.oom) return oom(err);
        if (++p->n_colnames > DS_MAX_COLS)
            return shape(err, "columns", "columns must be a non-empty array of strings");
        p->st = ST_COLS_END;
        return MLP_OK;
    default: {
        mlp_err rc = row_room(p, 0, err);
        if (rc != MLP_OK) return rc;
        sb_add(&p->cells, "", 1);
        if (p->cells.oom) return oom(err);
        p->len[p->ncell] = p->cells.len - 1 - p->off[p->ncell];
        p->kind[p->ncell] = 's';
        p->ncell++;
        p->st = ST_CELL_END;
        return MLP_OK;
    }
    }
}

/* A value starts where a cell belongs. */
static mlp_err cell_start(jsonrows *p, unsigned char c, mlp_error *err)
{
    mlp_err rc = cell_room(p, err);
    if (rc != MLP_OK) return rc;
    if (c == '"') {
        start_string(p, D_CELL);
        return MLP_OK;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        if ((rc = row_room(p, 1, err)) != MLP_OK) return rc;
        p->lex = L_NUMBER;
        p->num_start = p->cells.len;
        char ch = (char)c;
        sb_add(&p->cells, &ch, 1);
        return p->cells.oom ? oom(err) : MLP_OK;
    }
    if (c == '[' || c == '{') { /* skipped to tell a too-deep body from a misplaced value */
        if (!open_container(p)) return too_deep(p, err);
        p->lex = L_SKIP;
        p->skip_depth = 1;
        p->skip_str = p->skip_esc = 0;
        return MLP_OK;
    }
    if (c == 'n' || c == 't' || c == 'f') return cell_type(p, err);
    return bad_json(p, err, "unexpected character '%c'", c >= 0x20 && c < 0x7F ? c : '?');
}

static mlp_err skip_byte(jsonrows *p, unsigned char c, mlp_error *err)
{
    if (p->skip_str) {
        if (p->skip_esc)
            p->skip_esc = 0;
        else if (c == '\\')
            p->skip_esc = 1;
        else if (c == '"')
            p->skip_str = 0;
        return MLP_OK;
    }
    if (c == '"') {
        p->skip_str = 1;
    } else if (c == '[' || c == '{') {
        if (!open_container(p)) return too_deep(p, err);
        p->skip_depth++;
    } else if (c == ']' || c == '}') {
        p->depth--;
        if (--p->skip_depth == 0) return cell_type(p, err);
    }
    return MLP_OK;
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One byte c outside strings and numbers. */
static mlp_err grammar_byte(jsonrows *p, unsigned char c, mlp_error *err)
{
    if (is_ws(c)) return MLP_OK;
    switch (p->st) {
    case ST_TOP:
        if (c != '{')
            return mlp_fail(err, MLP_EINVAL, "the body must be a JSON object with \"rows\"");
        if (!open_container(p)) return too_deep(p, err);
        p->st = ST_KEY_OR_END;
        return MLP_OK;
    case ST_KEY_OR_END:
        if (c == '}') {
            p->depth--;
            p->st = ST_DONE;
            return MLP_OK;
        }
        /* fall through */
    case ST_KEY:
        if (c != '"') return bad_json(p, err, "string or '}' expected");
        start_string(p, D_KEY);
        return MLP_OK;
    case ST_COLON:
        if (c != ':') return bad_json(p, err, "':' expected");
        p->st = ST_VALUE;
        return MLP_OK;
    case ST_VALUE:
        if (p->cur_key == K_NAME) {
            if (c != '"') return shape(err, "name", "name must be a string");
            p->name.len = 0;
            start_string(p, D_NAME);
        } else if (p->cur_key == K_COLUMNS) {
            if (c != '[')
                return shape(err, "columns", "columns must be a non-empty array of strings");
            if (!open_container(p)) return too_deep(p, err);
            p->st = ST_COLS_FIRST;
        } else {
            if (c != '[') return shape(err, "rows", "rows must be an array of arrays");
            if (!open_container(p)) return too_deep(p, err);
            p->st = ST_ROWS_FIRST;
        }
        return MLP_OK;
    case ST_MEMBER_END:
        if (c == ',') {
            p->st = ST_KEY;
        } else if (c == '}') {
            p->depth--;
            p->st = ST_DONE;
        } else {
            return bad_json(p, err, "',' or '}' expected");
        }
        return MLP_OK;
    case ST_COLS_FIRST:
        if (c == ']') return shape(err, "columns", "columns must be a non-empty array of strings");
        /* fall through */
    case ST_COLS_NEXT:
        if (c != '"') return col_not_string(p, err);
        start_string(p, D_COL);
        return MLP_OK;
    case ST_COLS_END:
        if (c == ',') {
            p->st = ST_COLS_NEXT;
            return MLP_OK;
        }
        if (c != ']') return bad_json(p, err, "',' or ']' expected");
        p->depth--;
        p->st = ST_MEMBER_END;
        return apply_columns(p, err);
    case ST_ROWS_FIRST:
        if (c == ']') {
            p->depth--;
            p->st = ST_MEMBER_END;
            return MLP_OK;
        }
        /* fall through */
    case ST_ROWS_NEXT:
        if (c != '[') return row_not_array(p, err);
        if (!open_container(p)) return too_deep(p, err);
        p->ncell = 0;
        p->cells.len = 0;
        p->st = ST_CELL_FIRST;
        return MLP_OK;
    case ST_ROWS_END:
        if (c == ',') {
            p->st = ST_ROWS_NEXT;
            return MLP_OK;
        }
        if (c != ']') return bad_json(p, err, "',' or ']' expected");
        p->depth--;
        p->st = ST_MEMBER_END;
        return MLP_OK;
    case ST_CELL_FIRST:
        if (c == ']') {
            p->depth--;
            p->st = ST_ROWS_END;
            return end_row(p, err);
        }
        /* fall through */
    case ST_CELL_NEXT:
        return cell_start(p, c, err);
    case ST_CELL_END:
        if (c == ',') {
            p->st = ST_CELL_NEXT;
            return MLP_OK;
        }
        if (c != ']') return bad_json(p, err, "',' or ']' expected");
        p->depth--;
        p->st = ST_ROWS_END;
        return end_row(p, err);
    default: /* ST_DONE */
        return bad_json(p, err, "end of file expected");
    }
}

static int number_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-';
}

static int plain_string_char(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

static mlp_err feed(jsonrows *p, const unsigned char *d, size_t n, mlp_error *err)
{
    mlp_err rc = MLP_OK;
    size_t i = 0;
    while (i < n) {
        unsigned char c = d[i];
        if (p->lex == L_NUMBER) {
            size_t k = i;
            while (k < n && number_char(d[k])) k++;
            if (k > i) {
                if (p->cells.len - p->num_start + (k - i) > MAX_NUMBER)
                    return bad_json(p, err, "number too long");
                if ((rc = row_room(p, k - i, err)) != MLP_OK) return rc;
                sb_add(&p->cells, (const char *)d + i, k - i);
                p->pos += k - i;
                i = k;
                continue;
            }
            if ((rc = end_number(p, err)) != MLP_OK) return rc;
            continue; /* c is seen again by the grammar */
        }
        if (p->lex == L_STRING && !p->esc && !p->utf_need && !p->hi_sur && plain_string_char(c)) {
            size_t k = i;
            while (k < n && plain_string_char(d[k])) k++;
            if ((rc = str_add(p, (const char *)d + i, k - i, err)) != MLP_OK) return rc;
            p->pos += k - i;
            i = k;
            continue;
        }
        if (p->lex == L_STRING)
            rc = string_byte(p, c, err);
        else if (p->lex == L_SKIP)
            rc = skip_byte(p, c, err);
        else
            rc = grammar_byte(p, c, err);
        if (rc != MLP_OK) return rc;
        p->pos++;
        i++;
        if (c == '\n') {
            p->line++;
            p->line_start = p->pos;
        }
    }
    return MLP_OK;
}

mlp_err jr_feed(jsonrows *p, const unsigned char *d, size_t n, mlp_error *err)
{
    if (p->failed) {
        if (err) *err = p->failed_err;
        return p->failed;
    }
    mlp_error e = {0};
    mlp_err rc = feed(p, d, n, &e);
    if (rc != MLP_OK) {
        p->failed = rc;
        p->failed_err = e;
        if (err) *err = e;
    }
    return rc;
}

mlp_err jr_finish(jsonrows *p, char **name, mlp_error *err)
{
    *name = NULL;
    if (p->failed) {
        if (err) *err = p->failed_err;
        return p->failed;
    }
    mlp_error e = {0};
    mlp_err rc = MLP_OK;
    if (p->lex == L_NUMBER) rc = end_number(p, &e);
    if (rc == MLP_OK && (p->st != ST_DONE || p->lex != L_NONE))
        rc = bad_json(
            p, &e, p->st == ST_TOP ? "'{' expected near end of file" : "unexpected end of input");
    if (rc == MLP_OK && !p->seen[K_ROWS]) rc = shape(&e, "rows", "rows must be an array of arrays");
    if (rc == MLP_OK && p->seen[K_NAME] && !(*name = strdup(p->name.p ? p->name.p : "")))
        rc = oom(&e);
    if (rc != MLP_OK) {
        p->failed = rc;
        p->failed_err = e;
        if (err) *err = e;
    }
    return rc;
}
