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
#include "server/http.h"

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

#include "server/errors.h"
#include "server/log.h"
#include "server/openai.h"
#include "server/openai_params.h"
#include "util/clock.h"

#define SLICE_MS 100 /* event wait between hang-up checks */

struct lmx_http {
    lmx_http_opts o;
    struct MHD_Daemon *d;
    int port;
    atomic_int inflight;
    atomic_bool draining, aborting;
};

typedef struct {
    atomic_int refs;
    lmx_http *h;
    struct MHD_Connection *conn;
    double t0;
    char method[16], path[256], model[128];
    int status;
    bool stream, too_big;
    char *body;
    size_t n_body, cap;
    int prompt_tokens, completion_tokens, cached_tokens;
    double queue_ms, prefill_ms;
} req;

typedef struct {
    req *r;
    lmx_gen *g;
    lmx_buf out;
    bool finished;
    double last_out, last_check;
} stream_state;

static void req_release(req *r) {
    if (atomic_fetch_sub(&r->refs, 1) == 1) {
        free(r->body);
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

static enum MHD_Result send_body(req *r, int status, const char *ctype, char *body, size_t n) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (ctype) MHD_add_response_header(resp, "Content-Type", ctype);
    add_cors(resp);
    if (atomic_load(&r->h->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = status;
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result send_json(req *r, int status, json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return MHD_NO;
    return send_body(r, status, "application/json", s, strlen(s));
}

static enum MHD_Result send_err(req *r, const lmx_api_err *e) {
    json_t *o = lmx_err_json(e);
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
    if (e->status == 405)
        MHD_add_response_header(resp, "Allow",
                                r->path[4] == 'm' ? "GET, OPTIONS" : "POST, OPTIONS");
    if (atomic_load(&r->h->draining) || e->status == 413)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = e->status;
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)e->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* ---- models ---- */

static lmx_served *find_model(lmx_http *h, const char *name, lmx_api_err *e) {
    for (int i = 0; i < h->o.n_models; i++)
        if (!strcmp(h->o.models[i]->name, name)) return h->o.models[i];
    char list[512] = "";
    size_t n = 0;
    for (int i = 0; i < h->o.n_models && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s'%s'", i ? ", " : "",
                              h->o.models[i]->name);
    if (h->o.n_models)
        lmx_err_set(e, 404, "invalid_request_error", "model_not_found", "model",
                    "The model '%s' does not exist or is not loaded. Loaded models: %s.", name,
                    list);
    else
        lmx_err_set(e, 404, "invalid_request_error", "model_not_found", "model",
                    "The model '%s' does not exist: no model is loaded (start the server with "
                    "lmx serve -m MODEL.gguf).",
                    name);
    return NULL;
}

static enum MHD_Result get_models(req *r, const char *id) {
    lmx_http *h = r->h;
    if (id) {
        lmx_api_err e;
        lmx_served *s = find_model(h, id, &e);
        if (!s) return send_err(r, &e);
        snprintf(r->model, sizeof r->model, "%s", s->name);
        return send_json(r, 200, lmx_served_json(s));
    }
    json_t *data = json_array();
    for (int i = 0; i < h->o.n_models; i++)
        json_array_append_new(data, lmx_served_json(h->o.models[i]));
    return send_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

/* ---- generation ---- */

static void account(req *r, const lmx_gen *g) {
    r->prompt_tokens = g->prompt_tokens;
    r->completion_tokens = g->completion_tokens;
    r->cached_tokens = g->cached_tokens;
    r->queue_ms = g->queue_ms;
    r->prefill_ms = g->prefill_ms;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_state *st = cls;
    lmx_gen *g = st->g;
    for (;;) {
        if (lmx_buf_unread(&st->out)) return (ssize_t)lmx_buf_take(&st->out, buf, max);
        if (st->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        lmx_event ev;
        int job;
        lmx_event_type t = lmx_gen_next(g, &ev, &job, SLICE_MS);
        bool check = t == LMX_EV_NONE || lmx_now_s() - st->last_check >= SLICE_MS / 1000.0;
        if (check) {
            st->last_check = lmx_now_s();
            if (hung_up(st->r->conn)) {
                lmx_event_clear(&ev);
                lmx_gen_cancel(g);
                st->r->status = 499;
                account(st->r, g);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            if (atomic_load(&st->r->h->aborting)) lmx_gen_cancel(g);
        }
        if (t == LMX_EV_NONE) {
            if (lmx_now_s() - st->last_out >= st->r->h->o.keepalive_ms / 1000.0) {
                lmx_sse_keepalive(&st->out);
                st->last_out = lmx_now_s();
            }
            continue;
        }
        if (t == LMX_EV_ERROR) {
            lmx_api_err e;
            if (atomic_load(&st->r->h->aborting))
                lmx_err_set(&e, 503, "server_error", "shutting_down", NULL,
                            "The server shut down before the generation finished.");
            else
                lmx_err_set(&e, 500, "server_error", NULL, NULL, "Generation failed: %s",
                            ev.message);
            json_t *o = lmx_err_json(&e);
            lmx_sse_json(&st->out, o);
            json_decref(o);
            st->finished = true;
        } else if (g->kind == LMX_OAI_CHAT)
            lmx_chat_stream(g, job, &ev, &st->out);
        else
            lmx_completions_stream(g, job, &ev, &st->out);
        lmx_event_clear(&ev);
        if (!st->finished && lmx_gen_done(g)) {
            if (g->kind == LMX_OAI_CHAT)
                lmx_chat_stream(g, -1, NULL, &st->out);
            else
                lmx_completions_stream(g, -1, NULL, &st->out);
            st->finished = true;
        }
        account(st->r, g);
        if (lmx_buf_unread(&st->out)) st->last_out = lmx_now_s();
    }
}

static void stream_free(void *cls) {
    stream_state *st = cls;
    account(st->r, st->g);
    lmx_gen_free(st->g);
    lmx_buf_free(&st->out);
    req_release(st->r);
    free(st);
}

static enum MHD_Result start_stream(req *r, lmx_gen *g) {
    stream_state *st = calloc(1, sizeof *st);
    if (!st) {
        lmx_gen_free(g);
        return MHD_NO;
    }
    st->r = r;
    st->g = g;
    st->last_out = lmx_now_s();
    atomic_fetch_add(&r->refs, 1);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                  stream_reader, st, stream_free);
    if (!resp) {
        stream_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    add_cors(resp);
    r->status = 200;
    r->stream = true;
    enum MHD_Result ok = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result run_blocking(req *r, lmx_gen *g) {
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
            account(r, g);
            lmx_gen_free(g);
            r->status = 499;
            return MHD_NO;
        }
        if (atomic_load(&r->h->aborting)) lmx_gen_cancel(g);
    }
    account(r, g);
    lmx_api_err e;
    enum MHD_Result ok;
    if (g->failed) {
        if (atomic_load(&r->h->aborting))
            lmx_err_set(&e, 503, "server_error", "shutting_down", NULL,
                        "The server shut down before the generation finished.");
        else
            lmx_err_set(&e, 500, "server_error", NULL, NULL, "Generation failed: %s", g->err);
        ok = send_err(r, &e);
    } else {
        json_t *body = g->kind == LMX_OAI_CHAT ? lmx_chat_response(g) : lmx_completions_response(g);
        ok = send_json(r, 200, body);
    }
    lmx_gen_free(g);
    return ok;
}

static enum MHD_Result post_generate(req *r, lmx_oai_kind kind) {
    lmx_api_err e = {0};
    if (r->too_big) {
        lmx_err_set(&e, 413, "invalid_request_error", "request_too_large", NULL,
                    "The request body is larger than the limit of %zu bytes.", r->h->o.max_body);
        return send_err(r, &e);
    }
    json_error_t je;
    json_t *body = json_loadb(r->body ? r->body : "", r->n_body, 0, &je);
    if (!body) {
        lmx_err_bad(&e, NULL,
                    "We could not parse the JSON body of your request: %s (line %d, column %d). "
                    "The OpenAI API expects a JSON payload.",
                    je.text, je.line, je.column);
        return send_err(r, &e);
    }
    lmx_oai_req q;
    enum MHD_Result ok;
    if (lmx_oai_parse(body, kind, &q, &e)) {
        if (json_is_string(json_object_get(body, "model")))
            snprintf(r->model, sizeof r->model, "%s",
                     json_string_value(json_object_get(body, "model")));
        ok = send_err(r, &e);
        goto out;
    }
    snprintf(r->model, sizeof r->model, "%s", q.model);
    lmx_served *s = find_model(r->h, q.model, &e);
    if (!s) {
        ok = send_err(r, &e);
        goto out;
    }
    lmx_gen *g =
        kind == LMX_OAI_CHAT ? lmx_chat_start(s, &q, &e) : lmx_completions_start(s, &q, &e);
    if (!g) {
        ok = send_err(r, &e);
        goto out;
    }
    ok = q.stream ? start_stream(r, g) : run_blocking(r, g);
out:
    lmx_oai_req_free(&q);
    json_decref(body);
    return ok;
}

/* ---- routing ---- */

static bool authorized(req *r) {
    const char *key = r->h->o.api_key;
    if (!key || !*key) return true;
    const char *a = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    return a && !strncmp(a, "Bearer ", 7) && !strcmp(a + 7, key);
}

static enum MHD_Result route(req *r) {
    lmx_api_err e = {0};
    const char *m = r->method, *p = r->path;
    if (!strcmp(m, "OPTIONS")) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        add_cors(resp);
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        const char *rh =
            MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                rh ? rh : "Authorization, Content-Type");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
        r->status = 204;
        enum MHD_Result ok = MHD_queue_response(r->conn, 204, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    if (atomic_load(&r->h->draining)) {
        lmx_err_set(&e, 503, "server_error", "shutting_down", NULL, "The server is shutting down.");
        return send_err(r, &e);
    }
    if (!strcmp(p, "/health")) {
        if (strcmp(m, "GET") && strcmp(m, "HEAD")) goto method;
        return send_json(r, 200, json_pack("{s:s}", "status", "ok"));
    }
    bool models = !strcmp(p, "/v1/models") || !strncmp(p, "/v1/models/", 11);
    bool chat = !strcmp(p, "/v1/chat/completions"), cmpl = !strcmp(p, "/v1/completions");
    if (!models && !chat && !cmpl) {
        lmx_err_set(&e, 404, "invalid_request_error", "unknown_url", NULL,
                    "Unknown request URL: %s %s. Please check the URL for typos.", m, p);
        return send_err(r, &e);
    }
    if (!authorized(r)) {
        lmx_err_set(&e, 401, "invalid_request_error", "invalid_api_key", NULL,
                    "Incorrect API key provided. Pass it as 'Authorization: Bearer KEY'.");
        return send_err(r, &e);
    }
    if (models) {
        if (strcmp(m, "GET") && strcmp(m, "HEAD")) goto method;
        return get_models(r, p[10] == '/' ? p + 11 : NULL);
    }
    if (strcmp(m, "POST")) goto method;
    return post_generate(r, chat ? LMX_OAI_CHAT : LMX_OAI_COMPLETIONS);
method:
    lmx_err_set(&e, 405, "invalid_request_error", "method_not_allowed", NULL,
                "Method %s is not allowed for %s.", m, p);
    return send_err(r, &e);
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
        if (cl && strtoull(cl, NULL, 10) > h->o.max_body) {
            lmx_api_err e;
            lmx_err_set(&e, 413, "invalid_request_error", "request_too_large", NULL,
                        "The request body (%s bytes) is larger than the limit of %zu bytes.", cl,
                        h->o.max_body);
            return send_err(r, &e);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->too_big || r->n_body + *upload_size > h->o.max_body) {
            r->too_big = true;
        } else {
            if (r->n_body + *upload_size > r->cap) {
                size_t cap = r->cap ? r->cap : 4096;
                while (cap < r->n_body + *upload_size) cap *= 2;
                char *b = realloc(r->body, cap);
                if (!b) return MHD_NO;
                r->body = b;
                r->cap = cap;
            }
            memcpy(r->body + r->n_body, upload, *upload_size);
            r->n_body += *upload_size;
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
    if (h->o.keepalive_ms <= 0) h->o.keepalive_ms = 2000;
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
