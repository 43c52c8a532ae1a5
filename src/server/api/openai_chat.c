/* /v1/chat/completions: OpenAI's chat.completion and chat.completion.chunk
 * shapes.
 *
 * Streams follow OpenAI's order: per choice a first chunk with the role (sent
 * when the prompt has been read), content deltas, a chunk with the
 * finish_reason; with stream_options.include_usage every chunk carries
 * "usage": null and one last chunk with empty choices carries the usage; then
 * "data: [DONE]".
 *
 * With tools (and tool_choice other than "none") each choice's output goes
 * through the model family's tool-call parser (text/toolcall.h): calls become
 * message.tool_calls / delta.tool_calls and finish_reason "tool_calls"; text
 * that may be call markup is held back from content deltas until resolved.
 * tool_choice "required" or a named function opens the call in the prompt
 * (the family's marker, and the name), the parser is fed that opening first,
 * and the rest of the call is constrained by a grammar (text/json_schema.h):
 * a tool's name, then arguments valid under its "parameters", then the
 * call's closing and the end of the output. Families whose call form the
 * grammar does not cover (Qwen3-Coder's XML parameters) keep the opening
 * alone. A tool call grammar replaces a response_format one.
 *
 * With a template that writes thoughts (text/reasoning.h) the output is split
 * first (server/core/gen.c): the thought goes to message.reasoning_content /
 * delta.reasoning_content, the answer to content and the tool-call parser.
 * Whether the output starts inside the thought is read off the prompt's own
 * end (QwQ's and R1's templates open it; Qwen3's closes an empty one when
 * enable_thinking is false), so it follows chat_template_kwargs per request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api/openai_chat.h"
#include "server/core/chat_prompt.h"
#include "text/json_schema.h"
#include "util/json.h"

/* The prompt ends inside an open <think>: decode its last tokens' text. */
static bool prompt_opens_thought(const lmx_served *s, const int32_t *toks, int n) {
    char text[512];
    size_t len = 0;
    for (int i = n > 32 ? n - 32 : 0; i < n && sizeof text - len > 1; i++)
        len += lmx_served_piece(s, toks[i], text + len, sizeof text - len);
    return lmx_rsn_prompt_opens(text, len);
}

lmx_gen *lmx_chat_start(lmx_served *s, const lmx_oai_req *r, lmx_api_err *e) {
    int32_t *toks;
    int n;
    bool tools = r->tools && r->tool_choice != LMX_TOOL_NONE && s->tc_family != LMX_TC_NONE;
    char *prefix = NULL;
    if (tools && (r->tool_choice == LMX_TOOL_REQUIRED || r->tool_choice == LMX_TOOL_NAMED))
        prefix = lmx_tc_forced_prefix(s->tc_family,
                                      r->tool_choice == LMX_TOOL_NAMED ? r->tool_name : NULL,
                                      s->tc_mistral_args);
    lmx_gram *tg = NULL;
    lmx_oai_req r2 = *r;
    /* Mistral's [TOOL_CALLS] and Llama's <|python_tag|> are control tokens */
    r2.special_text = tools && (s->tc_family == LMX_TC_MISTRAL || s->tc_family == LMX_TC_LLAMA3);
    if (lmx_chat_prompt(s, &r2, prefix, &toks, &n, e)) {
        free(prefix);
        return NULL;
    }
    /* the forced call's grammar only once the prompt is known to fit: a
     * request refused for its length must not pay for thousands of properties */
    if (prefix && lmx_gen_check(s, &r2, &n, 1, e)) {
        free(prefix);
        free(toks);
        return NULL;
    }
    if (prefix) {
        bool none;
        char err[512];
        tg = lmx_tool_call_grammar(s->tc_family, r->tools,
                                   r->tool_choice == LMX_TOOL_NAMED ? r->tool_name : NULL,
                                   s->tc_mistral_args, &none, err, sizeof err);
        if (!tg && !none) {
            char param[64];
            snprintf(param, sizeof param, "%.*s", (int)strcspn(err, ":"), err);
            lmx_err_bad(e, param, "%s", err);
            free(prefix);
            free(toks);
            return NULL;
        }
    }
    if (tg) r2.grammar = tg;
    lmx_gen *g = lmx_gen_start(s, &r2, &toks, &n, 1, e);
    if (g && s->tmpl_reasoning && !r->reasoning_none && !prefix) {
        g->reasoning = true;
        g->think_open = prompt_opens_thought(s, toks, n);
    }
    lmx_gram_release(tg); /* the job holds its own reference */
    free(toks);
    if (g && tools) {
        g->tc_family = s->tc_family;
        g->tools = json_incref(r->tools);
        g->parallel_calls = r->parallel_tool_calls;
        g->tc_prefix = prefix;
        prefix = NULL;
    }
    free(prefix);
    return g;
}

lmx_tc *lmx_chat_parser(const lmx_gen *g, int i) {
    uint64_t seed = 1469598103934665603ull ^ (uint64_t)i;
    for (const char *p = g->id; *p; p++) seed = (seed ^ (unsigned char)*p) * 1099511628211ull;
    lmx_tc *p = lmx_tc_new(g->tc_family, g->tools, seed);
    if (p && g->tc_prefix) lmx_tc_feed(p, g->tc_prefix, strlen(g->tc_prefix), NULL);
    return p;
}

/* Calls that parsed are complete even when max_tokens cut what followed
 * them (the closing marker, the end token): agents act on finish_reason
 * "tool_calls", so it wins over "length". */
static const char *finish_of(const char *reason, int n_calls) {
    if (!reason) reason = "stop";
    return n_calls ? "tool_calls" : reason;
}

static json_t *head(const lmx_gen *g, const char *object) {
    return json_pack("{s:s,s:s,s:I,s:s,s:s}", "id", g->id, "object", object, "created",
                     (json_int_t)g->created, "model", g->s->name, "system_fingerprint",
                     LMX_SYSTEM_FINGERPRINT);
}

/* message for choice c: content (+ tool_calls when the output is parsed). */
static json_t *message(const lmx_gen *g, int i, const lmx_choice *c, int *n_calls) {
    const char *text = c->text.p ? c->text.p : "";
    size_t len = c->text.n;
    *n_calls = 0;
    lmx_tc *p = g->tc_family != LMX_TC_NONE ? lmx_chat_parser(g, i) : NULL;
    if (p && (lmx_tc_feed(p, text, len, NULL) || lmx_tc_finish(p, NULL))) {
        lmx_tc_free(p);
        p = NULL;
    }
    if (p) text = lmx_tc_content(p, &len);
    json_t *msg = json_pack("{s:s,s:o,s:n}", "role", "assistant", "content",
                            lmx_jtext(text, len), "refusal");
    if (c->reasoning.n)
        json_object_set_new(msg, "reasoning_content", lmx_jtext(c->reasoning.p, c->reasoning.n));
    if (p && lmx_tc_n_calls(p)) {
        int n = g->parallel_calls ? lmx_tc_n_calls(p) : 1;
        json_t *calls = json_array();
        for (int k = 0; k < n; k++) {
            const char *id, *name, *args;
            lmx_tc_call(p, k, &id, &name, &args);
            json_array_append_new(calls,
                                  json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type", "function",
                                            "function", "name", name, "arguments", args));
        }
        json_object_set_new(msg, "tool_calls", calls);
        size_t k = 0;
        while (k < len && strchr(" \t\r\n", text[k])) k++;
        if (k == len) json_object_set_new(msg, "content", json_null());
        *n_calls = n;
    }
    lmx_tc_free(p);
    return msg;
}

json_t *lmx_chat_response(const lmx_gen *g) {
    json_t *o = head(g, "chat.completion"), *choices = json_array();
    for (int i = 0; i < g->n_choices; i++) {
        const lmx_choice *c = &g->ch[i];
        int n_calls;
        json_t *msg = message(g, i, c, &n_calls);
        json_t *lp = json_null();
        if (g->top_logprobs >= 0)
            lp = c->lp ? json_pack("{s:O,s:n}", "content", c->lp, "refusal")
                       : json_pack("{s:[],s:n}", "content", "refusal");
        json_array_append_new(choices,
                              json_pack("{s:i,s:o,s:o,s:s}", "index", i, "message", msg, "logprobs",
                                        lp, "finish_reason", finish_of(c->finish, n_calls)));
    }
    json_object_set_new(o, "choices", choices);
    json_object_set_new(o, "usage", lmx_gen_usage(g));
    return o;
}

static json_t *chunk(const lmx_gen *g, json_t *choices) {
    json_t *o = head(g, "chat.completion.chunk");
    json_object_set_new(o, "choices", choices);
    if (g->include_usage) json_object_set_new(o, "usage", json_null());
    return o;
}

static void emit(lmx_buf *out, json_t *o) {
    lmx_sse_json(out, o);
    json_decref(o);
}

/* A chunk with a thought's text (*lpo rides on it and is set to NULL). */
static void send_reasoning(lmx_gen *g, lmx_buf *out, int index, json_t **lpo) {
    if (!g->thought_len) return;
    json_t *lp = lpo && *lpo ? *lpo : json_null();
    if (lpo) *lpo = NULL;
    emit(out, chunk(g, json_pack("[{s:i,s:{s:o},s:o,s:n}]", "index", index, "delta",
                                 "reasoning_content",
                                 lmx_jtext(g->thought, g->thought_len), "logprobs", lp,
                                 "finish_reason")));
}

/* The chunks of a parser delta: content deltas; per call one chunk with its
 * id, type and name (arguments "") and one with the arguments. *lpo (the
 * token's logprobs) rides on the first chunk and is set to NULL. */
static void send_items(lmx_gen *g, lmx_buf *out, int index, const lmx_tc_delta *d, json_t **lpo) {
    for (int i = 0; i < d->n; i++) {
        const lmx_tc_item *it = &d->items[i];
        json_t *lp = lpo && *lpo ? *lpo : json_null();
        if (lpo) *lpo = NULL;
        if (it->index < 0) {
            emit(out, chunk(g, json_pack("[{s:i,s:{s:o},s:o,s:n}]", "index", index, "delta",
                                         "content", lmx_jtext(it->text, it->len), "logprobs",
                                         lp, "finish_reason")));
            continue;
        }
        if (!g->parallel_calls && it->index > 0) {
            json_decref(lp);
            continue;
        }
        emit(out, chunk(g, json_pack("[{s:i,s:{s:[{s:i,s:s,s:s,s:{s:s,s:s}}]},s:o,s:n}]", "index",
                                     index, "delta", "tool_calls", "index", it->index, "id", it->id,
                                     "type", "function", "function", "name", it->name, "arguments",
                                     "", "logprobs", lp, "finish_reason")));
        emit(out,
             chunk(g, json_pack("[{s:i,s:{s:[{s:i,s:{s:o}}]},s:n,s:n}]", "index", index, "delta",
                                "tool_calls", "index", it->index, "function", "arguments",
                                lmx_jtext(it->text, it->len), "logprobs", "finish_reason")));
    }
}

void lmx_chat_stream(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out) {
    if (!ev) {
        if (g->include_usage) {
            json_t *o = head(g, "chat.completion.chunk");
            json_object_set_new(o, "choices", json_array());
            json_object_set_new(o, "usage", lmx_gen_usage(g));
            emit(out, o);
        }
        lmx_sse_done(out);
        return;
    }
    int base = job * g->n;
    switch (ev->type) {
    case LMX_EV_STARTED: {
        json_t *cs = json_array();
        for (int c = 0; c < g->n; c++)
            json_array_append_new(cs, json_pack("{s:i,s:{s:s,s:s,s:n},s:n,s:n}", "index", base + c,
                                                "delta", "role", "assistant", "content", "",
                                                "refusal", "logprobs", "finish_reason"));
        emit(out, chunk(g, cs));
        break;
    }
    case LMX_EV_TOKEN: {
        bool lp = g->top_logprobs >= 0 && ev->token >= 0;
        json_t *lpo = lp ? json_pack("{s:[o],s:n}", "content",
                                     lmx_gen_lp_entry(g, ev->token, ev->logprob, ev), "refusal")
                         : NULL;
        send_reasoning(g, out, base + ev->choice, &lpo);
        if (g->tc_family != LMX_TC_NONE) {
            lmx_choice *c = &g->ch[base + ev->choice];
            if (!c->tc) c->tc = lmx_chat_parser(g, base + ev->choice);
            lmx_tc_delta d = {0};
            if (c->tc && ev->text_len) lmx_tc_feed(c->tc, ev->text, ev->text_len, &d);
            send_items(g, out, base + ev->choice, &d, &lpo);
            lmx_tc_delta_clear(&d);
            if (lpo)
                emit(out,
                     chunk(g, json_pack("[{s:i,s:{s:s},s:o,s:n}]", "index", base + ev->choice,
                                        "delta", "content", "", "logprobs", lpo, "finish_reason")));
            break;
        }
        if (!ev->text_len && !lpo) break;
        emit(out,
             chunk(g, json_pack("[{s:i,s:{s:o},s:o,s:n}]", "index", base + ev->choice, "delta",
                                "content", lmx_jtext(ev->text ? ev->text : "", ev->text_len),
                                "logprobs", lpo ? lpo : json_null(), "finish_reason")));
        break;
    }
    case LMX_EV_FINISH: {
        int n_calls = 0;
        send_reasoning(g, out, base + ev->choice, NULL); /* held back by the split */
        if (ev->text_len && g->tc_family == LMX_TC_NONE)
            emit(out, chunk(g, json_pack("[{s:i,s:{s:o},s:n,s:n}]", "index", base + ev->choice,
                                         "delta", "content", lmx_jtext(ev->text, ev->text_len),
                                         "logprobs", "finish_reason")));
        if (g->tc_family != LMX_TC_NONE) {
            lmx_choice *c = &g->ch[base + ev->choice];
            if (!c->tc) c->tc = lmx_chat_parser(g, base + ev->choice);
            lmx_tc_delta d = {0};
            if (c->tc) {
                if (ev->text_len) lmx_tc_feed(c->tc, ev->text, ev->text_len, &d);
                lmx_tc_finish(c->tc, &d);
                n_calls = lmx_tc_n_calls(c->tc);
            }
            send_items(g, out, base + ev->choice, &d, NULL);
            lmx_tc_delta_clear(&d);
        }
        emit(out, chunk(g, json_pack("[{s:i,s:{},s:n,s:s}]", "index", base + ev->choice, "delta",
                                     "logprobs", "finish_reason",
                                     finish_of(ev->finish_reason, n_calls))));
        break;
    }
    default:
        break;
    }
}
