/* config.c — the flag table: each flag, its MLPD_* twin, its default and its help line. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* OPT_LIST: repeatable; values joined with ','; the environment twin holds a ','-separated list,
 * and flags replace it. OPT_RATE: "N/s" or "N" requests per second. OPT_QUOTA: a count >= 0
 * (0 = unlimited) into a long long, with the K/M/G suffixes of a size. */
typedef enum {
    OPT_STR,
    OPT_INT,
    OPT_SIZE,
    OPT_FLAG,
    OPT_LISTEN,
    OPT_LIST,
    OPT_RATE,
    OPT_QUOTA
} opt_type;

typedef struct {
    const char *flag, *env, *arg, *help;
    opt_type type;
    size_t off;  /* offset in config */
    size_t size; /* for strings */
    long min, max;
} opt;

#define OFF(f) offsetof(config, f)
static const opt opts[] = {
    {"--listen", "MLPD_LISTEN", "HOST:PORT",
     "address or name to listen on; IPv6 as [::1]:PORT (default 127.0.0.1:8080)", OPT_LISTEN, 0, 0,
     0, 0},
    {"--data-dir", "MLPD_DATA_DIR", "DIR", "where mlpd.db and dataset files live (default ./var)",
     OPT_STR, OFF(data_dir), sizeof(((config *)0)->data_dir), 0, 0},
    {"--workers", "MLPD_WORKERS", "N",
     "training runs that train at once; they share the cores (default 3)", OPT_INT, OFF(workers), 0,
     1, 64},
    {"--train-share", "MLPD_TRAIN_SHARE", "PERCENT",
     "share of one core a running run gets whatever the inference load; 0 = none (default 20)",
     OPT_INT, OFF(train_share), 0, 0, 100},
    {"--threads", "MLPD_THREADS", "N", "HTTP request threads (default: number of cores)", OPT_INT,
     OFF(threads), 0, 1, 256},
    {"--batch-timeout-us", "MLPD_BATCH_TIMEOUT_US", "US",
     "how long a batch of small requests on a large model waits for more rows; 0 = takes what "
     "arrived while the last batch computed (default 0)",
     OPT_INT, OFF(batch_timeout_us), 0, 0, 1000000},
    {"--batch-min-params", "MLPD_BATCH_MIN_PARAMS", "N",
     "models with at least N parameters batch their small concurrent requests into one matrix "
     "product; 0 = every model; above --max-params = off (default 1M)",
     OPT_QUOTA, OFF(batch_min_params), 0, 0, 0},
    {"--max-body", "MLPD_MAX_BODY", "BYTES", "largest JSON request body (default 8M)", OPT_SIZE,
     OFF(max_body), 0, 1, 0},
    {"--max-upload", "MLPD_MAX_UPLOAD", "BYTES", "largest dataset upload (default 1G)", OPT_SIZE,
     OFF(max_upload), 0, 1, 0},
    {"--max-params", "MLPD_MAX_PARAMS", "N", "largest network in parameters (default 50M)",
     OPT_SIZE, OFF(max_params), 0, 1, 0},
    {"--max-train-memory", "MLPD_MAX_TRAIN_MEMORY", "BYTES",
     "peak memory one run may need to train, estimated before it is queued (default: half of "
     "physical memory, shared by the runs training at once; / --workers when that is given)",
     OPT_SIZE, OFF(max_train_memory), 0, 1, 0},
    {"--max-connections", "MLPD_MAX_CONNECTIONS", "N", "open connections at most (default 1000)",
     OPT_INT, OFF(max_connections), 0, 1, 1000000},
    {"--timeout", "MLPD_TIMEOUT", "SECONDS", "idle connection timeout (default 60)", OPT_INT,
     OFF(timeout_s), 0, 1, 86400},
    {"--request-timeout", "MLPD_REQUEST_TIMEOUT", "SECONDS",
     "close a request whose headers or body stall this long (default 10)", OPT_INT,
     OFF(request_timeout_s), 0, 1, 86400},
    {"--max-connections-per-ip", "MLPD_MAX_CONNECTIONS_PER_IP", "N",
     "open connections per client address at most; 0 = no limit (default 64)", OPT_INT,
     OFF(max_conn_per_ip), 0, 0, 1000000},
    {"--sse-keepalive", "MLPD_SSE_KEEPALIVE", "SECONDS",
     "comment line on idle event streams every SECONDS (default 15)", OPT_INT, OFF(sse_keepalive_s),
     0, 1, 3600},
    {"--model-cache", "MLPD_MODEL_CACHE", "N", "model versions kept loaded (default 16)", OPT_INT,
     OFF(model_cache), 0, 1, 100000},
    {"--model-cache-bytes", "MLPD_MODEL_CACHE_BYTES", "BYTES",
     "memory the loaded model versions may hold; least recently used ones go beyond (default "
     "512M)",
     OPT_SIZE, OFF(model_cache_bytes), 0, 1, 0},
    {"--insecure", "MLPD_INSECURE", NULL, "allow listening beyond loopback with no API key",
     OPT_FLAG, OFF(insecure), 0, 0, 0},
    {"--quiet", "MLPD_QUIET", NULL, "no per-request log lines", OPT_FLAG, OFF(quiet), 0, 0, 0},
    {"--port-file", "MLPD_PORT_FILE", "FILE", "write the bound port to FILE once listening",
     OPT_STR, OFF(port_file), sizeof(((config *)0)->port_file), 0, 0},
    {"--api-key", "MLPD_API_KEYS", "KEY:SCOPE",
     "API key with scope admin, train or predict (repeatable; env: k1:admin,k2:predict)", OPT_LIST,
     OFF(api_keys), sizeof(((config *)0)->api_keys), 0, 0},
    {"--public-predict", "MLPD_PUBLIC_PREDICT", NULL,
     "anonymous callers may use inference and read routes (writes still need a key)", OPT_FLAG,
     OFF(public_predict), 0, 0, 0},
    {"--cors-origin", "MLPD_CORS_ORIGINS", "ORIGIN",
     "browser origin allowed by CORS, or * (repeatable; env: ','-separated)", OPT_LIST,
     OFF(cors_origins), sizeof(((config *)0)->cors_origins), 0, 0},
    {"--max-queued-runs", "MLPD_MAX_QUEUED_RUNS", "N",
     "runs waiting in the queue at most; more get 429 (default 100)", OPT_INT, OFF(max_queued_runs),
     0, 1, 1000000},
    {"--max-instances", "MLPD_MAX_INSTANCES", "N", "rows in one inference request (default 10000)",
     OPT_INT, OFF(max_instances), 0, 1, 100000000},
    {"--max-json-depth", "MLPD_MAX_JSON_DEPTH", "N", "nesting depth of a JSON body (default 64)",
     OPT_INT, OFF(max_json_depth), 0, 2, 10000},
    {"--rate-limit", "MLPD_RATE_LIMIT", "N/s",
     "inference requests per second per key or client IP; 429 beyond (default off)", OPT_RATE,
     OFF(rate_limit), 0, 0, 0},
    {"--min-free-disk", "MLPD_MIN_FREE_DISK", "BYTES",
     "free space in the data dir below which /readyz answers 503 (default 64M)", OPT_SIZE,
     OFF(min_free_disk), 0, 1, 0},
    /* Quotas: each student's default (users.quota_* overrides it; staff and admin unlimited). */
    {"--quota-storage-bytes", "MLPD_QUOTA_STORAGE_BYTES", "BYTES",
     "dataset and model bytes a student may store; 507 beyond (default 0 = unlimited)", OPT_QUOTA,
     OFF(quota_storage_bytes), 0, 0, 0},
    {"--quota-active-runs", "MLPD_QUOTA_ACTIVE_RUNS", "N",
     "queued + running runs per student; 429 beyond (default 0 = unlimited)", OPT_QUOTA,
     OFF(quota_active_runs), 0, 0, 0},
    {"--quota-train-seconds-per-day", "MLPD_QUOTA_TRAIN_SECONDS_PER_DAY", "SECONDS",
     "training CPU-seconds per student per rolling 24 h; runs pause beyond (default 0 = "
     "unlimited)",
     OPT_QUOTA, OFF(quota_train_seconds_per_day), 0, 0, 0},
    {"--quota-models", "MLPD_QUOTA_MODELS", "N",
     "model names a student may own; 429 beyond (default 0 = unlimited)", OPT_QUOTA,
     OFF(quota_models), 0, 0, 0},
    {"--quota-predict-per-second", "MLPD_QUOTA_PREDICT_PER_SECOND", "N",
     "inference requests per second per student; 429 beyond (default 0 = unlimited)", OPT_QUOTA,
     OFF(quota_predict_per_second), 0, 0, 0},
};
#define N_OPTS (sizeof opts / sizeof opts[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: mlpd [migrate] [options]\n\n"
               "Trains and serves neural networks over HTTP (see README.md).\n"
               "  migrate              apply the database migrations and exit\n\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        char left[48];
        snprintf(left, sizeof left, "%s%s%s", opts[i].flag, opts[i].arg ? " " : "",
                 opts[i].arg ? opts[i].arg : "");
        fprintf(f, "  %-26s %s\n  %-26s env %s\n", left, opts[i].help, "", opts[i].env);
    }
    fprintf(f, "  %-26s %s\n  %-26s %s\n", "--help", "this text", "--version", "print version");
}

/* "8M", "1G", "4096", "64k" -> bytes. */
static int parse_size(const char *s, size_t *out)
{
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || s[0] == '-') return -1;
    unsigned long long mul = 1;
    if (*end) {
        switch (*end) {
        case 'k':
        case 'K':
            mul = 1ULL << 10;
            break;
        case 'm':
        case 'M':
            mul = 1ULL << 20;
            break;
        case 'g':
        case 'G':
            mul = 1ULL << 30;
            break;
        default:
            return -1;
        }
        end++;
        if (*end == 'i' || *end == 'B') end++;
        if (*end == 'B') end++;
        if (*end) return -1;
    }
    if (v > SIZE_MAX / mul) return -1;
    *out = (size_t)(v * mul);
    return v ? 0 : -1;
}

static int set_opt(config *c, const opt *o, const char *val, FILE *err)
{
    char *base = (char *)c;
    switch (o->type) {
    case OPT_FLAG:
        *(int *)(base + o->off) = val ? (strcmp(val, "0") != 0 && strcmp(val, "false") != 0) : 1;
        return 0;
    case OPT_STR:
        if (strlen(val) >= o->size) {
            fprintf(err, "mlpd: %s: value too long\n", o->flag);
            return -1;
        }
        strcpy(base + o->off, val);
        return 0;
    case OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (end == val || *end || errno || v < o->min || v > o->max) {
            fprintf(err, "mlpd: %s: '%s' is not a whole number in %ld..%ld\n", o->flag, val, o->min,
                    o->max);
            return -1;
        }
        if (o->off == OFF(max_connections) || o->off == OFF(timeout_s))
            *(unsigned *)(base + o->off) = (unsigned)v;
        else
            *(int *)(base + o->off) = (int)v;
        return 0;
    }
    case OPT_SIZE:
        if (parse_size(val, (size_t *)(base + o->off)) != 0) {
            fprintf(err, "mlpd: %s: '%s' is not a positive size (e.g. 4096, 8M, 1G)\n", o->flag,
                    val);
            return -1;
        }
        return 0;
    case OPT_QUOTA: {
        size_t v = 0;
        if (strcmp(val, "0") != 0 && (parse_size(val, &v) != 0 || v > (size_t)LLONG_MAX)) {
            fprintf(err, "mlpd: %s: '%s' is not a count >= 0 (e.g. 0, 20, 64M)\n", o->flag, val);
            return -1;
        }
        *(long long *)(base + o->off) = (long long)v;
        return 0;
    }
    case OPT_LIST: {
        char *dst = base + o->off;
        size_t have = strlen(dst), n = strlen(val);
        if (have + (have ? 1 : 0) + n >= o->size) {
            fprintf(err, "mlpd: %s: too many values (%zu bytes at most in all)\n", o->flag,
                    o->size - 1);
            return -1;
        }
        if (have) dst[have++] = ',';
        memcpy(dst + have, val, n + 1);
        return 0;
    }
    case OPT_RATE: {
        char *end;
        errno = 0;
        double v = strtod(val, &end);
        if (end != val && strcmp(end, "/s") == 0) end += 2;
        if (end == val || *end || errno || !(v > 0) || v > 1e9) {
            fprintf(err, "mlpd: %s: '%s' is not a positive rate such as 50/s\n", o->flag, val);
            return -1;
        }
        *(double *)(base + o->off) = v;
        return 0;
    }
    case OPT_LISTEN: {
        /* HOST:PORT, with an IPv6 address in brackets ([::1]:8080); c->host gets it without. */
        const char *colon = strrchr(val, ':');
        const char *h = val, *hend = colon;
        if (colon && val[0] == '[') {
            h = val + 1;
            hend = colon > val && colon[-1] == ']' ? colon - 1 : NULL;
        }
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || !hend || hend <= h || (size_t)(hend - h) >= sizeof c->host ||
            end == colon + 1 || *end || port < 0 || port > 65535) {
            fprintf(err, "mlpd: --listen: '%s' is not HOST:PORT ([ADDR]:PORT for IPv6)\n", val);
            return -1;
        }
        if (h == val && memchr(val, ':', (size_t)(colon - val))) {
            fprintf(err, "mlpd: --listen: '%s': an IPv6 address goes in brackets, as [::1]:%ld\n",
                    val, port);
            return -1;
        }
        memcpy(c->host, h, (size_t)(hend - h));
        c->host[hend - h] = '\0';
        c->port = (int)port;
        return 0;
    }
    }
    return -1;
}

static int addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

int config_resolve(const char *host, int *loopback, char *err, size_t cap)
{
    char bare[sizeof((config *)0)->host];
    size_t n = strlen(host);
    *loopback = 0;
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof bare) {
        memcpy(bare, host + 1, n - 2);
        bare[n - 2] = '\0';
        host = bare;
    }
    if (!*host) return 0; /* getaddrinfo would take "" for the local host */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(host, NULL, &hints, &res);
    if (g != 0) {
        if (cap) snprintf(err, cap, "%s", g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
        return -1;
    }
    int all = res != NULL;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (!addr_is_loopback(ai->ai_addr)) all = 0;
    freeaddrinfo(res);
    *loopback = all;
    return 0;
}

int config_is_loopback(const char *host)
{
    int lo = 0;
    char e[1];
    return config_resolve(host, &lo, e, 0) == 0 && lo;
}

int config_parse(config *c, int argc, char **argv, FILE *out, FILE *err)
{
    memset(c, 0, sizeof *c);
    strcpy(c->host, "127.0.0.1");
    c->port = 8080;
    strcpy(c->data_dir, "./var");
    c->workers = 0; /* CONFIG_WORKERS unless given (workers_set) */
    c->train_share = 20;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = ncpu > 0 ? (int)ncpu : 2;
    c->max_body = 8u << 20;
    c->max_upload = 1u << 30;
    c->max_params = 50u * 1000u * 1000u;
    c->batch_min_params = 1u << 20;
    c->max_connections = 1000;
    c->timeout_s = 60;
    c->request_timeout_s = 10;
    c->max_conn_per_ip = 64;
    c->sse_keepalive_s = 15;
    c->model_cache = 16;
    c->model_cache_bytes = (size_t)512 << 20; /* a --max-params model and its serving copy */
    c->max_queued_runs = 100;
    c->max_instances = 10000;
    c->max_json_depth = 64;
    c->min_free_disk = 64u << 20;
    for (size_t i = 0; i < N_OPTS; i++) {
        char *v = getenv(opts[i].env);
        int bad = v && *v && set_opt(c, &opts[i], v, err) != 0;
        /* Keys out of /proc/PID/environ: the value is overwritten where it lies (the copy in c
         * is wiped once hashed), then the variable is dropped for any later getenv. */
        if (v && opts[i].off == OFF(api_keys) && opts[i].type == OPT_LIST) {
            memset(v, 'x', strlen(v));
            unsetenv(opts[i].env);
        }
        if (bad) {
            fprintf(err, "mlpd: (from environment variable %s)\n", opts[i].env);
            return -1;
        }
    }
    unsigned char list_from_flag[N_OPTS] = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(out);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            fprintf(out, "mlpd 0.1.0\n");
            return 1;
        }
        if (strcmp(a, "migrate") == 0) {
            c->migrate_only = 1;
            continue;
        }
        const opt *o = NULL;
        const char *val = NULL;
        for (size_t k = 0; k < N_OPTS; k++) {
            size_t n = strlen(opts[k].flag);
            if (strncmp(a, opts[k].flag, n) == 0 && (a[n] == '\0' || a[n] == '=')) {
                o = &opts[k];
                if (a[n] == '=') val = a + n + 1;
                break;
            }
        }
        if (!o) {
            fprintf(err, "mlpd: unknown argument '%s' (see mlpd --help)\n", a);
            return -1;
        }
        if (o->type != OPT_FLAG && !val) {
            if (i + 1 >= argc) {
                fprintf(err, "mlpd: %s needs a value\n", o->flag);
                return -1;
            }
            val = argv[++i];
        }
        if (o->type == OPT_LIST && !list_from_flag[o - opts]) { /* flags replace the env list */
            list_from_flag[o - opts] = 1;
            ((char *)c)[o->off] = '\0';
        }
        if (set_opt(c, o, val, err) != 0) return -1;
        /* Keep keys out of /proc/PID/cmdline and ps: the copy in c is wiped once hashed. */
        if (o->off == OFF(api_keys) && o->type == OPT_LIST) memset((char *)val, 'x', strlen(val));
    }
    c->workers_set = c->workers != 0; /* the option's minimum is 1 */
    if (!c->workers) c->workers = CONFIG_WORKERS;
    return 0;
}
