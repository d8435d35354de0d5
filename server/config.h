/* config.h — daemon settings from flags and their MLPD_* environment twins (flag wins).
 *
 * Owns: the strings it copies. Threading: filled once in main before any thread starts, then
 * read-only. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdio.h>

/* --workers' default: small runs finish soonest with more runs training than cores (their
 * products are too small for OpenBLAS's threads), bench/RESULTS.md "Class burst". */
#define CONFIG_WORKERS 3

typedef struct config {
    char host[64];              /* --listen host part: a name, an IPv4 or an IPv6 address (no []) */
    int port;                   /* --listen port part; 0 = ephemeral */
    char data_dir[512];         /* --data-dir */
    int workers;                /* --workers: runs that train at once (CONFIG_WORKERS by default) */
    int workers_set;            /* 1 when --workers or MLPD_WORKERS gave it */
    int train_share;            /* --train-share: percent of one core a running run is owed */
    int threads;                /* --threads: HTTP request threads */
    int batch_timeout_us;       /* --batch-timeout-us: a batch's wait for more rows (batcher.h) */
    long long batch_min_params; /* --batch-min-params: smallest model whose requests batch */
    size_t max_body;            /* --max-body bytes (JSON requests) */
    size_t max_upload;          /* --max-upload bytes (datasets) */
    size_t max_params;          /* --max-params: parameters of one network */
    size_t max_train_memory;    /* --max-train-memory bytes of one run; 0 = main decides (README) */
    unsigned max_connections;   /* --max-connections */
    unsigned timeout_s;         /* --timeout: idle connection timeout, seconds */
    int request_timeout_s;      /* --request-timeout: longest stall inside a request, seconds */
    int max_conn_per_ip;        /* --max-connections-per-ip: per client address; 0 = no limit */
    int sse_keepalive_s;        /* --sse-keepalive: seconds between SSE comment lines */
    int model_cache;            /* --model-cache: loaded model versions kept */
    size_t model_cache_bytes;   /* --model-cache-bytes: memory the loaded versions may hold */
    int insecure;               /* --insecure: allow listening beyond loopback without keys */
    int quiet;                  /* --quiet: no per-request log lines */
    int migrate_only;           /* "mlpd migrate" */
    char port_file[512];        /* --port-file: write the bound port here (tests) */
    char api_keys[4096];        /* --api-key KEY:SCOPE (repeatable) / MLPD_API_KEYS, ','-joined;
                                   main wipes it once the keys are hashed (server/auth.h) */
    char cors_origins[2048]; /* --cors-origin (repeatable) / MLPD_CORS_ORIGINS, ','-joined; "*" */
    int public_predict;      /* --public-predict: anonymous callers may use predict routes */
    int max_queued_runs;     /* --max-queued-runs: POST /api/v1/runs answers 429 beyond */
    int max_instances;       /* --max-instances: rows of one inference request */
    int max_json_depth;      /* --max-json-depth: nesting of a JSON request body */
    double rate_limit;       /* --rate-limit N/s: inference requests per caller; 0 = off */
    size_t min_free_disk;    /* --min-free-disk bytes: /readyz fails below this in data_dir */
    /* Per-student quota defaults (server/quota.h); 0 = unlimited. */
    long long quota_storage_bytes;         /* --quota-storage-bytes: datasets + model bundles */
    long long quota_active_runs;           /* --quota-active-runs: queued + running runs */
    long long quota_train_seconds_per_day; /* --quota-train-seconds-per-day: rolling 24 h */
    long long quota_models;                /* --quota-models: model names owned */
    long long quota_predict_per_second;    /* --quota-predict-per-second: inference requests */
} config;

/* Parses argv and the environment into *c. Returns 0 to run, 1 when --help/--version printed
 * (exit 0), -1 on a bad flag (message written to err). */
int config_parse(config *c, int argc, char **argv, FILE *out, FILE *err);
/* 1 when host is a loopback address: 127.0.0.0/8, ::1 (also "[::1]"), or a name that resolves
 * (getaddrinfo) to loopback addresses only, such as "localhost". 0 for anything else, and for a
 * name that does not resolve. */
int config_is_loopback(const char *host);
/* Resolves host (getaddrinfo; "[::1]" taken without brackets) and sets *loopback as
 * config_is_loopback would. 0 ok; -1 when the name does not resolve, with the resolver's error
 * in err (cap bytes). An empty host is 0 with *loopback 0. */
int config_resolve(const char *host, int *loopback, char *err, size_t cap);

#endif
