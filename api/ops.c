/* ops.c — operational routes: /healthz (the process answers) and /readyz (it can also reach its
 * store and has disk to write to), and the readiness check /v2/health/ready shares. */
#include "ops.h"

#include "config.h"
#include "handlers.h"
#include "problem.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

mlp_err ops_ready(const app *a, mlp_error *why)
{
    store_dataset *items = NULL;
    int n = 0;
    mlp_err rc = MLP_OK;
    if (atomic_load(&a->shutting_down)) {
        rc = mlp_fail(why, MLP_EBUSY, "the server is shutting down");
        goto out;
    }
    if ((rc = store_file_check(a->store, why)) != MLP_OK) goto out;
    if ((rc = store_dataset_list(a->store, 1, 0, &items, &n, NULL)) != MLP_OK) {
        rc = mlp_fail(why, MLP_EIO, "the store cannot be read (%s)", mlp_strerror(rc));
        goto out;
    }
    struct statvfs fs;
    if (statvfs(a->cfg->data_dir, &fs) != 0) {
        rc = mlp_fail(why, MLP_EIO, "cannot stat the data dir's file system: %s", strerror(errno));
        goto out;
    }
    /* f_bavail, not f_bfree: what a non-root daemon may actually write. */
    unsigned long long avail = (unsigned long long)fs.f_bavail * fs.f_frsize;
    if (avail < a->cfg->min_free_disk)
        rc = mlp_fail(why, MLP_ENOSPC,
                      "%llu bytes free in the data dir, below the --min-free-disk floor of %zu "
                      "bytes",
                      avail, a->cfg->min_free_disk);
out:
    free(items);
    return rc;
}

void ops_healthz(http_req *req, http_resp *resp)
{
    if (atomic_load(&req->app->shutting_down)) {
        api_json(resp, 503, json_pack("{s:s}", "status", "shutting_down"));
        return;
    }
    api_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

/* The body style of /healthz: 200 {"status": "ready"}, or 503 {"status": "not_ready",
 * "reason": "..."}. Reasons name no paths: the route needs no key. */
void ops_readyz(http_req *req, http_resp *resp)
{
    mlp_error why;
    mlp_error_clear(&why);
    if (ops_ready(req->app, &why) != MLP_OK) {
        resp->retry_after = 5;
        api_json(resp, 503, json_pack("{s:s, s:s}", "status", "not_ready", "reason", why.msg));
        return;
    }
    api_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}
