/* libmicrohttpd glue.
 *
 * An event loop, not a thread per connection: MHD's epoll mode with a pool
 * of http.threads threads parses and writes for every connection, so
 * thousands of idle keep-alive connections cost a descriptor and a little
 * memory each, and no thread. Those threads never run a handler that may
 * block: once a request's body is in, its connection is suspended and the
 * handler runs on a worker thread (workers.h), which leaves the answer in the
 * request and resumes the connection; MHD then calls handler() again, which
 * queues it. Only the probes (/health, /healthz, /readyz) and refusals are
 * answered on the loop itself.
 *
 * A streamed body is fed by the worker that ran its handler (the "pump"): it
 * pulls events in short slices into the stream's buffer, polls the socket for
 * POLLRDHUP between them (a client that hangs up during a long prefill frees
 * its slot at once) and resumes the connection when there are bytes; the
 * content reader, on the loop, takes bytes or suspends the connection.
 *
 * Connection admission, per-peer caps, the reserve and the request-head
 * deadlines are conn_guard.h's; this file reports each connection's life to it.
 *
 * Each request has a `req` (MHD's con_cls): its body, and what its log line
 * needs. It is reference-counted because a streamed response's reader state
 * and a worker can outlive MHD's completion callback or the other way round. */
#include "server/http/http.h"
#include "server/http/routes.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/http/metrics.h"
#include "util/api_err.h"
#include "server/core/tenancy.h"
#include "server/http/tls.h"
#include "trace/trace.h"
#include "server/http/conn_guard.h"
#include "server/http/workers.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/zalloc.h"

#define SLICE_MS 100 /* event wait between hang-up checks */

struct lmx_http {
    lmx_http_opts o;
    struct MHD_Daemon *d;
    int port;
    atomic_int inflight;
    atomic_bool draining, aborting;
    lmx_guard *guard;
    lmx_workers *workers;
};

typedef struct stream_state stream_state;

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
    const char *api;  /* the matched route's path (metrics label), NULL: none */
    char served[128]; /* the model that generated, "" if none */
    bool started;     /* a first token was due: queue_ms + prefill_ms is its latency */
    lmx_conn *gc;     /* the connection's guard record */
    /* a handler on a worker: the answer waits here until the loop queues it */
    const lmx_route *hit;
    const char *rest;
    bool deferred, resumed;
    struct MHD_Response *pending;
    unsigned pending_status;
    int result;          /* the handler's MHD_YES / MHD_NO */
    stream_state *pump;  /* a streamed answer the worker feeds */
    lmx_caller caller;   /* tenant, client, admission (tenancy.h); tenant "" until authorized */
    char cert_cn[64];    /* mTLS: the verified client certificate's common name */
    lmx_trace_ctx trace; /* trace_id: the caller's or new; span_id: this request's span */
    uint8_t parent[8];   /* the caller's span (has_parent) */
    bool has_parent;
    double t_submit, t_end; /* monotonic: jobs submitted, last event (0: no generation) */
    /* lmx_reply_header: one extra header, name and value */
    char xhdr[2][128];
};
typedef struct lmx_req req;

static void req_release(req *r) {
    if (atomic_fetch_sub(&r->refs, 1) == 1) {
        if (r->pending) MHD_destroy_response(r->pending);
        lmx_buf_free(&r->body);
        free(r);
    }
}

/* Queues resp now (on the loop) or leaves it for the loop (on a worker). */
static enum MHD_Result deliver(req *r, unsigned status, struct MHD_Response *resp) {
    if (r->gc && lmx_conn_is_reserve(r->gc))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (r->deferred) {
        if (r->pending) MHD_destroy_response(r->pending);
        r->pending = resp;
        r->pending_status = status;
        return MHD_YES;
    }
    enum MHD_Result ok = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* True when the client closed its end (or the socket failed). */
static bool hung_up(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

bool lmx_req_hung_up(lmx_req *r) {
    return hung_up(r->conn) || atomic_load(&r->h->aborting);
}

static void add_cors(struct MHD_Response *resp) {
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                            "Retry-After, x-ratelimit-limit-requests, "
                            "x-ratelimit-remaining-requests, x-ratelimit-reset-requests, "
                            "x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, "
                            "x-ratelimit-reset-tokens");
}

/* One limit's x-ratelimit-{limit,remaining,reset}-WHAT headers (none
 * without a limit). */
static void rate_headers(struct MHD_Response *resp, const char *what, long limit, long left,
                         long reset) {
    if (limit <= 0) return;
    static const char *const kind[] = {"limit", "remaining", "reset"};
    const long val[] = {limit, left, reset};
    for (int i = 0; i < 3; i++) {
        char h[48], v[32];
        snprintf(h, sizeof h, "x-ratelimit-%s-%s", kind[i], what);
        snprintf(v, sizeof v, "%ld%s", val[i], i == 2 ? "s" : ""); /* the reset in seconds */
        MHD_add_response_header(resp, h, v);
    }
}

/* OpenAI's x-ratelimit-* headers, for a tenant with request or token
 * quotas; and the trace context naming this request's span. */
static void add_ratelimit(const req *r, struct MHD_Response *resp) {
    const lmx_caller *c = &r->caller;
    char v[64];
    lmx_trace_format(&r->trace, v, sizeof v);
    MHD_add_response_header(resp, "traceparent", v);
    if (!c->tenant[0]) return;
    rate_headers(resp, "requests", c->rl_req_limit, c->rl_req_left, c->rl_req_reset);
    rate_headers(resp, "tokens", c->rl_tok_limit, c->rl_tok_left, c->rl_tok_reset);
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
    add_ratelimit(r, resp);
    if (atomic_load(&r->h->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = status;
    return deliver(r, (unsigned)status, resp);
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

bool lmx_req_draining(lmx_req *r) {
    return atomic_load(&r->h->draining);
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
                    "The request body is larger than the limit of %zu bytes.",
                    r->h->o.app->max_body);
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
    r->t_submit = g->t_submit;
    r->t_end = lmx_now_s();
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
    add_ratelimit(r, resp);
    if (e->retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", e->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (e->status == 405 && r->allow[0]) MHD_add_response_header(resp, "Allow", r->allow);
    if (atomic_load(&r->h->draining) || e->status == 413)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = e->status;
    return deliver(r, (unsigned)e->status, resp);
}

/* ---- WebSocket upgrade ---- */

typedef struct {
    void (*start)(void *cls, int fd, void *handle, const char *extra, size_t n_extra);
    void *cls;
} upgrade_ctx;

static void upgraded(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra,
                     size_t n_extra, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
    (void)c, (void)con_cls;
    upgrade_ctx *u = cls;
    u->start(u->cls, sock, urh, extra, n_extra);
    free(u);
}

int lmx_reply_upgrade(lmx_req *r, const char *accept,
                      void (*start)(void *cls, int fd, void *handle, const char *extra,
                                    size_t n_extra),
                      void *cls) {
    upgrade_ctx *u = malloc(sizeof *u);
    struct MHD_Response *resp = u ? MHD_create_response_for_upgrade(upgraded, u) : NULL;
    if (!resp) {
        free(u);
        free(cls);
        return MHD_NO;
    }
    u->start = start;
    u->cls = cls;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    add_ratelimit(r, resp);
    r->status = 101;
    return deliver(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}

void lmx_upgrade_close(void *handle) {
    MHD_upgrade_action(handle, MHD_UPGRADE_ACTION_CLOSE);
}

/* The request's work is done: its in-flight slot and tokens go back to the
 * tenancy now, not when libmicrohttpd notes the connection's end — a bot
 * that sends its next request the moment it has read [DONE] must not find
 * its previous one still counted. Idempotent; completed() calls it too. */
static void caller_release(req *r) {
    lmx_tenancy *t = r->h->o.app->tenancy;
    if (t && r->caller.counted)
        lmx_tenancy_finish(t, &r->caller, r->prompt_tokens, r->completion_tokens, r->status);
}

/* ---- streamed bodies ---- */

/* A streamed body. The pump (a worker) and MHD's response each hold a
 * reference; mu guards out and the flags, which both sides read. */
struct stream_state {
    lmx_req *r;
    lmx_stream_ops ops;
    void *st;
    atomic_int refs;
    pthread_mutex_t mu;
    lmx_buf out;
    bool finished, hung;
    bool suspended; /* the reader suspended the connection: the pump resumes it */
    bool closed;    /* MHD let the response go: the connection may be gone */
    double last_out, last_check;
};

static void stream_release(stream_state *ss) {
    if (atomic_fetch_sub(&ss->refs, 1) != 1) return;
    if (ss->ops.free) ss->ops.free(ss->st);
    lmx_buf_free(&ss->out);
    pthread_mutex_destroy(&ss->mu);
    req_release(ss->r);
    free(ss);
}

/* On the loop: bytes if there are, else the end, else suspend until the pump
 * has more (returning 0 with the connection suspended is MHD's way to wait). */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_state *ss = cls;
    ssize_t n;
    pthread_mutex_lock(&ss->mu);
    if (lmx_buf_unread(&ss->out)) {
        n = (ssize_t)lmx_buf_take(&ss->out, buf, max);
    } else if (ss->hung) {
        ss->r->status = 499;
        n = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (ss->finished) {
        caller_release(ss->r);
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        ss->suspended = true;
        MHD_suspend_connection(ss->r->conn);
        n = 0;
    }
    pthread_mutex_unlock(&ss->mu);
    return n;
}

static void stream_closed(void *cls) {
    stream_state *ss = cls;
    pthread_mutex_lock(&ss->mu);
    ss->closed = true;
    pthread_mutex_unlock(&ss->mu);
    stream_release(ss);
}

/* Wakes the reader when it waits. ss->mu held. */
static void stream_wake(stream_state *ss) {
    if (ss->suspended && !ss->closed) {
        ss->suspended = false;
        MHD_resume_connection(ss->r->conn);
    }
}

/* On the worker: feeds the stream until it ends, the client hangs up or MHD
 * drops the response. */
static void stream_pump(stream_state *ss) {
    lmx_http *h = ss->r->h;
    lmx_buf tmp = {0};
    for (;;) {
        pthread_mutex_lock(&ss->mu);
        bool closed = ss->closed;
        pthread_mutex_unlock(&ss->mu);
        if (closed) { /* the client went away while bytes were being written */
            if (ss->ops.hangup) ss->ops.hangup(ss->st);
            break;
        }
        bool more = ss->ops.next(ss->st, &tmp, SLICE_MS);
        bool idle = lmx_buf_unread(&tmp) == 0, hung = false;
        double now = lmx_now_s();
        /* check the socket when idle, and every slice while bytes flow */
        if (more && (idle || now - ss->last_check >= SLICE_MS / 1000.0)) {
            ss->last_check = now;
            pthread_mutex_lock(&ss->mu);
            hung = !ss->closed && hung_up(ss->r->conn);
            pthread_mutex_unlock(&ss->mu);
            if (hung && ss->ops.hangup) ss->ops.hangup(ss->st);
            if (atomic_load(&h->aborting) && ss->ops.hangup) ss->ops.hangup(ss->st);
        }
        if (more && !hung && idle && ss->ops.keepalive &&
            now - ss->last_out >= h->o.app->keepalive_ms / 1000.0) {
            ss->ops.keepalive(ss->st, &tmp);
            idle = false;
        }
        if (!idle) ss->last_out = now;
        pthread_mutex_lock(&ss->mu);
        if (!idle) {
            size_t k = lmx_buf_unread(&tmp);
            lmx_buf_add(&ss->out, tmp.p + tmp.off, k);
            tmp.off = tmp.n = 0;
        }
        if (!more) ss->finished = true;
        if (hung) ss->hung = true;
        if (!idle || !more || hung) stream_wake(ss);
        pthread_mutex_unlock(&ss->mu);
        if (!more || hung) break;
    }
    lmx_buf_free(&tmp);
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
    pthread_mutex_init(&ss->mu, NULL);
    atomic_init(&ss->refs, 1); /* MHD's, released by stream_closed */
    atomic_fetch_add(&r->refs, 1);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                  stream_reader, ss, stream_closed);
    if (!resp) {
        stream_closed(ss);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    add_cors(resp);
    add_ratelimit(r, resp);
    r->status = 200;
    r->stream = true;
    /* the worker that ran the handler feeds it (the handler always runs on one) */
    atomic_fetch_add(&ss->refs, 1);
    r->pump = ss;
    return deliver(r, 200, resp);
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

bool lmx_req_gen_run(lmx_req *r, lmx_gen *g, lmx_api_err *e) {
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
            lmx_err_set(e, 499, "server_error", NULL, NULL, "The client went away.");
            return false;
        }
        if (atomic_load(&r->h->aborting)) lmx_gen_cancel(g);
    }
    lmx_req_account(r, g);
    if (!g->failed) return true;
    gen_error(r, g, e);
    return false;
}

static int run_blocking(lmx_req *r, lmx_gen *g, const lmx_gen_fmt *fmt) {
    lmx_api_err e = {0};
    bool done = lmx_req_gen_run(r, g, &e);
    caller_release(r);
    json_t *out = done ? fmt->response(g) : NULL;
    lmx_gen_free(g);
    if (out) return lmx_reply_json(r, 200, out);
    if (e.status == 499) {
        r->status = 499;
        return MHD_NO;
    }
    return lmx_reply_err(r, &e);
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
        if (app->admin_local_only && !lmx_req_loopback(r)) {
            lmx_err_set(e, 403, "permission_error", "admin_forbidden", NULL,
                        "The admin API is not served on the public listener under the internet "
                        "profile; use it from the machine itself.");
            return false;
        }
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
    const char *k = presented_key(r, false);
    if (r->cert_cn[0] && !k) { /* mTLS: the verified certificate names the tenant */
        snprintf(r->caller.tenant, sizeof r->caller.tenant, "%s", r->cert_cn);
        return true;
    }
    if (app->tenancy) { /* tenants' keys (and the single api_key, as tenant "default") */
        if (!lmx_tenancy_keys_required(app->tenancy)) {
            snprintf(r->caller.tenant, sizeof r->caller.tenant, "default");
            return true;
        }
        if (k && lmx_tenancy_key_tenant(app->tenancy, k, r->caller.tenant, sizeof r->caller.tenant))
            return true;
    } else {
        if (!app->api_key || !*app->api_key) return true;
        if (k && key_equal(k, app->api_key)) return true;
    }
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

/* mTLS: every request needs a client certificate the CA signed. */
static bool client_cert(lmx_req *r, lmx_api_err *e) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    char why[256] = "";
    int rc =
        lmx_tls_peer(ci ? ci->tls_session : NULL, r->cert_cn, sizeof r->cert_cn, why, sizeof why);
    if (rc == 1) return true;
    if (rc == 0)
        lmx_err_set(e, 401, "invalid_request_error", "client_certificate_required", NULL,
                    "This server requires a client certificate signed by its CA (mTLS).");
    else
        lmx_err_set(e, 401, "invalid_request_error", "invalid_client_certificate", NULL,
                    "The client certificate was not accepted: %s", why);
    return false;
}

/* The caller's client id and, for a POST (work, not a listing), its
 * admission against quotas and in-flight caps. */
static bool admit(lmx_req *r, lmx_tenancy *t, lmx_api_err *e) {
    char peer[64] = "";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, peer, sizeof peer);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, peer, sizeof peer);
    }
    bool post = !strcmp(r->method, "POST");
    json_t *body = NULL;
    if (post && r->body.n && !r->too_big && !lmx_req_header(r, "x-openclaw-agent-id") &&
        !lmx_req_header(r, "x-openclaw-session-key"))
        body = json_loadb(r->body.p, r->body.n, 0, NULL);
    lmx_tenancy_identify(t, &r->caller, peer, lmx_req_header(r, "X-Forwarded-For"),
                         lmx_req_header(r, "Forwarded"), lmx_req_header(r, "x-openclaw-agent-id"),
                         lmx_req_header(r, "x-openclaw-session-key"), body);
    json_decref(body);
    const char *prio = lmx_req_header(r, "x-lmx-priority");
    r->caller.prio = (prio && !strcasecmp(prio, "batch")) || strstr(r->path, "embed") ? 1 : 0;
    return !post || lmx_tenancy_admit(t, &r->caller, e);
}

/* Answered on the event loop itself: the public routes are the health
 * probes (/health, /healthz, /readyz), cheap, and they must answer when every
 * worker is busy. */
static bool runs_inline(const lmx_route *rt) {
    return rt->access == LMX_ACCESS_PUBLIC;
}

/* What a reserve connection (accepted beyond the general limit) may ask. */
static bool reserve_route(const lmx_route *rt) {
    return runs_inline(rt) || rt->access == LMX_ACCESS_ADMIN;
}

static void run_on_worker(void *arg);

/* The handler with the request's identity and trace context set for the
 * thread (tenancy.h, trace.h): generation start reads them synchronously. */
static int call_handler(req *r, const lmx_route *hit, const char *rest) {
    lmx_tenancy *t = r->h->o.app->tenancy;
    bool fleet = t && hit->access == LMX_ACCESS_API && r->caller.tenant[0];
    lmx_trace_current = &r->trace;
    if (fleet) {
        lmx_caller_current = &r->caller;
        lmx_tenancy_current = t;
    }
    int ok = hit->fn(r, rest);
    lmx_caller_current = NULL;
    lmx_tenancy_current = NULL;
    lmx_trace_current = NULL;
    return ok;
}

/* A decoded NUL or control byte in the path would cut or bend the name a
 * handler sees (%00 truncates it): the raw path is checked before decoding. */
static bool raw_path_has_control(const char *uri) {
    for (const char *p = uri; *p && *p != '?'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f) return true;
        if (c == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            int v = (int)strtol((char[]){p[1], p[2], 0}, NULL, 16);
            if (v < 0x20 || v == 0x7f) return true;
        }
    }
    return false;
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
            n_allow +=
                (size_t)snprintf(r->allow + n_allow, sizeof r->allow - n_allow, "%s, ", rt->method);
        if (n_allow >= sizeof r->allow) n_allow = sizeof r->allow - 1;
    }
    if (n_allow < sizeof r->allow)
        snprintf(r->allow + n_allow, sizeof r->allow - n_allow, "OPTIONS");
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
    if (lmx_tls_ca_pem() && !client_cert(r, &e)) return lmx_reply_err(r, &e);
    if (!path_hit) {
        lmx_err_set(&e, 404, "invalid_request_error", "unknown_url", NULL,
                    "Unknown request URL: %s %s. Please check the URL for typos.", m, p);
        return lmx_reply_err(r, &e);
    }
    if (r->gc && lmx_conn_is_reserve(r->gc) && !(hit ? reserve_route(hit) : false)) {
        lmx_err_set(&e, 503, "server_error", "connection_limit", NULL,
                    "The server is at its connection limit (http.max_connections); this "
                    "connection may only reach /health, /readyz and the admin API.");
        e.retry_after = 1;
        return lmx_reply_err(r, &e);
    }
    if (!authorized(r, hit ? hit->access : path_hit->access, &e)) return lmx_reply_err(r, &e);
    if (!hit) {
        lmx_err_set(&e, 405, "invalid_request_error", "method_not_allowed", NULL,
                    "Method %s is not allowed for %s.", m, p);
        return lmx_reply_err(r, &e);
    }
    lmx_tenancy *t = r->h->o.app->tenancy;
    if (t && hit->access == LMX_ACCESS_API && r->caller.tenant[0] && !admit(r, t, &e))
        return lmx_reply_err(r, &e);
    if (runs_inline(hit)) return call_handler(r, hit, rest);
    /* off the loop: suspend, let a worker run it, queue its answer on resume */
    r->hit = hit;
    r->rest = rest;
    r->deferred = true;
    atomic_fetch_add(&r->refs, 1);
    MHD_suspend_connection(r->conn);
    if (!lmx_workers_submit(r->h->workers, run_on_worker, r, hit->access == LMX_ACCESS_ADMIN)) {
        MHD_resume_connection(r->conn);
        r->deferred = false;
        req_release(r);
        lmx_err_set(&e, 503, "server_error", NULL, NULL, "Out of threads to handle the request.");
        e.retry_after = 1;
        return lmx_reply_err(r, &e);
    }
    return MHD_YES;
}

/* On a worker: the handler, then its answer back to the loop, then (for a
 * stream) the pump. */
static void run_on_worker(void *arg) {
    req *r = arg;
    r->result = call_handler(r, r->hit, r->rest);
    stream_state *ss = r->pump;
    r->pump = NULL;
    r->resumed = true;
    if (ss && (r->result != MHD_YES || !r->pending)) { /* never queued: nothing to feed */
        stream_release(ss);
        ss = NULL;
    }
    MHD_resume_connection(r->conn); /* r->conn is MHD's again from here */
    if (ss) {
        stream_pump(ss);
        stream_release(ss);
    }
    req_release(r);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
    (void)version;
    lmx_http *h = cls;
    req *r = *con_cls;
    if (r && r->resumed) { /* back from a worker: queue its answer */
        r->resumed = false;
        r->deferred = false;
        struct MHD_Response *resp = r->pending;
        r->pending = NULL;
        if (!resp || r->result != MHD_YES) {
            if (resp) MHD_destroy_response(resp);
            return MHD_NO;
        }
        enum MHD_Result ok = MHD_queue_response(c, r->pending_status, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        atomic_init(&r->refs, 1);
        r->h = h;
        r->conn = c;
        r->t0 = lmx_now_s();
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->gc = ci ? ci->socket_context : NULL;
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", url);
        lmx_trace_ctx in;
        if (lmx_trace_parse(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent"), &in)) {
            r->trace = in;
            memcpy(r->parent, in.span_id, 8);
            r->has_parent = true;
        }
        lmx_trace_new_ids(&r->trace, !r->has_parent);
        atomic_fetch_add(&h->inflight, 1);
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
        lmx_guard_head_done(h->guard, r->gc, (cl && strtoull(cl, NULL, 10) > 0) || te);
        if (r->gc && lmx_conn_bad_path(r->gc)) {
            lmx_api_err e;
            lmx_err_set(&e, 400, "invalid_request_error", "invalid_path", NULL,
                        "The request path holds a NUL or control byte (decoded from %%XX); "
                        "such a path names nothing.");
            return lmx_reply_err(r, &e);
        }
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
        lmx_guard_body(h->guard, r->gc, *upload_size);
        if (r->too_big || r->body.n + *upload_size > h->o.app->max_body) {
            r->too_big = true;
        } else if (!lmx_buf_add(&r->body, upload, *upload_size)) {
            return MHD_NO;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    lmx_guard_body_done(h->guard, r->gc);
    return route(r);
}

/* The request's spans: the request itself, and for a generation its queue
 * wait, prefill and decode, as children. */
static void trace_spans(const req *r) {
    uint64_t t0 = lmx_trace_mono_to_ns(r->t0), end = lmx_trace_now_ns();
    lmx_trace_attr a[] = {{"http.request.method", r->method, 0},
                          {"url.path", r->path, 0},
                          {"http.response.status_code", NULL, r->status},
                          {"gen_ai.request.model", r->model, 0},
                          {"gen_ai.usage.input_tokens", NULL, r->prompt_tokens},
                          {"gen_ai.usage.output_tokens", NULL, r->completion_tokens},
                          {"lmx.tenant", r->caller.tenant, 0},
                          {"lmx.client", r->caller.client, 0}};
    lmx_trace_span(r->trace.trace_id, r->trace.span_id, r->has_parent ? r->parent : NULL, "request",
                   t0, end, r->status >= 500, a, 8);
    if (!r->t_submit || !r->started) return;
    uint64_t q0 = lmx_trace_mono_to_ns(r->t_submit), q1 = q0 + (uint64_t)(r->queue_ms * 1e6),
             p1 = q1 + (uint64_t)(r->prefill_ms * 1e6), d1 = lmx_trace_mono_to_ns(r->t_end);
    lmx_trace_ctx s = r->trace;
    lmx_trace_attr n_prompt = {"gen_ai.usage.input_tokens", NULL, r->prompt_tokens},
                   n_out = {"gen_ai.usage.output_tokens", NULL, r->completion_tokens};
    lmx_trace_new_ids(&s, false);
    lmx_trace_span(s.trace_id, s.span_id, r->trace.span_id, "queue", q0, q1, false, NULL, 0);
    lmx_trace_new_ids(&s, false);
    lmx_trace_span(s.trace_id, s.span_id, r->trace.span_id, "prefill", q1, p1, false, &n_prompt, 1);
    lmx_trace_new_ids(&s, false);
    lmx_trace_span(s.trace_id, s.span_id, r->trace.span_id, "decode", p1, d1 > p1 ? d1 : p1, false,
                   &n_out, 1);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode term) {
    (void)c;
    lmx_http *h = cls;
    req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    lmx_guard_request_done(h->guard, r->gc);
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
    if (r->caller.client[0]) {
        json_object_set_new(f, "tenant", json_string(r->caller.tenant));
        json_object_set_new(f, "client", json_string(r->caller.client));
    }
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
    if (lmx_trace_enabled()) trace_spans(r);
    if (h->o.app->tenancy && r->caller.tenant[0])
        lmx_tenancy_finish(h->o.app->tenancy, &r->caller, r->prompt_tokens, r->completion_tokens,
                           r->status);
    req_release(r);
    atomic_fetch_sub(&h->inflight, 1);
}

/* ---- connections: conn_guard.h's view of them ---- */

static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t len) {
    (void)len;
    lmx_http *h = cls;
    return lmx_guard_admit(h->guard, addr) ? MHD_YES : MHD_NO;
}

static void conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode code) {
    lmx_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context =
            lmx_guard_open(h->guard, ai ? ai->client_addr : NULL, fi ? fi->connect_fd : -1);
    } else {
        lmx_guard_close(h->guard, *socket_context);
        *socket_context = NULL;
    }
}

/* Called with the raw request line's URI, before any decoding. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *c) {
    lmx_http *h = cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    lmx_guard_request_line(h->guard, ci ? ci->socket_context : NULL, raw_path_has_control(uri));
    return NULL;
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
    lmx_http *h = lmx_zalloc(sizeof *h, err, errlen);
    if (!h) return NULL;
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
    int max_conns = o->max_connections > 0 ? o->max_connections : 4096;
    int n_threads = o->threads > 0 ? o->threads : 4;
    lmx_guard_opts go = {.max_conns = max_conns,
                         .reserve = o->reserved_connections,
                         .per_peer = o->max_per_peer,
                         .trusted = o->trusted_proxies,
                         .header_timeout = o->header_timeout_s > 0 ? o->header_timeout_s : 10,
                         .idle_timeout = o->idle_timeout_s,
                         .body_min_rate = o->body_min_rate};
    h->guard = lmx_guard_create(&go, err, errlen);
    h->workers = h->guard ? lmx_workers_create(o->workers > 0 ? o->workers : 512, 16) : NULL;
    if (!h->guard || !h->workers) {
        if (h->guard && !h->workers) snprintf(err, errlen, "out of memory");
        lmx_guard_destroy(h->guard);
        freeaddrinfo(ai);
        free(h);
        return NULL;
    }
    /* epoll with a thread pool: an event loop, suspend/resume for handlers
     * that wait (and room for TLS and upgraded connections on the same daemon) */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_UPGRADE;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    /* TLS (tls.h): the certificate comes from a callback, so a reload swaps it live */
    struct MHD_OptionItem tls_opts[3] = {
        {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
    if (lmx_tls_enabled()) {
        flags |= MHD_USE_TLS;
        tls_opts[0] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0, lmx_tls_cert_callback()};
        if (lmx_tls_ca_pem())
            tls_opts[1] =
                (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, (void *)lmx_tls_ca_pem()};
    }
    /* the guard holds the real limits; MHD's own (split between its threads)
     * only has to stay out of their way */
    unsigned mhd_limit = (unsigned)(max_conns + o->reserved_connections + 16) * (unsigned)n_threads;
    h->d = MHD_start_daemon(
        flags, (uint16_t)o->port, accept_policy, h, handler, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_NOTIFY_COMPLETED, completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, conn_notify, h, MHD_OPTION_URI_LOG_CALLBACK, uri_seen, h,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)n_threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)o->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)128 * 1024,
        MHD_OPTION_CONNECTION_LIMIT, mhd_limit, MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u,
        MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d) {
        snprintf(err, errlen, "cannot listen on %s:%d (address in use or not available)", o->host,
                 o->port);
        lmx_workers_destroy(h->workers);
        lmx_guard_destroy(h->guard);
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
    /* every handler and pump ends (generations were cut short by abort) and
     * resumes its connection first: MHD refuses to stop with suspended ones */
    atomic_store(&h->aborting, true);
    lmx_workers_destroy(h->workers);
    MHD_stop_daemon(h->d);
    lmx_guard_destroy(h->guard);
    free(h);
}
