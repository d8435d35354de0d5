/* dsnum.c — the number spelling of dataset cells (see dsnum.h).
 *
 * ds_parse_number takes the cheapest exact path the digits allow: Clinger's fast path in float
 * (mantissa and power of ten both exact, one rounding), then exact integers in double (one
 * rounding, double -> float), and strtof on a NUL-terminated copy for the rest, so every result
 * is the correctly rounded float whichever path produced it. */
#include "dsnum.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const float pow10f_tab[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f,
                                   1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int ds_parse_number(const char *s, size_t len, float *out)
{
    const char *p = s, *e = s + len;
    while (p < e && ds_is_space(*p)) p++;
    while (e > p && ds_is_space(e[-1])) e--;
    const char *start = p;
    if (p == e) return 0;
    int neg = 0;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    uint64_t m = 0;  /* up to 19 significant digits */
    int nd = 0;      /* significant digits in m */
    int ndig = 0;    /* mantissa digits seen */
    int dropped = 0; /* digits beyond 19 were dropped: value not exact in m */
    long exp10 = 0;
    while (p < e && is_digit(*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (nd < 19) {
            m = m * 10 + d;
            if (m) nd++;
        } else {
            exp10++;
            dropped = 1;
        }
        ndig++;
        p++;
    }
    if (p < e && *p == '.') {
        p++;
        while (p < e && is_digit(*p)) {
            unsigned d = (unsigned)(*p - '0');
            if (nd < 19) {
                m = m * 10 + d;
                if (m) nd++;
                exp10--;
            } else {
                dropped = 1;
            }
            ndig++;
            p++;
        }
    }
    if (ndig == 0) return 0;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0;
        if (p < e && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        if (p == e || !is_digit(*p)) return 0;
        long ev = 0;
        while (p < e && is_digit(*p)) {
            if (ev < 100000) ev = ev * 10 + (*p - '0');
            p++;
        }
        exp10 += eneg ? -ev : ev;
    }
    if (p != e) return 0;

    float f;
    if (!dropped) {
        if (m == 0) {
            *out = neg ? -0.0f : 0.0f;
            return 1;
        }
#if FLT_EVAL_METHOD == 0
        /* Clinger's fast path in float: both operands exact, one correctly rounded operation. */
        if (m <= (1u << 24) && exp10 >= -10 && exp10 <= 10) {
            f = exp10 < 0 ? (float)m / pow10f_tab[-exp10] : (float)m * pow10f_tab[exp10];
            *out = neg ? -f : f;
            return 1;
        }
#endif
        /* Exact integers in double: one rounding, double -> float. */
        if (m <= (UINT64_C(1) << 53) && exp10 >= 0 && exp10 <= 22 &&
            (double)m <= 9007199254740992.0 / pow10_tab[exp10]) {
            double d = (double)m * pow10_tab[exp10];
            f = (float)d;
            if (!isfinite(f)) return 0;
            *out = neg ? -f : f;
            return 1;
        }
    }
    /* Slow path: strtof on a NUL-terminated copy, correctly rounded by libc (C locale). */
    size_t n = (size_t)(e - start);
    char stackbuf[64];
    char *buf = n < sizeof stackbuf ? stackbuf : malloc(n + 1);
    if (!buf) return 0;
    memcpy(buf, start, n);
    buf[n] = '\0';
    errno = 0;
    f = strtof(buf, NULL);
    if (buf != stackbuf) free(buf);
    if (!isfinite(f)) return 0;
    *out = f;
    return 1;
}

void ds_format_float(float v, char *buf, size_t cap)
{
    if (v == floorf(v) && fabsf(v) < 1e15f) {
        snprintf(buf, cap, "%.0f", (double)v);
        return;
    }
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}
