/* mlp.c — error codes and detail formatting (see mlp.h). */
#include "mlp.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *mlp_strerror(mlp_err e)
{
    static const char *const names[] = {
        "OK",         "EINVAL",    "ENOTFOUND", "ECONFLICT", "ENOMEM", "EIO",         "EBUSY",
        "ECANCELLED", "EDIVERGED", "ECORRUPT",  "ETOOLARGE", "ENOSPC", "EUNSUPPORTED"};
    if ((unsigned)e < sizeof names / sizeof names[0]) return names[e];
    return "EUNKNOWN";
}

mlp_err mlp_fail(mlp_error *e, mlp_err code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

mlp_err mlp_name_index(const char *s, const char *const *names, int count, int *out)
{
    if (!s) return MLP_EINVAL;
    for (int i = 0; i < count; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return MLP_OK;
        }
    return MLP_EINVAL;
}

void mlp_error_clear(mlp_error *e)
{
    if (e) memset(e, 0, sizeof *e);
}
