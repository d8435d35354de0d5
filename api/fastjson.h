/* fastjson.h — the hot path of /v1 inference: a strict single-pass reader of
 * {"instances": [[numbers...], ...]} / {"inputs": [[...], ...]} that parses the numbers straight
 * into a float matrix, and a shortest round-trip float formatter for the answers.
 *
 * The reader accepts a strict subset of what jansson (json_loadb with JSON_REJECT_DUPLICATES)
 * accepts, and gives bit-identical values to the jansson path of api/infer_tfs.c
 * ((float)json_number_value): integers go through long long then double, reals through the
 * correctly rounded double (Clinger's exact fast path, a double path with an error bound for
 * 17-19 digit mantissas, else strtod), then one cast to float. A value with at most 19 digits
 * (a "0." value's leading fraction zeros not counted) and no exponent, 64 bytes or more before
 * the body's end, takes a shorter way to the same mantissa and exponent: its digit runs are
 * measured 32 bytes at a time (SSE2 on x86-64, SWAR words elsewhere) and converted 8 digits at
 * a time; on x86-64 a value of one integer digit (every pixel value) has its fraction's digits
 * found by one 16-byte digit mask and converted by one 16-digit SSE2 multiply-add chain; these
 * try the double path before Clinger's division (both give the correctly rounded float when
 * they answer). "0.0," is taken by the row loop, four at a time when none is the row's last.
 * A body of FJ_SPLIT_MIN bytes or more is read in two halves at once, split at the first row
 * that starts after its middle.
 * Anything else — object rows, other keys, escapes, non-ASCII, big integers, long tokens,
 * values beyond +-3.4e38, any syntax error — is "not handled" and the caller falls back to
 * jansson, so accepted bodies, answers and error messages stay exactly those of jansson.
 *
 * Threading: reentrant; the caller owns every buffer. fj_rows starts a thread for a body of
 * FJ_SPLIT_MIN bytes or more, and joins it before it returns. */
#ifndef FASTJSON_H
#define FASTJSON_H

#include <stddef.h>

/* A growable float buffer (kept per thread by the caller; p is malloc'd). */
typedef struct {
    float *p;
    size_t cap; /* floats */
} fj_floats;

/* Makes room for n floats in X (contents kept). 0 ok, -1 out of memory. */
int fj_reserve(fj_floats *X, size_t n);

/* What fj_rows found. */
enum {
    FJ_ENOMEM = -1,  /* X could not grow (out of memory) */
    FJ_OTHER = 0,    /* not a body this reader handles: use jansson */
    FJ_ROWS = 1,     /* the rows are in X */
    FJ_TOO_MANY = 2, /* more than max_rows rows */
};

/* No row limit, for fj_rows callers that have none (tests, benchmarks). */
#define FJ_NO_LIMIT ((size_t)-1)

/* Reads body s[0..len) as {"instances"|"inputs": [[d numbers], ...]} (one key, >= 1 rows of
 * exactly d numbers). FJ_ROWS with the rows in X->p (n x d, row-major), *n and *columnar (1 for
 * "inputs") set; FJ_OTHER when the body is anything else; FJ_ENOMEM when X could not grow; and
 * FJ_TOO_MANY, with *columnar and *n = max_rows + 1 set, as soon as an element follows the
 * max_rows-th row (max_rows >= 1), whatever the rest of the body holds. X grows as rows are read,
 * never past max_rows x d floats: a body's memory is bounded by the row limit before it is read. */
int fj_rows(const char *s, size_t len, int d, size_t max_rows, fj_floats *X, int *n, int *columnar);

/* Bodies of at least this many bytes are read by two threads (fj_rows_split). */
#define FJ_SPLIT_MIN ((size_t)256 * 1024)

/* fj_rows, with the rows of a body of at least split_min bytes (0: never) read by two threads:
 * this one reads the rows up to the first row that starts after the body's middle; the rest goes
 * to a thread started for the call, into a buffer of its own (also bounded by max_rows x d
 * floats, freed before the return), copied after them, unless this thread gets there first: when
 * the helper has not started by the time the first half is read (a busy machine), this thread
 * reads the rest itself. The helper is joined before the return. The answer is always fj_rows'
 * one-thread answer: a body a half cannot read is read again in one piece. fj_rows is
 * fj_rows_split with FJ_SPLIT_MIN. */
int fj_rows_split(const char *s, size_t len, int d, size_t max_rows, size_t split_min, fj_floats *X,
                  int *n, int *columnar);

/* Reads one JSON number token s[0..len) exactly as the fast reader does: 1 and *out set, 0 when
 * not handled (invalid, or left to jansson). For the tests. */
int fj_number(const char *s, size_t len, float *out);

/* Writes the shortest decimal (at most 9 significant digits) that reads back — as a correctly
 * rounded double cast to float, as jansson and numpy read it — as the same float; a real always
 * has a '.' or an 'e' ("1.0", "0.25", "1.5e-07"); NaN and infinities are written as null.
 * buf needs FJ_FLOAT_MAX bytes; returns the length (no NUL is written). */
#define FJ_FLOAT_MAX 24
size_t fj_format_float(float f, char *buf);

#endif
