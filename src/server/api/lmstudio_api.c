/* LM Studio's native REST API (https://lmstudio.ai/docs/developer/rest),
 * so clients that discover and load models through it (OpenClaw's LM Studio
 * provider) work against LMX unchanged.
 *
 * v1: /api/v1/models (list), /models/load, /models/unload, /models/download
 * (+ /models/download/status/{job_id}), /api/v1/chat (LM Studio's own chat
 * shape, SSE events when streamed). v0: /api/v0/models[/{id}] and
 * /api/v0/chat/completions, /api/v0/completions: OpenAI's shapes plus
 * "stats", "model_info" and "runtime". Requests naming a model that is not
 * loaded load it just in time, with the request's idle "ttl" (seconds), as
 * LM Studio does. An instance id is the model id: LMX loads a model once. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "manager/download.h"
#include "manager/manager.h"
#include "server/api/embeddings_api.h"
#include "server/api/lmstudio_api.h"
#include "server/api/openai_api.h"
#include "server/api/openai_chat.h"
#include "server/api/openai_completions.h"
#include "server/core/compat_fmt.h"
#include "server/core/compat_models.h"
#include "server/core/json_handler.h"
#include "server/core/request.h"
#include "server/http/http.h"
#include "util/clock.h"
#include "util/json.h"
#include "server/core/mgr_error.h"
#include "server/api/mgr_views.h"

/* What a loaded instance reports as eval_batch_size: the scheduler's prompt
 * chunk (tokens prefilled per step). */
#define LMS_EVAL_BATCH 256

/* A lookup's answer: found shaped by shape (found is taken), or a 404 with
 * code, naming param, when the lookup found nothing. */
static int reply_found(lmx_req *r, json_t *found, json_t *(*shape)(const json_t *),
                       const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int reply_found(lmx_req *r, json_t *found, json_t *(*shape)(const json_t *),
                       const char *code, const char *param, const char *fmt, ...) {
    if (!found) {
        char msg[320];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        lmx_api_err e;
        lmx_err_set(&e, 404, "invalid_request_error", code, param, "%s", msg);
        return lmx_reply_err(r, &e);
    }
    json_t *o = shape(found);
    json_decref(found);
    return lmx_reply_json(r, 200, o);
}

/* "org/repo:QUANT" → publisher "org"; a local file's name → "local". */
static void split_id(const char *id, char *publisher, size_t pcap, char *name, size_t ncap) {
    const char *slash = strchr(id, '/');
    if (slash) {
        snprintf(publisher, pcap, "%.*s", (int)(slash - id), id);
        snprintf(name, ncap, "%s", slash + 1);
    } else {
        snprintf(publisher, pcap, "local");
        snprintf(name, ncap, "%s", id);
    }
}

/* ---- v1 models ---- */

static json_t *instance_config(const json_t *l) {
    return json_pack("{s:O,s:i,s:O,s:b,s:b}", "context_length",
                     json_object_get(l, "context_length"), "eval_batch_size", LMS_EVAL_BATCH,
                     "parallel", json_object_get(l, "parallel"), "flash_attention", 0,
                     "offload_kv_cache_to_gpu", 0);
}

static json_t *v1_entry(const json_t *m) {
    const char *id = json_string_value(json_object_get(m, "id"));
    char publisher[128], name[256], ps[32];
    split_id(id, publisher, sizeof publisher, name, sizeof name);
    double size = (double)json_integer_value(json_object_get(m, "size_bytes"));
    double params = (double)json_integer_value(json_object_get(m, "parameters"));
    lmx_compat_params((uint64_t)params, ps, sizeof ps);
    json_t *bpw = params > 0 ? json_real((double)(long long)(size * 8 / params * 100 + 0.5) / 100)
                             : json_null();
    json_t *inst = json_array();
    json_t *l = json_object_get(m, "loaded");
    if (json_is_object(l))
        json_array_append_new(inst, json_pack("{s:s,s:o}", "id", id, "config", instance_config(l)));
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:{s:o,s:o},s:O,s:s,s:o,s:O,s:s,s:{s:b,s:O},s:n}",
                     "type", "llm", "publisher", publisher, "key", id, "display_name", name,
                     "architecture", lmx_jstr_or_null(m, "architecture"), "quantization", "name",
                     lmx_jstr_or_null(m, "quantization"), "bits_per_weight", bpw, "size_bytes",
                     json_object_get(m, "size_bytes"), "params_string", ps, "loaded_instances",
                     inst, "max_context_length", json_object_get(m, "context_length"), "format",
                     "gguf", "capabilities", "vision", 0, "trained_for_tool_use",
                     json_object_get(m, "supports_tools"), "description");
}

int lmx_h_lms_models(lmx_req *r, const char *rest) {
    (void)rest;
    json_t *models = lmx_compat_models_map(lmx_req_app(r), v1_entry);
    return lmx_reply_json(r, 200, json_pack("{s:o}", "models", models));
}

/* ---- load / unload ---- */

static int opt_int(const json_t *body, const char *k, int lo, int hi, int *out, lmx_api_err *e) {
    json_t *v = json_object_get(body, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        lmx_err_bad(e, k, "Invalid '%s': expected an integer between %d and %d.", k, lo, hi);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static const char *model_field(const json_t *body, const char *k, lmx_api_err *e) {
    json_t *m = json_object_get(body, k);
    if (!json_is_string(m) || !json_string_length(m)) {
        lmx_err_bad(e, k, "'%s' is required (a string).", k);
        return NULL;
    }
    return json_string_value(m);
}

static json_t *lms_load(lmx_req *r, json_t *body, lmx_api_err *e) {
    lmx_load_req q = {0};
    double ttl = 0;
    /* eval_batch_size, flash_attention, num_experts, offload_kv_cache_to_gpu:
     * accepted; LMX's CPU engine has no such knobs (docs/lmstudio-api.md) */
    int batch = 0;
    if (!(q.model = model_field(body, "model", e)) ||
        opt_int(body, "context_length", 16, 1 << 24, &q.ctx_size, e) ||
        opt_int(body, "parallel", 1, 256, &q.parallel, e) ||
        opt_int(body, "eval_batch_size", 1, 1 << 20, &batch, e) ||
        lmx_compat_seconds(body, "ttl", &ttl, e) < 0)
        return NULL;
    lmx_req_set_model(r, q.model);
    q.ttl_s = ttl;
    double t0 = lmx_now_s();
    lmx_served *s = lmx_api_load(lmx_req_app(r)->mgr, &q, e);
    if (!s) return NULL;
    json_t *o = json_pack("{s:s,s:s,s:s,s:f,s:s}", "type", "llm", "instance_id", s->name,
                          "model_instance_id", s->name, "load_time_seconds", lmx_now_s() - t0,
                          "status", "loaded");
    if (json_is_true(json_object_get(body, "echo_load_config")))
        json_object_set_new(o, "load_config",
                            json_pack("{s:i,s:i,s:i,s:b,s:b}", "context_length", s->n_ctx,
                                      "eval_batch_size", LMS_EVAL_BATCH, "parallel", s->n_parallel,
                                      "flash_attention", 0, "offload_kv_cache_to_gpu", 0));
    lmx_mgr_release(s);
    return o;
}

static json_t *lms_unload(lmx_req *r, json_t *body, lmx_api_err *e) {
    /* some clients of older LM Studio builds send "identifier" */
    const char *key = json_is_string(json_object_get(body, "instance_id"))  ? "instance_id"
                      : json_is_string(json_object_get(body, "identifier")) ? "identifier"
                                                                            : "instance_id";
    const char *id = model_field(body, key, e);
    if (!id) return NULL;
    lmx_req_set_model(r, id);
    if (lmx_api_unload(lmx_req_app(r)->mgr, id, e)) return NULL;
    return json_pack("{s:s}", "instance_id", id);
}

LMX_HANDLER_CALL(lmx_h_lms_load, lmx_reply_work, 200, lms_load)
LMX_HANDLER_CALL(lmx_h_lms_unload, lmx_reply_work, 200, lms_unload)

/* ---- downloads ---- */

/* A field of a downloader status (new reference; null when absent). */
static json_t *field(const json_t *st, const char *k) {
    json_t *v = json_object_get(st, k);
    return v ? json_incref(v) : json_null();
}

/* A downloader status → LM Studio's download job object. */
static json_t *job_json(const json_t *st) {
    const char *state = json_string_value(json_object_get(st, "state"));
    if (!state) state = "failed";
    const char *s = !strcmp(state, "completed")                               ? "completed"
                    : !strcmp(state, "failed") || !strcmp(state, "cancelled") ? "failed"
                                                                              : "downloading";
    json_t *o =
        json_pack("{s:o,s:s,s:o,s:o}", "job_id", field(st, "id"), "status", s, "total_size_bytes",
                  field(st, "total"), "downloaded_bytes", field(st, "bytes"));
    char ts[48];
    if (!strcmp(s, "downloading")) {
        json_t *rate = json_object_get(st, "rate");
        json_object_set_new(o, "bytes_per_second",
                            json_is_number(rate) ? json_incref(rate) : json_integer(0));
        json_t *eta = json_object_get(st, "eta");
        if (json_is_number(eta)) {
            lmx_compat_iso(lmx_compat_wall() + json_number_value(eta), 3, ts, sizeof ts);
            json_object_set_new(o, "estimated_completion", json_string(ts));
        }
    }
    if (!strcmp(s, "completed")) {
        lmx_compat_iso(lmx_compat_wall(), 3, ts, sizeof ts);
        json_object_set_new(o, "completed_at", json_string(ts));
    }
    json_t *err = json_object_get(st, "error");
    if (json_is_string(err)) json_object_set(o, "error", err);
    json_t *model = json_object_get(st, "model");
    if (json_is_string(model)) json_object_set(o, "model", model);
    return o;
}

static json_t *lms_download(lmx_req *r, json_t *body, lmx_api_err *e) {
    lmx_app *app = lmx_req_app(r);
    const char *model = model_field(body, "model", e);
    json_t *qv = json_object_get(body, "quantization");
    if (!model || (qv && !json_is_null(qv) && !json_is_string(qv))) {
        if (model) lmx_err_bad(e, "quantization", "'quantization' must be a string.");
        return NULL;
    }
    /* a Hugging Face link or org/repo */
    static const char *const prefixes[] = {"https://huggingface.co/", "http://huggingface.co/",
                                           "https://hf.co/", "huggingface.co/", "hf.co/"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (!strncmp(model, prefixes[i], strlen(prefixes[i]))) {
            model += strlen(prefixes[i]);
            break;
        }
    char repo[256], quant[64] = "";
    snprintf(repo, sizeof repo, "%s", model);
    size_t n = strlen(repo);
    while (n && repo[n - 1] == '/') repo[--n] = 0;
    char *colon = strrchr(repo, ':');
    if (colon && colon > strrchr(repo, '/')) {
        snprintf(quant, sizeof quant, "%s", colon + 1);
        *colon = 0;
    }
    if (json_is_string(qv)) snprintf(quant, sizeof quant, "%s", json_string_value(qv));
    const char *slash = strchr(repo, '/');
    if (!slash || slash == repo || !slash[1] || strchr(slash + 1, '/')) {
        lmx_err_set(e, 400, "invalid_request_error", NULL, "model",
                    "'%s' is not a Hugging Face repository: LMX downloads ORG/REPO (or its "
                    "https://huggingface.co/ link) from the Hub.",
                    model);
        return NULL;
    }
    if (quant[0]) {
        char id[320];
        snprintf(id, sizeof id, "%s:%s", repo, quant);
        json_t *have = lmx_compat_model(app, id);
        if (have) {
            json_decref(have);
            return json_pack("{s:s}", "status", "already_downloaded");
        }
    }
    char job[64];
    if (lmx_api_dl_start(app->downloads, repo, NULL, quant[0] ? quant : NULL, NULL, job, sizeof job,
                         e))
        return NULL;
    json_t *st = lmx_view_dl_status(app->downloads, job);
    json_t *o = st ? job_json(st)
                   : json_pack("{s:s,s:s,s:i,s:i}", "job_id", job, "status", "downloading",
                               "total_size_bytes", 0, "downloaded_bytes", 0);
    char ts[48];
    lmx_compat_iso(lmx_compat_wall(), 3, ts, sizeof ts);
    json_object_set_new(o, "started_at", json_string(ts));
    json_decref(st);
    return o;
}

LMX_HANDLER_CALL(lmx_h_lms_download, lmx_reply_work, 200, lms_download)

int lmx_h_lms_download_status(lmx_req *r, const char *job_id) {
    return reply_found(r, lmx_view_dl_status(lmx_req_app(r)->downloads, job_id), job_json,
                       "job_not_found", "job_id", "No download job with id '%.160s'.", job_id);
}

/* ---- generations: shared state ---- */

typedef struct {
    double t0, t_first, load_s;
    bool v1_started;
    lmx_buf text; /* v1 chat, streamed: the message so far (for chat.end) */
    const char *finish;
} lms_gen;

static void lms_gen_free(void *p) {
    lms_gen *st = p;
    lmx_buf_free(&st->text);
    free(st);
}

/* Loads just in time (LM Studio's JIT) with the request's ttl and context. */
static lmx_served *lms_acquire(lmx_req *r, const json_t *body, const char *model, int ctx,
                               double *load_s, lmx_api_err *e) {
    lmx_compat_load lo = {.ctx_size = ctx};
    int t = lmx_compat_seconds(body, "ttl", &lo.ttl_s, e);
    if (t < 0) return NULL;
    lo.ttl_given = t > 0;
    return lmx_compat_acquire(lmx_req_app(r), model, &lo, load_s, e);
}

static int lms_start(lmx_req *r, lmx_gen *g, const lmx_gen_fmt *fmt, bool stream, double t0,
                     double load_s) {
    lms_gen *st = calloc(1, sizeof *st);
    if (!st) {
        lmx_gen_free(g);
        lmx_api_err e;
        lmx_err_set(&e, 500, "server_error", NULL, NULL, "out of memory");
        return lmx_reply_err(r, &e);
    }
    st->t0 = t0;
    st->load_s = load_s;
    g->api = st;
    g->api_free = lms_gen_free;
    return lmx_reply_gen(r, g, fmt, stream);
}

static double gen_seconds(const lms_gen *st) {
    return st->t_first > 0 ? lmx_now_s() - st->t_first : 0;
}

/* ---- v0: OpenAI shapes + stats, model_info, runtime ---- */

static const char *stop_reason(const char *finish) {
    if (!finish || !strcmp(finish, "stop")) return "eosFound";
    if (!strcmp(finish, "length")) return "maxPredictedTokensReached";
    if (!strcmp(finish, "tool_calls")) return "toolCalls";
    return finish;
}

static void v0_extras(lmx_gen *g, json_t *o) {
    lms_gen *st = g->api;
    double gt = gen_seconds(st);
    json_t *c0 = json_array_get(json_object_get(o, "choices"), 0);
    json_object_set_new(
        o, "stats",
        json_pack("{s:f,s:f,s:f,s:s}", "tokens_per_second",
                  gt > 0 ? g->completion_tokens / gt : 0.0, "time_to_first_token",
                  st->t_first > 0 ? st->t_first - st->t0 : 0.0, "generation_time", gt,
                  "stop_reason",
                  stop_reason(json_string_value(json_object_get(c0, "finish_reason")))));
    json_object_set_new(o, "model_info",
                        json_pack("{s:s,s:s,s:s,s:i}", "arch", g->s->m->hp.arch, "quant",
                                  g->s->quant, "format", "gguf", "context_length", g->s->n_ctx));
    json_object_set_new(
        o, "runtime",
        json_pack("{s:s,s:s,s:[s]}", "name", "lmx", "version", "1", "supported_formats", "gguf"));
}

static void v0_note(lmx_gen *g, const lmx_event *ev) {
    lms_gen *st = g->api;
    if (ev && ev->type == LMX_EV_STARTED && st->t_first == 0) st->t_first = lmx_now_s();
}

static void v0_chat_stream(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out) {
    v0_note(g, ev);
    lmx_chat_stream(g, job, ev, out);
}
static void v0_cmpl_stream(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out) {
    v0_note(g, ev);
    lmx_completions_stream(g, job, ev, out);
}

/* Non-streamed generations see no STARTED event here (lmx_reply_gen pulls
 * them); the prefill figures come from the scheduler instead. */
static void v0_fix_first(lmx_gen *g) {
    lms_gen *st = g->api;
    if (st->t_first == 0) {
        double ttft = (g->queue_ms + g->prefill_ms) / 1000.0 + st->load_s;
        st->t_first = st->t0 + ttft;
    }
}

static json_t *v0_chat_body(lmx_gen *g) {
    v0_fix_first(g);
    json_t *o = lmx_chat_response(g);
    v0_extras(g, o);
    return o;
}
static json_t *v0_cmpl_body(lmx_gen *g) {
    v0_fix_first(g);
    json_t *o = lmx_completions_response(g);
    v0_extras(g, o);
    return o;
}

static const lmx_gen_fmt v0_chat_fmt = {"text/event-stream", v0_chat_stream, lmx_oai_sse_error,
                                        v0_chat_body, true};
static const lmx_gen_fmt v0_cmpl_fmt = {"text/event-stream", v0_cmpl_stream, lmx_oai_sse_error,
                                        v0_cmpl_body, true};

static lmx_served *v0_acquire(lmx_req *r, const json_t *body, const char *model, double *load_s,
                              lmx_api_err *e) {
    return lms_acquire(r, body, model, 0, load_s, e);
}

static int v0_generate(lmx_req *r, lmx_oai_kind kind) {
    double t0 = lmx_now_s();
    lmx_api_err e = {0};
    json_t *body = lmx_req_json(r, false, &e);
    if (!body) return lmx_reply_err(r, &e);
    lmx_oai_req q;
    double load_s = 0;
    lmx_gen *g = lmx_oai_begin(r, body, kind, &q, v0_acquire, &load_s, &e);
    const lmx_gen_fmt *fmt = kind == LMX_OAI_CHAT ? &v0_chat_fmt : &v0_cmpl_fmt;
    int ok = g ? lms_start(r, g, fmt, q.stream, t0, load_s) : lmx_reply_err(r, &e);
    lmx_oai_req_free(&q);
    json_decref(body);
    return ok;
}

LMX_HANDLER_CALL(lmx_h_lms_v0_chat, v0_generate, LMX_OAI_CHAT)
LMX_HANDLER_CALL(lmx_h_lms_v0_completions, v0_generate, LMX_OAI_COMPLETIONS)

/* /api/v0/embeddings: OpenAI's request and answer; the model is loaded just
 * in time, with the request's ttl, as on the other v0 routes. */
static lmx_served *v0_embed_acquire(lmx_req *r, const json_t *body, const char *model,
                                    lmx_api_err *e) {
    return lms_acquire(r, body, model, 0, NULL, e);
}

LMX_HANDLER_CALL(lmx_h_lms_v0_embeddings, lmx_embeddings_openai, v0_embed_acquire, "ttl")

static json_t *v0_entry(const json_t *m) {
    const char *id = json_string_value(json_object_get(m, "id"));
    char publisher[128], name[256];
    split_id(id, publisher, sizeof publisher, name, sizeof name);
    json_t *l = json_object_get(m, "loaded");
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:s,s:O}", "id", id, "object", "model", "type",
                  "llm", "publisher", publisher, "arch", lmx_jstr_or_null(m, "architecture"),
                  "compatibility_type", "gguf", "quantization", lmx_jstr_or_null(m, "quantization"),
                  "state", json_is_object(l) ? "loaded" : "not-loaded", "max_context_length",
                  json_object_get(m, "context_length"));
    if (json_is_object(l))
        json_object_set(o, "loaded_context_length", json_object_get(l, "context_length"));
    json_t *caps = json_array();
    if (json_is_true(json_object_get(m, "supports_tools")))
        json_array_append_new(caps, json_string("tool_use"));
    json_object_set_new(o, "capabilities", caps);
    return o;
}

int lmx_h_lms_v0_models(lmx_req *r, const char *id) {
    lmx_app *app = lmx_req_app(r);
    if (*id) {
        lmx_req_set_model(r, id);
        return reply_found(r, lmx_compat_model(app, id), v0_entry, "model_not_found", "model",
                           "Model '%.256s' not found.", id);
    }
    json_t *data = lmx_compat_models_map(app, v0_entry);
    return lmx_reply_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

/* ---- v1 chat: LM Studio's own shape ---- */

static void sse_event(lmx_buf *out, const char *type, json_t *data) {
    lmx_buf_add(out, "event: ", 7);
    lmx_buf_add(out, type, strlen(type));
    lmx_buf_add(out, "\n", 1);
    json_object_set_new(data, "type", json_string(type));
    lmx_sse_json(out, data);
    json_decref(data);
}

static json_t *v1_result(lmx_gen *g, const char *text, size_t len) {
    lms_gen *st = g->api;
    double gt = gen_seconds(st);
    json_t *content = json_stringn(text ? text : "", len);
    if (!content) content = json_string("");
    char rid[64];
    snprintf(rid, sizeof rid, "resp_%s", g->id + strlen("chatcmpl-"));
    json_t *stats =
        json_pack("{s:i,s:i,s:i,s:f,s:f}", "input_tokens", g->prompt_tokens, "total_output_tokens",
                  g->completion_tokens, "reasoning_output_tokens", 0, "tokens_per_second",
                  gt > 0 ? g->completion_tokens / gt : 0.0, "time_to_first_token_seconds",
                  st->t_first > 0 ? st->t_first - st->t0 : 0.0);
    if (st->load_s > 0)
        json_object_set_new(stats, "model_load_time_seconds", json_real(st->load_s));
    return json_pack("{s:s,s:[{s:s,s:o}],s:o,s:s}", "model_instance_id", g->s->name, "output",
                     "type", "message", "content", content, "stats", stats, "response_id", rid);
}

static void v1_stream(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out) {
    (void)job;
    lms_gen *st = g->api;
    if (!st->v1_started) {
        st->v1_started = true;
        sse_event(out, "chat.start", json_pack("{s:s}", "model_instance_id", g->s->name));
        if (st->load_s > 0) {
            sse_event(out, "model_load.start", json_pack("{s:s}", "model_instance_id", g->s->name));
            sse_event(out, "model_load.end",
                      json_pack("{s:s,s:f}", "model_instance_id", g->s->name, "load_time_seconds",
                                st->load_s));
        }
        sse_event(out, "prompt_processing.start", json_object());
    }
    if (!ev) {
        sse_event(out, "message.end", json_object());
        sse_event(out, "chat.end",
                  json_pack("{s:o}", "result", v1_result(g, st->text.p, st->text.n)));
        return;
    }
    switch (ev->type) {
    case LMX_EV_STARTED:
        st->t_first = lmx_now_s();
        sse_event(out, "prompt_processing.end", json_object());
        sse_event(out, "message.start", json_object());
        break;
    case LMX_EV_TOKEN: {
        if (!ev->text_len) break;
        lmx_buf_add(&st->text, ev->text, ev->text_len);
        json_t *c = json_stringn(ev->text, ev->text_len);
        sse_event(out, "message.delta", json_pack("{s:o}", "content", c ? c : json_string("")));
        break;
    }
    default:
        break;
    }
}

static void v1_stream_error(lmx_gen *g, const lmx_api_err *e, lmx_buf *out) {
    (void)g;
    sse_event(out, "error",
              json_pack("{s:{s:s,s:s}}", "error", "type", "internal_error", "message", e->message));
}

static json_t *v1_body(lmx_gen *g) {
    v0_fix_first(g);
    const lmx_choice *c = &g->ch[0];
    return v1_result(g, c->text.p, c->text.n);
}

static const lmx_gen_fmt v1_chat_fmt = {"text/event-stream", v1_stream, v1_stream_error, v1_body,
                                        true};

/* /api/v1/chat's input: a string, or items {type: "message", content} ({type:
 * "image"} is refused) → OpenAI user messages. */
static int v1_messages(const json_t *body, json_t *msgs, lmx_api_err *e) {
    json_t *sys = json_object_get(body, "system_prompt");
    if (sys && !json_is_null(sys)) {
        if (!json_is_string(sys)) {
            lmx_err_bad(e, "system_prompt", "'system_prompt' must be a string.");
            return -1;
        }
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "system", "content", sys));
    }
    json_t *in = json_object_get(body, "input");
    if (json_is_string(in)) {
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "user", "content", in));
        return 0;
    }
    if (!json_is_array(in) || !json_array_size(in)) {
        lmx_err_bad(e, "input", "'input' is required: a string or an array of input items.");
        return -1;
    }
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it) {
        const char *ty = json_string_value(json_object_get(it, "type"));
        json_t *c = json_object_get(it, "content");
        if (ty && !strcmp(ty, "image")) {
            lmx_err_bad(e, "input", "Image input is not supported: LMX serves text-only models.");
            return -1;
        }
        if (!ty || strcmp(ty, "message") || !json_is_string(c)) {
            lmx_err_bad(e, "input",
                        "Invalid 'input[%zu]': expected {\"type\": \"message\", \"content\": "
                        "string}.",
                        i);
            return -1;
        }
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "user", "content", c));
    }
    return 0;
}

int lmx_h_lms_chat(lmx_req *r, const char *rest) {
    (void)rest;
    double t0 = lmx_now_s();
    lmx_api_err e = {0};
    json_t *body = lmx_req_json(r, false, &e);
    if (!body) return lmx_reply_err(r, &e);
    json_t *oai = json_object();
    lmx_oai_req q;
    memset(&q, 0, sizeof q);
    int ok, ctx = 0;
    const char *model = model_field(body, "model", &e);
    if (!model) goto fail;
    lmx_req_set_model(r, model);
    json_t *integ = json_object_get(body, "integrations");
    if (json_is_array(integ) && json_array_size(integ)) {
        lmx_err_bad(&e, "integrations",
                    "Integrations (plugins, MCP servers) are not supported by LMX.");
        goto fail;
    }
    json_t *prev = json_object_get(body, "previous_response_id");
    if (prev && !json_is_null(prev)) {
        lmx_err_bad(&e, "previous_response_id",
                    "Stateful chats are not supported by LMX: send the whole conversation to "
                    "/v1/chat/completions instead.");
        goto fail;
    }
    json_t *msgs = json_array();
    json_object_set_new(oai, "model", json_string(model));
    json_object_set_new(oai, "messages", msgs);
    if (v1_messages(body, msgs, &e)) goto fail;
    static const char *const same[] = {"temperature", "top_p",          "top_k",
                                       "min_p",       "repeat_penalty", "stream"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        json_t *v = json_object_get(body, same[i]);
        if (v) json_object_set(oai, same[i], v);
    }
    json_t *mot = json_object_get(body, "max_output_tokens");
    if (mot) json_object_set(oai, "max_tokens", mot);
    json_t *reasoning = json_object_get(body, "reasoning");
    if (json_is_string(reasoning))
        json_object_set_new(oai, "chat_template_kwargs",
                            json_pack("{s:b}", "enable_thinking",
                                      strcmp(json_string_value(reasoning), "off") != 0));
    if (opt_int(body, "context_length", 16, 1 << 24, &ctx, &e)) goto fail;
    if (lmx_oai_parse(oai, LMX_OAI_CHAT, &q, &e)) goto fail;
    double load_s = 0;
    lmx_served *s = lms_acquire(r, body, model, ctx, &load_s, &e);
    if (!s) goto fail;
    lmx_gen *g = lmx_chat_start(s, &q, &e);
    if (!g) {
        lmx_mgr_release(s);
        goto fail;
    }
    ok = lms_start(r, g, &v1_chat_fmt, q.stream, t0, load_s);
    goto out;
fail:
    ok = lmx_reply_err(r, &e);
out:
    lmx_oai_req_free(&q);
    json_decref(oai);
    json_decref(body);
    return ok;
}
