/* Ollama request bodies → LMX's (see ollama_req.h). */
#include "server/api/ollama_req.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json_array.h"

void lmx_ol_name(const char *in, char *out, size_t cap) {
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

/* ---- keep_alive ---- */

/* Go's duration syntax ("5m", "1h30m", "300ms"), or a bare number of seconds. */
bool lmx_ol_duration(const char *s, double *out) {
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

/* keep_alive → the manager's ttl: a duration, 0 (unload once the request is
 * done), negative (never unload). -1 with e set when unreadable. */
int lmx_ol_keep_alive(const json_t *body, lmx_ol_keep *kind, double *ttl, lmx_api_err *e) {
    json_t *v = json_object_get(body, "keep_alive");
    *kind = LMX_KA_ABSENT;
    *ttl = 0;
    if (!v || json_is_null(v)) return 0;
    double secs;
    if (json_is_number(v))
        secs = json_number_value(v);
    else if (!json_is_string(v) || !lmx_ol_duration(json_string_value(v), &secs)) {
        lmx_err_bad(e, "keep_alive",
                    "invalid keep_alive: expected a duration such as \"5m\" or a number of "
                    "seconds");
        return -1;
    }
    if (!isfinite(secs)) secs = -1;
    if (secs < 0)
        *kind = LMX_KA_FOREVER;
    else if (secs == 0)
        *kind = LMX_KA_UNLOAD;
    else {
        *kind = LMX_KA_TTL;
        *ttl = secs;
    }
    return 0;
}

/* ---- /api/chat and /api/generate → an OpenAI body ---- */

/* Ollama's sampling defaults (its Modelfile defaults), where the request
 * leaves them out: they differ from OpenAI's. */
static void ol_defaults(json_t *oai) {
    json_object_set_new(oai, "temperature", json_real(0.8));
    json_object_set_new(oai, "top_k", json_integer(40));
    json_object_set_new(oai, "top_p", json_real(0.9));
    json_object_set_new(oai, "repeat_penalty", json_real(1.1));
}

/* options → OpenAI fields; the ones without an OpenAI field are kept in o. */
static int ol_options(const json_t *body, json_t *oai, lmx_ol_req *o, lmx_api_err *e) {
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
            if (k[0] == 'n') {
                o->num_ctx = (int)json_number_value(v);
            } else {
                o->repeat_last_n = (int)json_number_value(v);
                o->repeat_last_n_given = true;
            }
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
                            json_pack("{s:s,s:{s:s,s:O,s:b}}", "type", "json_schema", "json_schema",
                                      "name", "format", "schema", f, "strict", 1));
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
    lmx_err_bad(e, "images", "images are not supported: the models LMX serves take text only");
    return -1;
}

/* One Ollama chat message → OpenAI's. */
static json_t *ol_message(const json_t *m, size_t i, void *ctx, lmx_api_err *e) {
    (void)ctx;
    if (!json_is_object(m) || !json_is_string(json_object_get(m, "role"))) {
        lmx_err_bad(e, "messages", "messages[%zu]: expected an object with a role", i);
        return NULL;
    }
    if (has_images(m)) {
        no_images(e);
        return NULL;
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
            char *a = json_is_string(args)
                          ? strdup(json_string_value(args))
                          : json_dumps(args ? args : json_object(), JSON_COMPACT | JSON_ENCODE_ANY);
            char id[32];
            snprintf(id, sizeof id, "call_%zu_%zu", i, j);
            const char *name = json_string_value(json_object_get(fn, "name"));
            json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type",
                                                   "function", "function", "name", name ? name : "",
                                                   "arguments", a ? a : "{}"));
            free(a);
        }
        json_object_set_new(n, "tool_calls", calls);
    }
    return n;
}

/* Ollama chat messages → OpenAI's. */
static json_t *ol_messages(const json_t *msgs, lmx_api_err *e) {
    if (!json_is_array(msgs)) {
        lmx_err_bad(e, "messages", "messages must be an array");
        return NULL;
    }
    return lmx_jmap(msgs, ol_message, NULL, e);
}

int lmx_ol_parse(json_t *body, bool chat, lmx_ol_req *q, lmx_api_err *e) {
    memset(q, 0, sizeof *q);
    q->chat = chat;
    if (!json_is_object(body)) {
        lmx_err_bad(e, NULL, "the request body must be a JSON object");
        return -1;
    }
    json_t *m = json_object_get(body, "model");
    if (!json_is_string(m) || !json_string_length(m)) m = json_object_get(body, "name");
    if (!json_is_string(m) || !json_string_length(m)) {
        lmx_err_bad(e, "model", "model is required");
        return -1;
    }
    q->name = json_string_value(m);
    lmx_ol_name(q->name, q->id, sizeof q->id);
    if (lmx_ol_keep_alive(body, &q->keep, &q->ttl_s, e)) return -1;
    /* Ollama's logprobs / top_logprobs: not translated (yet), so refused
     * rather than silently dropped; /v1/chat/completions has logprobs */
    json_t *lp = json_object_get(body, "logprobs"), *tlp = json_object_get(body, "top_logprobs");
    if ((lp && !json_is_null(lp) && !json_is_false(lp)) ||
        (tlp && !json_is_null(tlp) && !(json_is_integer(tlp) && !json_integer_value(tlp)))) {
        lmx_err_bad(e, lp && !json_is_false(lp) && !json_is_null(lp) ? "logprobs" : "top_logprobs",
                    "logprobs are not supported on this server's Ollama API; "
                    "POST /v1/chat/completions or /v1/completions with logprobs gives them");
        return -1;
    }

    /* an empty request loads (or with keep_alive 0 unloads) the model */
    json_t *msgs = json_object_get(body, "messages");
    json_t *prompt = json_object_get(body, "prompt");
    if (!chat && prompt && !json_is_null(prompt) && !json_is_string(prompt)) {
        lmx_err_bad(e, "prompt", "prompt must be a string");
        return -1;
    }
    if (chat && msgs && !json_is_null(msgs) && !json_is_array(msgs)) {
        lmx_err_bad(e, "messages", "messages must be an array");
        return -1;
    }
    q->empty = chat ? !json_is_array(msgs) || !json_array_size(msgs)
                    : !json_is_string(prompt) || !json_string_length(prompt);
    if (!chat && has_images(body)) return no_images(e);
    json_t *suffix = json_object_get(body, "suffix");
    if (!chat && json_is_string(suffix) && json_string_length(suffix)) {
        lmx_err_bad(e, "suffix", "suffix (fill-in-the-middle) is not supported");
        return -1;
    }
    q->raw = !chat && json_is_true(json_object_get(body, "raw"));
    q->stream = !json_is_false(json_object_get(body, "stream")); /* streams unless told not to */

    json_t *oai = json_pack("{s:s}", "model", q->id);
    q->oai = oai;
    ol_defaults(oai);
    if (ol_options(body, oai, q, e) || ol_format(body, oai, e)) return -1;
    if (chat) {
        json_t *mm = msgs ? ol_messages(msgs, e) : json_array();
        if (!mm) return -1;
        json_object_set_new(oai, "messages", mm);
        json_t *tools = json_object_get(body, "tools");
        if (json_is_array(tools) && json_array_size(tools)) json_object_set(oai, "tools", tools);
    } else if (q->raw) {
        if (json_object_get(oai, "response_format")) {
            lmx_err_bad(e, "format", "format is not supported with raw prompts");
            return -1;
        }
        json_object_set_new(oai, "prompt", json_string(q->empty ? "" : json_string_value(prompt)));
    } else {
        json_t *mm = json_array();
        json_t *sys = json_object_get(body, "system");
        if (json_is_string(sys) && json_string_length(sys))
            json_array_append_new(mm, json_pack("{s:s,s:O}", "role", "system", "content", sys));
        json_array_append_new(mm, json_pack("{s:s,s:s}", "role", "user", "content",
                                            q->empty ? "" : json_string_value(prompt)));
        json_object_set_new(oai, "messages", mm);
    }
    json_t *think = json_object_get(body, "think");
    if (think && !json_is_null(think) && !q->raw)
        json_object_set_new(oai, "chat_template_kwargs",
                            json_pack("{s:b}", "enable_thinking", !json_is_false(think)));
    json_object_set_new(oai, "stream", json_boolean(q->stream));
    return 0;
}

void lmx_ol_req_free(lmx_ol_req *q) {
    json_decref(q->oai);
    q->oai = NULL;
}

json_t *lmx_ol_call(const char *id, int index, const char *name, const char *args) {
    json_t *a = json_loads(args ? args : "{}", JSON_DECODE_ANY, NULL);
    if (!json_is_object(a)) {
        json_decref(a);
        a = json_object();
    }
    return json_pack("{s:s,s:{s:i,s:s,s:o}}", "id", id ? id : "", "function", "index", index,
                     "name", name ? name : "", "arguments", a);
}
