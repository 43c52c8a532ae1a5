/* libmicrohttpd glue.
 *
 * One thread per connection (MHD_USE_THREAD_PER_CONNECTION): a non-streamed
 * generation blocks in the request handler, a streamed one in the response's
 * content-reader callback; both pull scheduler events in short slices and
 * between them poll the socket for POLLRDHUP, so a client that hangs up
 * during a long prefill frees its slot at once (lmx_job_cancel) instead of
 * when the first byte fails to send.
 *
 * Each request has a `req` (MHD's con_cls): its body, and what its log line
 * needs. It is reference-counted because a streamed response's reader state
 * can outlive MHD's completion callback or the other way round. */
#include "server/http/http.h"
#include "server/http/routes.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/http/metrics.h"
#include "util/api_err.h"
#include "util/clock.h"
#include "util/log.h"

#define SLICE_MS 100 /* event wait between hang-up checks */

struct lmx_http {
    lmx_http_opts o;
    struct MHD_Daemon *d;
    int port;
    atomic_int inflight;
    atomic_bool draining, aborting;
};

struct lmx_req {
    atomic_int refs;
    lmx_http *h;
    struct MHD_Connection *conn;
    double t0;
    char method[16], path[256], model[128];
    char allow[64]; /* a 405's Allow header */
    lmx_err_style style;
    int status;
    bool stream, too_big;
    lmx_buf body;
    int prompt_tokens, completion_tokens, cached_tokens;
    double queue_ms, prefill_ms;
    const char *api; /* the matched route's path (metrics label), NULL: none */
    char served[128]; /* the model that generated, "" if none */
    bool started;     /* a first token was due: queue_ms + prefill_ms is its latency */
    /* lmx_reply_header: one extra header, name and value */
    char xhdr[2][128];
};
typedef struct lmx_req req;

static void req_release(req *r) {
    if (atomic_fetch_sub(&r->refs, 1) == 1) {
        lmx_buf_free(&r->body);
        free(r);
    }
}

/* True when the client closed its end (or the socket failed). */
static bool hung_up(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static void add_cors(struct MHD_Response *resp) {
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", "Retry-After");
}

void lmx_reply_header(lmx_req *r, const char *name, const char *value) {
    snprintf(r->xhdr[0], sizeof r->xhdr[0], "%s", name);
    snprintf(r->xhdr[1], sizeof r->xhdr[1], "%s", value);
}

static enum MHD_Result send_body(req *r, int status, const char *ctype, char *body, size_t n) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (ctype) MHD_add_response_header(resp, "Content-Type", ctype);
    if (r->xhdr[0][0]) MHD_add_response_header(resp, r->xhdr[0], r->xhdr[1]);
    add_cors(resp);
    if (atomic_load(&r->h->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = status;
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* ---- the request, for handlers ---- */

lmx_app *lmx_req_app(lmx_req *r) {
    return r->h->o.app;
}
const char *lmx_req_method(lmx_req *r) {
    return r->method;
}
const char *lmx_req_path(lmx_req *r) {
    return r->path;
}
const char *lmx_req_header(lmx_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}
const char *lmx_req_query(lmx_req *r, const char *key) {
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

bool lmx_req_loopback(lmx_req *r) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return false;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a)) return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

json_t *lmx_req_json(lmx_req *r, bool empty_ok, lmx_api_err *e) {
    e->status = 0;
    if (r->too_big) {
        lmx_err_set(e, 413, "invalid_request_error", "request_too_large", NULL,
                    "The request body is larger than the limit of %zu bytes.", r->h->o.app->max_body);
        return NULL;
    }
    if (empty_ok && r->body.n == 0) return NULL;
    json_error_t je;
    json_t *body = json_loadb(r->body.p ? r->body.p : "", r->body.n, 0, &je);
    if (!body)
        lmx_err_bad(e, NULL,
                    "We could not parse the JSON body of your request: %s (line %d, column %d). "
                    "The API expects a JSON payload.",
                    je.text, je.line, je.column);
    return body;
}

void lmx_req_set_model(lmx_req *r, const char *model) {
    snprintf(r->model, sizeof r->model, "%s", model ? model : "");
}

void lmx_req_account(lmx_req *r, const lmx_gen *g) {
    r->prompt_tokens = g->prompt_tokens;
    r->completion_tokens = g->completion_tokens;
    r->cached_tokens = g->cached_tokens;
    r->queue_ms = g->queue_ms;
    r->prefill_ms = g->prefill_ms;
    r->started = g->prompt_tokens > 0 || g->queue_ms + g->prefill_ms > 0;
    if (g->s) snprintf(r->served, sizeof r->served, "%s", g->s->name);
}

/* ---- answers ---- */

int lmx_reply_json(lmx_req *r, int status, json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return MHD_NO;
    return send_body(r, status, "application/json", s, strlen(s));
}

int lmx_reply_text(lmx_req *r, int status, const char *ctype, const char *text) {
    char *s = strdup(text);
    if (!s) return MHD_NO;
    return send_body(r, status, ctype, s, strlen(s));
}

int lmx_reply_empty(lmx_req *r, int status) {
    return send_body(r, status, NULL, NULL, 0);
}

int lmx_reply_err(lmx_req *r, const lmx_api_err *e) {
    json_t *o = lmx_err_json_style(e, r->style);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    add_cors(resp);
    if (e->retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", e->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (e->status == 405 && r->allow[0]) MHD_add_response_header(resp, "Allow", r->allow);
    if (atomic_load(&r->h->draining) || e->status == 413)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = e->status;
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)e->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* ---- streamed bodies ---- */

typedef struct {
    lmx_req *r;
    lmx_stream_ops ops;
    void *st;
    lmx_buf out;
    bool finished, hung;
    double last_out, last_check;
} stream_state;

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_state *ss = cls;
    lmx_http *h = ss->r->h;
    for (;;) {
        if (lmx_buf_unread(&ss->out)) {
            ss->last_out = lmx_now_s();
            return (ssize_t)lmx_buf_take(&ss->out, buf, max);
        }
        if (ss->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        size_t before = ss->out.n;
        ss->finished = !ss->ops.next(ss->st, &ss->out, SLICE_MS);
        if (ss->finished) continue;
        bool idle = ss->out.n == before;
        /* check the socket when idle, and every slice while bytes flow */
        if (idle || lmx_now_s() - ss->last_check >= SLICE_MS / 1000.0) {
            ss->last_check = lmx_now_s();
            if (hung_up(ss->r->conn)) {
                ss->hung = true;
                if (ss->ops.hangup) ss->ops.hangup(ss->st);
                ss->r->status = 499;
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            if (atomic_load(&h->aborting) && ss->ops.hangup) ss->ops.hangup(ss->st);
        }
        if (idle && ss->ops.keepalive &&
            lmx_now_s() - ss->last_out >= h->o.app->keepalive_ms / 1000.0) {
            ss->ops.keepalive(ss->st, &ss->out);
            ss->last_out = lmx_now_s();
        }
    }
}

static void stream_free(void *cls) {
    stream_state *ss = cls;
    if (ss->ops.free) ss->ops.free(ss->st);
    lmx_buf_free(&ss->out);
    req_release(ss->r);
    free(ss);
}

int lmx_reply_stream(lmx_req *r, const char *ctype, const lmx_stream_ops *ops, void *st) {
    stream_state *ss = calloc(1, sizeof *ss);
    if (!ss) {
        if (ops->free) ops->free(st);
        return MHD_NO;
    }
    ss->r = r;
    ss->ops = *ops;
    ss->st = st;
    ss->last_out = ss->last_check = lmx_now_s();
    atomic_fetch_add(&r->refs, 1);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                  stream_reader, ss, stream_free);
    if (!resp) {
        stream_free(ss);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    add_cors(resp);
    r->status = 200;
    r->stream = true;
    enum MHD_Result ok = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* ---- generations ---- */

typedef struct {
    lmx_req *r;
    lmx_gen *g;
    const lmx_gen_fmt *fmt;
    bool ended;
} gen_stream;

static void gen_error(lmx_req *r, const lmx_gen *g, lmx_api_err *e) {
    if (atomic_load(&r->h->aborting))
        lmx_err_set(e, 503, "server_error", "shutting_down", NULL,
                    "The server shut down before the generation finished.");
    else
        lmx_err_set(e, 500, "server_error", NULL, NULL, "Generation failed: %s", g->err);
}

static bool gen_next(void *st, lmx_buf *out, int timeout_ms) {
    gen_stream *gs = st;
    lmx_gen *g = gs->g;
    if (gs->ended) return false;
    lmx_event ev;
    int job;
    lmx_event_type t = lmx_gen_next(g, &ev, &job, timeout_ms);
    if (t == LMX_EV_NONE) return true;
    if (t == LMX_EV_ERROR) {
        snprintf(g->err, sizeof g->err, "%s", ev.message);
        lmx_api_err e;
        gen_error(gs->r, g, &e);
        gs->fmt->stream_error(g, &e, out);
        gs->ended = true;
    } else {
        gs->fmt->stream_event(g, job, &ev, out);
        if (lmx_gen_done(g)) {
            gs->fmt->stream_event(g, -1, NULL, out);
            gs->ended = true;
        }
    }
    lmx_event_clear(&ev);
    lmx_req_account(gs->r, g);
    return !gs->ended;
}

static void gen_hangup(void *st) {
    lmx_gen_cancel(((gen_stream *)st)->g);
}

static void gen_keepalive(void *st, lmx_buf *out) {
    (void)st;
    lmx_sse_keepalive(out);
}

static void gen_free(void *st) {
    gen_stream *gs = st;
    lmx_req_account(gs->r, gs->g);
    lmx_gen_free(gs->g);
    free(gs);
}

static int run_blocking(lmx_req *r, lmx_gen *g, const lmx_gen_fmt *fmt) {
    double last_check = lmx_now_s();
    while (!lmx_gen_done(g)) {
        lmx_event ev;
        int job;
        lmx_event_type t = lmx_gen_next(g, &ev, &job, SLICE_MS);
        lmx_event_clear(&ev);
        /* check the socket when idle, and every slice while events flow */
        if (t != LMX_EV_NONE && lmx_now_s() - last_check < SLICE_MS / 1000.0) continue;
        last_check = lmx_now_s();
        if (hung_up(r->conn)) {
            lmx_gen_cancel(g);
            lmx_req_account(r, g);
            lmx_gen_free(g);
            r->status = 499;
            return MHD_NO;
        }
        if (atomic_load(&r->h->aborting)) lmx_gen_cancel(g);
    }
    lmx_req_account(r, g);
    int ok;
    if (g->failed) {
        lmx_api_err e;
        gen_error(r, g, &e);
        ok = lmx_reply_err(r, &e);
    } else {
        ok = lmx_reply_json(r, 200, fmt->response(g));
    }
    lmx_gen_free(g);
    return ok;
}

int lmx_reply_gen(lmx_req *r, lmx_gen *g, const lmx_gen_fmt *fmt, bool stream) {
    if (!stream) return run_blocking(r, g, fmt);
    gen_stream *gs = calloc(1, sizeof *gs);
    if (!gs) {
        lmx_gen_free(g);
        return MHD_NO;
    }
    gs->r = r;
    gs->g = g;
    gs->fmt = fmt;
    lmx_stream_ops ops = {.next = gen_next,
                          .hangup = gen_hangup,
                          .keepalive = fmt->sse_keepalive ? gen_keepalive : NULL,
                          .free = gen_free};
    return lmx_reply_stream(r, fmt->stream_ctype, &ops, gs);
}

/* ---- routing ---- */

/* Constant-time comparison, so a key cannot be guessed byte by byte from timing. */
static bool key_equal(const char *given, const char *key) {
    size_t n = strlen(key), g = strlen(given);
    unsigned char d = (unsigned char)(n != g);
    for (size_t i = 0; i < n; i++) d |= (unsigned char)(key[i] ^ (i < g ? given[i] : 0));
    return d == 0;
}

/* The key a client presented: Authorization: Bearer, x-api-key (Anthropic's
 * clients) or, for admin routes, X-Admin-Key. */
static const char *presented_key(lmx_req *r, bool admin) {
    const char *k;
    if (admin && (k = lmx_req_header(r, "X-Admin-Key"))) return k;
    const char *a = lmx_req_header(r, "Authorization");
    if (a && !strncasecmp(a, "Bearer ", 7)) return a + 7;
    if ((k = lmx_req_header(r, "x-api-key"))) return k;
    return NULL;
}

static bool authorized(lmx_req *r, lmx_access access, lmx_api_err *e) {
    const lmx_app *app = r->h->o.app;
    if (access == LMX_ACCESS_PUBLIC) return true;
    if (access == LMX_ACCESS_ADMIN) {
        if (!app->admin_key || !*app->admin_key) {
            if (lmx_req_loopback(r)) return true;
            lmx_err_set(e, 403, "permission_error", "admin_forbidden", NULL,
                        "The admin API answers only loopback clients unless an admin key is "
                        "configured (--admin-key or LMX_ADMIN_KEY).");
            return false;
        }
        const char *k = presented_key(r, true);
        if (k && key_equal(k, app->admin_key)) return true;
        lmx_err_set(e, 401, "invalid_request_error", "invalid_admin_key", NULL,
                    "Missing or incorrect admin key. Pass it as 'X-Admin-Key: KEY' or "
                    "'Authorization: Bearer KEY'.");
        return false;
    }
    if (!app->api_key || !*app->api_key) return true;
    const char *k = presented_key(r, false);
    if (k && key_equal(k, app->api_key)) return true;
    lmx_err_set(e, 401, "invalid_request_error", "invalid_api_key", NULL,
                "Incorrect API key provided. Pass it as 'Authorization: Bearer KEY'.");
    return false;
}

static bool path_matches(const lmx_route *rt, const char *p, const char **rest) {
    size_t n = strlen(rt->path);
    if (n == 1) { /* "/" itself is exact: the root, not a prefix of everything */
        *rest = "";
        return !strcmp(p, "/");
    }
    if (rt->path[n - 1] == '/') {
        if (strncmp(p, rt->path, n) || !p[n]) return false;
        *rest = p + n;
        return true;
    }
    *rest = "";
    return !strcmp(p, rt->path);
}

static bool method_matches(const char *want, const char *m) {
    return !strcmp(want, m) || (!strcmp(want, "GET") && !strcmp(m, "HEAD"));
}

static enum MHD_Result route(lmx_req *r) {
    lmx_api_err e = {0};
    const char *m = r->method, *p = r->path;
    if (!strcmp(m, "OPTIONS")) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        add_cors(resp);
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
        const char *rh = lmx_req_header(r, "Access-Control-Request-Headers");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                rh ? rh : "Authorization, Content-Type");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
        r->status = 204;
        enum MHD_Result ok = MHD_queue_response(r->conn, 204, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    const lmx_route *hit = NULL, *path_hit = NULL;
    const char *rest = "";
    size_t n_allow = 0;
    for (const lmx_route *rt = lmx_routes; rt->path; rt++) {
        const char *rs;
        if (!path_matches(rt, p, &rs)) continue;
        if (!path_hit) path_hit = rt;
        if (method_matches(rt->method, m)) {
            hit = rt;
            rest = rs;
            break;
        }
        if (!strstr(r->allow, rt->method))
            n_allow += (size_t)snprintf(r->allow + n_allow, sizeof r->allow - n_allow, "%s, ",
                                        rt->method);
        if (n_allow >= sizeof r->allow) n_allow = sizeof r->allow - 1;
    }
    if (n_allow < sizeof r->allow) snprintf(r->allow + n_allow, sizeof r->allow - n_allow, "OPTIONS");
    r->style = hit ? hit->style : path_hit ? path_hit->style : LMX_ERRS_OPENAI;
    /* an unknown route under /api/ is an Ollama client's (LM Studio's are /api/v0, /api/v1):
     * answer in Ollama's shape, which its client prints (OpenAI's shows as [object Object]) */
    if (!path_hit && !strncmp(p, "/api/", 5) && strncmp(p, "/api/v0/", 8) &&
        strncmp(p, "/api/v1/", 8))
        r->style = LMX_ERRS_OLLAMA;
    r->api = hit ? hit->path : path_hit ? path_hit->path : NULL;
    if (atomic_load(&r->h->draining)) {
        lmx_err_set(&e, 503, "server_error", "shutting_down", NULL, "The server is shutting down.");
        return lmx_reply_err(r, &e);
    }
    if (!path_hit) {
        lmx_err_set(&e, 404, "invalid_request_error", "unknown_url", NULL,
                    "Unknown request URL: %s %s. Please check the URL for typos.", m, p);
        return lmx_reply_err(r, &e);
    }
    if (!authorized(r, hit ? hit->access : path_hit->access, &e)) return lmx_reply_err(r, &e);
    if (!hit) {
        lmx_err_set(&e, 405, "invalid_request_error", "method_not_allowed", NULL,
                    "Method %s is not allowed for %s.", m, p);
        return lmx_reply_err(r, &e);
    }
    return hit->fn(r, rest);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
    (void)version;
    lmx_http *h = cls;
    req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        atomic_init(&r->refs, 1);
        r->h = h;
        r->conn = c;
        r->t0 = lmx_now_s();
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", url);
        atomic_fetch_add(&h->inflight, 1);
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > h->o.app->max_body) {
            lmx_api_err e;
            lmx_err_set(&e, 413, "invalid_request_error", "request_too_large", NULL,
                        "The request body (%s bytes) is larger than the limit of %zu bytes.", cl,
                        h->o.app->max_body);
            return lmx_reply_err(r, &e);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->too_big || r->body.n + *upload_size > h->o.app->max_body) {
            r->too_big = true;
        } else if (!lmx_buf_add(&r->body, upload, *upload_size)) {
            return MHD_NO;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return route(r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode term) {
    (void)c;
    lmx_http *h = cls;
    req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    if (term != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status < 400) r->status = 499;
    json_t *f = json_pack("{s:s,s:s,s:i,s:I}", "method", r->method, "path", r->path, "status",
                          r->status ? r->status : 500, "duration_us",
                          (json_int_t)((lmx_now_s() - r->t0) * 1e6));
    if (r->model[0]) json_object_set_new(f, "model", json_string(r->model));
    if (r->prompt_tokens || r->completion_tokens) {
        json_object_set_new(f, "prompt_tokens", json_integer(r->prompt_tokens));
        json_object_set_new(f, "completion_tokens", json_integer(r->completion_tokens));
        json_object_set_new(f, "cached_tokens", json_integer(r->cached_tokens));
        json_object_set_new(f, "queue_ms", json_real(r->queue_ms));
        json_object_set_new(f, "prefill_ms", json_real(r->prefill_ms));
    }
    if (r->stream) json_object_set_new(f, "stream", json_true());
    lmx_log("info", "request", f);
    lmx_metrics_req mq = {.api = r->api,
                          .model = r->model,
                          .served = r->served,
                          .status = r->status ? r->status : 500,
                          .duration_s = lmx_now_s() - r->t0,
                          .prompt_tokens = r->prompt_tokens,
                          .completion_tokens = r->completion_tokens,
                          .ttft_s = r->started ? (r->queue_ms + r->prefill_ms) / 1000.0 : -1};
    lmx_metrics_observe(&mq);
    req_release(r);
    atomic_fetch_sub(&h->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    lmx_log("warn", msg, json_pack("{s:s}", "source", "libmicrohttpd"));
}

lmx_http *lmx_http_start(const lmx_http_opts *o, char *err, size_t errlen) {
    lmx_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->o = *o;
    if (h->o.app->keepalive_ms <= 0) h->o.app->keepalive_ms = 2000;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    int rc = getaddrinfo(o->host, port, &hints, &ai);
    if (rc || !ai) {
        snprintf(err, errlen, "cannot resolve host '%s': %s", o->host, gai_strerror(rc));
        free(h);
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, handler, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_NOTIFY_COMPLETED, completed, h,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)128 * 1024, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(o->max_connections > 0 ? o->max_connections : 256), MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d) {
        snprintf(err, errlen, "cannot listen on %s:%d (address in use or not available)", o->host,
                 o->port);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : o->port;
    return h;
}

int lmx_http_port(const lmx_http *h) {
    return h->port;
}

void lmx_http_quiesce(lmx_http *h) {
    atomic_store(&h->draining, true);
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

bool lmx_http_wait_idle(lmx_http *h, double timeout_s) {
    double t0 = lmx_now_s();
    while (atomic_load(&h->inflight) > 0) {
        if (lmx_now_s() - t0 >= timeout_s) return false;
        usleep(20 * 1000);
    }
    return true;
}

void lmx_http_abort(lmx_http *h) {
    atomic_store(&h->aborting, true);
}

void lmx_http_stop(lmx_http *h) {
    if (!h) return;
    MHD_stop_daemon(h->d);
    free(h);
}
