/* jsonout.c — see jsonout.h. */
#include "jsonout.h"

#include <stdio.h>
#include <string.h>

char *jo_raw(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

char *jo_str(char *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c >= 0x20) {
            *o++ = (char)c;
        } else {
            *o++ = '\\';
            switch (c) {
            case '\b':
                *o++ = 'b';
                break;
            case '\f':
                *o++ = 'f';
                break;
            case '\n':
                *o++ = 'n';
                break;
            case '\r':
                *o++ = 'r';
                break;
            case '\t':
                *o++ = 't';
                break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
        }
    }
    *o++ = '"';
    return o;
}

char *jo_floats(char *o, const float *v, size_t n)
{
    *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i) *o++ = ',';
        o += fj_format_float(v[i], o);
    }
    *o++ = ']';
    return o;
}

char *jo_long(char *o, long long v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    return jo_raw(o, tmp, (size_t)n);
}
