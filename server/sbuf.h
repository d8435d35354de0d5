/* sbuf.h — a growable NUL-terminated text buffer for rendered answers (the /metrics exposition,
 * the plot SVG). Owns p (malloc; free it); a failed allocation sets oom, after which every call
 * is a no-op, so a renderer checks once at the end. Start from sbuf b = {0}.
 * Threading: none; one buffer per request. */
#ifndef SBUF_H
#define SBUF_H

#include <stddef.h>

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

/* Appends s[0..n). */
void sb_add(sbuf *b, const char *s, size_t n);
/* Appends a formatted string. */
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a string literal. */
#define SB_LIT(b, lit) sb_add((b), (lit), sizeof(lit) - 1)

#endif
