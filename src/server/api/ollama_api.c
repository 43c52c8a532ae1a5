/* Ollama's native API (https://github.com/ollama/ollama/blob/main/docs/api.md)
 * over the same manager and scheduler as the OpenAI routes.
 *
 * /api/chat and /api/generate are translated into an OpenAI request body and
 * go through lmx_oai_parse, so validation, sampling, tools and
 * response_format behave exactly as on /v1 (docs/ollama-api.md lists the
 * mapping). Their answers are NDJSON lines (streamed by default: Ollama's
 * `stream` defaults to true) or one object; durations are nanoseconds.
 * Model names: "name:latest" is "name", "hf.co/org/repo:QUANT" is the
 * downloaded model "org/repo:QUANT". Errors are {"error": "message"}. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "manager/download.h"
#include "manager/manager.h"
#include "server/api/embeddings_api.h"
#include "server/api/ollama_api.h"
#include "server/api/ollama_req.h"
#include "server/api/openai_chat.h"
#include "server/api/openai_completions.h"
#include "server/core/compat_fmt.h"
#include "server/core/compat_models.h"
#include "server/core/request.h"
#include "server/http/http.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#include "server/core/mgr_error.h"
#include "server/api/mgr_views.h"

/* The Ollama API level these routes follow (clients gate features on it). */
#define OL_VERSION "0.12.6"

/* ---- names ---- */

/* How /api/tags and /api/ps name an id: with a tag, as Ollama always does. */
static void ol_display(const char *id, char *out, size_t cap) {
    const char *slash = strrchr(id, '/');
    snprintf(out, cap, strchr(slash ? slash : id, ':') ? "%s" : "%s:latest", id);
}

/* ---- errors ---- */

/* Ollama's wording for a model it does not have. */
static void ol_not_found(lmx_api_err *e, const char *name) {
    if (e->status == 404)
        lmx_err_set(e, 404, "not_found_error", "model_not_found", "model",
                    "model \"%s\" not found, try pulling it first", name);
}

/* The request's "model" (or legacy "name"); NULL after answering 400. */
static const char *ol_model_field(lmx_req *r, json_t *body, lmx_api_err *e) {
    json_t *m = json_object_get(body, "model");
    if (!json_is_string(m) || !json_string_length(m)) m = json_object_get(body, "name");
    if (!json_is_string(m) || !json_string_length(m)) {
        lmx_err_bad(e, "model", "model is required");
        return NULL;
    }
    lmx_req_set_model(r, json_string_value(m));
    return json_string_value(m);
}

/* A request naming one model (show, pull, delete): its body, its model name
 * and the manager's id for it. */
typedef struct {
    json_t *body;
    const char *name;
    char id[256];
} ol_named;

/* What show, pull and delete share: reads the body and its model, runs fn
 * (which answers) and frees the body once it has. */
static int ol_named_call(lmx_req *r, int (*fn)(lmx_req *r, ol_named *q, lmx_api_err *e)) {
    lmx_api_err e = {0};
    ol_named q = {0};
    q.body = lmx_req_json(r, false, &e);
    if (!q.body) return lmx_reply_err(r, &e);
    int ok;
    q.name = ol_model_field(r, q.body, &e);
    if (q.name) {
        lmx_ol_name(q.name, q.id, sizeof q.id);
        ok = fn(r, &q, &e);
    } else {
        ok = lmx_reply_err(r, &e);
    }
    json_decref(q.body);
    return ok;
}

/* The answer for a model the store does not have, in this API's words. */
static int ol_named_404(lmx_req *r, const ol_named *q, lmx_api_err *e) {
    lmx_err_set(e, 404, "not_found_error", "model_not_found", "model", "model '%s' not found",
                q->name);
    return lmx_reply_err(r, e);
}

/* The manager's load options for a keep_alive: 0 unloads as soon as the
 * model is idle (the smallest ttl), negative keeps it (ttl 0: never). */
static void ka_load(lmx_ol_keep k, double ttl, lmx_compat_load *lo) {
    lo->ttl_given = k != LMX_KA_ABSENT;
    lo->ttl_s = k == LMX_KA_TTL ? ttl : k == LMX_KA_UNLOAD ? 1e-3 : 0;
}

/* ---- per-generation state and the NDJSON encoder ---- */

typedef struct {
    bool chat;        /* /api/chat: "message"; /api/generate: "response" */
    char model[256];  /* the name the client used, echoed as Ollama does */
    double t0, t_gen; /* monotonic: request start, first token ready */
    double load_s;
    lmx_tc *tc;    /* streamed chat with tools */
    json_t *calls; /* streamed: the calls parsed so far */
    const char *finish;
} ol_gen;

static void ol_gen_free(void *p) {
    ol_gen *st = p;
    lmx_tc_free(st->tc);
    json_decref(st->calls);
    free(st);
}

static void ol_line(lmx_buf *out, json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return;
    lmx_buf_add(out, s, strlen(s));
    lmx_buf_add(out, "\n", 1);
    free(s);
}

static json_t *ol_head(const char *model) {
    char ts[48];
    lmx_compat_iso(lmx_compat_wall(), 9, ts, sizeof ts);
    return json_pack("{s:s,s:s}", "model", model, "created_at", ts);
}

static void ol_chunk(ol_gen *st, lmx_buf *out, const char *text, size_t n, json_t *calls) {
    json_t *o = ol_head(st->model);
    if (st->chat) {
        json_t *m = json_pack("{s:s,s:o}", "role", "assistant", "content", lmx_jtext(text, n));
        if (calls) json_object_set_new(m, "tool_calls", calls);
        json_object_set_new(o, "message", m);
    } else {
        json_object_set_new(o, "response", lmx_jtext(text, n));
    }
    json_object_set_new(o, "done", json_false());
    ol_line(out, o);
}

/* The closing fields: done, reason and Ollama's counters (nanoseconds). */
static void ol_done(const lmx_gen *g, const ol_gen *st, json_t *o, const char *reason) {
    double now = lmx_now_s();
    /* non-streamed generations' events are pulled by http.c: estimate the
     * first token's time from the scheduler's queue and prefill figures */
    double t_gen =
        st->t_gen > 0 ? st->t_gen : st->t0 + st->load_s + (g->queue_ms + g->prefill_ms) / 1000.0;
    if (t_gen > now) t_gen = now;
    json_object_set_new(o, "done", json_true());
    json_object_set_new(o, "done_reason", json_string(reason ? reason : "stop"));
    json_object_set_new(o, "total_duration", json_integer((json_int_t)((now - st->t0) * 1e9)));
    json_object_set_new(o, "load_duration", json_integer((json_int_t)(st->load_s * 1e9)));
    json_object_set_new(o, "prompt_eval_count", json_integer(g->prompt_tokens));
    json_object_set_new(o, "prompt_eval_duration", json_integer((json_int_t)(g->prefill_ms * 1e6)));
    json_object_set_new(o, "eval_count", json_integer(g->completion_tokens));
    json_object_set_new(o, "eval_duration", json_integer((json_int_t)((now - t_gen) * 1e9)));
}

static void ol_items(ol_gen *st, lmx_buf *out, const lmx_tc_delta *d) {
    for (int i = 0; i < d->n; i++) {
        const lmx_tc_item *it = &d->items[i];
        if (it->index < 0) {
            if (it->len) ol_chunk(st, out, it->text, it->len, NULL);
            continue;
        }
        char *args = strndup(it->text ? it->text : "", it->len);
        if (!st->calls) st->calls = json_array();
        json_array_append_new(st->calls,
                              lmx_ol_call(it->id, (int)json_array_size(st->calls), it->name, args));
        free(args);
    }
}

static void ol_stream(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out) {
    (void)job;
    ol_gen *st = g->api;
    if (!ev) {
        if (st->calls && json_array_size(st->calls)) {
            ol_chunk(st, out, "", 0, st->calls);
            st->calls = NULL;
        }
        json_t *o = ol_head(st->model);
        if (st->chat)
            json_object_set_new(o, "message",
                                json_pack("{s:s,s:s}", "role", "assistant", "content", ""));
        else
            json_object_set_new(o, "response", json_string(""));
        ol_done(g, st, o, st->finish);
        ol_line(out, o);
        return;
    }
    switch (ev->type) {
    case LMX_EV_STARTED:
        st->t_gen = lmx_now_s();
        break;
    case LMX_EV_TOKEN:
        if (!ev->text_len) break;
        if (g->tc_family != LMX_TC_NONE && st->chat) {
            if (!st->tc) {
                st->tc = lmx_tc_new(g->tc_family, g->tools, 0x9E3779B97F4A7C15ull);
                if (st->tc && g->tc_prefix)
                    lmx_tc_feed(st->tc, g->tc_prefix, strlen(g->tc_prefix), NULL);
            }
            lmx_tc_delta d = {0};
            if (st->tc) lmx_tc_feed(st->tc, ev->text, ev->text_len, &d);
            ol_items(st, out, &d);
            lmx_tc_delta_clear(&d);
            break;
        }
        ol_chunk(st, out, ev->text, ev->text_len, NULL);
        break;
    case LMX_EV_FINISH:
        st->finish = ev->finish_reason;
        if (st->tc) {
            lmx_tc_delta d = {0};
            lmx_tc_finish(st->tc, &d);
            ol_items(st, out, &d);
            lmx_tc_delta_clear(&d);
        }
        break;
    default:
        break;
    }
}

static void ol_stream_error(lmx_gen *g, const lmx_api_err *e, lmx_buf *out) {
    (void)g;
    ol_line(out, json_pack("{s:s}", "error", e->message));
}

/* A finished, non-streamed generation: the OpenAI body, reshaped. */
static json_t *ol_response(lmx_gen *g) {
    ol_gen *st = g->api;
    json_t *oai = g->kind == LMX_OAI_CHAT ? lmx_chat_response(g) : lmx_completions_response(g);
    json_t *c0 = json_array_get(json_object_get(oai, "choices"), 0);
    const char *finish = json_string_value(json_object_get(c0, "finish_reason"));
    const char *text;
    json_t *calls = NULL;
    if (g->kind == LMX_OAI_CHAT) {
        json_t *msg = json_object_get(c0, "message");
        text = json_string_value(json_object_get(msg, "content"));
        json_t *tc = json_object_get(msg, "tool_calls");
        size_t i;
        json_t *c;
        json_array_foreach(tc, i, c) {
            json_t *fn = json_object_get(c, "function");
            if (!calls) calls = json_array();
            json_array_append_new(calls,
                                  lmx_ol_call(json_string_value(json_object_get(c, "id")), (int)i,
                                              json_string_value(json_object_get(fn, "name")),
                                              json_string_value(json_object_get(fn, "arguments"))));
        }
    } else {
        text = json_string_value(json_object_get(c0, "text"));
    }
    json_t *o = ol_head(st->model);
    if (st->chat) {
        json_t *m = json_pack("{s:s,s:s}", "role", "assistant", "content", text ? text : "");
        if (calls) json_object_set_new(m, "tool_calls", calls);
        json_object_set_new(o, "message", m);
    } else {
        json_object_set_new(o, "response", json_string(text ? text : ""));
        json_decref(calls);
    }
    ol_done(g, st, o, finish && !strcmp(finish, "length") ? "length" : "stop");
    json_decref(oai);
    return o;
}

static const lmx_gen_fmt ol_fmt = {"application/x-ndjson", ol_stream, ol_stream_error, ol_response,
                                   false};

/* ---- /api/chat and /api/generate ---- */

/* The answer to a load or unload request (no prompt): done at once, with
 * an empty message or response. */
static json_t *ol_empty_done(const char *req_name, bool chat, const char *reason) {
    json_t *o = ol_head(req_name);
    if (chat)
        json_object_set_new(o, "message",
                            json_pack("{s:s,s:s}", "role", "assistant", "content", ""));
    else
        json_object_set_new(o, "response", json_string(""));
    json_object_set_new(o, "done_reason", json_string(reason));
    json_object_set_new(o, "done", json_true());
    return o;
}

static int ol_unload(lmx_req *r, const char *req_name, const char *id, bool chat) {
    lmx_api_err e;
    if (lmx_api_unload(lmx_req_app(r)->mgr, id, &e)) {
        ol_not_found(&e, req_name);
        return lmx_reply_err(r, &e);
    }
    return lmx_reply_json(r, 200, ol_empty_done(req_name, chat, "unload"));
}

/* What generate/chat and embed share: the clock starts before the body is
 * read (total_duration is the whole request's), and the body is freed once
 * fn has answered. */
typedef int ol_body_fn(lmx_req *r, json_t *body, bool flag, double t0);

static int ol_with_body(lmx_req *r, ol_body_fn *fn, bool flag) {
    double t0 = lmx_now_s();
    lmx_api_err e = {0};
    json_t *body = lmx_req_json(r, false, &e);
    if (!body) return lmx_reply_err(r, &e);
    int ok = fn(r, body, flag, t0);
    json_decref(body);
    return ok;
}

static int ol_generate(lmx_req *r, json_t *body, bool chat, double t0) {
    lmx_app *app = lmx_req_app(r);
    lmx_api_err e = {0};
    int ok = 0;
    lmx_ol_req oq;
    if (lmx_ol_parse(body, chat, &oq, &e)) {
        if (oq.name) lmx_req_set_model(r, oq.name);
        goto fail;
    }
    const char *req_name = oq.name;
    lmx_req_set_model(r, req_name);
    if (oq.empty && oq.keep == LMX_KA_UNLOAD) {
        ok = ol_unload(r, req_name, oq.id, chat);
        goto out;
    }

    /* the model: loaded just in time, with num_ctx and keep_alive */
    lmx_compat_load lo = {.ctx_size = oq.num_ctx > 0 ? oq.num_ctx : 0};
    ka_load(oq.keep, oq.ttl_s, &lo);
    double load_s = 0;
    lmx_served *s = lmx_compat_acquire(app, oq.id, &lo, &load_s, &e);
    if (!s) {
        ol_not_found(&e, req_name);
        goto fail;
    }
    if ((oq.num_ctx > 0 && oq.num_ctx != s->n_ctx) || oq.ignored[0]) {
        /* a loaded model keeps its context: reloading it would cut other
         * requests short; the request is served, and the log says so */
        json_t *f = json_pack("{s:s}", "model", s->name);
        if (oq.num_ctx > 0 && oq.num_ctx != s->n_ctx) {
            json_object_set_new(f, "num_ctx", json_integer(oq.num_ctx));
            json_object_set_new(f, "context_length", json_integer(s->n_ctx));
        }
        if (oq.ignored[0]) json_object_set_new(f, "ignored_options", json_string(oq.ignored));
        lmx_log("info", "ollama options not applied", f);
    }
    if (oq.empty) {
        /* load request: answered once the model is ready */
        lmx_mgr_release(s);
        ok = lmx_reply_json(r, 200, ol_empty_done(req_name, chat, "load"));
        goto out;
    }
    lmx_oai_kind kind = oq.raw ? LMX_OAI_COMPLETIONS : LMX_OAI_CHAT;
    lmx_oai_req q;
    if (lmx_oai_parse(oq.oai, kind, &q, &e)) {
        lmx_oai_req_free(&q);
        lmx_mgr_release(s);
        goto fail;
    }
    if (oq.repeat_last_n_given)
        q.sample.repeat_last_n = oq.repeat_last_n == -1 ? s->n_ctx : oq.repeat_last_n;
    lmx_gen *g =
        kind == LMX_OAI_CHAT ? lmx_chat_start(s, &q, &e) : lmx_completions_start(s, &q, &e);
    lmx_oai_req_free(&q);
    if (!g) {
        lmx_mgr_release(s);
        goto fail;
    }
    ol_gen *st = calloc(1, sizeof *st);
    if (!st) {
        lmx_gen_free(g);
        lmx_err_set(&e, 500, "server_error", NULL, NULL, "out of memory");
        goto fail;
    }
    st->chat = chat;
    snprintf(st->model, sizeof st->model, "%s", req_name);
    st->t0 = t0;
    st->load_s = load_s;
    g->api = st;
    g->api_free = ol_gen_free;
    ok = lmx_reply_gen(r, g, &ol_fmt, oq.stream);
    goto out;
fail:
    ok = lmx_reply_err(r, &e);
out:
    lmx_ol_req_free(&oq);
    return ok;
}

LMX_HANDLER_CALL(lmx_h_ol_chat, ol_with_body, ol_generate, true)
LMX_HANDLER_CALL(lmx_h_ol_generate, ol_with_body, ol_generate, false)

/* ---- /api/embed and the legacy /api/embeddings ---- */

/* Scales v to unit length, as Ollama's /api/embed answers (the pooled
 * vectors are unit already; a shortened one is not). */
static void l2_normalize(float *v, int d) {
    double ss = 0;
    for (int k = 0; k < d; k++) ss += (double)v[k] * v[k];
    if (ss <= 0) return;
    float inv = (float)(1.0 / sqrt(ss));
    for (int k = 0; k < d; k++) v[k] *= inv;
}

static json_t *vec_json(const float *v, int d) {
    json_t *a = json_array();
    for (int k = 0; k < d; k++) json_array_append_new(a, json_real(v[k]));
    return a;
}

/* An input with nothing to embed ("", [], absent) answers no vectors, as
 * Ollama does (clients use it to load the model). */
static bool embed_empty(const json_t *v) {
    return !v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)) ||
           (json_is_array(v) && !json_array_size(v));
}

/* legacy: /api/embeddings {model, prompt} → {embedding}; else /api/embed
 * {model, input, truncate, dimensions} → {embeddings} (unit vectors;
 * dimensions keeps the first d components, renormalized, as Ollama does). */
static int ol_embed(lmx_req *r, json_t *body, bool legacy, double t0) {
    lmx_app *app = lmx_req_app(r);
    lmx_api_err e = {0};
    lmx_served *s = NULL;
    lmx_embeds em = {0};
    if (!json_is_object(body)) {
        lmx_err_bad(&e, NULL, "the request body must be a JSON object");
        goto fail;
    }
    const char *req_name = ol_model_field(r, body, &e);
    if (!req_name) goto fail;
    const char *field = legacy ? "prompt" : "input";
    const json_t *in = json_object_get(body, field), *opts = json_object_get(body, "options");
    const json_t *trunc = json_object_get(body, "truncate"),
                 *dims = json_object_get(body, "dimensions");
    if (opts && !json_is_null(opts) && !json_is_object(opts)) {
        lmx_err_bad(&e, "options", "invalid options: expected an object");
        goto fail;
    }
    if (trunc && !json_is_null(trunc) && !json_is_boolean(trunc)) {
        lmx_err_bad(&e, "truncate", "invalid truncate: expected true or false");
        goto fail;
    }
    if (legacy && in && !json_is_string(in)) {
        lmx_err_bad(&e, "prompt", "invalid prompt: expected a string");
        goto fail;
    }
    if (dims && !json_is_null(dims) && (!json_is_integer(dims) || json_integer_value(dims) < 1)) {
        lmx_err_bad(&e, "dimensions", "invalid dimensions: expected a positive integer");
        goto fail;
    }
    lmx_ol_keep keep;
    double ttl;
    if (lmx_ol_keep_alive(body, &keep, &ttl, &e)) goto fail;
    lmx_compat_load lo = {0};
    ka_load(keep, ttl, &lo);
    json_t *o_ctx = json_object_get(opts, "num_ctx");
    if (json_is_integer(o_ctx) && json_integer_value(o_ctx) > 0 &&
        json_integer_value(o_ctx) < 1 << 24)
        lo.ctx_size = (int)json_integer_value(o_ctx);
    char id[256];
    lmx_ol_name(req_name, id, sizeof id);
    double load_s = 0;
    s = lmx_compat_acquire(app, id, &lo, &load_s, &e);
    if (!s) {
        ol_not_found(&e, req_name);
        goto fail;
    }
    if (!embed_empty(in) &&
        lmx_embed(s, in, field, !json_is_false(trunc), &em, &e)) /* Ollama truncates by default */
        goto fail;
    int d = em.dim;
    if (json_is_integer(dims)) {
        if (json_integer_value(dims) > s->m->hp.n_embd) {
            lmx_err_bad(&e, "dimensions",
                        "invalid dimensions: model '%s' gives %d dimensions, at most", s->name,
                        s->m->hp.n_embd);
            goto fail;
        }
        d = (int)json_integer_value(dims);
    }
    json_t *o;
    if (legacy) {
        o = json_pack("{s:o}", "embedding", em.n ? vec_json(em.v, em.dim) : json_array());
    } else {
        json_t *vecs = json_array();
        for (int i = 0; i < em.n; i++) {
            float *v = em.v + (size_t)i * (size_t)em.dim;
            l2_normalize(v, d);
            json_array_append_new(vecs, vec_json(v, d));
        }
        o = json_pack("{s:s,s:o,s:I,s:I,s:i}", "model", req_name, "embeddings", vecs,
                      "total_duration", (json_int_t)((lmx_now_s() - t0) * 1e9), "load_duration",
                      (json_int_t)(load_s * 1e9), "prompt_eval_count", em.tokens);
    }
    return lmx_embed_reply(r, o, &e, s, &em, NULL);
fail:
    return lmx_embed_reply(r, NULL, &e, s, &em, NULL);
}

LMX_HANDLER_CALL(lmx_h_ol_embed, ol_with_body, ol_embed, false)
LMX_HANDLER_CALL(lmx_h_ol_embeddings, ol_with_body, ol_embed, true)

/* ---- model listings ---- */

static json_t *ol_details(const json_t *m) {
    const char *arch = json_string_value(json_object_get(m, "architecture"));
    const char *quant = json_string_value(json_object_get(m, "quantization"));
    char ps[32];
    lmx_compat_params((uint64_t)json_integer_value(json_object_get(m, "parameters")), ps,
                      sizeof ps);
    return json_pack("{s:s,s:s,s:s,s:[s],s:s,s:s}", "parent_model", "", "format", "gguf", "family",
                     arch ? arch : "", "families", arch ? arch : "", "parameter_size", ps,
                     "quantization_level", quant ? quant : "");
}

static const char *ol_digest(const json_t *m, char buf[65]) {
    const char *sha = json_string_value(json_object_get(m, "sha256"));
    if (sha && strlen(sha) == 64) return sha;
    lmx_compat_digest(json_string_value(json_object_get(m, "id")), buf);
    return buf;
}

/* The common part of a /api/tags and /api/ps entry. */
static json_t *ol_entry(const json_t *m) {
    char name[300], dg[65], ts[48];
    ol_display(json_string_value(json_object_get(m, "id")), name, sizeof name);
    lmx_compat_iso((double)json_integer_value(json_object_get(m, "modified")), 9, ts, sizeof ts);
    return json_pack("{s:s,s:s,s:s,s:O,s:s,s:o}", "name", name, "model", name, "modified_at", ts,
                     "size", json_object_get(m, "size_bytes"), "digest", ol_digest(m, dg),
                     "details", ol_details(m));
}

int lmx_h_ol_tags(lmx_req *r, const char *rest) {
    (void)rest;
    json_t *models = lmx_compat_models_map(lmx_req_app(r), ol_entry);
    return lmx_reply_json(r, 200, json_pack("{s:o}", "models", models));
}

/* A loaded model as /api/ps lists it; NULL for one that is not loaded. */
static json_t *ps_entry(const json_t *m) {
    json_t *l = json_object_get(m, "loaded");
    if (!json_is_object(l)) return NULL;
    json_t *o = ol_entry(m);
    json_object_del(o, "modified_at");
    json_t *exp = json_object_get(l, "expires_at");
    char ts[48];
    /* never unloaded: Ollama shows a far future time */
    lmx_compat_iso(json_is_number(exp) ? json_number_value(exp) : 253402300799.0, 9, ts, sizeof ts);
    json_object_set_new(o, "expires_at", json_string(ts));
    json_object_set(o, "size", json_object_get(l, "memory_bytes"));
    json_object_set_new(o, "size_vram", json_integer(0));
    json_object_set(o, "context_length", json_object_get(l, "context_length"));
    return o;
}

int lmx_h_ol_ps(lmx_req *r, const char *rest) {
    (void)rest;
    json_t *models = lmx_compat_models_map(lmx_req_app(r), ps_entry);
    return lmx_reply_json(r, 200, json_pack("{s:o}", "models", models));
}

/* model_info: the GGUF's scalar metadata (general.*, the architecture's
 * keys, tokenizer scalars), as Ollama shows it without verbose. */
static json_t *ol_model_info(const lmx_gguf *g, uint64_t n_params) {
    json_t *o = json_object();
    for (int64_t i = 0; i < g->n_kv; i++) {
        const lmx_gguf_kv *kv = &g->kv[i];
        if (!strcmp(kv->key, "tokenizer.chat_template")) continue;
        json_t *v = NULL;
        int64_t iv;
        double dv;
        bool bv;
        size_t len;
        const char *sv;
        if (kv->type == LMX_GGUF_ARR)
            v = json_null();
        else if ((sv = lmx_gguf_get_str(g, kv->key, &len)))
            v = json_stringn(sv, len);
        else if (kv->type == LMX_GGUF_BOOL && lmx_gguf_get_bool(g, kv->key, &bv))
            v = json_boolean(bv);
        else if ((kv->type == LMX_GGUF_F32 || kv->type == LMX_GGUF_F64) &&
                 lmx_gguf_get_float(g, kv->key, &dv))
            v = json_real(dv);
        else if (lmx_gguf_get_int(g, kv->key, &iv))
            v = json_integer((json_int_t)iv);
        if (v) json_object_set_new(o, kv->key, v);
    }
    json_object_set_new(o, "general.parameter_count", json_integer((json_int_t)n_params));
    return o;
}

static int ol_show(lmx_req *r, ol_named *q, lmx_api_err *e) {
    lmx_app *app = lmx_req_app(r);
    json_t *m = lmx_compat_model(app, q->id);
    lmx_served *s = NULL;
    if (!m) {
        /* an alias or another name the manager resolves */
        s = lmx_api_acquire(app->mgr, q->id, e);
        if (s) m = lmx_compat_model(app, s->name);
    }
    if (!m) {
        if (s) lmx_mgr_release(s);
        return ol_named_404(r, q, e);
    }
    const char *mid = json_string_value(json_object_get(m, "id"));
    if (!s) {
        lmx_served **list;
        int n = lmx_mgr_list(app->mgr, &list);
        for (int i = 0; i < n; i++)
            if (!s && !strcmp(list[i]->name, mid)) {
                s = list[i];
                list[i] = NULL; /* released below, after its metadata is read */
            }
        lmx_mgr_list_release(list, n);
    }
    /* the metadata: the loaded model's, or the file's */
    lmx_gguf *own = NULL;
    const lmx_gguf *g = s ? s->m->gguf : NULL;
    const char *path = json_string_value(json_object_get(m, "path"));
    char err[256];
    if (!g && path) g = own = lmx_gguf_open(path, err, sizeof err);
    size_t tlen = 0;
    const char *tmpl = g ? lmx_gguf_get_str(g, "tokenizer.chat_template", &tlen) : NULL;
    json_t *template = tmpl ? json_stringn(tmpl, tlen) : NULL;
    if (!template) template = json_string("");
    char modelfile[1024], params[256];
    snprintf(modelfile, sizeof modelfile,
             "# Modelfile generated by LMX (Ollama-compatible view)\nFROM %s\n", path ? path : mid);
    json_t *l = json_object_get(m, "loaded");
    json_int_t ctx = json_is_object(l) ? json_integer_value(json_object_get(l, "context_length"))
                                       : json_integer_value(json_object_get(m, "context_length"));
    snprintf(params, sizeof params, "num_ctx                        %lld", (long long)ctx);
    json_t *caps = json_pack("[s]", "completion");
    if (json_is_true(json_object_get(m, "supports_tools")) || (s && s->tmpl_tools))
        json_array_append_new(caps, json_string("tools"));
    char ts[48];
    lmx_compat_iso((double)json_integer_value(json_object_get(m, "modified")), 9, ts, sizeof ts);
    json_t *info =
        g ? ol_model_info(g, (uint64_t)json_integer_value(json_object_get(m, "parameters")))
          : json_object();
    const char *arch = json_string_value(json_object_get(m, "architecture"));
    if (arch && !json_object_get(info, "general.architecture"))
        json_object_set_new(info, "general.architecture", json_string(arch));
    json_t *o = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:s}", "modelfile", modelfile, "parameters",
                          params, "template", template, "details", ol_details(m), "model_info",
                          info, "capabilities", caps, "modified_at", ts);
    lmx_gguf_close(own);
    if (s) lmx_mgr_release(s);
    json_decref(m);
    return lmx_reply_json(r, 200, o);
}

LMX_HANDLER_CALL(lmx_h_ol_show, ol_named_call, ol_show)

/* ---- the store: pull and delete ---- */

typedef struct {
    lmx_app *app;
    char id[64];
    char digest[80];
    int step; /* 0: manifest not yet announced; 1: downloading; 2: verifying; 3: done */
    long long last_bytes;
} ol_pull;

/* One poll of a download: appends the lines for what changed; false once
 * the pull ended (success or error line written). */
static bool pull_poll(ol_pull *p, lmx_buf *out) {
    if (p->step == 0) {
        ol_line(out, json_pack("{s:s}", "status", "pulling manifest"));
        p->step = 1;
        p->last_bytes = -1;
    }
    json_t *st = lmx_view_dl_status(p->app->downloads, p->id);
    if (!st) {
        ol_line(out, json_pack("{s:s}", "error", "the download disappeared"));
        return false;
    }
    const char *state = json_string_value(json_object_get(st, "state"));
    long long bytes = (long long)json_integer_value(json_object_get(st, "bytes"));
    long long total = (long long)json_integer_value(json_object_get(st, "total"));
    bool more = true;
    if (!state) state = "";
    if (!strcmp(state, "queued") || !strcmp(state, "downloading") ||
        ((!strcmp(state, "verifying") || !strcmp(state, "completed")) && p->step == 1)) {
        if (bytes != p->last_bytes || !strcmp(state, "verifying") || !strcmp(state, "completed")) {
            char status[128];
            snprintf(status, sizeof status, "downloading %.19s", p->digest);
            ol_line(out,
                    json_pack("{s:s,s:s,s:I,s:I}", "status", status, "digest", p->digest, "total",
                              (json_int_t)total, "completed",
                              (json_int_t)(strcmp(state, "queued") && strcmp(state, "downloading")
                                               ? total
                                               : bytes)));
            p->last_bytes = bytes;
        }
    }
    if ((!strcmp(state, "verifying") || !strcmp(state, "completed")) && p->step < 2) {
        ol_line(out, json_pack("{s:s}", "status", "verifying sha256 digest"));
        p->step = 2;
    }
    if (!strcmp(state, "completed")) {
        ol_line(out, json_pack("{s:s}", "status", "writing manifest"));
        ol_line(out, json_pack("{s:s}", "status", "success"));
        p->step = 3;
        more = false;
    } else if (!strcmp(state, "failed") || !strcmp(state, "cancelled")) {
        const char *why = json_string_value(json_object_get(st, "error"));
        char msg[512];
        snprintf(msg, sizeof msg, "pull model manifest: %s", why ? why : state);
        ol_line(out, json_pack("{s:s}", "error", msg));
        more = false;
    }
    json_decref(st);
    return more;
}

static bool pull_next(void *st, lmx_buf *out, int timeout_ms) {
    ol_pull *p = st;
    size_t before = out->n;
    bool more = pull_poll(p, out);
    if (more && out->n == before) usleep((useconds_t)(timeout_ms > 0 ? timeout_ms : 100) * 1000);
    return more;
}

static int ol_pull_model(lmx_req *r, ol_named *q, lmx_api_err *e) {
    lmx_app *app = lmx_req_app(r);
    /* hf.co/org/repo[:QUANT] → repo and quant */
    char repo[256], quant[64] = "";
    snprintf(repo, sizeof repo, "%s", q->id);
    char *colon = strrchr(repo, ':');
    if (colon && colon > strrchr(repo, '/')) {
        snprintf(quant, sizeof quant, "%s", colon + 1);
        *colon = 0;
    }
    const char *slash = strchr(repo, '/');
    if (!slash || slash == repo || !slash[1] || strchr(slash + 1, '/')) {
        lmx_err_set(e, 400, "invalid_request_error", NULL, "model",
                    "pull model manifest: '%s' is not a Hugging Face model: LMX pulls "
                    "hf.co/ORG/REPO[:QUANT] names from the Hugging Face Hub",
                    q->name);
        return lmx_reply_err(r, e);
    }
    bool stream = !json_is_false(json_object_get(q->body, "stream"));
    ol_pull *p = calloc(1, sizeof *p);
    if (!p) {
        lmx_err_set(e, 500, "server_error", NULL, NULL, "out of memory");
        return lmx_reply_err(r, e);
    }
    p->app = app;
    char hex[65];
    lmx_compat_digest(q->id, hex);
    snprintf(p->digest, sizeof p->digest, "sha256:%s", hex);
    if (lmx_api_dl_start(app->downloads, repo, NULL, quant[0] ? quant : NULL, NULL, p->id,
                         sizeof p->id, e)) {
        free(p);
        return lmx_reply_err(r, e);
    }
    if (stream) {
        lmx_stream_ops ops = {.next = pull_next, .free = free};
        return lmx_reply_stream(r, "application/x-ndjson", &ops, p);
    }
    /* not streamed: wait for the end, answer its last line */
    lmx_buf out = {0};
    while (pull_poll(p, &out)) usleep(100 * 1000);
    /* the last line written is the answer */
    const char *last = out.p;
    for (size_t i = out.n - 1; i > 0; i--)
        if (out.p[i - 1] == '\n') {
            last = out.p + i;
            break;
        }
    json_t *o = json_loadb(last, out.p + out.n - last, 0, NULL);
    lmx_buf_free(&out);
    free(p);
    if (json_object_get(o, "error")) {
        lmx_err_set(e, 500, "server_error", NULL, NULL, "%s",
                    json_string_value(json_object_get(o, "error")));
        json_decref(o);
        return lmx_reply_err(r, e);
    }
    return lmx_reply_json(r, 200, o ? o : json_pack("{s:s}", "status", "success"));
}

LMX_HANDLER_CALL(lmx_h_ol_pull, ol_named_call, ol_pull_model)

static int ol_delete(lmx_req *r, ol_named *q, lmx_api_err *e) {
    if (lmx_api_delete(lmx_req_app(r)->mgr, q->id, e)) {
        if (e->status == 404) return ol_named_404(r, q, e);
        return lmx_reply_err(r, e);
    }
    return lmx_reply_empty(r, 200);
}

LMX_HANDLER_CALL(lmx_h_ol_delete, ol_named_call, ol_delete)

/* ---- probes ---- */

int lmx_h_ol_root(lmx_req *r, const char *rest) {
    (void)rest;
    return lmx_reply_text(r, 200, "text/plain; charset=utf-8", "Ollama is running");
}

int lmx_h_ol_version(lmx_req *r, const char *rest) {
    (void)rest;
    return lmx_reply_json(r, 200, json_pack("{s:s}", "version", OL_VERSION));
}
