/* http.c — libmicrohttpd glue (see http.h): per-request state, bounded body reading, gzip
 * request bodies, dispatch, responses and the one log line per request.
 *
 * Threading mode: MHD's internal epoll loop with a thread pool (MHD_USE_INTERNAL_POLLING_THREAD
 * | MHD_USE_EPOLL + MHD_OPTION_THREAD_POOL_SIZE), the fastest mode measured for small requests
 * (bench/RESULTS.md); handlers never block on training, which runs on jobs.c's workers.
 *
 * Accepting: the listen socket is ours, and one accept thread hands each new connection to MHD
 * (MHD_add_connection), which gives it to the pool worker numbered (socket % pool size), so
 * connections spread evenly over the workers. With MHD's own listen socket in every worker's
 * epoll set, whichever worker woke first accepted a whole burst (up to 10 connections at once),
 * and a client's 16 connections often all landed on one worker: one core served while the other
 * idled (bench/RESULTS.md, serving). MHD still applies --max-connections and the per-address
 * limit to every added connection. */
#include "http.h"
#include "app.h"
#include "clock.h"

#include "metrics.h"

#include "auth.h"
#include "config.h"
#include "gunzip.h"
#include "quota.h"
#include "ratelimit.h"

#include <arpa/inet.h>
#include <assert.h>
#include <microhttpd.h>
#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_DRAIN_US (7u * 1000000u) /* longest wait for in-flight requests in http_stop */

/* Per connection, for its requests one after another (MHD reads the next request only once the
 * answer to the last is sent): the request struct, the body buffer and the answer buffer, so a
 * keep-alive client's requests allocate nothing here once the buffers are big enough. Buffers
 * over HTTP_CONN_KEEP bytes go back to malloc after their request, so idle connections hold at
 * most ~2 x 64 KiB. */
#define HTTP_CONN_KEEP ((size_t)64 << 10)
typedef struct http_conn {
    http_req req;
    int busy; /* req is in use */
    char *body;
    size_t body_cap;
    char *out;
    size_t out_cap;
} http_conn;

/* MHD zeroes a connection's whole memory pool between requests (HTTP keep-alive): per
 * request, about one instruction per byte. 16 KiB holds any header block mlpd accepts and MHD's
 * read buffer; bodies larger than the buffer arrive in more, smaller chunks (every route reads
 * them incrementally). MHD's default is 32 KiB. */
#define HTTP_CONN_POOL (16 * 1024)

struct http_server {
    struct MHD_Daemon *d;
    http_opts o;
    app *a;
    int port;
    char addr[INET6_ADDRSTRLEN + 2]; /* the numeric address listened on, IPv6 in brackets */
    atomic_long inflight;            /* requests begun and not completed (http_stop drains them) */
    _Atomic uint64_t quiesce_us;     /* clock_now_us() at http_quiesce, 0 before */
    int listen_fd;                   /* ours, not MHD's (see Accepting); closed by http_stop */
    int stop_fd;                     /* eventfd: the accept thread ends when it is readable */
    pthread_t acceptor;
    int accepting; /* the accept thread runs (main's thread alone changes it) */
};

void resp_take(http_resp *resp, int status, const char *content_type, char *body, size_t len)
{
    if (!resp->body_conn) free(resp->body);
    resp->body_conn = 0;
    resp->status = status;
    resp->content_type = content_type;
    resp->body = body;
    resp->len = len;
}

void resp_conn(http_resp *resp, int status, const char *content_type, char *body, size_t len)
{
    resp_take(resp, status, content_type, body, len);
    resp->body_conn = 1;
}

char *http_resp_buf(http_req *r, size_t n)
{
    http_conn *c = r->hc;
    if (!c) return NULL;
    if (c->out_cap < n) {
        char *b = realloc(c->out, n);
        if (!b) return NULL;
        c->out = b;
        c->out_cap = n;
    }
    return c->out;
}

void resp_text(http_resp *resp, int status, const char *content_type, const char *text)
{
    size_t n = strlen(text);
    char *b = malloc(n + 1);
    if (b) memcpy(b, text, n + 1);
    resp_take(resp, status, content_type, b, b ? n : 0);
}

const char *http_header(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_query(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static route_family req_family(const http_req *r)
{
    return r->m.rt ? r->m.rt->family : router_family_of(r->path);
}

static void fail(http_server *s, http_req *r, int status, const char *detail)
{
    s->o.render_error(&r->resp, req_family(r), status, detail);
    r->have_resp = 1;
}

static enum MHD_Result queue(http_server *s, http_req *r, http_resp *resp)
{
    struct MHD_Response *mr;
    int stream = resp->stream_read != NULL;
    if (stream) { /* MHD owns stream_ctx from here, also when this fails */
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, resp->stream_read,
                                               resp->stream_ctx, resp->stream_free);
        if (!mr && resp->stream_free) resp->stream_free(resp->stream_ctx);
        resp->stream_read = NULL;
        resp->stream_free = NULL;
        resp->stream_ctx = NULL;
    } else if (resp->body)
        mr = MHD_create_response_from_buffer(resp->len, resp->body,
                                             resp->body_conn ? MHD_RESPMEM_PERSISTENT
                                                             : MHD_RESPMEM_MUST_FREE);
    else
        mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!mr) return MHD_NO;
    /* The request is in: from here the idle timeout (see http.h, Timeouts); none for a stream. */
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, stream ? 0u : s->o.timeout_s);
    resp->body = NULL; /* MHD frees it, or it stays the connection's */
    resp->body_conn = 0;
    if (resp->content_type) MHD_add_response_header(mr, "Content-Type", resp->content_type);
    if (resp->location[0]) MHD_add_response_header(mr, "Location", resp->location);
    if (resp->www_authenticate)
        MHD_add_response_header(mr, "WWW-Authenticate", resp->www_authenticate);
    if (s->o.cors_origins && s->o.cors_origins[0]) MHD_add_response_header(mr, "Vary", "Origin");
    if (r->cors_origin) {
        MHD_add_response_header(mr, "Access-Control-Allow-Origin", r->cors_origin);
        MHD_add_response_header(mr, "Access-Control-Expose-Headers", "Location, Retry-After");
        if (r->preflight) {
            MHD_add_response_header(mr, "Access-Control-Allow-Methods", resp->allow);
            MHD_add_response_header(mr, "Access-Control-Allow-Headers",
                                    "Authorization, Content-Type, Content-Encoding");
            MHD_add_response_header(mr, "Access-Control-Max-Age", "600");
        }
    }
    if (resp->allow[0]) MHD_add_response_header(mr, "Allow", resp->allow);
    if (resp->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", resp->retry_after);
        MHD_add_response_header(mr, "Retry-After", ra);
    }
    if (resp->hdr_name[0]) MHD_add_response_header(mr, resp->hdr_name, resp->hdr_value);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    r->done = 1;
    r->resp.status = resp->status;
    r->resp.len = resp->len;
    /* Counted when queued, not at completion, so a client that has its answer also finds it
     * in /metrics (the completion callback may run after its next request). */
    metrics_request(r->m.rt ? (int)(r->m.rt - s->o.routes) : -1, r->method, resp->status,
                    clock_now_us() - r->t0_us);
    return ret;
}

/* Inflates a gzip request body in place (server/gunzip.h), bounded by limit. 0 ok, else an
 * HTTP status. */
static int inflate_body(http_req *r, size_t limit)
{
    char *out = NULL;
    size_t len = 0;
    mlp_error e;
    mlp_error_clear(&e);
    mlp_err rc = gunzip_buf((const unsigned char *)r->body, r->body_len, limit, &out, &len, &e);
    if (rc == MLP_ETOOLARGE) return 413;
    if (rc == MLP_ENOMEM) return 503;
    if (rc != MLP_OK) return 400;
    free(r->body);
    r->body = out;
    r->body_len = len;
    r->body_cap = len + 1;
    return 0;
}

static int append_body(http_req *r, const char *data, size_t n)
{
    if (!r->body && r->hc && r->hc->body) { /* the connection's buffer from earlier requests */
        r->body = r->hc->body;
        r->body_cap = r->hc->body_cap;
        r->hc->body = NULL;
        r->hc->body_cap = 0;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        /* first chunk: room for the declared body at once, not ~8 reallocs */
        if (r->body_len == 0) {
            const char *cl = http_header(r, "Content-Length");
            unsigned long long want = cl ? strtoull(cl, NULL, 10) : 0;
            if (want >= cap && want <= r->limit) cap = (size_t)want + 1;
        }
        while (cap < r->body_len + n + 1) cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) return -1;
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

/* The Access-Control-Allow-Origin value for a request's Origin: "*" when any origin is allowed,
 * the origin itself when it is on the list, NULL otherwise (no CORS headers at all). */
static const char *cors_allow(const char *list, const char *origin)
{
    if (!list || !*list || !origin || !*origin) return NULL;
    size_t olen = strlen(origin);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 1 && *p == '*') return "*";
        if (n == olen && strncasecmp(p, origin, n) == 0) return origin;
        if (!e) break;
        p = e + 1;
    }
    return NULL;
}

/* The event stream may carry its key as ?access_token=: a browser's EventSource cannot send an
 * Authorization header. Only there, and only for GET (a URL ends up in logs and history). */
static int token_in_query_ok(const http_req *r)
{
    return strcmp(r->method, "GET") == 0 &&
           strcmp(r->m.rt->pattern, "/api/v1/runs/{id}/events") == 0;
}

/* The caller's predict_per_second quota (server/quota.h) on the inference routes: one bucket per
 * user. 0 when the request may go on. */
static int check_predict_quota(http_server *s, http_req *r)
{
    if (!r->app->quota || r->who.id <= 0 || r->m.rt->scope != SCOPE_PREDICT ||
        strcmp(r->method, "POST") != 0)
        return 0;
    long long limit = 0;
    int wait = quota_predict_take(r->app->quota, r->who.id, (double)clock_now_us() / 1e6, &limit);
    if (!wait) return 0;
    char detail[200];
    snprintf(detail, sizeof detail,
             "quota predict_per_second exceeded: limit %lld requests per second, used %lld; "
             "retry after the Retry-After seconds",
             limit, limit);
    fail(s, r, 429, detail);
    r->resp.retry_after = wait;
    return -1;
}

/* The access check and rate limit of a matched route (API.md, Security). 0 when the request
 * may go on; otherwise the error is in r->resp. */
static int check_access(http_server *s, http_req *r)
{
    size_t plen = 0;
    const char *key = auth_bearer(http_header(r, "Authorization"), &plen);
    if (!key && token_in_query_ok(r) && (key = http_query(r, "access_token")) != NULL)
        plen = strlen(key);
    const char *detail;
    /* Flag keys, and every caller of a server with no flag key, act as the bootstrap admin; a
     * user's key acts as its user; an anonymous caller let in by --public-predict is nobody. */
    int st = auth_decide_who(s->o.keys, r->app->users, s->o.public_predict, r->m.rt->scope, key,
                             plen, &r->key_index, &r->who, &detail);
    if (st) {
        fail(s, r, st, detail);
        if (st == 401) r->resp.www_authenticate = "Bearer realm=\"mlpd\"";
        return -1;
    }
    if (s->o.rate && r->m.rt->scope == SCOPE_PREDICT && strcmp(r->method, "POST") == 0) {
        /* Bucket: the flag key for its callers, the user for a user's key, else the client
         * address. */
        unsigned char id[1 + 16];
        size_t n = 1;
        if (r->key_index >= 0) {
            id[0] = 'k';
            memcpy(id + 1, &r->key_index, sizeof r->key_index);
            n += sizeof r->key_index;
        } else if (r->who.id > 0 && r->who.id != USER_BOOTSTRAP_ID) {
            id[0] = 'u';
            memcpy(id + 1, &r->who.id, sizeof r->who.id);
            n += sizeof r->who.id;
        } else {
            id[0] = 'a';
            const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
            const struct sockaddr *sa = ci ? ci->client_addr : NULL;
            if (sa && sa->sa_family == AF_INET) {
                memcpy(id + 1, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
                n += 4;
            } else if (sa && sa->sa_family == AF_INET6) {
                memcpy(id + 1, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
                n += 16;
            }
        }
        int wait = rl_take(s->o.rate, id, n, (double)clock_now_us() / 1e6);
        if (wait) {
            fail(s, r, 429,
                 "rate limit exceeded (--rate-limit); retry after the Retry-After seconds");
            r->resp.retry_after = wait;
            return -1;
        }
    }
    if (s->o.authorize && s->o.authorize(r, &r->resp) != 0) {
        r->have_resp = 1;
        return -1;
    }
    return check_predict_quota(s, r);
}

/* Bytes of a failed request's body read and dropped, past its limit, before the connection is
 * closed without an answer. */
#define DISCARD_MAX ((uint64_t)64 << 20)

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r) { /* headers only */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        http_conn *hc = ci ? ci->socket_context : NULL;
        if (hc && !hc->busy) {
            r = &hc->req;
            memset(r, 0, sizeof *r);
            hc->busy = 1;
            r->hc = hc;
        } else if (!(r = calloc(1, sizeof *r))) {
            return MHD_NO;
        }
        atomic_fetch_add(&s->inflight, 1);
        *con_cls = r;
        r->conn = conn;
        r->method = method;
        r->path = url;
        r->app = s->a;
        r->t0_us = clock_now_us();
        r->key_index = -1;
        if (s->o.cors_origins && s->o.cors_origins[0]) /* no header lookup without CORS */
            r->cors_origin = cors_allow(s->o.cors_origins, http_header(r, "Origin"));
        char allow[64];
        int rc = router_match(s->o.routes, s->o.n_routes, method, url, &r->m, allow, sizeof allow);
        if (rc == 405 && strcmp(method, "OPTIONS") == 0) { /* CORS preflight, never behind auth */
            r->preflight = 1;
            r->resp.status = 204;
            snprintf(r->resp.allow, sizeof r->resp.allow, "%s", allow);
            r->have_resp = 1;
        } else if (rc == 404) {
            fail(s, r, 404, "no route for this path");
        } else if (rc == 405) {
            char msg[128];
            snprintf(msg, sizeof msg, "method %s not allowed here; allowed: %s", method, allow);
            fail(s, r, 405, msg);
            snprintf(r->resp.allow, sizeof r->resp.allow, "%s", allow);
        } else if (check_access(s, r) == 0) {
            int upload = (r->m.rt->flags & ROUTE_UPLOAD) != 0;
            r->limit = upload ? s->o.max_upload : s->o.max_body;
            const char *cl = http_header(r, "Content-Length");
            const char *ce = http_header(r, "Content-Encoding");
            if (ce && strcasecmp(ce, "gzip") == 0)
                r->gzip = 1;
            else if (ce && strcasecmp(ce, "identity") != 0) {
                fail(s, r, 415, "unsupported Content-Encoding (only gzip and identity)");
            }
            if (!r->have_resp && cl) {
                unsigned long long n = strtoull(cl, NULL, 10);
                if (n > r->limit) {
                    char msg[160];
                    snprintf(msg, sizeof msg,
                             "request body of %llu bytes exceeds the limit of %zu bytes (%s)", n,
                             r->limit, upload ? "--max-upload" : "--max-body");
                    fail(s, r, 413, msg);
                }
            }
            if (!r->have_resp && upload && r->m.rt->upload && r->m.rt->upload->begin) {
                if (r->m.rt->upload->begin(r, &r->resp) != 0) r->have_resp = 1;
            }
        }
        if (r->have_resp) return queue(s, r, &r->resp);
        return MHD_YES;
    }
    if (r->deferred) { /* resumed by http_answer_later: resp is filled */
        if (!r->resp.status) fail(s, r, 500, "handler produced no response");
        return queue(s, r, &r->resp);
    }
    if (r->done) { /* answered early: discard the rest of the body */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r->bytes_in += n;
        /* MHD 0.9.x refuses MHD_queue_response while the body is arriving (the connection would
         * just close, with no answer), so an error found here stays in r->resp and is answered
         * when the body ends. The rest is read and dropped, not stored; past DISCARD_MAX more
         * bytes than the limit the connection is closed instead. */
        if (r->have_resp) return r->bytes_in - n > r->limit + DISCARD_MAX ? MHD_NO : MHD_YES;
        if (r->bytes_in > r->limit) {
            char msg[160];
            snprintf(msg, sizeof msg, "request body exceeds the limit of %zu bytes (%s)", r->limit,
                     (r->m.rt->flags & ROUTE_UPLOAD) ? "--max-upload" : "--max-body");
            fail(s, r, 413, msg);
            return MHD_YES;
        }
        if ((r->m.rt->flags & ROUTE_UPLOAD) && r->m.rt->upload) {
            if (r->m.rt->upload->feed(r, &r->resp, upload_data, n) != 0) r->have_resp = 1;
        } else if (append_body(r, upload_data, n) != 0) {
            fail(s, r, 503, "out of memory reading the request body");
        }
        return MHD_YES;
    }
    /* Body complete. */
    if (r->have_resp) return queue(s, r, &r->resp);
    if (r->gzip && !(r->m.rt->flags & ROUTE_UPLOAD) && r->body) {
        int st = inflate_body(r, r->limit);
        if (st) {
            fail(s, r, st,
                 st == 413 ? "inflated request body exceeds --max-body"
                           : "request body is not valid gzip (Content-Encoding: gzip)");
            return queue(s, r, &r->resp);
        }
    }
    /* Requests begun before the drain started are in flight and finish; later ones get 503. */
    uint64_t q = atomic_load(&s->quiesce_us);
    if (atomic_load(&s->a->shutting_down) && (q == 0 || r->t0_us >= q) &&
        strcmp(method, "GET") != 0) {
        fail(s, r, 503, "server is shutting down");
        r->resp.retry_after = 5;
        return queue(s, r, &r->resp);
    }
    r->m.rt->fn(r, &r->resp);
    if (r->deferred) return MHD_YES; /* suspended; answered after http_answer_later */
    if (!r->resp.status) fail(s, r, 500, "handler produced no response");
    return queue(s, r, &r->resp);
}

void http_defer(http_req *req)
{
    assert(!req->deferred && !req->done);
    req->deferred = 1;
    MHD_suspend_connection(req->conn);
}

void http_answer_later(http_req *req)
{
    assert(req->deferred);
    MHD_resume_connection(req->conn);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)conn;
    metrics_connection(toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = calloc(1, sizeof(http_conn)); /* NULL: requests calloc their own */
    } else {
        http_conn *hc = *socket_context;
        if (hc) {
            free(hc->body);
            free(hc->out);
            free(hc);
        }
        *socket_context = NULL;
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    (void)conn;
    http_req *r = *con_cls;
    if (!r) return;
    if (!s->o.quiet)
        fprintf(stderr, "%s %s %d %zu %llu%s\n", r->method, r->path, r->resp.status, r->resp.len,
                (unsigned long long)(clock_now_us() - r->t0_us),
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
    if (r->upload && r->m.rt && r->m.rt->upload && r->m.rt->upload->abort)
        r->m.rt->upload->abort(r);
    if (r->resp.stream_free) r->resp.stream_free(r->resp.stream_ctx); /* never queued */
    if (!r->resp.body_conn) free(r->resp.body);
    http_conn *hc = r->hc;
    if (hc) { /* keep the buffers for the connection's next request, up to HTTP_CONN_KEEP */
        if (r->body && r->body_cap <= HTTP_CONN_KEEP && !hc->body) {
            hc->body = r->body;
            hc->body_cap = r->body_cap;
        } else {
            free(r->body);
        }
        if (hc->out_cap > HTTP_CONN_KEEP) {
            free(hc->out);
            hc->out = NULL;
            hc->out_cap = 0;
        }
        hc->busy = 0;
    } else {
        free(r->body);
        free(r);
    }
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

/* The address to listen on for host (a name or a numeric IPv4/IPv6 address) and port, by
 * getaddrinfo: the first IPv4 result, else the first IPv6 one, so that "localhost" listens where
 * most clients try first even when it also resolves to ::1. Fills *sa and text (the numeric
 * address, IPv6 in brackets); returns AF_INET or AF_INET6, or -1 with errbuf set. */
static int resolve_listen(const char *host, int port, struct sockaddr_storage *sa, char *text,
                          size_t textlen, char *errbuf, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    int gr = *host ? getaddrinfo(host, portstr, &hints, &res) : EAI_NONAME;
    if (gr != 0) {
        snprintf(errbuf, errlen, "--listen: cannot resolve '%s': %s", host, gai_strerror(gr));
        return -1;
    }
    const struct addrinfo *v4 = NULL, *v6 = NULL;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET && !v4) v4 = ai;
        if (ai->ai_family == AF_INET6 && !v6) v6 = ai;
    }
    const struct addrinfo *pick = v4 ? v4 : v6;
    int family = -1;
    if (!pick || pick->ai_addrlen > sizeof *sa) {
        snprintf(errbuf, errlen, "--listen: '%s' has no IPv4 or IPv6 address", host);
        goto out;
    }
    memset(sa, 0, sizeof *sa);
    memcpy(sa, pick->ai_addr, pick->ai_addrlen);
    family = pick->ai_family;
    char num[INET6_ADDRSTRLEN];
    const void *bin =
        family == AF_INET
            ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
            : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (!inet_ntop(family, bin, num, sizeof num)) snprintf(num, sizeof num, "?");
    snprintf(text, textlen, family == AF_INET6 ? "[%s]" : "%s", num);
out:
    freeaddrinfo(res);
    return family;
}

/* Called by MHD once the request line of each request has arrived, before its headers: the
 * request deadline starts again (the connection may have been idle under --timeout). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    http_server *s = cls;
    (void)uri;
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, s->o.request_timeout_s);
    return NULL; /* *con_cls stays NULL until on_request's first call */
}

/* The listen socket for sa (family AF_INET or AF_INET6): non-blocking, address and port reuse
 * as MHD's MHD_OPTION_LISTENING_ADDRESS_REUSE set them, IPv6-only unless it is [::] (which
 * takes IPv4 clients too). The descriptor, or -1 with errno set. */
static int listen_socket(const struct sockaddr_storage *sa, int family)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    socklen_t len = sizeof(struct sockaddr_in);
    if (family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        int v6only = !IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
        len = sizeof(struct sockaddr_in6);
    }
    if (bind(fd, (const struct sockaddr *)sa, len) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The accept thread: new connections go to MHD (see Accepting) until stop_fd is readable. */
static void *accept_main(void *arg)
{
    http_server *s = arg;
    struct pollfd pf[2] = {{s->listen_fd, POLLIN, 0}, {s->stop_fd, POLLIN, 0}};
    for (;;) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pf[1].revents) break;
        if (pf[0].revents & (POLLERR | POLLNVAL)) break;
        for (;;) { /* every connection waiting, then poll again */
            struct sockaddr_storage ss;
            socklen_t len = sizeof ss;
            int c =
                accept4(s->listen_fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (c < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                    /* out of descriptors or memory: the waiting connection stays queued; look
                     * again shortly rather than spin on a socket that stays readable */
                    struct timespec ts = {0, 10 * 1000 * 1000};
                    nanosleep(&ts, NULL);
                }
                break; /* EAGAIN: none left; ECONNABORTED and the like: the next poll */
            }
            /* MHD closes c itself when it refuses it (a limit, out of memory) */
            MHD_add_connection(s->d, c, (const struct sockaddr *)&ss, len);
        }
    }
    return NULL;
}

/* Ends the accept thread (main's thread only; idempotent). */
static void stop_accepting(http_server *s)
{
    if (!s->accepting) return;
    uint64_t one = 1;
    if (write(s->stop_fd, &one, sizeof one) < 0) { /* never: an eventfd takes it */
    }
    pthread_join(s->acceptor, NULL);
    s->accepting = 0;
}

int http_start(const http_opts *o, app *a, http_server **out, char *errbuf, size_t errlen)
{
    assert(o->routes && o->n_routes > 0);
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    s->o = *o;
    s->a = a;
    s->listen_fd = -1;
    s->stop_fd = -1;
    struct sockaddr_storage sa;
    int family = resolve_listen(o->host, o->port, &sa, s->addr, sizeof s->addr, errbuf, errlen);
    if (family < 0) {
        free(s);
        return -1;
    }
    if (o->loopback_only && !config_is_loopback(s->addr)) {
        snprintf(errbuf, errlen,
                 "refusing to listen on %s ('%s' resolves to it now): not loopback, and no API "
                 "key is configured",
                 s->addr, o->host);
        free(s);
        return -1;
    }
    /* MHD_add_connection from the accept thread needs MHD_USE_ITC (it wakes the worker) */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET;
    unsigned pool = (unsigned)(o->threads > 0 ? o->threads : 2);
    /* Bench-only knob (undocumented on purpose): MLPD_HTTP_MODE=per-connection starts MHD with
     * one thread per connection instead, to re-run the mode comparison in bench/RESULTS.md
     * (bench/daemon_bench.sh modes). Not for use: in that mode a suspended SSE connection keeps
     * SIGTERM from finishing (tests/e2e/test_sse hangs). */
    const char *mode = getenv("MLPD_HTTP_MODE");
    if (mode && strcmp(mode, "per-connection") == 0) {
        flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET;
        pool = 0;
    }
    /* The daemon-wide timeout is the request deadline: a new connection has it from accept;
     * see http.h, Timeouts. */
    s->listen_fd = listen_socket(&sa, family);
    if (s->listen_fd < 0) {
        snprintf(errbuf, errlen, "cannot listen on %s:%d (address in use or not permitted)",
                 s->addr, o->port);
        goto fail;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(s->listen_fd, (struct sockaddr *)&bound, &blen) != 0) {
        snprintf(errbuf, errlen, "cannot read the port bound on %s", s->addr);
        goto fail;
    }
    s->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)(void *)&bound)->sin_port
                                      : ((struct sockaddr_in6 *)(void *)&bound)->sin6_port);
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_THREAD_POOL_SIZE, pool,
        MHD_OPTION_CONNECTION_LIMIT, o->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        o->max_conn_per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_POOL,
        MHD_OPTION_CONNECTION_TIMEOUT, o->request_timeout_s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        NULL, MHD_OPTION_END);
    if (!s->d) {
        snprintf(errbuf, errlen, "cannot start the HTTP threads on %s:%d", s->addr, o->port);
        goto fail;
    }
    s->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (s->stop_fd < 0 || pthread_create(&s->acceptor, NULL, accept_main, s) != 0) {
        snprintf(errbuf, errlen, "cannot start the accept thread");
        goto fail;
    }
    s->accepting = 1;
    *out = s;
    return 0;
fail:
    if (s->d) MHD_stop_daemon(s->d);
    if (s->listen_fd >= 0) close(s->listen_fd);
    if (s->stop_fd >= 0) close(s->stop_fd);
    free(s);
    return -1;
}

_Static_assert(HTTP_STREAM_END == MHD_CONTENT_READER_END_OF_STREAM, "http_stream_fn contract");

void http_suspend(struct MHD_Connection *conn)
{
    MHD_suspend_connection(conn);
}

void http_resume(struct MHD_Connection *conn)
{
    MHD_resume_connection(conn);
}

int http_port(const http_server *s)
{
    return s->port;
}

const char *http_addr(const http_server *s)
{
    return s->addr;
}

void http_quiesce(http_server *s)
{
    if (!s) return;
    atomic_store(&s->quiesce_us, clock_now_us());
    /* New connections are refused at once: the accept thread ends, and shutdown takes the
     * listening socket out of LISTEN (Linux); the descriptor is closed by http_stop. */
    if (!s->accepting) return;
    stop_accepting(s);
    shutdown(s->listen_fd, SHUT_RDWR);
}

void http_stop(http_server *s)
{
    if (!s) return;
    /* In-flight requests (a slow upload, say) finish first, within a bound that keeps the whole
     * SIGTERM drain under 10 s; idle keep-alive connections are simply closed. */
    uint64_t t0 = clock_now_us();
    while (atomic_load(&s->inflight) > 0 && clock_now_us() - t0 < HTTP_DRAIN_US) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    stop_accepting(s); /* before MHD stops: no connection is added to a stopped daemon */
    MHD_stop_daemon(s->d);
    close(s->listen_fd);
    close(s->stop_fd);
    free(s);
}
