/* The HTTP daemon (libmicrohttpd, http.c), and what an endpoint module sees
 * of a request and how it answers.
 *
 * Every API (server/api/) is a set of handlers listed in routes.c's table. A
 * handler reads the request through lmx_req_* and answers exactly once with
 * an lmx_reply_* call, whose return value it returns. Errors are rendered in
 * the shape of the API the route belongs to (core/error.h), so a refusal
 * looks native to its client. */
#ifndef LMX_SRV_HTTP_HTTP_H
#define LMX_SRV_HTTP_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/core/app.h"
#include "server/core/error.h"
#include "server/core/gen.h"
#include "server/http/sse.h"
#include "util/api_err.h"
#include "util/buf.h"

/* ---- the daemon ---- */
typedef struct {
    const char *host;   /* numeric address or "localhost" */
    int port;           /* 0: any free port */
    int idle_timeout_s; /* idle keep-alive connections are closed after this */
    /* connections (conn_guard.h); 0: the defaults */
    int max_connections, reserved_connections, max_per_peer;
    const char *trusted_proxies;
    double header_timeout_s;
    long body_min_rate;
    int threads, workers; /* event-loop threads; handler threads at most */
    lmx_app *app; /* not owned: models, keys, body limit */
} lmx_http_opts;

typedef struct lmx_http lmx_http;

lmx_http *lmx_http_start(const lmx_http_opts *o, char *err, size_t errlen);
int lmx_http_port(const lmx_http *h);
/* Stops accepting connections; requests arriving on open ones get 503. */
void lmx_http_quiesce(lmx_http *h);
/* Waits until no request is in flight; false on timeout. */
bool lmx_http_wait_idle(lmx_http *h, double timeout_s);
/* Cuts every in-flight generation short. */
void lmx_http_abort(lmx_http *h);
void lmx_http_stop(lmx_http *h);

typedef struct lmx_req lmx_req;

/* A handler: routes.c's table points at them, each API module's header
 * declares its own (`lmx_handler_fn lmx_h_a, lmx_h_b;`). `rest` is what
 * follows a prefix route's path ("" for exact ones). */
typedef int lmx_handler_fn(lmx_req *r, const char *rest);
typedef lmx_handler_fn *lmx_handler;
/* Defines handler `name` as fn(r, ...): routes that share one body and
 * differ by its arguments. */
#define LMX_HANDLER_CALL(name, fn, ...)                                                            \
    int name(lmx_req *r, const char *rest) {                                                       \
        (void)rest;                                                                                \
        return fn(r, __VA_ARGS__);                                                                 \
    }

/* ---- the request ---- */
lmx_app *lmx_req_app(lmx_req *r);
const char *lmx_req_method(lmx_req *r);
const char *lmx_req_path(lmx_req *r);
const char *lmx_req_header(lmx_req *r, const char *name);
const char *lmx_req_query(lmx_req *r, const char *key); /* URL query argument or NULL */
bool lmx_req_loopback(lmx_req *r);                      /* the peer is 127.0.0.0/8 or ::1 */
/* The server is draining (SIGTERM): a stream with no end of its own (agent
 * run events) closes so shutdown need not wait for it. */
bool lmx_req_draining(lmx_req *r);
/* The body parsed as JSON (new reference), or NULL with e set: 413 when it
 * exceeded the limit, 400 naming the parse error otherwise. An empty body
 * parses as NULL with e->status 0 when empty_ok. */
json_t *lmx_req_json(lmx_req *r, bool empty_ok, lmx_api_err *e);
/* The client went away (or the server is aborting); callable from any
 * thread while the handler runs. */
bool lmx_req_hung_up(lmx_req *r);
/* Names the model in the request's log line. */
void lmx_req_set_model(lmx_req *r, const char *model);
/* Usage figures for the log line (and metrics). */
void lmx_req_account(lmx_req *r, const lmx_gen *g);

/* ---- the answer ---- */
int lmx_reply_json(lmx_req *r, int status, json_t *body); /* steals body */
int lmx_reply_text(lmx_req *r, int status, const char *ctype, const char *text);
int lmx_reply_err(lmx_req *r, const lmx_api_err *e);
/* One extra header on the answer the handler sends next (Idempotent-Replayed). */
void lmx_reply_header(lmx_req *r, const char *name, const char *value);
/* 101 Switching Protocols to WebSocket (accept: Sec-WebSocket-Accept). Once
 * the switch is done, start(cls, fd, handle, extra, n_extra) gets the socket
 * (extra: bytes the client sent after its headers); it must return soon and
 * hand the socket back with lmx_upgrade_close(handle) when finished. */
int lmx_reply_upgrade(lmx_req *r, const char *accept,
                      void (*start)(void *cls, int fd, void *handle, const char *extra,
                                    size_t n_extra),
                      void *cls);
void lmx_upgrade_close(void *handle);
/* 201/204 and friends: no body. */
int lmx_reply_empty(lmx_req *r, int status);

/* A body produced piece by piece. `next` appends what is ready to out,
 * waiting at most timeout_ms, and returns false once the body is complete
 * (after appending its last bytes). `hangup` is called when the client went
 * away or the server is aborting; `keepalive` (may be NULL) appends bytes
 * that keep an idle stream open; `free` runs when the response is done. */
typedef struct {
    bool (*next)(void *st, lmx_buf *out, int timeout_ms);
    void (*hangup)(void *st);
    void (*keepalive)(void *st, lmx_buf *out);
    void (*free)(void *st);
} lmx_stream_ops;
int lmx_reply_stream(lmx_req *r, const char *ctype, const lmx_stream_ops *ops, void *st);

/* How one API encodes a generation. */
typedef struct {
    const char *stream_ctype; /* "text/event-stream", "application/x-ndjson" */
    /* Appends the stream bytes for one event of job `job`; ev NULL: after the
     * last event (closing chunks). */
    void (*stream_event)(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out);
    /* Appends an in-stream error (the generation failed after headers went out). */
    void (*stream_error)(lmx_gen *g, const lmx_api_err *e, lmx_buf *out);
    /* The whole body of a finished, non-streamed generation (new reference). */
    json_t *(*response)(lmx_gen *g);
    bool sse_keepalive; /* send ': keep-alive' comments while waiting */
} lmx_gen_fmt;

/* Runs g to the end: streamed with fmt's encoder when stream, else answered
 * with fmt->response. Takes g (frees it). */
int lmx_reply_gen(lmx_req *r, lmx_gen *g, const lmx_gen_fmt *fmt, bool stream);
/* Runs g to the end without answering (a server-side loop runs several
 * generations): true, or false with e set (e->status 499: the client went
 * away). The caller still owns g. */
bool lmx_req_gen_run(lmx_req *r, lmx_gen *g, lmx_api_err *e);

#endif
