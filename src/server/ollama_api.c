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
#include "server/compat.h"
#include "server/log.h"
#include "server/openai.h"
#include "server/openai_params.h"
#include "server/route.h"
#include "server/routes.h"
#include "util/clock.h"

/* The Ollama API level these routes follow (clients gate features on it). */
#define OL_VERSION "0.12.6"

/* ---- names ---- */

/* An Ollama model name → the LMX id or alias it means. */
static void ol_name(const char *in, char *out, size_t cap) {
    static const char *const prefixes[] = {"https://hf.co/", "https://huggingface.co/", "hf.co/",
                                           "huggingface.co/"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (!strncmp(in, prefixes[i], n)) {
            in += n;
            break;
        }
    }
    snprintf(out, cap, "%s", in);
    size_t n = strlen(out);
    if (n > 7 && !strcmp(out + n - 7, ":latest")) out[n - 7] = 0;
}

/* How /api/tags and /api/ps name an id: with a tag, as Ollama always does. */
static void ol_display(const char *id, char *out, size_t cap) {
    const char *slash = strrchr(id, '/');
    snprintf(out, cap, strchr(slash ? slash : id, ':') ? "%s" : "%s:latest", id);
}

/* ---- errors ---- */

static int ol_fail(lmx_req *r, int status, const char *fmt, const char *arg) {
    lmx_api_err e;
    lmx_err_set(&e, status, status == 404 ? "not_found_error" : "invalid_request_error", NULL,
                NULL, fmt, arg);
    return lmx_reply_err(r, &e);
}

/* Ollama's wording for a model it does not have. */
static void ol_not_found(lmx_api_err *e, const char *name) {
    if (e->status == 404)
        lmx_err_set(e, 404, "not_found_error", "model_not_found", "model",
                    "model \"%s\" not found, try pulling it first", name);
}

/* The request's "model" (or legacy "name"); NULL after answering 400. */
static const char *ol_model_field(lmx_req *r, json_t *body, int *ok) {
    json_t *m = json_object_get(body, "model");
    if (!json_is_string(m) || !json_string_length(m)) m = json_object_get(body, "name");
    if (!json_is_string(m) || !json_string_length(m)) {
        *ok = ol_fail(r, 400, "model is required%s", "");
        return NULL;
    }
    lmx_req_set_model(r, json_string_value(m));
    return json_string_value(m);
}

/* ---- keep_alive ---- */

/* Go's duration syntax ("5m", "1h30m", "300ms"), or a bare number of seconds. */
static bool parse_duration(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end != s && !*end) {
        *out = v;
        return true;
    }
    double sign = 1, total = 0;
    if (*s == '-' || *s == '+') sign = *s++ == '-' ? -1 : 1;
    if (!*s) return false;
    while (*s) {
        v = strtod(s, &end);
        if (end == s) return false;
        s = end;
        static const struct {
            const char *unit;
            double secs;
        } units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"ms", 1e-3},
                     {"s", 1},     {"m", 60},    {"h", 3600}};
        size_t k = 0;
        for (; k < sizeof units / sizeof units[0]; k++)
            if (!strncmp(s, units[k].unit, strlen(units[k].unit))) break;
        if (k == sizeof units / sizeof units[0]) return false;
        /* "ms" before "m"/"s": the table lists it first */
        total += v * units[k].secs;
        s += strlen(units[k].unit);
    }
    *out = sign * total;
    return true;
}

typedef enum { KA_ABSENT, KA_TTL, KA_FOREVER, KA_UNLOAD } ka_kind;

/* keep_alive → the manager's ttl: a duration, 0 (unload once the request is
 * done), negative (never unload). -1 with e set when unreadable. */
static int ol_keep_alive(const json_t *body, ka_kind *kind, double *ttl, lmx_api_err *e) {
    json_t *v = json_object_get(body, "keep_alive");
    *kind = KA_ABSENT;
    *ttl = 0;
    if (!v || json_is_null(v)) return 0;
    double secs;
    if (json_is_number(v))
        secs = json_number_value(v);
    else if (!json_is_string(v) || !parse_duration(json_string_value(v), &secs)) {
        lmx_err_bad(e, "keep_alive",
                    "invalid keep_alive: expected a duration such as \"5m\" or a number of "
                    "seconds");
        return -1;
    }
    if (!isfinite(secs)) secs = -1;
    if (secs < 0)
        *kind = KA_FOREVER;
    else if (secs == 0)
        *kind = KA_UNLOAD;
    else {
        *kind = KA_TTL;
        *ttl = secs;
    }
    return 0;
}

/* The manager's load options for a keep_alive: 0 unloads as soon as the
 * model is idle (the smallest ttl), negative keeps it (ttl 0: never). */
static void ka_load(ka_kind k, double ttl, lmx_compat_load *lo) {
    lo->ttl_given = k != KA_ABSENT;
    lo->ttl_s = k == KA_TTL ? ttl : k == KA_UNLOAD ? 1e-3 : 0;
}

/* ---- per-generation state and the NDJSON encoder ---- */

typedef struct {
    bool chat;         /* /api/chat: "message"; /api/generate: "response" */
    char model[256];   /* the name the client used, echoed as Ollama does */
    double t0, t_gen;  /* monotonic: request start, first token ready */
    double load_s;
    lmx_tc *tc;        /* streamed chat with tools */
    json_t *calls;     /* streamed: the calls parsed so far */
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

static json_t *text_json(const char *s, size_t n) {
    json_t *j = json_stringn(s ? s : "", n);
    return j ? j : json_string("");
}

/* An OpenAI tool call's arguments (a JSON string) as Ollama's object. */
static json_t *args_object(const char *args) {
    json_t *o = json_loads(args ? args : "{}", JSON_DECODE_ANY, NULL);
    if (json_is_object(o)) return o;
    json_decref(o);
    return json_object();
}

static json_t *ol_call(const char *name, const char *args) {
    return json_pack("{s:{s:s,s:o}}", "function", "name", name, "arguments", args_object(args));
}

static void ol_chunk(ol_gen *st, lmx_buf *out, const char *text, size_t n, json_t *calls) {
    json_t *o = ol_head(st->model);
    if (st->chat) {
        json_t *m = json_pack("{s:s,s:o}", "role", "assistant", "content", text_json(text, n));
        if (calls) json_object_set_new(m, "tool_calls", calls);
        json_object_set_new(o, "message", m);
    } else {
        json_object_set_new(o, "response", text_json(text, n));
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
        json_array_append_new(st->calls, ol_call(it->name, args));
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
                                  ol_call(json_string_value(json_object_get(fn, "name")),
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

/* ---- request translation ---- */

/* Ollama's sampling defaults (its Modelfile defaults), where the request
 * leaves them out: they differ from OpenAI's. */
static void ol_defaults(json_t *oai) {
    json_object_set_new(oai, "temperature", json_real(0.8));
    json_object_set_new(oai, "top_k", json_integer(40));
    json_object_set_new(oai, "top_p", json_real(0.9));
    json_object_set_new(oai, "repeat_penalty", json_real(1.1));
}

typedef struct {
    int num_ctx;       /* 0: not given */
    int repeat_last_n; /* INT32_MIN: not given */
    char ignored[256]; /* option names with no LMX equivalent, for the log */
} ol_opts;

/* options → OpenAI fields; the ones without an OpenAI field are kept in o. */
static int ol_options(const json_t *body, json_t *oai, ol_opts *o, lmx_api_err *e) {
    static const struct {
        const char *ollama, *openai;
    } map[] = {{"temperature", "temperature"},
               {"top_p", "top_p"},
               {"top_k", "top_k"},
               {"min_p", "min_p"},
               {"seed", "seed"},
               {"stop", "stop"},
               {"repeat_penalty", "repeat_penalty"},
               {"presence_penalty", "presence_penalty"},
               {"frequency_penalty", "frequency_penalty"}};
    o->num_ctx = 0;
    o->repeat_last_n = INT32_MIN;
    o->ignored[0] = 0;
    json_t *opts = json_object_get(body, "options");
    if (!opts || json_is_null(opts)) return 0;
    if (!json_is_object(opts)) {
        lmx_err_bad(e, "options", "options must be an object");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(opts, k, v) {
        if (json_is_null(v)) continue;
        size_t i = 0;
        while (i < sizeof map / sizeof map[0] && strcmp(map[i].ollama, k)) i++;
        if (i < sizeof map / sizeof map[0]) {
            json_object_set(oai, map[i].openai, v);
            continue;
        }
        if (!strcmp(k, "num_predict")) {
            if (!json_is_number(v)) {
                lmx_err_bad(e, "options.num_predict", "num_predict must be a number");
                return -1;
            }
            /* -1: until the end of the text, -2: fill the context: both LMX's default */
            if (json_number_value(v) > 0)
                json_object_set_new(oai, "max_tokens",
                                    json_integer((json_int_t)json_number_value(v)));
        } else if (!strcmp(k, "num_ctx") || !strcmp(k, "repeat_last_n")) {
            if (!json_is_number(v) || json_number_value(v) < -1 || json_number_value(v) > 1 << 24) {
                char p[32];
                snprintf(p, sizeof p, "options.%s", k);
                lmx_err_bad(e, p, "%s must be an integer", k);
                return -1;
            }
            if (k[0] == 'n')
                o->num_ctx = (int)json_number_value(v);
            else
                o->repeat_last_n = (int)json_number_value(v);
        } else {
            size_t n = strlen(o->ignored);
            snprintf(o->ignored + n, sizeof o->ignored - n, "%s%s", n ? "," : "", k);
        }
    }
    return 0;
}

/* format: "json" or a JSON schema → response_format. */
static int ol_format(const json_t *body, json_t *oai, lmx_api_err *e) {
    json_t *f = json_object_get(body, "format");
    if (!f || json_is_null(f) || (json_is_string(f) && !json_string_length(f))) return 0;
    if (json_is_string(f) && !strcmp(json_string_value(f), "json")) {
        json_object_set_new(oai, "response_format", json_pack("{s:s}", "type", "json_object"));
        return 0;
    }
    if (json_is_object(f)) {
        json_object_set_new(oai, "response_format",
                            json_pack("{s:s,s:{s:s,s:O,s:b}}", "type", "json_schema",
                                      "json_schema", "name", "format", "schema", f, "strict", 1));
        return 0;
    }
    lmx_err_bad(e, "format", "invalid format: expected \"json\" or a JSON schema object");
    return -1;
}

static bool has_images(const json_t *o) {
    json_t *im = json_object_get(o, "images");
    return json_is_array(im) && json_array_size(im);
}

static int no_images(lmx_api_err *e) {
    lmx_err_bad(e, "images",
                "images are not supported: the models LMX serves take text only");
    return -1;
}

/* Ollama chat messages → OpenAI's. */
static json_t *ol_messages(const json_t *msgs, lmx_api_err *e) {
    if (!json_is_array(msgs)) {
        lmx_err_bad(e, "messages", "messages must be an array");
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m) || !json_is_string(json_object_get(m, "role"))) {
            lmx_err_bad(e, "messages", "messages[%zu]: expected an object with a role", i);
            goto fail;
        }
        if (has_images(m)) {
            no_images(e);
            goto fail;
        }
        json_t *c = json_object_get(m, "content");
        json_t *n = json_pack("{s:O,s:o}", "role", json_object_get(m, "role"), "content",
                              c && !json_is_null(c) ? json_incref(c) : json_string(""));
        json_t *tn = json_object_get(m, "tool_name");
        if (json_is_string(tn)) json_object_set(n, "name", tn);
        json_t *tcs = json_object_get(m, "tool_calls");
        if (json_is_array(tcs) && json_array_size(tcs)) {
            json_t *calls = json_array();
            size_t j;
            json_t *tc;
            json_array_foreach(tcs, j, tc) {
                json_t *fn = json_object_get(tc, "function");
                json_t *args = json_object_get(fn, "arguments");
                char *a = json_is_string(args) ? strdup(json_string_value(args))
                                               : json_dumps(args ? args : json_object(),
                                                            JSON_COMPACT | JSON_ENCODE_ANY);
                char id[32];
                snprintf(id, sizeof id, "call_%zu_%zu", i, j);
                const char *name = json_string_value(json_object_get(fn, "name"));
                json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type",
                                                       "function", "function", "name",
                                                       name ? name : "", "arguments",
                                                       a ? a : "{}"));
                free(a);
            }
            json_object_set_new(n, "tool_calls", calls);
        }
        json_array_append_new(out, n);
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* ---- /api/chat and /api/generate ---- */

static int ol_unload(lmx_req *r, const char *req_name, const char *id, bool chat) {
    lmx_api_err e;
    if (lmx_mgr_unload(lmx_req_app(r)->mgr, id, &e)) {
        ol_not_found(&e, req_name);
        return lmx_reply_err(r, &e);
    }
    json_t *o = ol_head(req_name);
    if (chat)
        json_object_set_new(o, "message", json_pack("{s:s,s:s}", "role", "assistant", "content", ""));
    else
        json_object_set_new(o, "response", json_string(""));
    json_object_set_new(o, "done_reason", json_string("unload"));
    json_object_set_new(o, "done", json_true());
    return lmx_reply_json(r, 200, o);
}

static int ol_generate(lmx_req *r, bool chat) {
    lmx_app *app = lmx_req_app(r);
    double t0 = lmx_now_s();
    lmx_api_err e = {0};
    json_t *body = lmx_req_json(r, false, &e);
    if (!body) return lmx_reply_err(r, &e);
    json_t *oai = NULL;
    int ok = 0;
    if (!json_is_object(body)) {
        ok = ol_fail(r, 400, "the request body must be a JSON object%s", "");
        goto out;
    }
    const char *req_name = ol_model_field(r, body, &ok);
    if (!req_name) goto out;
    char id[256];
    ol_name(req_name, id, sizeof id);
    ka_kind ka;
    double ttl;
    if (ol_keep_alive(body, &ka, &ttl, &e)) goto fail;

    /* an empty request loads (or with keep_alive 0 unloads) the model */
    json_t *msgs = json_object_get(body, "messages");
    json_t *prompt = json_object_get(body, "prompt");
    bool empty = chat ? !json_is_array(msgs) || !json_array_size(msgs)
                      : !json_is_string(prompt) || !json_string_length(prompt);
    if (!chat && prompt && !json_is_null(prompt) && !json_is_string(prompt)) {
        lmx_err_bad(&e, "prompt", "prompt must be a string");
        goto fail;
    }
    if (chat && msgs && !json_is_null(msgs) && !json_is_array(msgs)) {
        lmx_err_bad(&e, "messages", "messages must be an array");
        goto fail;
    }
    if (empty && ka == KA_UNLOAD) {
        ok = ol_unload(r, req_name, id, chat);
        goto out;
    }
    if (!chat && has_images(body)) {
        no_images(&e);
        goto fail;
    }
    json_t *suffix = json_object_get(body, "suffix");
    if (!chat && json_is_string(suffix) && json_string_length(suffix)) {
        lmx_err_bad(&e, "suffix", "suffix (fill-in-the-middle) is not supported");
        goto fail;
    }
    bool raw = !chat && json_is_true(json_object_get(body, "raw"));
    json_t *stream_v = json_object_get(body, "stream");
    bool stream = !json_is_false(stream_v); /* Ollama streams unless told not to */

    oai = json_pack("{s:s}", "model", id);
    ol_defaults(oai);
    ol_opts oo;
    if (ol_options(body, oai, &oo, &e) || ol_format(body, oai, &e)) goto fail;
    if (chat) {
        json_t *m = msgs ? ol_messages(msgs, &e) : json_array();
        if (!m) goto fail;
        json_object_set_new(oai, "messages", m);
        json_t *tools = json_object_get(body, "tools");
        if (json_is_array(tools) && json_array_size(tools)) json_object_set(oai, "tools", tools);
    } else if (raw) {
        if (json_object_get(oai, "response_format")) {
            lmx_err_bad(&e, "format", "format is not supported with raw prompts");
            goto fail;
        }
        json_object_set_new(oai, "prompt", json_string(empty ? "" : json_string_value(prompt)));
    } else {
        json_t *m = json_array();
        json_t *sys = json_object_get(body, "system");
        if (json_is_string(sys) && json_string_length(sys))
            json_array_append_new(m, json_pack("{s:s,s:O}", "role", "system", "content", sys));
        json_array_append_new(m, json_pack("{s:s,s:s}", "role", "user", "content",
                                           empty ? "" : json_string_value(prompt)));
        json_object_set_new(oai, "messages", m);
    }
    json_t *think = json_object_get(body, "think");
    if (think && !json_is_null(think) && !raw)
        json_object_set_new(oai, "chat_template_kwargs",
                            json_pack("{s:b}", "enable_thinking", !json_is_false(think)));
    json_object_set_new(oai, "stream", json_boolean(stream));

    /* the model: loaded just in time, with num_ctx and keep_alive */
    lmx_compat_load lo = {.ctx_size = oo.num_ctx > 0 ? oo.num_ctx : 0};
    ka_load(ka, ttl, &lo);
    double load_s = 0;
    lmx_served *s = lmx_compat_acquire(app, id, &lo, &load_s, &e);
    if (!s) {
        ol_not_found(&e, req_name);
        goto fail;
    }
    if ((oo.num_ctx > 0 && oo.num_ctx != s->n_ctx) || oo.ignored[0]) {
        /* a loaded model keeps its context: reloading it would cut other
         * requests short; the request is served, and the log says so */
        json_t *f = json_pack("{s:s}", "model", s->name);
        if (oo.num_ctx > 0 && oo.num_ctx != s->n_ctx) {
            json_object_set_new(f, "num_ctx", json_integer(oo.num_ctx));
            json_object_set_new(f, "context_length", json_integer(s->n_ctx));
        }
        if (oo.ignored[0]) json_object_set_new(f, "ignored_options", json_string(oo.ignored));
        lmx_log("info", "ollama options not applied", f);
    }
    if (empty) {
        /* load request: answered once the model is ready */
        lmx_mgr_release(s);
        json_t *o = ol_head(req_name);
        if (chat)
            json_object_set_new(o, "message",
                                json_pack("{s:s,s:s}", "role", "assistant", "content", ""));
        else
            json_object_set_new(o, "response", json_string(""));
        json_object_set_new(o, "done_reason", json_string("load"));
        json_object_set_new(o, "done", json_true());
        ok = lmx_reply_json(r, 200, o);
        goto out;
    }
    lmx_oai_kind kind = raw ? LMX_OAI_COMPLETIONS : LMX_OAI_CHAT;
    lmx_oai_req q;
    if (lmx_oai_parse(oai, kind, &q, &e)) {
        lmx_oai_req_free(&q);
        lmx_mgr_release(s);
        goto fail;
    }
    if (oo.repeat_last_n != INT32_MIN)
        q.sample.repeat_last_n = oo.repeat_last_n == -1 ? s->n_ctx : oo.repeat_last_n;
    lmx_gen *g = kind == LMX_OAI_CHAT ? lmx_chat_start(s, &q, &e) : lmx_completions_start(s, &q, &e);
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
    ok = lmx_reply_gen(r, g, &ol_fmt, stream);
    goto out;
fail:
    ok = lmx_reply_err(r, &e);
out:
    json_decref(oai);
    json_decref(body);
    return ok;
}

int lmx_h_ol_chat(lmx_req *r, const char *rest) {
    (void)rest;
    return ol_generate(r, true);
}

int lmx_h_ol_generate(lmx_req *r, const char *rest) {
    (void)rest;
    return ol_generate(r, false);
}

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
    json_t *all = lmx_compat_models(lmx_req_app(r)), *models = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(all, i, m) json_array_append_new(models, ol_entry(m));
    json_decref(all);
    return lmx_reply_json(r, 200, json_pack("{s:o}", "models", models));
}

int lmx_h_ol_ps(lmx_req *r, const char *rest) {
    (void)rest;
    json_t *all = lmx_compat_models(lmx_req_app(r)), *models = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(all, i, m) {
        json_t *l = json_object_get(m, "loaded");
        if (!json_is_object(l)) continue;
        json_t *o = ol_entry(m);
        json_object_del(o, "modified_at");
        json_t *exp = json_object_get(l, "expires_at");
        char ts[48];
        /* never unloaded: Ollama shows a far future time */
        lmx_compat_iso(json_is_number(exp) ? json_number_value(exp) : 253402300799.0, 9, ts,
                       sizeof ts);
        json_object_set_new(o, "expires_at", json_string(ts));
        json_object_set(o, "size", json_object_get(l, "memory_bytes"));
        json_object_set_new(o, "size_vram", json_integer(0));
        json_object_set(o, "context_length", json_object_get(l, "context_length"));
        json_array_append_new(models, o);
    }
    json_decref(all);
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

int lmx_h_ol_show(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_app *app = lmx_req_app(r);
    lmx_api_err e = {0};
    json_t *body = lmx_req_json(r, false, &e);
    if (!body) return lmx_reply_err(r, &e);
    int ok = 0;
    const char *req_name = ol_model_field(r, body, &ok);
    if (!req_name) {
        json_decref(body);
        return ok;
    }
    char id[256];
    ol_name(req_name, id, sizeof id);
    json_t *m = lmx_compat_model(app, id);
    lmx_served *s = NULL;
    if (!m) {
        /* an alias or another name the manager resolves */
        s = lmx_mgr_acquire(app->mgr, id, &e);
        if (s) m = lmx_compat_model(app, s->name);
    }
    if (!m) {
        if (s) lmx_mgr_release(s);
        lmx_err_set(&e, 404, "not_found_error", "model_not_found", "model",
                    "model '%s' not found", req_name);
        json_decref(body);
        return lmx_reply_err(r, &e);
    }
    const char *mid = json_string_value(json_object_get(m, "id"));
    if (!s) {
        lmx_served **list;
        int n = lmx_mgr_list(app->mgr, &list);
        for (int i = 0; i < n; i++) {
            if (!s && !strcmp(list[i]->name, mid))
                s = list[i];
            else
                lmx_mgr_release(list[i]);
        }
        free(list);
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
             "# Modelfile generated by LMX (Ollama-compatible view)\nFROM %s\n",
             path ? path : mid);
    json_t *l = json_object_get(m, "loaded");
    json_int_t ctx = json_is_object(l) ? json_integer_value(json_object_get(l, "context_length"))
                                       : json_integer_value(json_object_get(m, "context_length"));
    snprintf(params, sizeof params, "num_ctx                        %lld", (long long)ctx);
    json_t *caps = json_pack("[s]", "completion");
    if (json_is_true(json_object_get(m, "supports_tools")) || (s && s->tmpl_tools))
        json_array_append_new(caps, json_string("tools"));
    char ts[48];
    lmx_compat_iso((double)json_integer_value(json_object_get(m, "modified")), 9, ts, sizeof ts);
    json_t *info = g ? ol_model_info(g, (uint64_t)json_integer_value(
                                            json_object_get(m, "parameters")))
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
    json_decref(body);
    return lmx_reply_json(r, 200, o);
}

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
    json_t *st = lmx_dl_status(p->app->downloads, p->id);
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
            ol_line(out, json_pack("{s:s,s:s,s:I,s:I}", "status", status, "digest", p->digest,
                                   "total", (json_int_t)total, "completed",
                                   (json_int_t)(strcmp(state, "queued") &&
                                                        strcmp(state, "downloading")
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

int lmx_h_ol_pull(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_app *app = lmx_req_app(r);
    lmx_api_err e = {0};
    json_t *body = lmx_req_json(r, false, &e);
    if (!body) return lmx_reply_err(r, &e);
    int ok = 0;
    const char *req_name = ol_model_field(r, body, &ok);
    if (!req_name) {
        json_decref(body);
        return ok;
    }
    /* hf.co/org/repo[:QUANT] → repo and quant */
    char id[256], repo[256], quant[64] = "";
    ol_name(req_name, id, sizeof id);
    snprintf(repo, sizeof repo, "%s", id);
    char *colon = strrchr(repo, ':');
    if (colon && colon > strrchr(repo, '/')) {
        snprintf(quant, sizeof quant, "%s", colon + 1);
        *colon = 0;
    }
    const char *slash = strchr(repo, '/');
    if (!slash || slash == repo || !slash[1] || strchr(slash + 1, '/')) {
        lmx_err_set(&e, 400, "invalid_request_error", NULL, "model",
                    "pull model manifest: '%s' is not a Hugging Face model: LMX pulls "
                    "hf.co/ORG/REPO[:QUANT] names from the Hugging Face Hub",
                    req_name);
        json_decref(body);
        return lmx_reply_err(r, &e);
    }
    bool stream = !json_is_false(json_object_get(body, "stream"));
    ol_pull *p = calloc(1, sizeof *p);
    if (!p) {
        json_decref(body);
        lmx_err_set(&e, 500, "server_error", NULL, NULL, "out of memory");
        return lmx_reply_err(r, &e);
    }
    p->app = app;
    char hex[65];
    lmx_compat_digest(id, hex);
    snprintf(p->digest, sizeof p->digest, "sha256:%s", hex);
    if (lmx_dl_start(app->downloads, repo, NULL, quant[0] ? quant : NULL, NULL, p->id,
                     sizeof p->id, &e)) {
        free(p);
        json_decref(body);
        return lmx_reply_err(r, &e);
    }
    json_decref(body);
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
        lmx_err_set(&e, 500, "server_error", NULL, NULL, "%s",
                    json_string_value(json_object_get(o, "error")));
        json_decref(o);
        return lmx_reply_err(r, &e);
    }
    return lmx_reply_json(r, 200, o ? o : json_pack("{s:s}", "status", "success"));
}

int lmx_h_ol_delete(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e = {0};
    json_t *body = lmx_req_json(r, false, &e);
    if (!body) return lmx_reply_err(r, &e);
    int ok = 0;
    const char *req_name = ol_model_field(r, body, &ok);
    if (!req_name) {
        json_decref(body);
        return ok;
    }
    char id[256];
    ol_name(req_name, id, sizeof id);
    if (lmx_mgr_delete(lmx_req_app(r)->mgr, id, &e)) {
        if (e.status == 404)
            lmx_err_set(&e, 404, "not_found_error", "model_not_found", "model",
                        "model '%s' not found", req_name);
        json_decref(body);
        return lmx_reply_err(r, &e);
    }
    json_decref(body);
    return lmx_reply_empty(r, 200);
}

/* ---- probes ---- */

int lmx_h_ol_root(lmx_req *r, const char *rest) {
    (void)rest;
    return lmx_reply_text(r, 200, "text/plain; charset=utf-8", "Ollama is running");
}

int lmx_h_ol_version(lmx_req *r, const char *rest) {
    (void)rest;
    return lmx_reply_json(r, 200, json_pack("{s:s}", "version", OL_VERSION));
}
