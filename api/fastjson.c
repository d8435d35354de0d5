/* fastjson.c — strict single-pass reader of inference bodies and the float formatter of the
 * answers (see fastjson.h): header, rows (read_rows: values through read_value, the fast value
 * path first), the two-thread split of large bodies (fj_rows_split), then the formatter.
 *
 * Why not ds_parse_number (server/dsnum.c): it rounds decimal -> float directly (strtof), and
 * this reader must give the very floats of the jansson path, which rounds decimal -> double ->
 * float (they differ in rare double-rounding cases), and must also mirror jansson's split of
 * integers (strtoll: "-0" is +0) from reals. The exact-fast-path idea is the same. */
#include "fastjson.h"

#include <errno.h>
#include <float.h>
#if defined(__SSE2__) && defined(__x86_64__) && !defined(FJ_PORTABLE)
#include <emmintrin.h> /* SSE2: part of the x86-64 baseline, so no runtime dispatch */
#define FJ_SSE2 1
#endif
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* 10^k for k in [-64, 64] is p10_tab[k + 64]; exact in double for 0 <= k <= 22. */
static const double p10_tab[129] = {
    1e-64, 1e-63, 1e-62, 1e-61, 1e-60, 1e-59, 1e-58, 1e-57, 1e-56, 1e-55, 1e-54, 1e-53, 1e-52,
    1e-51, 1e-50, 1e-49, 1e-48, 1e-47, 1e-46, 1e-45, 1e-44, 1e-43, 1e-42, 1e-41, 1e-40, 1e-39,
    1e-38, 1e-37, 1e-36, 1e-35, 1e-34, 1e-33, 1e-32, 1e-31, 1e-30, 1e-29, 1e-28, 1e-27, 1e-26,
    1e-25, 1e-24, 1e-23, 1e-22, 1e-21, 1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13,
    1e-12, 1e-11, 1e-10, 1e-9,  1e-8,  1e-7,  1e-6,  1e-5,  1e-4,  1e-3,  1e-2,  1e-1,  1e0,
    1e1,   1e2,   1e3,   1e4,   1e5,   1e6,   1e7,   1e8,   1e9,   1e10,  1e11,  1e12,  1e13,
    1e14,  1e15,  1e16,  1e17,  1e18,  1e19,  1e20,  1e21,  1e22,  1e23,  1e24,  1e25,  1e26,
    1e27,  1e28,  1e29,  1e30,  1e31,  1e32,  1e33,  1e34,  1e35,  1e36,  1e37,  1e38,  1e39,
    1e40,  1e41,  1e42,  1e43,  1e44,  1e45,  1e46,  1e47,  1e48,  1e49,  1e50,  1e51,  1e52,
    1e53,  1e54,  1e55,  1e56,  1e57,  1e58,  1e59,  1e60,  1e61,  1e62,  1e63,  1e64,
};
#define P10(k) p10_tab[(k) + 64]

/* 17-19 digit mantissas (what printing a float32 as a double gives, "0.0038999998942017555"),
 * for which Clinger's exact path does not apply (m > 2^53): q = RN(RN(m) * RN(10^exp10)) in
 * double, three roundings, so |q - x| <= 3u|x| with u = 2^-53, under 3 ulps of q; jansson's
 * double RN(x) is within half an ulp of x. jansson's value is (float)RN(x); it equals (float)q
 * whenever no float rounding midpoint lies within 4 ulps of q. For a normal float in a normal
 * double, the midpoints are the doubles whose 29 bits below the float's mantissa are 2^28 (in
 * every binade), so the test is on q's low 29 bits: more than 8 ulps from 2^28 reads as (float)q
 * (and a power of two, with low bits near 0 or near 2^29, is never close). 1 and *out set; 0
 * when too close to call or outside the normal float range (use strtod). Plain double, not long
 * double: x87 long double would need only one rounding, but it is a slow software quad on
 * aarch64 and a plain double on some ABIs. */
static int dbl_path(uint64_t m, long exp10, float *out)
{
    double q = (double)m * P10(exp10);
    if (!(q >= 0x1p-126 && q < 3.39e38)) return 0;
    uint64_t b;
    memcpy(&b, &q, sizeof b);
    uint32_t low = (uint32_t)(b & 0x1FFFFFFFu);    /* below the float's 23 mantissa bits */
    if (low - (0x10000000u - 8u) <= 16u) return 0; /* within 8 ulps of a midpoint */
    *out = (float)q;
    return 1;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline const char *skip_ws(const char *p, const char *e)
{
    /* one test in the common case (no whitespace: the next byte is above ' ') */
    while (p < e && (unsigned char)*p <= ' ' &&
           (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* Mantissas keep at most 19 significant digits: a digit is appended while m < 10^18. */
#define M_MAX UINT64_C(1000000000000000000)

/* 1 and *v = their value when p[0..8) are eight ASCII digits (SWAR, as simdjson and fast_float
 * do it: one 64-bit load, a digit test and three multiplications). */
static inline __attribute__((always_inline)) int eight_digits(const char *p, uint32_t *v)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (((w & UINT64_C(0xF0F0F0F0F0F0F0F0)) |
         (((w + UINT64_C(0x0606060606060606)) & UINT64_C(0xF0F0F0F0F0F0F0F0)) >> 4)) !=
        UINT64_C(0x3333333333333333))
        return 0;
    w -= UINT64_C(0x3030303030303030);
    w = (w * 10) + (w >> 8); /* pairs of digits */
    w = (((w & UINT64_C(0x000000FF000000FF)) * (100 + (UINT64_C(1000000) << 32))) +
         (((w >> 16) & UINT64_C(0x000000FF000000FF)) * (1 + (UINT64_C(10000) << 32)))) >>
        32;
    *v = (uint32_t)w;
    return 1;
#else
    (void)w;
    (void)v;
    return 0;
#endif
}

/* The longest number token handed to strtod (through a stack copy); longer ones go to jansson. */
#define TOKEN_MAX 128

/* Scans one JSON number at *pp (grammar of RFC 8259, as jansson's lexer), advancing *pp past
 * it. 1 and *out set; 0 when invalid or not handled here. */
/* Inlined into the row loop: p stays in a register. */
static inline __attribute__((always_inline)) int scan_number(const char **pp, const char *e,
                                                             float *out)
{
    const char *p = *pp, *start = p;
    int neg = 0, real = 0, dropped = 0;
    uint64_t m = 0;
    long exp10 = 0;
    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= e) return 0;
    if (*p == '0') {
        p++;
        if (p < e && is_digit(*p)) return 0; /* leading zero */
    } else if (*p >= '1' && *p <= '9') {
        while (p < e && is_digit(*p)) {
            if (m < M_MAX) {
                m = m * 10 + (uint64_t)(*p - '0');
            } else {
                dropped = 1;
                exp10++;
            }
            p++;
        }
    } else {
        return 0;
    }
    if (p < e && *p == '.') {
        real = 1;
        p++;
        if (p >= e || !is_digit(*p)) return 0;
        uint32_t v8;
        while (e - p >= 8 && is_digit(p[1]) && m < M_MAX / 10000000 && eight_digits(p, &v8)) {
            m = m * 100000000 + v8; /* < 10^19 < 2^64 */
            exp10 -= 8;
            p += 8;
        }
        while (p < e && is_digit(*p)) {
            if (m < M_MAX) {
                m = m * 10 + (uint64_t)(*p - '0');
                exp10--;
            } else {
                dropped = 1;
            }
            p++;
        }
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        real = 1;
        p++;
        int eneg = 0;
        if (p < e && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        if (p >= e || !is_digit(*p)) return 0;
        long ev = 0;
        while (p < e && is_digit(*p)) {
            if (ev < 100000) ev = ev * 10 + (*p - '0');
            p++;
        }
        exp10 += eneg ? -ev : ev;
    }
    double dv;
    if (!real) {
        /* jansson: strtoll, "too big integer" beyond long long; then (double). */
        if (dropped || m >= M_MAX) return 0;
        long long ll = (long long)m;
        dv = (double)(neg ? -ll : ll);
    } else if (m == 0 && !dropped) {
        dv = neg ? -0.0 : 0.0;
    } else if (!dropped && m <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        /* Clinger: both operands exact, one correctly rounded operation = strtod's result. */
        dv = exp10 < 0 ? (double)m / P10(-exp10) : (double)m * P10(exp10);
        if (neg) dv = -dv;
    } else if (!dropped && exp10 >= -64 && exp10 <= 64 && dbl_path(m, exp10, out)) {
        if (neg) *out = -*out;
        *pp = p;
        return 1;
    } else {
        size_t n = (size_t)(p - start);
        char buf[TOKEN_MAX];
        if (n >= sizeof buf) return 0;
        memcpy(buf, start, n);
        buf[n] = '\0';
        char *end;
        errno = 0;
        dv = strtod(buf, &end);
        if (end != buf + n) return 0;
        if (errno == ERANGE && isinf(dv)) return 0; /* jansson: "real number overflow" */
    }
    /* api/infer_tfs.c's check: not a finite float -> its own error message. */
    if (!isfinite(dv) || fabs(dv) > 3.4e38) return 0;
    *out = (float)dv;
    *pp = p;
    return 1;
}

/* Bytes the fast value path may read past a value's first byte: the widest token it takes
 * (sign, 19 digits, '.') plus a 32-byte digit scan. Values closer to the end of the body take
 * the general path (scan_number), which never reads past it. */
#define FAST_ROOM 64

/* How many of p[0..32) are ASCII digits before the first non-digit (32 if all are). Reads 32
 * bytes. SSE2 on x86-64 (two 16-byte compares); elsewhere SWAR on 8-byte words (the digit test
 * of fast_float: a byte b is a digit when (b ^ '0') < 10), or bytes on big-endian hosts. */
static inline __attribute__((always_inline)) unsigned digit_run(const char *p)
{
#if defined(FJ_SSE2)
    const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);
    __m128i a = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), zero);
    __m128i b = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)), zero);
    unsigned ma = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(a, nine), a));
    unsigned mb = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(b, nine), b));
    uint32_t other = ~(ma | mb << 16);
    return other ? (unsigned)__builtin_ctz(other) : 32;
#elif __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (unsigned k = 0; k < 32; k += 8) {
        uint64_t w, t;
        memcpy(&w, p + k, sizeof w);
        t = w ^ UINT64_C(0x3030303030303030); /* digits become 0..9 */
        /* high bit of each byte set when that byte is >= 10 (no carry crosses bytes) */
        uint64_t other = (((t & UINT64_C(0x7F7F7F7F7F7F7F7F)) + UINT64_C(0x7676767676767676)) | t) &
                         UINT64_C(0x8080808080808080);
        if (other) return k + (unsigned)__builtin_ctzll(other) / 8;
    }
    return 32;
#else
    unsigned k = 0;
    while (k < 32 && is_digit(p[k])) k++;
    return k;
#endif
}

/* How many of p[0..32) are '0' before the first other byte (32 if all are). Reads 32 bytes. */
static inline __attribute__((always_inline)) unsigned zero_run(const char *p)
{
#if defined(FJ_SSE2)
    const __m128i zero = _mm_set1_epi8('0');
    unsigned ma = (unsigned)_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), zero));
    unsigned mb = (unsigned)_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)), zero));
    uint32_t other = ~(ma | mb << 16);
    return other ? (unsigned)__builtin_ctz(other) : 32;
#else
    unsigned k = 0;
    while (k < 32 && p[k] == '0') k++;
    return k;
#endif
}

/* 10^k for k in [0, 19]: exact in uint64_t. */
static const uint64_t u10[20] = {1u,
                                 10u,
                                 100u,
                                 1000u,
                                 10000u,
                                 100000u,
                                 1000000u,
                                 10000000u,
                                 100000000u,
                                 1000000000u,
                                 10000000000u,
                                 100000000000u,
                                 1000000000000u,
                                 10000000000000u,
                                 100000000000000u,
                                 1000000000000000u,
                                 10000000000000000u,
                                 100000000000000000u,
                                 1000000000000000000u,
                                 10000000000000000000u};

/* The value of the n (1..8) digits at q, all known to be digits; reads q[0..8). */
static inline __attribute__((always_inline)) uint64_t digits8(const char *q, unsigned n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w;
    memcpy(&w, q, sizeof w);
    /* digits to 0..9, then the n of them moved to the top bytes: the bytes below are leading
     * zeros (little-endian: q[0] is the low byte and the most significant digit) */
    w = (w - UINT64_C(0x3030303030303030)) << (8 * (8 - n));
    w = (w * 10) + (w >> 8); /* pairs of digits, as in eight_digits */
    w = (((w & UINT64_C(0x000000FF000000FF)) * (100 + (UINT64_C(1000000) << 32))) +
         (((w >> 16) & UINT64_C(0x000000FF000000FF)) * (1 + (UINT64_C(10000) << 32)))) >>
        32;
    return (uint32_t)w;
#else
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v = v * 10 + (uint64_t)(q[i] - '0');
    return v;
#endif
}

#if defined(FJ_SSE2)
/* The value of 16 digit values (0..9, one a byte, the most significant first): to 16-bit lanes,
 * then pairs, quads and eights by multiply-add. */
static inline __attribute__((always_inline)) uint64_t digits16_v(__m128i v)
{
    const __m128i zero = _mm_setzero_si128();
    /* lane 2i holds the more significant digit of a pair: x10, lane 2i+1 x1 */
    const __m128i m10 = _mm_set_epi16(1, 10, 1, 10, 1, 10, 1, 10);
    __m128i pairs = _mm_packs_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(v, zero), m10),
                                    _mm_madd_epi16(_mm_unpackhi_epi8(v, zero), m10));
    __m128i quads = _mm_madd_epi16(pairs, _mm_set_epi16(1, 100, 1, 100, 1, 100, 1, 100));
    __m128i eights = _mm_madd_epi16(_mm_packs_epi32(quads, quads),
                                    _mm_set_epi16(1, 10000, 1, 10000, 1, 10000, 1, 10000));
    uint64_t r = (uint64_t)_mm_cvtsi128_si64(eights); /* the first eight | the second << 32 */
    return (r & 0xFFFFFFFFu) * 100000000 + (r >> 32);
}

/* The value of the 16 digits at q, all known to be digits. */
static inline __attribute__((always_inline)) uint64_t digits16(const char *q)
{
    return digits16_v(
        _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)q), _mm_set1_epi8('0')));
}

/* 16 bytes 0xFF, then 16 bytes 0: the 16 bytes at keep_tab + 16 - n keep lanes [0, n). */
static const unsigned char keep_tab[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                           0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

/* The inverse of 5^k modulo 2^64, k in [0, 16]: x * 10^k / 10^k = ((x * 10^k) >> k) * inv5[k]
 * (mod 2^64), exact for every x (the shift drops only the zero bits of 2^k). */
static const uint64_t inv5[17] = {
    UINT64_C(0x0000000000000001), UINT64_C(0xCCCCCCCCCCCCCCCD), UINT64_C(0x8F5C28F5C28F5C29),
    UINT64_C(0x1CAC083126E978D5), UINT64_C(0xD288CE703AFB7E91), UINT64_C(0x5D4E8FB00BCBE61D),
    UINT64_C(0x790FB65668C26139), UINT64_C(0xE5032477AE8D46A5), UINT64_C(0xC767074B22E90E21),
    UINT64_C(0x8E47CE423A2E9C6D), UINT64_C(0x4FA7F60D3ED61F49), UINT64_C(0x0FEE64690C913975),
    UINT64_C(0x3662E0E1CF503EB1), UINT64_C(0xA47A2CF9F6433FBD), UINT64_C(0x54186F653140A659),
    UINT64_C(0x7738164770402145), UINT64_C(0xE4A4D1417CD9A041)};

/* A digit mask of 16 bytes: bit i set when byte i of v + '0' is an ASCII digit. */
static inline __attribute__((always_inline)) unsigned digit_mask16(__m128i v)
{
    const __m128i nine = _mm_set1_epi8(9);
    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, nine), v));
}
#endif

/* The value of the n (1..19) digits at q, all known to be digits; reads q[0..24). */
static inline __attribute__((always_inline)) uint64_t digits19(const char *q, unsigned n)
{
    if (n <= 8) return digits8(q, n);
#if defined(FJ_SSE2)
    if (n > 16) return digits16(q) * u10[n - 16] + digits8(q + 16, n - 16);
#endif
    if (n <= 16) return digits8(q, 8) * u10[n - 8] + digits8(q + 8, n - 8);
    return (digits8(q, 8) * 100000000 + digits8(q + 8, 8)) * u10[n - 16] + digits8(q + 16, n - 16);
}

/* The float of m / 10^nf (a fraction of nf digits, m its digits), negated if neg, as scan_number
 * computes it: dbl_path first, also where Clinger's division applies (both give jansson's float
 * when they answer, and a multiplication is far cheaper than a division), then Clinger's
 * division; 0 for strtod's case (scan_number then decides). */
static inline __attribute__((always_inline)) int fraction_float(uint64_t m, unsigned nf, int neg,
                                                                float *out)
{
    double dv;
    if (m != 0 && dbl_path(m, -(long)nf, out)) {
        if (neg) *out = -*out;
        return 1;
    }
    if (m == 0) {
        dv = neg ? -0.0 : 0.0;
    } else if (m <= (UINT64_C(1) << 53) && nf <= 22) {
        dv = (double)m / P10(nf); /* Clinger, as scan_number */
        if (neg) dv = -dv;
    } else {
        return 0;
    }
    *out = (float)dv; /* |dv| < 10^19: a finite float */
    return 1;
}

/* The fast path for one value at p (with FAST_ROOM bytes readable): "0.0" followed by ']' (a
 * row's last; read_rows takes "0.0," itself), or -?digits(.digits)? with at most 19 digits in all
 * (not counting a "0." value's leading fraction zeros) and no exponent. Reads it exactly as
 * scan_number does (the same m, exp10 and branches, without the digit-by-digit loop: the runs are
 * measured by digit_run and converted 8 digits at a time): 1 with *out set and *pp past the value;
 * 0, with *pp unchanged, for anything else (scan_number then decides, from the same place). */
static inline __attribute__((always_inline)) int fast_value(const char **pp, float *out)
{
    const char *p = *pp;
    uint32_t w4;
    memcpy(&w4, p, sizeof w4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (w4 == 0x5D302E30u) { /* "0.0]" (read_rows takes "0.0," itself) */
        *out = 0.0f;
        *pp = p + 3;
        return 1;
    }
#endif
    int neg = *p == '-';
    p += neg;
#if defined(FJ_SSE2)
    /* One integer digit and up to 19 fraction digits ("0.6157000064849854", every pixel value
     * but 0.0): the fraction's digits found by one 16-byte digit mask, and converted by one
     * digits16 on the mask of them (their value times 10^(16 - nf), divided back exactly). The
     * same m and nf as below, so the same float; longer fractions go on below. */
    if (is_digit(p[0]) && p[1] == '.') {
        const char *q = p + 2;
        __m128i a =
            _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)q), _mm_set1_epi8('0'));
        unsigned nf = (unsigned)__builtin_ctz(~digit_mask16(a)); /* 0..16 */
        uint64_t m;
        int go_on = 0;
        if (nf < 16) {
            __m128i keep = _mm_loadu_si128((const __m128i *)(const void *)(keep_tab + 16 - nf));
            unsigned k = 16 - nf;
            m = (digits16_v(_mm_and_si128(a, keep)) >> k) * inv5[k];
        } else {
            __m128i b = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)(q + 16)),
                                     _mm_set1_epi8('0'));
            unsigned n2 = (unsigned)__builtin_ctz(~digit_mask16(b));
            m = digits16_v(a);
            if (n2 > 3)
                go_on = 1; /* 20 or more: leading zeros, or too long (below) */
            else if (n2)
                m = m * u10[n2] + digits8(q + 16, n2);
            nf += n2;
        }
        if (!go_on) {
            char t = q[nf];
            if (nf == 0 || t == 'e' || t == 'E') return 0;
            if (p[0] != '0') {
                if (nf > 18) return 0; /* more than 19 digits: scan_number */
                m += (uint64_t)(p[0] - '0') * u10[nf];
            }
            if (!fraction_float(m, nf, neg, out)) return 0;
            *pp = q + nf;
            return 1;
        }
    }
#endif
    /* one integer digit, as in every value in [0, 10): no scan */
    unsigned ni = is_digit(p[0]) && p[1] == '.' ? 1 : digit_run(p);
    if (ni == 0 || ni > 19 || (ni > 1 && *p == '0')) return 0; /* none, long, leading zero */
    const char *f = p + ni;
    if (*f == '.') {
        unsigned nf = digit_run(f + 1);
        char t = f[1 + nf];
        if (nf == 0 || t == 'e' || t == 'E') return 0;
        uint64_t m; /* < 10^19 */
        if (__builtin_expect(ni + nf <= 19, 1)) {
            m = digits19(f + 1, nf);
            if (ni > 1 || *p != '0')
                m += (ni == 1 ? (uint64_t)(*p - '0') : digits19(p, ni)) * u10[nf];
        } else {
            /* "0.00ddd": the fraction's leading zeros add no digit to m (scan_number appends
             * them to m = 0), so at most 19 after them ("0.0038999998942017555") */
            if (ni != 1 || *p != '0' || nf >= 32) return 0;
            unsigned z = zero_run(f + 1);
            if (nf - z > 19) return 0;
            m = nf > z ? digits19(f + 1 + z, nf - z) : 0;
        }
        if (!fraction_float(m, nf, neg, out)) return 0;
        *pp = f + 1 + nf;
        return 1;
    }
    if (*f == 'e' || *f == 'E' || ni > 18) return 0;
    long long ll = (long long)digits19(p, ni); /* an integer: strtoll, then (double) */
    *out = (float)(double)(neg ? -ll : ll);
    *pp = f;
    return 1;
}

int fj_number(const char *s, size_t len, float *out)
{
    const char *p = s, *e = s + len;
    float v;
    if (!scan_number(&p, e, &v) || p != e) return 0;
    *out = v;
    return 1;
}

/* fj_reserve, growing X to at most `most` floats (need <= most). */
static int reserve_upto(fj_floats *X, size_t need, size_t most)
{
    if (need <= X->cap) return 0;
    size_t cap = X->cap ? X->cap * 2 : 1024;
    while (cap < need) cap *= 2;
    if (cap > most) cap = most;
    float *p = realloc(X->p, cap * sizeof *p);
    if (!p) return -1;
    X->p = p;
    X->cap = cap;
    return 0;
}

int fj_reserve(fj_floats *X, size_t need)
{
    return reserve_upto(X, need, FJ_NO_LIMIT);
}

/* One value at *p (whitespace before it allowed), into *out: 1 with *p past it, else 0. */
static inline __attribute__((always_inline)) int read_value(const char **pp, const char *e,
                                                            float *out)
{
    const char *p = *pp;
    if (e - p >= FAST_ROOM && fast_value(pp, out)) return 1;
    p = skip_ws(p, e);
    if (e - p >= 4 && p[0] == '0' && p[1] == '.' && p[2] == '0' &&
        (p[3] == ',' || p[3] == ']')) { /* "0.0", most pixels: +0 as jansson reads it */
        *out = 0.0f;
        *pp = p + 3;
        return 1;
    }
    if (!scan_number(&p, e, out)) return 0;
    *pp = p;
    return 1;
}

/* 1 when p[0..4) is "0.0,". */
static inline __attribute__((always_inline)) int zero_comma(const char *p)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t w;
    memcpy(&w, p, sizeof w);
    return w == 0x2C302E30u;
#else
    return memcmp(p, "0.0,", 4) == 0;
#endif
}

/* 1 when p[0..16) is "0.0,0.0,0.0,0.0,": four zero pixels, each +0 as jansson reads "0.0" (the
 * fast value path's own shortcut, four at a time: half the values of a Fashion-MNIST body). */
static inline __attribute__((always_inline)) int zeros4(const char *p)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t z = UINT64_C(0x2C302E302C302E30); /* "0.0,0.0," */
    uint64_t a, b;
    memcpy(&a, p, sizeof a);
    memcpy(&b, p + 8, sizeof b);
    return ((a ^ z) | (b ^ z)) == 0;
#else
    return memcmp(p, "0.0,0.0,0.0,0.0,", 16) == 0;
#endif
}

/* One run of rows: from p (before a row's '['), rows separated by ',', into X from row 0. */
typedef struct {
    const char *p, *e; /* in: where to start, the body's end; out: p after the last byte read */
    const char *stop;  /* return once a row ends exactly here (before the list's end); NULL: none */
    int d;             /* values per row */
    size_t max_rows;   /* row limit (FJ_NO_LIMIT: none) */
    size_t most;       /* the most floats X may grow to */
    fj_floats *X;      /* the rows (grown here) */
    size_t n;          /* out: rows read */
    int r;             /* out: FJ_ROWS (at stop, or after the list's ']'), FJ_OTHER, FJ_ENOMEM or
                          FJ_TOO_MANY (n = max_rows: an element follows the last row read) */
} rows_run;

static void read_rows(rows_run *j)
{
    const char *p = j->p, *e = j->e;
    const int d = j->d;
    fj_floats *X = j->X;
    size_t n = 0;
    j->r = FJ_OTHER;
    for (;;) {
        if (n >= j->max_rows) { /* an element follows the max_rows-th row: stop before growing X */
            j->r = FJ_TOO_MANY;
            break;
        }
        p = skip_ws(p, e);
        if (p >= e || *p++ != '[') break; /* also: empty list, rows that are not lists */
        if (n >= (size_t)INT32_MAX / (size_t)d) break;
        if (reserve_upto(X, (n + 1) * (size_t)d, j->most)) {
            j->r = FJ_ENOMEM;
            break;
        }
        float *row = X->p + n * (size_t)d;
        int c;
        for (c = 0; c < d - 1; c++) {
            if (e - p >= 16 && zero_comma(p)) { /* "0.0,": a zero pixel, not the row's last */
                row[c] = 0.0f;
                if (d - 1 - c >= 4 && zeros4(p)) { /* and the next three too */
                    row[c + 1] = row[c + 2] = row[c + 3] = 0.0f;
                    p += 16;
                    c += 3;
                } else {
                    p += 4;
                }
                continue;
            }
            if (!read_value(&p, e, &row[c])) break;
            if (p < e && *p == ',') { /* the common case: no whitespace */
                p++;
                continue;
            }
            p = skip_ws(p, e);
            if (p >= e || *p++ != ',') break;
        }
        if (c < d - 1 || !read_value(&p, e, &row[c])) break;
        p = skip_ws(p, e);
        if (p >= e || *p++ != ']') break;
        n++;
        if (p == j->stop) {
            j->r = FJ_ROWS;
            break;
        }
        p = skip_ws(p, e);
        if (p >= e) break;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p++ == ']' && !j->stop) j->r = FJ_ROWS; /* the list ends before stop: not a split */
        break;
    }
    j->p = p;
    j->n = n;
}

/* The second half of a split body: its rows, then the body's tail ("}" and whitespace). */
static void read_rows_tail(rows_run *j)
{
    read_rows(j);
    if (j->r == FJ_ROWS) {
        const char *p = skip_ws(j->p, j->e);
        if (p >= j->e || *p++ != '}' || skip_ws(p, j->e) != j->e) j->r = FJ_OTHER;
    }
}

/* The second half, shared by the call and a helper thread: whichever claims it first reads it.
 * The helper is joined before the call returns; when it has not started by the time the call's
 * own half is read (a busy machine), the call reads the second half too, and the helper, once it
 * runs, finds it claimed and exits at once. */
typedef struct {
    rows_run b;       /* the second half (b.X = &X2) */
    fj_floats X2;     /* its rows */
    atomic_int claim; /* 0: nobody yet; 1: the helper reads it; 2: the call does */
} half;

static void *helper_main(void *arg)
{
    half *h = arg;
    int none = 0;
    if (atomic_compare_exchange_strong(&h->claim, &none, 1)) read_rows_tail(&h->b);
    return NULL;
}

/* Where to split rows [p, e) for two threads: the '[' of the first row that starts after the
 * middle of the body (found as "]", whitespace, ",", whitespace, "["), or NULL. The ']' is a row's
 * end whenever the body is in this reader's grammar (it has no strings); when it is not, one of
 * the two halves fails and the body is read again in one piece. */
static const char *split_at(const char *s, const char *p, const char *e, const char **stop)
{
    const char *q = s + (e - s) / 2;
    if (q < p) q = p;
    const char *r = memchr(q, ']', (size_t)(e - q));
    if (!r) return NULL;
    const char *t = skip_ws(r + 1, e);
    if (t >= e || *t++ != ',') return NULL;
    t = skip_ws(t, e);
    if (t >= e || *t != '[') return NULL;
    *stop = r + 1;
    return t;
}

int fj_rows(const char *s, size_t len, int d, size_t max_rows, fj_floats *X, int *n_out,
            int *columnar)
{
    return fj_rows_split(s, len, d, max_rows, FJ_SPLIT_MIN, X, n_out, columnar);
}

int fj_rows_split(const char *s, size_t len, int d, size_t max_rows, size_t split_min, fj_floats *X,
                  int *n_out, int *columnar)
{
    const char *p = s, *e = s + len;
    if (d < 1) return FJ_OTHER;
    /* the rows never exceed INT32_MAX floats (below), so max_rows x d floats is the most X needs */
    size_t most = max_rows < (size_t)INT32_MAX / (size_t)d ? max_rows * (size_t)d : FJ_NO_LIMIT;
    p = skip_ws(p, e);
    if (p >= e || *p++ != '{') return 0;
    p = skip_ws(p, e);
    if ((size_t)(e - p) > 11 && memcmp(p, "\"instances\"", 11) == 0) {
        *columnar = 0;
        p += 11;
    } else if ((size_t)(e - p) > 8 && memcmp(p, "\"inputs\"", 8) == 0) {
        *columnar = 1;
        p += 8;
    } else {
        return 0;
    }
    p = skip_ws(p, e);
    if (p >= e || *p++ != ':') return 0;
    p = skip_ws(p, e);
    if (p >= e || *p++ != '[') return 0;
    rows_run a = {p, e, NULL, d, max_rows, most, X, 0, FJ_OTHER};
    const char *second = split_min && len >= split_min ? split_at(s, p, e, &a.stop) : NULL;
    half hs, *h = NULL;
    pthread_t th;
    if (second) {
        hs.b = (rows_run){second, e, NULL, d, max_rows, most, &hs.X2, 0, FJ_OTHER};
        hs.X2 = (fj_floats){NULL, 0};
        /* room for what X held before (often the last body's rows): one allocation, not a
         * series of doublings (a failure here only leaves the growing to read_rows) */
        if (X->cap > (size_t)d) (void)reserve_upto(&hs.X2, X->cap / 2 + (size_t)d, most);
        atomic_init(&hs.claim, 0);
        if (pthread_create(&th, NULL, helper_main, &hs) == 0) {
            h = &hs;
        } else {
            free(hs.X2.p);
            a.stop = NULL;
        }
    }
    if (h) {
        read_rows(&a);
        int none = 0;
        if (atomic_compare_exchange_strong(&h->claim, &none, 2))
            read_rows_tail(&h->b); /* the helper has not started: this thread reads it */
        pthread_join(th, NULL);
        rows_run *b = &h->b;
        int r = a.r;
        if (r == FJ_ROWS && b->r == FJ_ROWS) {
            size_t lim = (size_t)INT32_MAX / (size_t)d;     /* read_rows' own bound */
            if (b->n > max_rows - a.n && max_rows <= lim) { /* valid, with too many rows */
                r = FJ_TOO_MANY;
                a.n = max_rows;
            } else if (b->n > lim - a.n) { /* more than INT32_MAX floats: as read_rows */
                r = FJ_OTHER;
            } else if (reserve_upto(X, (a.n + b->n) * (size_t)d, most)) {
                r = -2; /* out of memory: as the one-piece reader finds it */
            } else {
                memcpy(X->p + a.n * (size_t)d, h->X2.p, b->n * (size_t)d * sizeof *X->p);
                a.n += b->n;
            }
        } else if (r == FJ_ROWS) {
            r = -2; /* the second half failed */
        }
        free(h->X2.p);
        if (r != -2) { /* else the body is read again in one piece, for its verdict */
            if (r == FJ_ROWS) *n_out = (int)a.n;
            if (r == FJ_TOO_MANY) *n_out = a.n < (size_t)INT32_MAX ? (int)a.n + 1 : INT32_MAX;
            return r;
        }
        a = (rows_run){p, e, NULL, d, max_rows, most, X, 0, FJ_OTHER};
    }
    read_rows(&a);
    if (a.r == FJ_TOO_MANY) *n_out = a.n < (size_t)INT32_MAX ? (int)a.n + 1 : INT32_MAX;
    if (a.r != FJ_ROWS) return a.r;
    p = skip_ws(a.p, e);
    if (p >= e || *p++ != '}') return 0;
    p = skip_ws(p, e);
    if (p != e) return 0;
    *n_out = (int)a.n;
    return FJ_ROWS;
}

/* Decimal exponent of a (> 0, finite): 10^e10 <= a < 10^(e10+1). */
static int dec_exp(double a)
{
    int e2;
    frexp(a, &e2); /* a = f * 2^e2, f in [0.5, 1) */
    int e10 = (int)floor((e2 - 1) * 0.30102999566398114);
    if (a >= P10(e10 + 1)) e10++;
    if (a < P10(e10)) e10--;
    return e10;
}

size_t fj_format_float(float f, char *buf)
{
    if (!isfinite(f)) {
        memcpy(buf, "null", 4);
        return 4;
    }
    char *o = buf;
    if (signbit(f)) *o++ = '-';
    float af = fabsf(f);
    if (af == 0) {
        memcpy(o, "0.0", 3);
        return (size_t)(o - buf) + 3;
    }
    double a = af;
    int e10 = dec_exp(a);
    uint32_t D = 0;
    int k = 0, p;
    for (p = 1; p <= 9; p++) {
        /* p significant digits: D = round(a * 10^k), a ~ D * 10^-k */
        k = p - 1 - e10;
        D = (uint32_t)(a * P10(k) + 0.5);
        uint32_t lim = (uint32_t)P10(p);
        if (D >= lim) { /* rounded up to 10^p */
            D /= 10;
            k--;
        }
        if (p == 9) break; /* 9 digits always read back as the same float */
        /* Accept only when reading back is exact here (D < 2^53, |k| <= 22). */
        if (k > 22 || k < -22) continue;
        double back = k >= 0 ? (double)D / P10(k) : (double)D * P10(-k);
        if ((float)back == af) break;
    }
    /* strip trailing zeros */
    while (D >= 10 && D % 10 == 0) {
        D /= 10;
        k--;
    }
    char dig[10] = {'0'};
    int nd = 0;
    for (uint32_t t = D; t; t /= 10) nd++;
    if (nd == 0) nd = 1;
    for (int i = nd - 1, t = (int)D; i >= 0; i--, t /= 10) dig[i] = (char)('0' + t % 10);
    int sx = nd - 1 - k; /* value = d.ddd * 10^sx */
    if (sx >= -5 && sx < 9) {
        if (sx >= 0) {
            for (int i = 0; i <= sx; i++) *o++ = i < nd ? dig[i] : '0';
            *o++ = '.';
            if (nd > sx + 1) {
                memcpy(o, dig + sx + 1, (size_t)(nd - sx - 1));
                o += nd - sx - 1;
            } else {
                *o++ = '0';
            }
        } else {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -sx - 1; i++) *o++ = '0';
            memcpy(o, dig, (size_t)nd);
            o += nd;
        }
    } else {
        *o++ = dig[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, dig + 1, (size_t)(nd - 1));
            o += nd - 1;
        }
        *o++ = 'e';
        int x = sx;
        if (x < 0) {
            *o++ = '-';
            x = -x;
        }
        if (x >= 10) *o++ = (char)('0' + x / 10);
        *o++ = (char)('0' + x % 10);
    }
    return (size_t)(o - buf);
}
