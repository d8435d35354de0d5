/* mlp.h — the error vocabulary shared by every module of mlpd (core, server, api).
 *
 * Functions return an mlp_err by value and fill out-parameters; the optional mlp_error carries
 * human-readable detail (and, for bad input, the field / row / column at fault), the way
 * jansson's json_error_t does. api/problem.c maps each code to one HTTP status.
 *
 * Threading: everything here is reentrant; an mlp_error belongs to its caller. */
#ifndef MLP_H
#define MLP_H

#include <stddef.h>

typedef enum {
    MLP_OK = 0,
    MLP_EINVAL,      /* bad input or parameter (HTTP 400) */
    MLP_ENOTFOUND,   /* no such dataset, run, model (404) */
    MLP_ECONFLICT,   /* state or name conflict (409) */
    MLP_ENOMEM,      /* allocation failed */
    MLP_EIO,         /* read/write/fsync failed */
    MLP_EBUSY,       /* resource temporarily unavailable, retry (429/503) */
    MLP_ECANCELLED,  /* cooperative cancellation observed */
    MLP_EDIVERGED,   /* loss became NaN or infinite */
    MLP_ECORRUPT,    /* stored or uploaded buffer fails checksum / structure checks */
    MLP_ETOOLARGE,   /* over a configured limit (413) */
    MLP_ENOSPC,      /* disk full (507) */
    MLP_EUNSUPPORTED /* unknown format or content type (415) */
} mlp_err;

typedef struct {
    char msg[512];   /* human-readable, complete sentence fragment; "" if none */
    char field[128]; /* JSON field at fault ("params.learning_rate"), or "" */
    long row;        /* 1-based row at fault, or 0 */
    long col;        /* 1-based column at fault, or 0 */
} mlp_error;

/* Short name of a code ("EINVAL"). Static string. */
const char *mlp_strerror(mlp_err e);

/* Formats msg (printf-style) into *e if e is non-NULL and returns code, so callers can write
 * `return mlp_fail(err, MLP_EINVAL, "epochs must be >= 1");`. field/row/col are left as set. */
mlp_err mlp_fail(mlp_error *e, mlp_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Index i of s in names[0..count) (the names of an enum, as the API spells them), or
 * MLP_EINVAL when s is NULL or not one of them. */
mlp_err mlp_name_index(const char *s, const char *const *names, int count, int *out);

/* Clears *e (NULL-tolerant). */
void mlp_error_clear(mlp_error *e);

#endif
