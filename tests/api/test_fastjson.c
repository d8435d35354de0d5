/* test_fastjson.c — api/fastjson's fast reader against jansson, the reference it must never
 * contradict: on a corpus of tricky numbers (exponents, -0, 1e-310 denormals, 20-digit
 * mantissas, huge exponents) both give the same float, bit for bit, as the jansson path of
 * api/infer_tfs.c ((float)json_number_value, after its finite-float check); what jansson
 * rejects (leading zeros, NaN, Infinity, "-", "1.", ".5", "1e", hex, '+') the fast reader
 * rejects too. Whole bodies: structural junk (trailing commas, unbalanced brackets, bad escapes,
 * trailing garbage, invalid UTF-8, duplicate keys) is never taken by the fast reader, and
 * random mutations of a valid body are either left to jansson or read exactly as jansson reads
 * them. The float formatter reads back to the same float. Not timed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fastjson.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jansson's reading of one number token through the server's path: 1 and *out when accepted. */
static int ref_number(const char *tok, float *out)
{
    char doc[512];
    snprintf(doc, sizeof doc, "[%s]", tok);
    json_error_t je;
    json_t *a = json_loads(doc, JSON_REJECT_DUPLICATES, &je);
    if (!a) return 0;
    json_t *v = json_array_get(a, 0);
    int ok = json_array_size(a) == 1 && json_is_number(v);
    if (ok) {
        double d = json_number_value(v);
        ok = isfinite(d) && fabs(d) <= 3.4e38;
        if (ok) *out = (float)d;
    }
    json_decref(a);
    return ok;
}

static int same_bits(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* The token as the first value of a row with room after it, so that the body reader takes its
 * fast value path (fast_value: FAST_ROOM bytes readable): 1 and *out when the body is read. */
static int body_number(const char *tok, float *out)
{
    char body[512];
    int len =
        snprintf(body, sizeof body,
                 "{\"instances\":[[%s,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,"
                 "0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0]]}",
                 tok);
    assert_true(len > 0 && (size_t)len < sizeof body);
    fj_floats X = {NULL, 0};
    int n = 0, col = 0;
    int r = fj_rows(body, (size_t)len, 27, FJ_NO_LIMIT, &X, &n, &col);
    if (r == FJ_ROWS) *out = X.p[0];
    free(X.p);
    return r == FJ_ROWS;
}

/* Checks one token: fast accepted => jansson accepted, same bits; and the body reader's fast
 * value path gives exactly what the token reader (scan_number) gives. Returns fast's verdict. */
static int check_token(const char *tok)
{
    float f = 0, r = 0, b = 0;
    int fo = fj_number(tok, strlen(tok), &f);
    int ro = ref_number(tok, &r);
    if (fo && !ro) fail_msg("fast reader accepts '%s', jansson does not", tok);
    if (fo && !same_bits(f, r)) fail_msg("'%s': fast %a, jansson %a", tok, (double)f, (double)r);
    int bo = body_number(tok, &b);
    if (bo != fo)
        fail_msg("'%s': the body reader %s it, the token reader %s", tok, bo ? "takes" : "leaves",
                 fo ? "takes" : "leaves");
    if (bo && !same_bits(b, f)) fail_msg("'%s': body %a, token %a", tok, (double)b, (double)f);
    return fo;
}

static void tricky_numbers(void **state)
{
    (void)state;
    /* must be read by the fast reader, to jansson's exact value */
    static const char *const ok[] = {"0",
                                     "-0",
                                     "0.0",
                                     "-0.0",
                                     "1",
                                     "-1",
                                     "0.5",
                                     "1e0",
                                     "1E5",
                                     "1e+5",
                                     "1e-5",
                                     "-1.5e-3",
                                     "0.0039215689",
                                     "3.4e38",
                                     "-3.4e38",
                                     "1.17549435e-38",
                                     "1.4e-45",
                                     "7e-46",
                                     "1e-310",
                                     "2.2250738585072014e-308",
                                     "4.9e-324",
                                     "1e-400",
                                     "0e400",
                                     "-0e-400",
                                     "123456789012345678",
                                     "-123456789012345678",
                                     "12345678901234567890.5",
                                     "0.12345678901234567890123",
                                     "1.00000005960464477539",
                                     "1.0000000596046448",
                                     "16777217",
                                     "16777217.0",
                                     "0.1",
                                     "0.2",
                                     "0.3",
                                     "9007199254740993",
                                     "9007199254740993.0",
                                     "1e22",
                                     "1e23",
                                     "1e-22",
                                     "1e-23",
                                     "3.0517578125e-05",
                                     "0.99999999999999999999",
                                     "1.99999999999999999999e-38",
                                     "0.000000000000000000000000000000000000000001",
                                     "100000000000000000000000000000.0",
                                     "33554431.5",
                                     "8.589973e9",
                                     "1.5e+00001",
                                     "2.5E-0003",
                                     "0.0000",
                                     "-0.0000e-0"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        if (!check_token(ok[i])) fail_msg("fast reader leaves '%s' to jansson", ok[i]);
    }
    /* -0 is an integer to jansson: +0.0; -0.0 is a real: -0.0 */
    float z;
    assert_true(fj_number("-0", 2, &z) && !signbit(z));
    assert_true(fj_number("-0.0", 4, &z) && signbit(z));
    /* rejected by both */
    static const char *const bad[] = {
        "01", "-01", "00",  "NaN", "nan",  "Infinity", "-Infinity", "inf",  "-",    "1.",
        ".5", "1e",  "1e+", "1e-", "+1",   "0x10",     "1.e5",      "--1",  "1..2", "1e5.5",
        "",   " 1",  "1 ",  "1,5", "1e99", "3.5e38",   "-1e39",     "1e309"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        float a, b;
        if (fj_number(bad[i], strlen(bad[i]), &a)) fail_msg("fast reader accepts '%s'", bad[i]);
        if (strcmp(bad[i], " 1") && strcmp(bad[i], "1 ") && ref_number(bad[i], &b))
            fail_msg("jansson (server path) accepts '%s'", bad[i]);
    }
    /* left to jansson: integers beyond long long (jansson: "too big integer") */
    float v;
    assert_false(fj_number("12345678901234567890", 20, &v));
    assert_false(ref_number("12345678901234567890", &v));
}

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random number-like tokens: digits, signs, dots and exponents, valid or not. */
static void random_numbers(void **state)
{
    (void)state;
    static const char alpha[] =
        "0123456789012345678901234567890123456789.eE+-/:"; /* "/:" border the digits */
    char tok[48];
    int accepted = 0;
    for (int i = 0; i < 200000; i++) {
        int len = 1 + (int)(next() % 30);
        for (int j = 0; j < len; j++) {
            uint64_t r = next();
            /* mostly digits, sometimes structure */
            tok[j] = (r % 4) ? (char)('0' + (r >> 8) % 10) : alpha[(r >> 8) % (sizeof alpha - 1)];
        }
        tok[len] = '\0';
        accepted += check_token(tok);
    }
    assert_true(accepted > 1000); /* the corpus exercises the accepting path */
    /* 17-19 digit decimals at and around float rounding midpoints (the double path must
     * give up there, and be right everywhere else) */
    for (int i = 0; i < 100000; i++) {
        uint32_t u = (uint32_t)next() & 0x7F7FFFFFu;
        float f, g;
        memcpy(&f, &u, sizeof f);
        g = nextafterf(f, INFINITY);
        double mid = ((double)f + (double)g) / 2;
        int digits = 17 + (int)(next() % 3);
        snprintf(tok, sizeof tok, "%.*e", digits - 1, i % 3 ? mid : (double)f);
        if (i % 5 == 0) { /* nudge the last digit */
            char *ep = strchr(tok, 'e');
            if (ep && ep[-1] >= '1' && ep[-1] <= '8') ep[-1] = (char)(ep[-1] + (i % 2 ? 1 : -1));
        }
        check_token(tok);
    }
    /* 13-16 digit fractions of values in [0, 10) (mostly [0, 0.9), where 16 digits still make
     * m <= 2^53) at and around float midpoints, as a body writes them ("0.xxx", no exponent):
     * the double path is tried before Clinger's division there, and must give up near a
     * midpoint, where the division decides */
    for (int i = 0; i < 200000; i++) {
        double scale = i % 4 ? 0.9 : 10.0;
        float f = (float)((next() >> 11) * (scale / 9007199254740992.0));
        float g = nextafterf(f, INFINITY);
        double mid = ((double)f + (double)g) / 2;
        snprintf(tok, sizeof tok, "%.*f", 13 + (int)(next() % 4), i % 3 ? mid : (double)f);
        check_token(tok);
    }
    static const char *const long_ok[] = {"0.0038999998942017555", "0.14509999752044678",
                                          "0.10589999705553055", "0.3294000029563904"};
    for (size_t i = 0; i < sizeof long_ok / sizeof *long_ok; i++)
        if (!check_token(long_ok[i])) fail_msg("fast reader leaves '%s' to jansson", long_ok[i]);
}

/* One integer digit and a fraction, the shapes of the body reader's one-digit path (a 16-byte
 * digit mask, then 3 more digits): every fraction length 0..40 (across 16 and 19), with and
 * without leading zeros (up to 24) and a sign, with what may end a value after it: each token
 * must read in the body as the token reader and jansson read it, and with at most 19 digits
 * (leading fraction zeros of a "0." not counted) the body reader must take it. */
static void one_digit_fractions(void **state)
{
    (void)state;
    static const char *const ends[] = {"", "e2", "E-1", "e", "."};
    int taken = 0;
    for (int it = 0; it < 60000; it++) {
        char tok[96];
        int k = 0, neg = (int)(next() % 4 == 0), d0 = (int)(next() % 10);
        int z = next() % 2 ? 0 : (int)(next() % 25), nd = (int)(next() % 41);
        if (neg) tok[k++] = '-';
        tok[k++] = (char)('0' + d0);
        tok[k++] = '.';
        for (int i = 0; i < z && k < 80; i++) tok[k++] = '0';
        for (int i = 0; i < nd && k < 80; i++) tok[k++] = (char)('0' + next() % 10);
        const char *end = next() % 8 ? "" : ends[next() % (sizeof ends / sizeof *ends)];
        snprintf(tok + k, sizeof tok - (size_t)k, "%s", end);
        int fo = check_token(tok);
        int frac = z + nd, sig = d0 ? 1 + frac : nd;
        if (!*end && frac > 0 && sig <= 19 && !fo) fail_msg("the fast reader leaves '%s'", tok);
        taken += fo;
    }
    assert_true(taken > 20000);
}

/* jansson's reading of a body as the server's fallback path would: 1 with rows when it is
 * {"instances"|"inputs": [[d finite floats], ...]} with >= 1 rows; 0 otherwise. */
static int ref_rows(const char *s, size_t len, int d, float *X, size_t cap, int *n)
{
    json_error_t je;
    json_t *o = json_loadb(s, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) return 0;
    int ok = 0;
    json_t *rows = json_object_get(o, "instances");
    if (!rows) rows = json_object_get(o, "inputs");
    if (!json_is_object(o) || !json_is_array(rows) || json_array_size(rows) == 0) goto out;
    size_t N = json_array_size(rows);
    if (N * (size_t)d > cap) goto out;
    for (size_t i = 0; i < N; i++) {
        json_t *r = json_array_get(rows, i);
        if (!json_is_array(r) || json_array_size(r) != (size_t)d) goto out;
        for (int c = 0; c < d; c++) {
            json_t *v = json_array_get(r, (size_t)c);
            if (!json_is_number(v)) goto out;
            double dv = json_number_value(v);
            if (!isfinite(dv) || fabs(dv) > 3.4e38) goto out;
            X[i * (size_t)d + (size_t)c] = (float)dv;
        }
    }
    *n = (int)N;
    ok = 1;
out:
    json_decref(o);
    return ok;
}

/* The body read in one piece and split between two threads (at its middle, whatever its size)
 * gives the same answer: verdict, rows, form and values, bit for bit. Returns the verdict. */
static int check_split(const char *s, size_t len, int d, size_t max_rows)
{
    fj_floats X = {NULL, 0}, Y = {NULL, 0};
    int n = -1, m = -1, col = -1, col2 = -1;
    int r = fj_rows_split(s, len, d, max_rows, 0, &X, &n, &col);
    int r2 = fj_rows_split(s, len, d, max_rows, 1, &Y, &m, &col2);
    if (r != r2) fail_msg("one piece: %d, split: %d: %.*s", r, r2, (int)len, s);
    if (r == FJ_ROWS || r == FJ_TOO_MANY) {
        assert_int_equal(n, m);
        assert_int_equal(col, col2);
    }
    if (max_rows != FJ_NO_LIMIT) assert_true(Y.cap <= max_rows * (size_t)d);
    if (r == FJ_ROWS)
        for (int i = 0; i < n * d; i++)
            if (!same_bits(X.p[i], Y.p[i]))
                fail_msg("split value %d differs: %.*s", i, (int)len, s);
    free(X.p);
    free(Y.p);
    return r;
}

/* fast took it => jansson takes it with the same rows; and split, it reads alike. Returns fast's
 * verdict. */
static int check_body(const char *s, size_t len, int d)
{
    fj_floats X = {NULL, 0};
    float R[256];
    int n = 0, rn = 0, col = 0;
    int fo = fj_rows(s, len, d, FJ_NO_LIMIT, &X, &n, &col);
    assert_true(fo >= 0);
    if (fo) {
        if (!ref_rows(s, len, d, R, 256, &rn))
            fail_msg("fast reader takes a body jansson rejects: %.*s", (int)len, s);
        assert_int_equal(n, rn);
        for (int i = 0; i < n * d; i++)
            if (!same_bits(X.p[i], R[i])) fail_msg("body value %d differs: %.*s", i, (int)len, s);
    }
    free(X.p);
    assert_int_equal(check_split(s, len, d, FJ_NO_LIMIT), fo);
    check_split(s, len, d, 2);
    return fo;
}

/* Rows of mostly "0.0" (read_rows takes "0.0," four at a time when none of the four is the
 * row's last): every row length 1..12 and run length, broken by other zeros and near-zeros,
 * whitespace and exponents, and rows of one value too many or too few, against jansson. */
static void zero_runs(void **state)
{
    (void)state;
    static const char *const other[] = {"-0.0",  "0.05", "0.0 ", " 0.0",  "0.00", "1.0",
                                        "0.0e1", "0",    "0.01", "0.0\n", "00.0"};
    char b[2048];
    int taken = 0;
    for (int it = 0; it < 20000; it++) {
        int d = 1 + (int)(next() % 12), rows = 1 + (int)(next() % 8), len = 0;
        len += snprintf(b + len, sizeof b - (size_t)len, "{\"instances\":[");
        for (int i = 0; i < rows; i++) {
            len += snprintf(b + len, sizeof b - (size_t)len, "%s[", i ? "," : "");
            int k = d + (next() % 16 ? 0 : next() % 2 ? 1 : -1); /* sometimes one too many or few */
            for (int c = 0; c < k; c++) {
                const char *tok =
                    next() % 8 ? "0.0" : other[next() % (sizeof other / sizeof *other)];
                len += snprintf(b + len, sizeof b - (size_t)len, "%s%s", c ? "," : "", tok);
            }
            len += snprintf(b + len, sizeof b - (size_t)len, "]");
        }
        len += snprintf(b + len, sizeof b - (size_t)len, "]}");
        assert_true((size_t)len < sizeof b - 1);
        taken += check_body(b, (size_t)len, d);
    }
    assert_true(taken > 5000);
}

static void bodies(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "{\"instances\":[[1,2,3]]}",
        " \r\n\t{ \"instances\" : [ [ 1 , -0 , 2.5e-3 ] , [0.0039215689,1e-310,-0.0] ] } \n",
        "{\"inputs\":[[1,2,3],[4,5,6]]}",
        "{\"instances\":[[0.0,0.0,0.0],[0.0e1,0.01,0],[0.0 ,-0.0,0.00]]}", /* the "0.0" shortcut */
        "{\"instances\":[[12345678901234567890.5,3.4e38,-3.4e38]]}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (!check_body(ok[i], strlen(ok[i]), 3)) fail_msg("fast reader leaves %s", ok[i]);
    int n = 0, col = 0;
    fj_floats X = {NULL, 0};
    assert_int_equal(fj_rows(ok[2], strlen(ok[2]), 3, FJ_NO_LIMIT, &X, &n, &col), 1);
    assert_int_equal(n, 2);
    assert_int_equal(col, 1);
    free(X.p);

    static const char *const junk[] = {
        "{\"instances\":[[1,2,3],]}",                          /* trailing comma (rows) */
        "{\"instances\":[[1,2,3,]]}",                          /* trailing comma (values) */
        "{\"instances\":[[1,2,3]],}",                          /* trailing comma (keys) */
        "{\"instances\":[[1,2,3]]",                            /* unbalanced */
        "{\"instances\":[[1,2,3]]}}",                          /* unbalanced */
        "{\"instances\":[[1,2,3]}",                            /* unbalanced */
        "{\"instances\":[[1,2,3]]} x",                         /* trailing garbage */
        "{\"instances\":[[1,2,3]]}\0",                         /* NUL after the document */
        "{\"instances\":[[01,2,3]]}",                          /* leading zero */
        "{\"instances\":[[NaN,2,3]]}",                         /* NaN */
        "{\"instances\":[[1,2,Infinity]]}",                    /* Infinity */
        "{\"instances\":[[1,2,-]]}",                           /* lone minus */
        "{\"instances\":[[1.,2,3]]}",                          /* 1. */
        "{\"instances\":[[.5,2,3]]}",                          /* .5 */
        "{\"instances\":[[1e,2,3]]}",                          /* 1e */
        "{\"instances\":[[1 2,3]]}",                           /* missing comma */
        "{\"instan\\x63es\":[[1,2,3]]}",                       /* bad escape in a key */
        "{\"instances\xff\":[[1,2,3]]}",                       /* invalid UTF-8 in a key */
        "{\"instances\":[[1,2,3]],\"instances\":[[1,2,3]]}",   /* duplicate keys */
        "{\"instances\":[]}",                                  /* empty */
        "{\"instances\":[[1,2]]}",                             /* short row */
        "{\"instances\":[[1,2,3,4]]}",                         /* long row */
        "{\"instances\":[[1,2,\"3\"]]}",                       /* string value */
        "{\"instances\":[[1,2,null]]}",                        /* null */
        "{\"instances\":[[1,2,1e39]]}",                        /* not a finite float */
        "[[1,2,3]]",                                           /* not an object */
        "{\"instances\":[[1,2,3]], \"signature_name\":\"x\"}", /* other keys: jansson's */
        "{\"instances\":[{\"a\":1,\"b\":2,\"c\":3}]}",         /* object rows: jansson's */
        "",
    };
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
        size_t len = strlen(junk[i]) + (i == 7 ? 1 : 0);
        if (check_body(junk[i], len, 3)) fail_msg("fast reader takes %s", junk[i]);
    }

    /* Random mutations of a valid body: whatever the fast reader takes, jansson reads alike. */
    const char *base = "{\"instances\": [[0.5, -1e-3, 12], [1E+2, -0, 3.25], [0.0,0.0,9.0]]}";
    size_t bl = strlen(base);
    static const char bytes[] = "[]{},:\" .-+eE0123456789x\t\n";
    int taken = 0;
    for (int it = 0; it < 100000; it++) {
        char buf[128];
        memcpy(buf, base, bl);
        size_t len = bl;
        int edits = 1 + (int)(next() % 3);
        for (int k = 0; k < edits; k++) {
            size_t pos = (size_t)(next() % len);
            uint64_t op = next() % 3;
            char c = bytes[next() % (sizeof bytes - 1)];
            if (op == 0) {
                buf[pos] = c; /* replace */
            } else if (op == 1 && len + 1 < sizeof buf) {
                memmove(buf + pos + 1, buf + pos, len - pos); /* insert */
                buf[pos] = c;
                len++;
            } else if (len > 1) {
                memmove(buf + pos, buf + pos + 1, len - pos - 1); /* delete */
                len--;
            }
        }
        taken += check_body(buf, len, 3);
    }
    assert_true(taken > 100);
}

static void formatter(void **state)
{
    (void)state;
    char b[FJ_FLOAT_MAX + 1];
    static const struct {
        float f;
        const char *s;
    } known[] = {{0.0f, "0.0"},   {-0.0f, "-0.0"},        {1.0f, "1.0"},     {0.5f, "0.5"},
                 {0.1f, "0.1"},   {-2.25f, "-2.25"},      {100.0f, "100.0"}, {1e9f, "1e9"},
                 {1e-7f, "1e-7"}, {123456.7f, "123456.7"}};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        size_t n = fj_format_float(known[i].f, b);
        b[n] = '\0';
        assert_string_equal(b, known[i].s);
    }
    assert_int_equal(fj_format_float(NAN, b), 4);
    assert_memory_equal(b, "null", 4);
    assert_int_equal(fj_format_float(-INFINITY, b), 4);
    for (int i = 0; i < 300000; i++) {
        uint32_t u = (uint32_t)next();
        float f;
        memcpy(&f, &u, sizeof f);
        if (i % 2) f = (float)((next() >> 11) * (1.0 / 9007199254740992.0)); /* probabilities */
        if (!isfinite(f)) continue;
        size_t n = fj_format_float(f, b);
        assert_true(n < sizeof b);
        b[n] = '\0';
        json_t *j = json_loads(b, JSON_DECODE_ANY, NULL); /* as a JSON client reads it */
        if (!json_is_real(j) || !same_bits(f, (float)json_real_value(j)))
            fail_msg("%a printed as %s", (double)f, b);
        json_decref(j);
        assert_true(strchr(b, '.') || strchr(b, 'e')); /* stays a real */
        /* shortest: no more digits than the shortest %.*g that reads back */
        int p;
        char c[32];
        for (p = 1; p < 9; p++) {
            snprintf(c, sizeof c, "%.*g", p, (double)f);
            if ((float)strtod(c, NULL) == f) break;
        }
        char dig[32];
        int nd = 0;
        for (const char *q = b; *q && *q != 'e'; q++)
            if ((*q >= '1' && *q <= '9') || (*q == '0' && nd)) dig[nd++] = *q;
        while (nd > 1 && dig[nd - 1] == '0') nd--; /* significant digits */
        double a = fabs((double)f);
        if (a > 1e-13 && a < 1e13 && nd > p) fail_msg("%s is longer than %s", b, c);
    }
}

/* A random value token: mostly the shapes the fast value path takes (0.0, 1.0, short and 17-19
 * digit decimals, integers, negatives), sometimes exponents, 20+ digits or junk. */
static int random_token(char *tok, size_t cap)
{
    uint64_t r = next();
    switch (r % 10) {
    case 0:
    case 1:
        return snprintf(tok, cap, "0.0");
    case 2: {
        float f = (float)((next() >> 40) * (1.0 / 16777216.0));
        return snprintf(tok, cap, "%.*g", 16 + (int)(next() % 4), (double)f);
    }
    case 3:
        return snprintf(tok, cap, "%s%llu.%llu", next() % 2 ? "-" : "",
                        (unsigned long long)(next() % 1000),
                        (unsigned long long)(next() % 100000000000ull));
    case 4:
        return snprintf(tok, cap, "%lld", (long long)(next() % 200000000000000000ull) - 1000000000);
    case 5:
        return snprintf(tok, cap, "%.*e", (int)(next() % 12), (double)(int64_t)next() * 1e-20);
    case 6: { /* runs of digits around 19 and 32, with and without a fraction */
        int a = 1 + (int)(next() % 34), b = (int)(next() % 34), k = 0;
        tok[k++] = (char)('1' + next() % 9);
        for (int i = 1; i < a && k + 2 < (int)cap; i++) tok[k++] = (char)('0' + next() % 10);
        if (b && k + 2 < (int)cap) tok[k++] = '.';
        for (int i = 0; i < b && k + 1 < (int)cap; i++) tok[k++] = (char)('0' + next() % 10);
        tok[k] = '\0';
        return k;
    }
    case 7: {
        if (next() % 8) return snprintf(tok, cap, "1.0");
        static const char *const odd[] = {"1.0", "-0", "-0.0", "0", "1e5",  " 2.5", "01", "1.",
                                          ".5",  "-",  "1e",   "x", "0.0 ", "1/",   "9:", "1.5E+3"};
        return snprintf(tok, cap, "%s", odd[next() % (sizeof odd / sizeof *odd)]);
    }
    default:
        return snprintf(tok, cap, "0.%04u", (unsigned)(next() % 10000));
    }
}

/* Bodies long enough for the fast value path and the split (one piece and split at the middle):
 * random rows of random tokens, some mutated, against jansson and against each other; the
 * split point is moved across every row boundary by varying the rows' lengths. */
static void long_bodies(void **state)
{
    (void)state;
    enum { CAP = 1 << 14 };
    char *b = malloc(CAP);
    float *R = malloc(CAP * sizeof *R);
    assert_non_null(b);
    assert_non_null(R);
    int taken = 0;
    for (int it = 0; it < 4000; it++) {
        int d = 1 + (int)(next() % 12), rows = 1 + (int)(next() % 24), len = 0;
        len +=
            snprintf(b + len, CAP - (size_t)len, "{\"%s\":[", next() % 4 ? "instances" : "inputs");
        for (int i = 0; i < rows; i++) {
            len +=
                snprintf(b + len, CAP - (size_t)len, "%s[", i ? (next() % 8 ? "," : " ,\n") : "");
            for (int c = 0; c < d; c++) {
                char tok[64];
                random_token(tok, sizeof tok);
                if (next() % 500 == 0) tok[0] = '"'; /* a string: jansson's */
                len += snprintf(b + len, CAP - (size_t)len, "%s%s", c ? "," : "", tok);
            }
            len += snprintf(b + len, CAP - (size_t)len, "]");
        }
        len += snprintf(b + len, CAP - (size_t)len, "]}");
        assert_true(len < CAP - 1);
        if (it % 3 == 0) { /* a mutation anywhere */
            static const char bytes[] = "[]{},:\" .-+eE0123456789";
            b[next() % (size_t)len] = bytes[next() % (sizeof bytes - 1)];
        }
        fj_floats X = {NULL, 0};
        int n = 0, col = 0, rn = 0;
        int fo = fj_rows(b, (size_t)len, d, FJ_NO_LIMIT, &X, &n, &col);
        if (fo == FJ_ROWS) {
            taken++;
            if (!ref_rows(b, (size_t)len, d, R, CAP, &rn))
                fail_msg("fast reader takes a body jansson rejects: %.*s", len, b);
            assert_int_equal(n, rn);
            for (int i = 0; i < n * d; i++)
                if (!same_bits(X.p[i], R[i])) fail_msg("value %d differs: %.*s", i, len, b);
        }
        free(X.p);
        assert_int_equal(check_split(b, (size_t)len, d, FJ_NO_LIMIT), fo);
        check_split(b, (size_t)len, d, 1 + next() % (size_t)(rows + 1));
    }
    print_message("long_bodies: %d of 4000 bodies read by the fast reader\n", taken);
    assert_true(taken > 1000);
    free(b);
    free(R);
}

/* A split body whose first half is slow to read (tokens for strtod) and whose second half is
 * fast, so that the helper thread claims the second half: its tail is checked there too (junk
 * after the document, a missing '}'), and its rows are the one-piece reader's. */
static void split_helper_half(void **state)
{
    (void)state;
    static const char *const tails[] = {"]}", "]} x", "]", "]}}", "],[0.0]]}"};
    enum { SLOW = 10000, FAST = 100000 }; /* the middle falls among the fast rows */
    char *b = malloc((size_t)SLOW * 48 + (size_t)FAST * 8 + 64);
    assert_non_null(b);
    for (size_t t = 0; t < sizeof tails / sizeof *tails; t++) {
        for (int it = 0; it < 3; it++) {
            size_t len = (size_t)sprintf(b, "{\"instances\":[");
            for (int i = 0; i < SLOW; i++) /* 30 digits: past the fast paths, to strtod */
                len += (size_t)sprintf(b + len, "%s[1.00000000000000000000000000%02d]",
                                       i ? "," : "", i % 100);
            for (int i = 0; i < FAST; i++) len += (size_t)sprintf(b + len, ",[0.0]");
            len += (size_t)sprintf(b + len, "%s", tails[t]);
            int r = check_split(b, len, 1, FJ_NO_LIMIT);
            assert_int_equal(r, t == 0 ? FJ_ROWS : FJ_OTHER);
        }
    }
    free(b);
}

/* "{"<key>":[" rows of [i,i,i,i] "]}" with the given tail in place of the last row's "]}". */
static char *rows_body(const char *key, int rows, const char *tail)
{
    size_t cap = strlen(key) + (size_t)rows * 64 + strlen(tail) + 16;
    char *b = malloc(cap), *o = b;
    assert_non_null(b);
    o += sprintf(o, "{\"%s\":[", key);
    for (int i = 0; i < rows; i++) o += sprintf(o, "%s[%d,%d,%d,%d]", i ? "," : "", i, i, i, i);
    sprintf(o, "%s", tail);
    return b;
}

/* With a row limit, the reader stops as soon as an element follows the limit's last row, having
 * made room for no more than the limit's rows: never for the whole body. */
static void row_limit(void **state)
{
    (void)state;
    const int d = 4, max = 10, all = 1000;
    fj_floats X = {NULL, 0};
    int n = 0, col = -1;
    char *b = rows_body("instances", all, "]}");
    assert_int_equal(fj_rows(b, strlen(b), d, (size_t)max, &X, &n, &col), FJ_TOO_MANY);
    assert_int_equal(n, max + 1);
    assert_int_equal(col, 0);
    assert_true(X.cap <= (size_t)max * d); /* all rows would need 4000 floats */
    free(b);
    /* without the limit, the same body is read whole */
    b = rows_body("instances", all, "]}");
    assert_int_equal(fj_rows(b, strlen(b), d, FJ_NO_LIMIT, &X, &n, &col), FJ_ROWS);
    assert_int_equal(n, all);
    assert_true(X.cap >= (size_t)all * d);
    assert_true(X.p[(size_t)(all - 1) * d] == (float)(all - 1));
    free(b);
    free(X.p);
    X = (fj_floats){NULL, 0};
    /* exactly the limit: read */
    b = rows_body("inputs", max, "]}");
    assert_int_equal(fj_rows(b, strlen(b), d, (size_t)max, &X, &n, &col), FJ_ROWS);
    assert_int_equal(n, max);
    assert_int_equal(col, 1);
    assert_true(X.p[(size_t)(max - 1) * d + 3] == (float)(max - 1));
    free(b);
    /* past the limit, the rest of the body is not read: junk there does not matter */
    b = rows_body("inputs", max, ",\"x\", {]");
    assert_int_equal(fj_rows(b, strlen(b), d, (size_t)max, &X, &n, &col), FJ_TOO_MANY);
    assert_int_equal(n, max + 1);
    assert_int_equal(col, 1);
    free(b);
    /* junk within the limit is still the jansson path's */
    b = rows_body("instances", max - 1, ",[1,2,3]]}");
    assert_int_equal(fj_rows(b, strlen(b), d, (size_t)max, &X, &n, &col), FJ_OTHER);
    free(b);
    assert_true(X.cap <= (size_t)max * d);
    free(X.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tricky_numbers),      cmocka_unit_test(random_numbers),
        cmocka_unit_test(one_digit_fractions), cmocka_unit_test(bodies),
        cmocka_unit_test(zero_runs),           cmocka_unit_test(formatter),
        cmocka_unit_test(row_limit),           cmocka_unit_test(long_bodies),
        cmocka_unit_test(split_helper_half),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
