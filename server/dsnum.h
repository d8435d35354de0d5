/* dsnum.h — the number spelling of dataset cells: which text is a number (ds_parse_number, the
 * strict test every text parser shares: dataset.c's text cells and csv.c's header detection)
 * and the shortest text of a float (ds_format_float, the level name of a number in a
 * categorical column). Pure functions on caller buffers; dataset.h includes this header.
 *
 * Owns: nothing. Borrows: its arguments for the call.
 * Threading: none needed; every function is reentrant. */
#ifndef DSNUM_H
#define DSNUM_H

#include <stddef.h>

/* The spaces a cell may carry around its value: space and tab. */
static inline int ds_is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Strict number test shared by every text parser: 1 and *out set when the whole of s[0..len)
 * (minus surrounding spaces and tabs) is [+-]digits[.digits][(e|E)[+-]digits] (at least one
 * digit in the mantissa) and its value is finite as a float; 0 otherwise ("0x10", "1e", ".",
 * "", "nan", "inf", "1,5", "1e99" are not numbers). The result is the correctly rounded float:
 * Clinger's fast path when exact, strtof on a copy otherwise. */
int ds_parse_number(const char *s, size_t len, float *out);

/* Writes into buf (cap bytes, 48 is enough) the shortest decimal spelling of v that reads back
 * as the same float: "%.0f" for integers below 1e15, else the fewest %g digits that round-trip. */
void ds_format_float(float v, char *buf, size_t cap);

#endif
