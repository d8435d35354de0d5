/* http.h — libmicrohttpd glue: one http_req per request, bodies read incrementally with limits,
 * dispatch through the router, one response, one log line.
 *
 * Flow per request: headers -> route match against the table in http_opts (404/405; OPTIONS on a
 * route path is a CORS preflight, 204) -> access check (401/403, server/auth.h) and rate limit
 * (429) -> Content-Length checked against
 * --max-body / --max-upload (413 before reading), body chunks appended (bounded) or streamed to
 * the route's upload hooks, gzip Content-Encoding inflated (bounded), then the handler fills an
 * http_resp which is queued. Errors found while receiving are answered as soon as they happen.
 *
 * Listening: --listen's host is resolved with getaddrinfo (a name, an IPv4 or an IPv6 address);
 * the daemon listens on one address, the first IPv4 result or else the first IPv6 one. The socket
 * is http.c's own: one accept thread hands each new connection to MHD, which gives it to pool
 * worker (socket % pool size), so connections spread evenly over the request threads.
 *
 * Timeouts. Two, both libmicrohttpd's per-connection inactivity timeout (the connection is
 * closed when no byte has moved for that long), switched as a request goes:
 *   - request_timeout_s (--request-timeout): from accept, and again from each request line on
 *     (MHD's URI callback), until the answer is queued. The daemon-wide MHD timeout is this
 *     one, so a new connection has it before any callback runs; a client whose headers or body
 *     stall is closed after request_timeout_s.
 *   - timeout_s (--timeout): from the moment the answer is queued: sending it, then waiting
 *     idle for the next keep-alive request (until its request line arrives).
 *   - none: a streamed answer (SSE) has no timeout once queued; it ends with its stream.
 * A request line that stalls halfway on a kept-alive connection is under timeout_s, as MHD
 * gives no callback before the line is complete. Per client address, at most max_conn_per_ip
 * connections are open (MHD closes more as soon as they are accepted), so one address cannot
 * hold all max_connections.
 *
 * Owns: the MHD daemon, the listen socket and the accept thread; each http_req and its body
 * (freed when the request completes).
 * Threading: MHD's internal thread pool (epoll) calls handlers concurrently; an http_req belongs
 * to the one thread serving its connection (or, between http_defer and http_answer_later, to the
 * thread that answers it). */
#ifndef HTTP_H
#define HTTP_H

#include "app.h"
#include "router.h"
#include "user.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct MHD_Connection;

/* Streamed bodies (Server-Sent Events). A handler that sets resp->stream_read (with
 * stream_free and stream_ctx) instead of a body gets a chunked response whose bytes come from
 * stream_read(ctx, pos, buf, max), called on the connection's thread whenever the socket can take
 * more. It returns the bytes written to buf (> 0), HTTP_STREAM_END to finish the body, or 0 right
 * after calling http_suspend(conn) from inside the callback: the connection then sleeps (no
 * polling, no thread) until any thread calls http_resume(conn), and stream_read is called again.
 * stream_free(ctx) runs exactly once: when the response is done with (sent, client gone, daemon
 * stopping) or could not be created. Such a connection has no timeout (see Timeouts). Every
 * suspended connection must be resumed before http_stop (libmicrohttpd aborts otherwise).
 * The type is libmicrohttpd's MHD_ContentReaderCallback. */
typedef ssize_t (*http_stream_fn)(void *ctx, uint64_t pos, char *buf, size_t max);
#define HTTP_STREAM_END ((ssize_t)-1)

typedef struct http_resp {
    int status;
    const char *content_type; /* static string */
    char *body;               /* owned (malloc), or the connection's (body_conn); may be NULL */
    size_t len;
    int body_conn;      /* body is http_resp_buf's: sent without a copy, never freed here */
    char location[192]; /* "" or a Location header value */
    char allow[64];     /* "" or an Allow header value (405) */
    int retry_after;    /* seconds, 0 = none */
    /* A static WWW-Authenticate value (401), or NULL. */
    const char *www_authenticate;
    char hdr_name[40];   /* "" or one more header (e.g. Inference-Header-Content-Length) */
    char hdr_value[128]; /* long enough for a Content-Disposition file name */
    /* Streamed body instead of `body` (see http_stream_fn); all three NULL otherwise. */
    http_stream_fn stream_read;
    void (*stream_free)(void *ctx); /* runs once, when the response is done with */
    void *stream_ctx;               /* owned by stream_free */
} http_resp;

typedef struct http_req {
    struct MHD_Connection *conn;
    const char *method; /* borrowed from MHD, valid for the request */
    const char *path;   /* decoded path, borrowed */
    route_match m;
    app *app;
    char *body; /* JSON body, NUL-terminated, owned; NULL when none */
    size_t body_len, body_cap;
    void *upload;  /* upload-route state, owned by its hooks */
    int done;      /* a response was queued */
    int have_resp; /* resp holds an error found while receiving */
    http_resp resp;
    uint64_t t0_us;
    uint64_t bytes_in;
    size_t limit; /* max body bytes for this route */
    int gzip;     /* Content-Encoding: gzip */
    /* Access-Control-Allow-Origin to send (borrowed), NULL = none; preflight: an OPTIONS
     * preflight (204 with the CORS request headers); key_index: the caller's API key
     * (auth_lookup index), -1 for anonymous callers. */
    const char *cors_origin;
    int preflight;
    int key_index;
    principal who;        /* the caller, set once access is granted (user.h) */
    struct http_conn *hc; /* the connection's reusable buffers (http.c), or NULL */
    int deferred;         /* http_defer: the answer comes from http_answer_later's caller */
} http_req;

typedef struct http_server http_server;
struct auth_keys;
struct rl;

typedef struct {
    /* The route table requests are matched against (router_match), in match order; borrowed,
     * valid until http_stop. main.c hands in the table of api/routes.def. */
    const route *routes;
    size_t n_routes;
    const char *host; /* "127.0.0.1", "::1", "localhost" (no brackets) */
    int port;         /* 0 = ephemeral */
    /* Refuse to start unless the address host resolves to now is loopback (main's no-key rule,
     * checked again on the address actually bound, as a name may resolve differently). */
    int loopback_only;
    int threads; /* MHD thread pool size */
    unsigned max_connections;
    unsigned max_conn_per_ip;   /* open connections per client address; 0 = no limit */
    unsigned timeout_s;         /* idle: between requests and while answering (Timeouts) */
    unsigned request_timeout_s; /* longest stall while a request arrives (Timeouts) */
    size_t max_body;
    size_t max_upload;
    int quiet; /* no per-request log line */
    /* Renders an error body in the family's style (problem+json or {"error"}); set by main to
     * api_error so this layer needs no JSON library. */
    void (*render_error)(http_resp *resp, route_family fam, int status, const char *detail);
    /* Access (API.md, Security), checked once per request right after the route match. */
    const struct auth_keys *keys; /* borrowed; NULL or empty = open */
    int public_predict;           /* anonymous callers may use SCOPE_PREDICT routes */
    const char *cors_origins;     /* ','-joined allow-list, "*" = any, NULL/"" = no CORS */
    struct rl *rate;              /* borrowed; per-caller limit on POST predict routes, or NULL */
    /* The route's rule (route.rule) for req->who, right after the scope check and before any
     * body is read: 0 when the request may go on, else resp is filled (404 or 403). Set by main
     * to guard_check (api/guard.h); NULL checks nothing. */
    int (*authorize)(http_req *req, http_resp *resp);
} http_opts;

/* Starts listening. *out new. The bound port is available from http_port. */
int http_start(const http_opts *o, app *a, http_server **out, char *errbuf, size_t errlen);
int http_port(const http_server *s);
/* The numeric address listened on ("127.0.0.1", "[::1]"); borrowed, valid until http_stop. */
const char *http_addr(const http_server *s);
/* Stops accepting new connections (in-flight requests go on). */
void http_quiesce(http_server *s);
/* Waits for in-flight requests and stops. NULL-tolerant. */
void http_stop(http_server *s);

/* Deferred answers. A handler may leave its request unanswered when it returns: it calls
 * http_defer(req) first (on its own thread, inside the handler), which suspends the connection,
 * then hands req to another thread (server/batcher.h), which fills req->resp and calls
 * http_answer_later(req) exactly once; the connection wakes and the answer is queued on MHD's
 * thread, like any other. Between the two calls req belongs to that other thread (the HTTP
 * threads do not touch it). Every deferred request must be answered before http_stop returns,
 * which waits for it as for any request in flight. */
void http_defer(http_req *req);
void http_answer_later(http_req *req);

/* Request accessors; values borrowed for the request's lifetime. NULL when absent. */
const char *http_header(http_req *r, const char *name);
const char *http_query(http_req *r, const char *name);

/* Sets resp to (status, content_type, body) taking ownership of body (malloc'd). */
void resp_take(http_resp *resp, int status, const char *content_type, char *body, size_t len);
/* Copies a static/borrowed string body. */
void resp_text(http_resp *resp, int status, const char *content_type, const char *text);
/* A buffer of at least n bytes for the answer body, owned by the request's connection and kept
 * for its next requests (no allocation per request once it is big enough; buffers over
 * HTTP_CONN_KEEP bytes are dropped after their request). Valid until the response has been
 * sent; hand it over with resp_conn. NULL when out of memory. */
char *http_resp_buf(http_req *r, size_t n);
/* Sets resp to (status, content_type, the http_resp_buf buffer's first len bytes). */
void resp_conn(http_resp *resp, int status, const char *content_type, char *body, size_t len);

/* Suspends / resumes a streamed response's connection (see http_stream_fn). http_suspend only
 * from inside stream_read; http_resume from any thread, once per http_suspend. */
void http_suspend(struct MHD_Connection *conn);
void http_resume(struct MHD_Connection *conn);

#endif
