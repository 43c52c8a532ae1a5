/* The WebSocket endpoint (GET /v1/realtime): chat completions and Responses
 * requested and streamed as JSON text frames, many at once on one socket.
 *
 * Client → server:
 *   {"type": "response.create", "id": "r1", "request": {chat completion body}}
 *   {"type": "response.create", "id": "r2", "response": {Responses body}}
 *   {"type": "response.cancel", "id": "r1"}
 * Server → client, a chat:
 *   {"type": "response.created", "id": "r1"}
 *   {"type": "response.delta", "id": "r1", "data": {chat.completion.chunk}}
 * a Responses request: each event of the SSE /v1/responses stream, as is
 * plus the request's "id" (response.created, response.output_text.delta, ...,
 * response.completed | response.failed);
 * then, for both:
 *   {"type": "response.done", "id": "r1", "status": "completed" | "cancelled" | "failed"}
 * and for a refused request:
 *   {"type": "error", "id": "r1", "status": 429, "retry_after": 3, "error": {OpenAI error}}
 *
 * The upgrade is authorized like any API request (key, mTLS); each
 * response.create is admitted like an HTTP request (quotas, the client's
 * in-flight cap, queue_full with Retry-After as retry_after). One thread per
 * socket runs the session: it reads frames, answers pings, and pulls every
 * running generation's events without waiting on any one of them; it pings
 * an idle client every 15 s. A client that goes away cancels its requests. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "manager/manager.h"
#include "server/api/openai_api.h"
#include "server/api/responses_api.h"
#include "server/api/ws_api.h"
#include "server/core/request.h"
#include "server/core/tenancy.h"
#include "server/http/ws.h"
#include "trace/trace.h"
#include "util/clock.h"
#include "util/grow.h"

#define MAX_ACTIVE 16 /* requests running at once on one socket */
#define PING_S     15

typedef struct {
    char id[64];
    lmx_gen *g;
    lmx_caller caller;
    bool cancelled;
    bool responses; /* a Responses request: its events are lmx_fmt_responses' */
} wreq;

typedef struct {
    lmx_app *app;
    lmx_caller caller; /* the upgrade request's identity, copied per request */
    lmx_trace_ctx trace;
    int fd;
    void *urh;
    uint8_t *in;
    size_t n_in, cap_in;
    lmx_buf msg; /* a fragmented text message being assembled */
    bool in_msg; /* msg has a first fragment */
    lmx_buf out;
    wreq req[MAX_ACTIVE];
    double last_rx, last_ping;
    bool closing;
} session;

static atomic_int n_sessions;
static atomic_bool stopping;

static bool flush_out(session *ss) {
    while (lmx_buf_unread(&ss->out)) {
        const char *p = ss->out.p + ss->out.off;
        ssize_t w = send(ss->fd, p, lmx_buf_unread(&ss->out), MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            struct pollfd pf = {.fd = ss->fd, .events = POLLOUT};
            if (poll(&pf, 1, 5000) <= 0) return false;
            continue;
        }
        if (w <= 0) return false;
        ss->out.off += (size_t)w;
    }
    ss->out.n = ss->out.off = 0;
    return true;
}

static void send_json(session *ss, json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return;
    lmx_ws_encode(&ss->out, LMX_WS_TEXT, s, strlen(s));
    free(s);
}

static void send_error(session *ss, const char *id, const lmx_api_err *e) {
    json_t *full = lmx_err_json(e); /* {"error": {...}}: its member goes in the frame */
    json_t *o = json_pack("{s:s,s:s,s:i,s:O}", "type", "error", "id", id, "status", e->status,
                          "error", json_object_get(full, "error"));
    json_decref(full);
    if (e->retry_after) json_object_set_new(o, "retry_after", json_integer(e->retry_after));
    send_json(ss, o);
}

static void finish(session *ss, wreq *w, const char *status) {
    send_json(ss,
              json_pack("{s:s,s:s,s:s}", "type", "response.done", "id", w->id, "status", status));
    lmx_tenancy *t = ss->app->tenancy;
    if (t) lmx_tenancy_finish(t, &w->caller, w->g->prompt_tokens, w->g->completion_tokens, 200);
    lmx_gen_free(w->g);
    w->g = NULL;
}

/* The SSE bytes an encoder wrote, as response.delta frames. */
static void sse_to_frames(session *ss, const char *id, lmx_buf *sse) {
    char *p = sse->p, *end = sse->p + sse->n;
    while (p && p < end) {
        char *nl = memmem(p, (size_t)(end - p), "\n\n", 2);
        if (!nl) break;
        if (!strncmp(p, "data: ", 6) && strncmp(p + 6, "[DONE]", 6)) {
            json_t *d = json_loadb(p + 6, (size_t)(nl - p - 6), 0, NULL);
            if (d)
                send_json(
                    ss, json_pack("{s:s,s:s,s:o}", "type", "response.delta", "id", id, "data", d));
        }
        p = nl + 2;
    }
    sse->n = sse->off = 0;
}

/* The SSE events of a Responses stream ("event: T\ndata: {...}\n\n"), as
 * frames: each event object with the request's id added. */
static void events_to_frames(session *ss, const char *id, lmx_buf *sse) {
    char *p = sse->p, *end = sse->p + sse->n;
    while (p && p < end) {
        char *nl = memmem(p, (size_t)(end - p), "\n\n", 2);
        if (!nl) break;
        char *data = memmem(p, (size_t)(nl - p), "data: ", 6);
        json_t *d = data ? json_loadb(data + 6, (size_t)(nl - data - 6), 0, NULL) : NULL;
        if (json_is_object(d)) {
            json_object_set_new(d, "id", json_string(id));
            send_json(ss, d);
        } else {
            json_decref(d);
        }
        p = nl + 2;
    }
    sse->n = sse->off = 0;
}

static void create(session *ss, const char *id, json_t *body, bool responses) {
    lmx_api_err e = {0};
    wreq *w = NULL;
    for (int i = 0; i < MAX_ACTIVE; i++) {
        if (ss->req[i].g && !strcmp(ss->req[i].id, id)) {
            lmx_err_bad(&e, "id", "A request with id '%s' is already running on this socket.", id);
            return send_error(ss, id, &e);
        }
        if (!w && !ss->req[i].g) w = &ss->req[i];
    }
    if (!w) {
        lmx_err_set(&e, 429, "rate_limit_error", "rate_limited", NULL,
                    "%d requests are already running on this socket; wait for one to finish.",
                    MAX_ACTIVE);
        e.retry_after = 1;
        return send_error(ss, id, &e);
    }
    if (!json_is_object(body)) {
        if (responses)
            lmx_err_bad(&e, "response", "'response' must be a Responses request object.");
        else
            lmx_err_bad(&e, "request", "'request' must be a chat completion request object.");
        return send_error(ss, id, &e);
    }
    lmx_caller c = ss->caller;
    c.counted = false;
    c.refused = NULL;
    lmx_tenancy *t = ss->app->tenancy;
    if (t && !lmx_tenancy_admit(t, &c, &e)) return send_error(ss, id, &e);
    void *rstate = NULL;
    json_t *chat = responses ? lmx_responses_begin(ss->app, body, &rstate, &e) : json_incref(body);
    if (!chat) {
        if (t) lmx_tenancy_finish(t, &c, 0, 0, e.status);
        return send_error(ss, id, &e);
    }
    json_object_set_new(chat, "stream", json_true());
    lmx_oai_req q;
    lmx_gen *g = NULL;
    if (!lmx_oai_parse(chat, LMX_OAI_CHAT, &q, &e)) {
        lmx_served *s = lmx_mgr_acquire(ss->app->mgr, q.model, &e);
        lmx_caller_current = &c;
        lmx_tenancy_current = t;
        lmx_trace_current = &ss->trace;
        if (s) g = lmx_oai_start(s, LMX_OAI_CHAT, &q, &e);
        lmx_caller_current = NULL;
        lmx_tenancy_current = NULL;
        lmx_trace_current = NULL;
    }
    lmx_oai_req_free(&q);
    json_decref(chat);
    if (!g) {
        lmx_responses_state_free(rstate);
        if (t) lmx_tenancy_finish(t, &c, 0, 0, e.status);
        return send_error(ss, id, &e);
    }
    memset(w, 0, sizeof *w);
    snprintf(w->id, sizeof w->id, "%s", id);
    w->g = g;
    w->caller = c;
    w->responses = responses;
    if (responses) { /* its own response.created, response.in_progress */
        lmx_buf sse = {0};
        lmx_responses_attach(g, rstate, &sse);
        events_to_frames(ss, id, &sse);
        lmx_buf_free(&sse);
    } else {
        send_json(ss, json_pack("{s:s,s:s}", "type", "response.created", "id", id));
    }
}

static void on_message(session *ss, const char *text, size_t n) {
    json_error_t je;
    json_t *m = json_loadb(text, n, 0, &je);
    lmx_api_err e = {0};
    const char *type = json_string_value(json_object_get(m, "type"));
    const char *id = json_string_value(json_object_get(m, "id"));
    if (!m || !type) {
        lmx_err_bad(&e, NULL, "Each message must be a JSON object with a 'type'%s%s.",
                    m ? "" : ": ", m ? "" : je.text);
        send_error(ss, id ? id : "", &e);
    } else if (!id || !*id || strlen(id) >= 64) {
        lmx_err_bad(&e, "id", "'id' must be a non-empty string of under 64 characters.");
        send_error(ss, "", &e);
    } else if (!strcmp(type, "response.create")) {
        json_t *rq = json_object_get(m, "request"), *rs = json_object_get(m, "response");
        if (rq && rs) {
            lmx_err_bad(&e, "response",
                        "Give 'request' (a chat completion) or 'response' (a Responses request), "
                        "not both.");
            send_error(ss, id, &e);
        } else {
            create(ss, id, rs ? rs : rq, rs != NULL);
        }
    } else if (!strcmp(type, "response.cancel")) {
        bool found = false;
        for (int i = 0; i < MAX_ACTIVE; i++)
            if (ss->req[i].g && !strcmp(ss->req[i].id, id)) {
                lmx_gen_cancel(ss->req[i].g);
                ss->req[i].cancelled = found = true;
            }
        if (!found) {
            lmx_err_set(&e, 404, "invalid_request_error", "not_found", "id",
                        "No request with id '%s' is running on this socket.", id);
            send_error(ss, id, &e);
        }
    } else {
        lmx_err_bad(&e, "type", "Unknown message type '%s' (response.create, response.cancel).",
                    type);
        send_error(ss, id, &e);
    }
    json_decref(m);
}

static void close_frame(session *ss, int code, const char *why) {
    uint8_t b[128] = {(uint8_t)(code >> 8), (uint8_t)code};
    size_t n = strlen(why) < 120 ? strlen(why) : 120;
    memcpy(b + 2, why, n);
    lmx_ws_encode(&ss->out, LMX_WS_CLOSE, b, 2 + n);
    ss->closing = true;
}

/* Decodes what arrived; false when the connection must end. */
static bool read_frames(session *ss) {
    size_t max = atomic_load(&ss->app->max_body);
    for (;;) {
        lmx_ws_frame f;
        const char *why = NULL;
        long k = lmx_ws_decode(ss->in, ss->n_in, max, &f, &why);
        if (k == 0) return true;
        if (k < 0) {
            close_frame(ss, !strcmp(why, "message too big") ? 1009 : 1002, why);
            return false;
        }
        if (f.opcode == LMX_WS_PING)
            lmx_ws_encode(&ss->out, LMX_WS_PONG, f.payload, f.len);
        else if (f.opcode == LMX_WS_CLOSE) {
            close_frame(ss, 1000, "bye");
            return false;
        } else if (f.opcode == LMX_WS_TEXT || f.opcode == LMX_WS_CONT ||
                   f.opcode == LMX_WS_BINARY) {
            if ((f.opcode == LMX_WS_CONT) != ss->in_msg) {
                close_frame(ss, 1002, "unexpected continuation");
                return false;
            }
            if (ss->msg.n + f.len > max) {
                close_frame(ss, 1009, "message too big");
                return false;
            }
            lmx_buf_add(&ss->msg, f.payload, f.len);
            ss->in_msg = !f.fin;
            if (f.fin) {
                on_message(ss, ss->msg.p ? ss->msg.p : "", ss->msg.n);
                lmx_buf_free(&ss->msg);
                memset(&ss->msg, 0, sizeof ss->msg);
            }
        }
        memmove(ss->in, ss->in + k, ss->n_in - (size_t)k);
        ss->n_in -= (size_t)k;
    }
}

/* Pulls every running request's ready events into frames. */
static bool pump(session *ss) {
    bool any = false;
    lmx_buf sse = {0};
    for (int i = 0; i < MAX_ACTIVE; i++) {
        wreq *w = &ss->req[i];
        if (!w->g) continue;
        any = true;
        for (int k = 0; k < 64 && w->g; k++) {
            lmx_event ev;
            int job;
            lmx_event_type t = lmx_gen_next(w->g, &ev, &job, 0);
            if (t == LMX_EV_NONE) break;
            if (t == LMX_EV_ERROR) {
                bool cancelled = w->cancelled;
                if (!cancelled) {
                    lmx_api_err e;
                    lmx_err_set(&e, 500, "server_error", NULL, NULL, "Generation failed: %s",
                                ev.message);
                    if (w->responses) { /* the Responses stream's own response.failed */
                        lmx_fmt_responses.stream_error(w->g, &e, &sse);
                        events_to_frames(ss, w->id, &sse);
                    } else {
                        send_error(ss, w->id, &e);
                    }
                }
                lmx_event_clear(&ev);
                finish(ss, w, cancelled ? "cancelled" : "failed");
                break;
            }
            const lmx_gen_fmt *fmt = w->responses ? &lmx_fmt_responses : &lmx_fmt_chat;
            fmt->stream_event(w->g, job, &ev, &sse);
            lmx_event_clear(&ev);
            if (lmx_gen_done(w->g)) fmt->stream_event(w->g, -1, NULL, &sse);
            if (w->responses)
                events_to_frames(ss, w->id, &sse);
            else
                sse_to_frames(ss, w->id, &sse);
            if (lmx_gen_done(w->g)) finish(ss, w, w->cancelled ? "cancelled" : "completed");
        }
    }
    lmx_buf_free(&sse);
    return any;
}

static void *session_main(void *arg) {
    session *ss = arg;
    ss->last_rx = ss->last_ping = lmx_now_s();
    while (!ss->closing && !atomic_load(&stopping)) {
        bool busy = false;
        for (int i = 0; i < MAX_ACTIVE; i++) busy |= ss->req[i].g != NULL;
        struct pollfd pf = {.fd = ss->fd, .events = POLLIN};
        int pr = poll(&pf, 1, busy ? 5 : 250);
        if (pr > 0) {
            if (!lmx_grow(&ss->in, &ss->cap_in, ss->n_in + 65536, 1, 131072)) break;
            ssize_t r = recv(ss->fd, ss->in + ss->n_in, ss->cap_in - ss->n_in, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) break; /* gone */
            if (r > 0) {
                ss->n_in += (size_t)r;
                ss->last_rx = lmx_now_s();
                if (!read_frames(ss)) {
                    flush_out(ss);
                    break;
                }
            }
        }
        pump(ss);
        if (lmx_now_s() - ss->last_ping >= PING_S && lmx_now_s() - ss->last_rx >= PING_S) {
            lmx_ws_encode(&ss->out, LMX_WS_PING, "lmx", 3);
            ss->last_ping = lmx_now_s();
        }
        if (!flush_out(ss)) break;
    }
    if (atomic_load(&stopping) && !ss->closing) {
        close_frame(ss, 1001, "server shutting down");
        flush_out(ss);
    }
    for (int i = 0; i < MAX_ACTIVE; i++)
        if (ss->req[i].g) { /* the client left: its requests stop */
            lmx_gen_cancel(ss->req[i].g);
            lmx_tenancy *t = ss->app->tenancy;
            if (t)
                lmx_tenancy_finish(t, &ss->req[i].caller, ss->req[i].g->prompt_tokens,
                                   ss->req[i].g->completion_tokens, 499);
            lmx_gen_free(ss->req[i].g);
        }
    lmx_upgrade_close(ss->urh);
    free(ss->in);
    lmx_buf_free(&ss->msg);
    lmx_buf_free(&ss->out);
    free(ss);
    atomic_fetch_sub(&n_sessions, 1);
    return NULL;
}

static void start(void *cls, int fd, void *urh, const char *extra, size_t n_extra) {
    session *ss = cls;
    ss->fd = fd;
    ss->urh = urh;
    if (n_extra) {
        ss->in = malloc(n_extra + 131072);
        if (ss->in) {
            memcpy(ss->in, extra, n_extra);
            ss->n_in = n_extra;
            ss->cap_in = n_extra + 131072;
        }
    }
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    atomic_fetch_add(&n_sessions, 1);
    if (pthread_create(&th, &at, session_main, ss)) {
        atomic_fetch_sub(&n_sessions, 1);
        lmx_upgrade_close(urh);
        free(ss->in);
        free(ss);
    }
    pthread_attr_destroy(&at);
}

static bool has_token(const char *h, const char *tok) {
    if (!h) return false;
    size_t n = strlen(tok);
    for (const char *p = h; (p = strcasestr(p, tok)); p += n) {
        bool left = p == h || p[-1] == ' ' || p[-1] == ',';
        bool right = !p[n] || p[n] == ' ' || p[n] == ',';
        if (left && right) return true;
    }
    return false;
}

int lmx_h_realtime(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e = {0};
    const char *key = lmx_req_header(r, "Sec-WebSocket-Key");
    const char *ver = lmx_req_header(r, "Sec-WebSocket-Version");
    if (!has_token(lmx_req_header(r, "Upgrade"), "websocket") ||
        !has_token(lmx_req_header(r, "Connection"), "upgrade") || !key || strlen(key) > 64) {
        lmx_err_set(&e, 426, "invalid_request_error", "upgrade_required", NULL,
                    "This endpoint speaks WebSocket (RFC 6455): send 'Upgrade: websocket', "
                    "'Connection: Upgrade' and a Sec-WebSocket-Key.");
        return lmx_reply_err(r, &e);
    }
    if (!ver || strcmp(ver, "13")) {
        lmx_err_set(&e, 426, "invalid_request_error", "upgrade_required", NULL,
                    "Only WebSocket version 13 is supported.");
        return lmx_reply_err(r, &e);
    }
    if (atomic_load(&stopping)) {
        lmx_err_set(&e, 503, "server_error", "shutting_down", NULL, "The server is shutting down.");
        return lmx_reply_err(r, &e);
    }
    session *ss = calloc(1, sizeof *ss);
    if (!ss) {
        lmx_err_set(&e, 500, "server_error", NULL, NULL, "out of memory");
        return lmx_reply_err(r, &e);
    }
    ss->app = lmx_req_app(r);
    if (lmx_caller_current)
        ss->caller = *lmx_caller_current;
    else
        snprintf(ss->caller.tenant, sizeof ss->caller.tenant, "default");
    if (lmx_trace_current) ss->trace = *lmx_trace_current;
    char accept[32];
    lmx_ws_accept_key(key, accept, sizeof accept);
    return lmx_reply_upgrade(r, accept, start, ss);
}

void lmx_ws_shutdown(double timeout_s) {
    atomic_store(&stopping, true);
    double t0 = lmx_now_s();
    while (atomic_load(&n_sessions) > 0 && lmx_now_s() - t0 < timeout_s) usleep(10 * 1000);
}
