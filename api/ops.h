/* ops.h — the readiness check behind GET /readyz, GET /v2/health/ready and the container's
 * HEALTHCHECK: one definition of "ready", so the three cannot disagree.
 *
 * Threading: callable from any request thread at once; it reads the store through the store's
 * own connection pool and keeps no state. */
#ifndef OPS_H
#define OPS_H

#include "app.h"
#include "mlp.h"

/* MLP_OK when the daemon can take work: it is not shutting down (else MLP_EBUSY), the database
 * file <data_dir>/mlpd.db is still there and readable and the store answers a query (else
 * MLP_EIO), and the data dir's file system has at least --min-free-disk bytes free for
 * unprivileged writers (else MLP_ENOSPC). why->msg says which check failed, naming no path. */
mlp_err ops_ready(const app *a, mlp_error *why);

#endif
