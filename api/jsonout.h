/* jsonout.h — writing JSON answers straight into a buffer sized up front (the connection's
 * answer buffer, http_resp_buf), for answers too big to build as a jansson tree first: the
 * model export and dataset rows. Each writer returns the position after what it wrote; the
 * caller has reserved the stated maximum. Strings are escaped as jansson's json_dumps escapes
 * them; floats are fj_format_float's shortest round-trip spelling.
 * Threading: none; pure functions. */
#ifndef JSONOUT_H
#define JSONOUT_H

#include "fastjson.h"

#include <stddef.h>

/* Bytes jo_str may write for a string of len bytes (every byte \u00XX, plus the quotes). */
#define JO_STR_MAX(len) (6 * (size_t)(len) + 2)

/* Writes s (NUL-terminated UTF-8) as a quoted JSON string. */
char *jo_str(char *o, const char *s);
/* Writes s[0..n) as is. */
char *jo_raw(char *o, const char *s, size_t n);
/* Writes a string literal as is. */
#define JO_LIT(o, lit) jo_raw((o), (lit), sizeof(lit) - 1)
/* Writes [v0,v1,...] (at most 2 + n * (FJ_FLOAT_MAX + 1) bytes). */
char *jo_floats(char *o, const float *v, size_t n);
/* Writes a decimal integer (at most 21 bytes). */
char *jo_long(char *o, long long v);

#endif
