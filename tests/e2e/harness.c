/* harness.c — end-to-end test support (see harness.h). */
#include "harness.h"
#include "oacheck.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int launch(srv *s, const char *const *extra)
{
    const char *bin = getenv("MLPD_BIN");
    if (!bin) bin = "build/mlpd";
    char portfile[300];
    snprintf(portfile, sizeof portfile, "%s/port", s->dir);
    unlink(portfile);
    snprintf(s->log, sizeof s->log, "%s/mlpd.log", s->dir);
    const char *argv[40];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--data-dir";
    argv[n++] = s->dir;
    argv[n++] = "--port-file";
    argv[n++] = portfile;
    for (int i = 0; extra && extra[i] && n < 38; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        /* A failed assertion skips the test's teardown (cmocka jumps out of it): the daemon then
         * dies with the test process instead of living on, holding its port, data dir and the
         * test's stdout. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    double t0 = now_s();
    while (now_s() - t0 < 20) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            int ok = fscanf(f, "%d", &s->port) == 1;
            fclose(f);
            if (ok) return 0;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            return -1;
        }
        usleep(10000);
    }
    return -1;
}

int srv_start(srv *s, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/mlpd-e2e-XXXXXX");
    if (!mkdtemp(s->dir)) return -1;
    return launch(s, extra);
}

int srv_restart(srv *s, const char *const *extra)
{
    return launch(s, extra);
}

int srv_stop(srv *s, int sig)
{
    if (s->pid <= 0) return -1;
    kill(s->pid, sig);
    int st = 0;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR) {
    }
    s->pid = 0;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

int srv_finish(srv *s)
{
    if (s->pid <= 0) return 0;
    int rc = srv_stop(s, SIGTERM);
    if (rc != 0)
        fprintf(stderr, "the daemon exited with %d (log: %s)\n", rc, s->log);
    else
        srv_cleanup(s);
    return rc;
}

void srv_cleanup(srv *s)
{
    if (s->pid > 0) srv_stop(s, SIGKILL);
    if (s->dir[0] && getenv("MLPD_KEEP_TEST_DIRS") == NULL) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", s->dir);
    }
}

size_t hresp_body_cb(char *p, size_t sz, size_t n, void *ud)
{
    hresp *r = ud;
    size_t add = sz * n;
    char *b = realloc(r->body, r->len + add + 1);
    if (!b) return 0;
    memcpy(b + r->len, p, add);
    r->body = b;
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static void copy_header(char *dst, size_t cap, const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0) return;
    const char *v = line + k;
    while (*v == ' ') v++;
    size_t len = n - (size_t)(v - line);
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n')) len--;
    if (len >= cap) len = cap - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    hresp *r = ud;
    size_t len = sz * n;
    if (strncmp(p, "HTTP/", 5) == 0) r->hlen = 0; /* keep the final response's headers only */
    if (r->hlen + len < sizeof r->headers) {
        memcpy(r->headers + r->hlen, p, len);
        r->hlen += len;
        r->headers[r->hlen] = '\0';
    }
    copy_header(r->location, sizeof r->location, p, len, "Location:");
    copy_header(r->allow, sizeof r->allow, p, len, "Allow:");
    copy_header(r->content_type, sizeof r->content_type, p, len, "Content-Type:");
    copy_header(r->retry_after, sizeof r->retry_after, p, len, "Retry-After:");
    copy_header(r->infer_header_len, sizeof r->infer_header_len, p, len,
                "Inference-Header-Content-Length:");
    return len;
}

const char *hresp_header(const hresp *r, const char *name)
{
    static char val[512];
    size_t k = strlen(name);
    for (const char *l = r->headers; *l;) {
        const char *e = strstr(l, "\r\n");
        size_t n = e ? (size_t)(e - l) : strlen(l);
        if (n > k && strncasecmp(l, name, k) == 0 && l[k] == ':') {
            const char *v = l + k + 1;
            while (*v == ' ') v++;
            size_t vl = n - (size_t)(v - l);
            if (vl >= sizeof val) vl = sizeof val - 1;
            memcpy(val, v, vl);
            val[vl] = '\0';
            return val;
        }
        if (!e) break;
        l = e + 2;
    }
    return NULL;
}

/* http_do with any number of extra header lines (NULL-terminated, may be NULL). */
static long request(const srv *s, const char *method, const char *path, const char *content_type,
                    const void *body, size_t len, const char *const *extra, hresp *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (!c) return -1;
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    struct curl_slist *h = NULL;
    char ct[160];
    if (body || content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s",
                 content_type ? content_type : "application/json");
        h = curl_slist_append(h, ct);
    }
    for (; extra && *extra; extra++) h = curl_slist_append(h, *extra);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hresp_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    else
        r->status = -1;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!r->body) {
        r->body = calloc(1, 1);
    }
    oa_check(s->port, method, path, r->status, r->content_type, r->body, r->len);
    return r->status;
}

long http_do(srv *s, const char *method, const char *path, const char *content_type,
             const void *body, size_t len, const char *extra_header, hresp *r)
{
    const char *extra[] = {extra_header, NULL};
    return request(s, method, path, content_type, body, len, extra, r);
}

long http_keyed(const srv *s, const char *method, const char *path, const char *key,
                const char *origin, const char *content_type, const char *body, hresp *r)
{
    char auth[256], org[256];
    const char *extra[3] = {NULL, NULL, NULL};
    int n = 0;
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        extra[n++] = auth;
    }
    if (origin) {
        snprintf(org, sizeof org, "Origin: %s", origin);
        extra[n++] = org;
    }
    return request(s, method, path, body ? content_type : NULL, body, body ? strlen(body) : 0,
                   extra, r);
}

void hresp_free(hresp *r)
{
    free(r->body);
    r->body = NULL;
}

json_t *hresp_json(const hresp *r)
{
    return r->body ? json_loads(r->body, 0, NULL) : NULL;
}

json_t *post_json(srv *s, const char *path, const char *json_text, long *status)
{
    hresp r;
    *status = http_do(s, "POST", path, "application/json", json_text, strlen(json_text), NULL, &r);
    json_t *j = hresp_json(&r);
    hresp_free(&r);
    return j;
}

json_t *get_json(srv *s, const char *path, long *status)
{
    hresp r;
    *status = http_do(s, "GET", path, NULL, NULL, 0, NULL, &r);
    json_t *j = hresp_json(&r);
    hresp_free(&r);
    return j;
}

json_t *wait_run(srv *s, const char *run_id, double timeout_s)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/runs/%s", run_id);
    double t0 = now_s();
    while (now_s() - t0 < timeout_s) {
        long st;
        json_t *j = get_json(s, path, &st);
        const char *status = j ? json_string_value(json_object_get(j, "status")) : NULL;
        if (status && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
                       strcmp(status, "cancelled") == 0))
            return j;
        json_decref(j);
        usleep(20000);
    }
    return NULL;
}

long h_upload_csv(srv *s, const char *name, const char *csv, char *id, size_t cap)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/datasets?name=%s", name);
    hresp r;
    id[0] = '\0';
    long st = http_do(s, "POST", path, "text/csv", csv, strlen(csv), NULL, &r);
    json_t *j = st == 201 ? hresp_json(&r) : NULL;
    const char *ds = j ? json_string_value(json_object_get(j, "id")) : NULL;
    if (ds) snprintf(id, cap, "%s", ds);
    json_decref(j);
    hresp_free(&r);
    return ds ? st : (st == 201 ? -1 : st);
}

int h_train(srv *s, const char *body, double timeout_s)
{
    char rid[32];
    long st;
    json_t *run = post_json(s, "/api/v1/runs", body, &st);
    const char *id = st == 202 ? json_string_value(json_object_get(run, "id")) : NULL;
    if (!id) {
        fprintf(stderr, "h_train: POST /api/v1/runs answered %ld\n", st);
        json_decref(run);
        return -1;
    }
    snprintf(rid, sizeof rid, "%s", id);
    json_decref(run);
    json_t *done = wait_run(s, rid, timeout_s);
    const char *status = done ? json_string_value(json_object_get(done, "status")) : NULL;
    int ok = status && strcmp(status, "succeeded") == 0;
    if (!ok) fprintf(stderr, "h_train: run %s ended %s\n", rid, status ? status : "(timeout)");
    json_decref(done);
    return ok ? 0 : -1;
}

int train_csv(srv *s, const char *name, const char *csv, const char *run_tail, double timeout_s)
{
    char body[1024], ds[32];
    long st = h_upload_csv(s, name, csv, ds, sizeof ds);
    if (st != 201) {
        fprintf(stderr, "train_csv %s: upload answered %ld\n", name, st);
        return -1;
    }
    snprintf(body, sizeof body, "{\"dataset_id\":\"%s\",\"model_name\":\"%s\",%s}", ds, name,
             run_tail);
    return h_train(s, body, timeout_s);
}

double h_urand(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return ((*state >> 8) & 0xFFFFFF) / (double)0x1000000;
}

int wait_epoch(srv *s, const char *run_id, int epoch, double timeout_s)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/runs/%s", run_id);
    double t0 = now_s();
    while (now_s() - t0 < timeout_s) {
        long st;
        json_t *j = get_json(s, path, &st);
        int e =
            j ? (int)json_integer_value(json_object_get(json_object_get(j, "progress"), "epoch"))
              : 0;
        json_decref(j);
        if (e >= epoch) return 0;
        usleep(5000);
    }
    return -1;
}

long proc_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kb = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

long proc_reset_peak_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot open %s to reset the peak RSS\n", path);
        return -1;
    }
    int ok = fputs("5", f) >= 0;
    if (fclose(f) != 0 || !ok) {
        fprintf(stderr, "cannot reset the peak RSS through %s\n", path);
        return -1;
    }
    long rss = proc_status_kb(pid, "VmRSS"), hwm = proc_status_kb(pid, "VmHWM");
    if (rss <= 0 || hwm <= 0 || hwm > rss + 1024) {
        fprintf(stderr, "VmHWM %ld kB not reset to VmRSS %ld kB\n", hwm, rss);
        return -1;
    }
    return rss;
}

/* ---- the strict XML checker of svg_check ---- */

static int xml_name_start(int c)
{
    return isalpha(c) || c == '_' || c == ':';
}

static int xml_name_char(int c)
{
    return isalnum(c) || c == '_' || c == ':' || c == '-' || c == '.';
}

/* Checks character data up to the next '<' (or end of an attribute value at quote q). */
static int xml_chars(svg_doc *x, char q)
{
    while (x->p < x->end && *x->p != (q ? q : '<')) {
        unsigned char c = (unsigned char)*x->p;
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return (x->err = "control char"), -1;
        if (q && c == '<') return (x->err = "'<' in attribute"), -1;
        if (c == '&') {
            const char *semi = memchr(x->p, ';', (size_t)(x->end - x->p));
            if (!semi || semi - x->p > 10) return (x->err = "bare '&'"), -1;
            size_t n = (size_t)(semi - x->p - 1);
            const char *e = x->p + 1;
            int ok = (n == 3 && !strncmp(e, "amp", 3)) || (n == 2 && !strncmp(e, "lt", 2)) ||
                     (n == 2 && !strncmp(e, "gt", 2)) || (n == 4 && !strncmp(e, "quot", 4)) ||
                     (n == 4 && !strncmp(e, "apos", 4));
            if (!ok && n >= 2 && e[0] == '#') {
                ok = 1;
                int hex = e[1] == 'x';
                for (size_t i = 1 + (size_t)hex; i < n; i++)
                    ok &= (hex ? isxdigit((unsigned char)e[i]) : isdigit((unsigned char)e[i])) != 0;
                ok &= n > 1 + (size_t)hex;
            }
            if (!ok) return (x->err = "unknown entity"), -1;
            x->p = semi + 1;
            continue;
        }
        x->p++;
    }
    return 0;
}

static void xml_skip_ws(svg_doc *x)
{
    while (x->p < x->end && isspace((unsigned char)*x->p)) x->p++;
}

static int xml_element(svg_doc *x);

static int xml_content(svg_doc *x, const char *name, size_t nlen)
{
    for (;;) {
        if (xml_chars(x, 0)) return -1;
        if (x->p >= x->end) return (x->err = "unclosed element"), -1;
        if (!strncmp(x->p, "<!--", 4)) {
            const char *e = strstr(x->p + 4, "-->");
            if (!e) return (x->err = "unclosed comment"), -1;
            x->p = e + 3;
        } else if (x->p[1] == '/') {
            x->p += 2;
            if ((size_t)(x->end - x->p) < nlen || strncmp(x->p, name, nlen) ||
                xml_name_char((unsigned char)x->p[nlen]))
                return (x->err = "mismatched end tag"), -1;
            x->p += nlen;
            xml_skip_ws(x);
            if (*x->p != '>') return (x->err = "bad end tag"), -1;
            x->p++;
            return 0;
        } else if (xml_element(x)) {
            return -1;
        }
    }
}

static int xml_element(svg_doc *x)
{
    if (*x->p != '<' || !xml_name_start((unsigned char)x->p[1])) return (x->err = "not a tag"), -1;
    const char *name = ++x->p;
    while (x->p < x->end && xml_name_char((unsigned char)*x->p)) x->p++;
    size_t nlen = (size_t)(x->p - name);
    int is_poly = nlen == 8 && !strncmp(name, "polyline", 8);
    svg_poly pl = {"", "", 0};
    char seen[16][32];
    int n_seen = 0;
    for (;;) {
        const char *before = x->p;
        xml_skip_ws(x);
        if (x->p >= x->end) return (x->err = "eof in tag"), -1;
        if (*x->p == '>' || !strncmp(x->p, "/>", 2)) break;
        if (x->p == before) return (x->err = "no space before attribute"), -1;
        const char *an = x->p;
        if (!xml_name_start((unsigned char)*an)) return (x->err = "bad attribute name"), -1;
        while (x->p < x->end && xml_name_char((unsigned char)*x->p)) x->p++;
        size_t alen = (size_t)(x->p - an);
        for (int i = 0; i < n_seen; i++)
            if (strlen(seen[i]) == alen && !strncmp(seen[i], an, alen))
                return (x->err = "duplicate attribute"), -1;
        if (n_seen < 16 && alen < 32) {
            memcpy(seen[n_seen], an, alen);
            seen[n_seen++][alen] = '\0';
        }
        if (*x->p++ != '=') return (x->err = "attribute without ="), -1;
        char q = *x->p++;
        if (q != '"' && q != '\'') return (x->err = "unquoted attribute"), -1;
        const char *v = x->p;
        if (xml_chars(x, q)) return -1;
        if (x->p >= x->end) return (x->err = "eof in attribute"), -1;
        size_t vlen = (size_t)(x->p - v);
        x->p++;
        if (is_poly && alen == 11 && !strncmp(an, "data-series", 11) && vlen < 32)
            memcpy(pl.series, v, vlen), pl.series[vlen] = '\0';
        if (is_poly && alen == 8 && !strncmp(an, "data-run", 8) && vlen < 32)
            memcpy(pl.run, v, vlen), pl.run[vlen] = '\0';
        if (is_poly && alen == 6 && !strncmp(an, "points", 6)) {
            pl.points = 0;
            for (size_t i = 0; i < vlen; i++)
                if (v[i] == ',') pl.points++;
        }
    }
    if (is_poly && x->n_polys < 32) x->polys[x->n_polys++] = pl;
    if (*x->p == '/') {
        x->p += 2;
        return 0;
    }
    x->p++;
    return xml_content(x, name, nlen);
}

int svg_check(const char *doc, size_t len, svg_doc *x)
{
    memset(x, 0, sizeof *x);
    x->p = doc;
    x->end = doc + len;
    if (!strncmp(x->p, "<?xml", 5)) {
        const char *e = strstr(x->p, "?>");
        if (!e) return -1;
        x->p = e + 2;
    }
    xml_skip_ws(x);
    if (strncmp(x->p, "<svg", 4)) return (x->err = "root is not svg"), -1;
    if (xml_element(x)) return -1;
    xml_skip_ws(x);
    if (x->p != x->end) return (x->err = "content after the root"), -1;
    return 0;
}

int svg_get(srv *s, const char *path, svg_doc *x, hresp *r)
{
    long st = http_do(s, "GET", path, NULL, NULL, 0, NULL, r);
    memset(x, 0, sizeof *x);
    if (st != 200) {
        fprintf(stderr, "%s: %ld %s\n", path, st, r->body);
        return -1;
    }
    if (!strstr(r->content_type, "image/svg+xml")) {
        fprintf(stderr, "%s: Content-Type %s\n", path, r->content_type);
        return -1;
    }
    if (svg_check(r->body, r->len, x)) {
        fprintf(stderr, "%s: not well-formed: %s at offset %ld\n", path, x->err,
                (long)(x->p - r->body));
        return -1;
    }
    return 0;
}
