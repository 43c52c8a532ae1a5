/* Anthropic's Messages API: POST /v1/messages and /v1/messages/count_tokens.
 *
 * As with the Responses API (responses_api.c), a request is translated into
 * a Chat Completions body and run by the chat machinery (chat_bridge.h):
 * system → a system message, text blocks → content, tool_use blocks →
 * assistant tool_calls (input serialized as the arguments), tool_result
 * blocks → tool messages, tools' input_schema → function parameters,
 * tool_choice any → required and tool → a named function, stop_sequences →
 * stop. Errors use Anthropic's shape ({"type": "error", "error": {type,
 * message}}), chosen by the route's error style.
 *
 * Output: the choice's text goes through the chat tool-call parser; text
 * becomes a "text" block and each call a "tool_use" block (id "toolu_…",
 * input the parsed arguments) in the order written. One code path builds
 * the streamed events and the final message; the non-streamed answer replays
 * the whole text through it with the events discarded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api/anthropic_api.h"
#include "server/core/chat_bridge.h"
#include "server/core/json_handler.h"

static const lmx_bridge_field fields[] = {
    {"model", LMX_BR_OK},
    {"messages", LMX_BR_OK},
    {"max_tokens", LMX_BR_OK},
    {"system", LMX_BR_OK},
    {"stop_sequences", LMX_BR_OK},
    {"stream", LMX_BR_OK},
    {"temperature", LMX_BR_OK},
    {"top_p", LMX_BR_OK},
    {"top_k", LMX_BR_OK},
    {"metadata", LMX_BR_IGNORED},
    {"tools", LMX_BR_OK},
    {"tool_choice", LMX_BR_OK},
    {"thinking", LMX_BR_OK},
    {"service_tier", LMX_BR_IGNORED},
    {"context_management", LMX_BR_IGNORED},
    LMX_BRIDGE_SAMPLER_EXT,
};

static const lmx_bridge_name names[] = {
    {"stop", "stop_sequences"},
    {NULL, NULL},
};

static int field_policy(const char *k) {
    return lmx_bridge_field_policy(fields, sizeof fields / sizeof fields[0], k);
}

/* Anthropic names fields with dots: messages.0.content.1 */
static int bad(lmx_api_err *e, const char *param, const char *msg) {
    lmx_err_bad(e, param, "%s%s%s", param ? param : "", param ? ": " : "", msg);
    return -1;
}

/* The text of a text-block array or a string (tool_result content, system). */
static int blocks_text(const json_t *c, const char *where, lmx_buf *b, lmx_api_err *e) {
    if (json_is_string(c)) {
        lmx_buf_add(b, json_string_value(c), json_string_length(c));
        return 0;
    }
    if (!json_is_array(c)) return bad(e, where, "Input should be a valid string or list of blocks");
    size_t i;
    json_t *x;
    json_array_foreach(c, i, x) {
        const char *t = lmx_jstr(x, "type"), *text = lmx_jstr(x, "text");
        char w[96];
        snprintf(w, sizeof w, "%s.%zu", where, i);
        if (!t || strcmp(t, "text") || !text)
            return bad(e, w,
                       t && (!strcmp(t, "image") || !strcmp(t, "document"))
                           ? "image and document content is not supported by this server"
                           : "expected a text block {\"type\": \"text\", \"text\": STRING}");
        if (b->n) lmx_buf_add(b, "\n", 1);
        lmx_buf_add(b, text, strlen(text));
    }
    return 0;
}

/* One Anthropic message → chat messages appended to msgs. */
static int message_to_chat(const json_t *m, size_t i, json_t *msgs, lmx_api_err *e) {
    char w[64];
    snprintf(w, sizeof w, "messages.%zu", i);
    const char *role = lmx_jstr(m, "role");
    if (!role || (strcmp(role, "user") && strcmp(role, "assistant"))) {
        char wr[80];
        snprintf(wr, sizeof wr, "%s.role", w);
        return bad(e, wr, "Input should be 'user' or 'assistant'");
    }
    bool user = !strcmp(role, "user");
    json_t *c = json_object_get(m, "content");
    if (json_is_string(c)) {
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", role, "content", c));
        return 0;
    }
    char wc[80];
    snprintf(wc, sizeof wc, "%s.content", w);
    if (!json_is_array(c)) return bad(e, wc, "Input should be a valid string or list of blocks");
    lmx_buf text = {0};
    json_t *calls = json_array();
    size_t j;
    json_t *b;
    json_array_foreach(c, j, b) {
        char wb[96];
        snprintf(wb, sizeof wb, "%s.%zu", wc, j);
        const char *t = lmx_jstr(b, "type");
        if (t && !strcmp(t, "text") && lmx_jstr(b, "text")) {
            if (text.n) lmx_buf_add(&text, "\n", 1);
            lmx_buf_add(&text, lmx_jstr(b, "text"), strlen(lmx_jstr(b, "text")));
        } else if (t && !user && !strcmp(t, "tool_use")) {
            const char *id = lmx_jstr(b, "id"), *name = lmx_jstr(b, "name");
            json_t *input = json_object_get(b, "input");
            if (!id || !name || !json_is_object(input)) {
                bad(e, wb, "a tool_use block needs string 'id' and 'name' and an object 'input'");
                goto fail;
            }
            char *args = json_dumps(input, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type",
                                                   "function", "function", "name", name,
                                                   "arguments", args ? args : "{}"));
            free(args);
        } else if (t && user && !strcmp(t, "tool_result")) {
            const char *id = lmx_jstr(b, "tool_use_id");
            json_t *rc = json_object_get(b, "content");
            lmx_buf rt = {0};
            char wr[112];
            snprintf(wr, sizeof wr, "%s.content", wb);
            if (!id) {
                bad(e, wb, "a tool_result block needs a string 'tool_use_id'");
                goto fail;
            }
            if (rc && !json_is_null(rc) && blocks_text(rc, wr, &rt, e)) {
                lmx_buf_free(&rt);
                goto fail;
            }
            if (json_is_true(json_object_get(b, "is_error"))) {
                json_t *s = lmx_buf_json_string(&rt);
                lmx_buf_add(&rt, "Error: ", 7);
                lmx_buf_add(&rt, json_string_value(s), json_string_length(s));
                json_decref(s);
            }
            json_array_append_new(msgs, json_pack("{s:s,s:s,s:o}", "role", "tool", "tool_call_id",
                                                  id, "content", lmx_buf_json_string(&rt)));
        } else if (t && (!strcmp(t, "thinking") || !strcmp(t, "redacted_thinking"))) {
            continue; /* earlier thoughts are not shown to the model again */
        } else if (t && (!strcmp(t, "image") || !strcmp(t, "document"))) {
            bad(e, wb, "image and document content is not supported by this server");
            goto fail;
        } else {
            lmx_err_bad(e, wb, "%s: unsupported content block type '%s' in a %s message", wb,
                        t ? t : "(none)", role);
            goto fail;
        }
    }
    if (json_array_size(calls)) {
        json_t *msg =
            json_pack("{s:s,s:o,s:O}", "role", "assistant", "content",
                      text.n ? lmx_buf_json_string(&text) : json_null(), "tool_calls", calls);
        json_array_append_new(msgs, msg);
    } else if (text.n || !user || !json_array_size(c))
        json_array_append_new(
            msgs, json_pack("{s:s,s:o}", "role", role, "content", lmx_buf_json_string(&text)));
    lmx_buf_free(&text);
    json_decref(calls);
    return 0;
fail:
    lmx_buf_free(&text);
    json_decref(calls);
    return -1;
}

/* The chat body for req (new reference). *parallel: parallel tool use. */
static json_t *translate(json_t *req, bool *parallel, lmx_api_err *e) {
    const char *k;
    json_t *v;
    json_object_foreach(req, k, v) {
        if (field_policy(k) < 0) {
            bad(e, k, "Extra inputs are not permitted");
            return NULL;
        }
    }
    json_t *model = lmx_jopt(req, "model"), *msgs_in = lmx_jopt(req, "messages"),
           *max = lmx_jopt(req, "max_tokens"), *sys = lmx_jopt(req, "system"),
           *tools = lmx_jopt(req, "tools"), *tc = lmx_jopt(req, "tool_choice"),
           *stops = lmx_jopt(req, "stop_sequences");
    if (!json_is_string(model)) {
        bad(e, "model", model ? "Input should be a valid string" : "Field required");
        return NULL;
    }
    if (!max) {
        bad(e, "max_tokens", "Field required");
        return NULL;
    }
    if (!json_is_array(msgs_in)) {
        bad(e, "messages", msgs_in ? "Input should be a valid list" : "Field required");
        return NULL;
    }
    json_t *msgs = json_array();
    if (sys) {
        lmx_buf b = {0};
        if (blocks_text(sys, "system", &b, e)) {
            lmx_buf_free(&b);
            json_decref(msgs);
            return NULL;
        }
        json_array_append_new(
            msgs, json_pack("{s:s,s:o}", "role", "system", "content", lmx_buf_json_string(&b)));
    }
    size_t i;
    json_t *m;
    json_array_foreach(msgs_in, i, m) {
        if (!json_is_object(m)) {
            char w[48];
            snprintf(w, sizeof w, "messages.%zu", i);
            bad(e, w, "Input should be a valid dictionary");
            json_decref(msgs);
            return NULL;
        }
        if (message_to_chat(m, i, msgs, e)) {
            json_decref(msgs);
            return NULL;
        }
    }
    json_t *chat = json_pack("{s:O,s:o,s:O}", "model", model, "messages", msgs, "max_tokens", max);
    *parallel = true;
    if (tools && json_array_size(tools)) {
        if (!json_is_array(tools)) {
            bad(e, "tools", "Input should be a valid list");
            goto fail;
        }
        json_t *out = json_array();
        json_object_set_new(chat, "tools", out);
        json_array_foreach(tools, i, v) {
            char w[48];
            snprintf(w, sizeof w, "tools.%zu", i);
            const char *type = lmx_jstr(v, "type"), *name = lmx_jstr(v, "name");
            if (type && strcmp(type, "custom")) {
                lmx_err_bad(e, w,
                            "%s: server tools ('%s') are not supported by this server; only "
                            "client tools with an input_schema are",
                            w, type);
                goto fail;
            }
            if (!name || !json_is_object(json_object_get(v, "input_schema"))) {
                bad(e, w, "a tool needs a string 'name' and an object 'input_schema'");
                goto fail;
            }
            json_t *fn = json_pack("{s:s,s:O}", "name", name, "parameters",
                                   json_object_get(v, "input_schema"));
            if (lmx_jstr(v, "description"))
                json_object_set(fn, "description", json_object_get(v, "description"));
            json_array_append_new(out, json_pack("{s:s,s:o}", "type", "function", "function", fn));
        }
    }
    if (tc) {
        const char *type = lmx_jstr(tc, "type"), *name = lmx_jstr(tc, "name");
        json_t *choice = NULL;
        if (type && !strcmp(type, "auto"))
            choice = json_string("auto");
        else if (type && !strcmp(type, "any"))
            choice = json_string("required");
        else if (type && !strcmp(type, "none"))
            choice = json_string("none");
        else if (type && !strcmp(type, "tool") && name)
            choice = json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", name);
        if (!choice) {
            bad(e, "tool_choice",
                "expected {\"type\": \"auto\" | \"any\" | \"none\"} or {\"type\": \"tool\", "
                "\"name\": NAME}");
            goto fail;
        }
        if (json_is_true(json_object_get(tc, "disable_parallel_tool_use"))) {
            *parallel = false;
            json_object_set_new(chat, "parallel_tool_calls", json_false());
        }
        json_object_set_new(chat, "tool_choice", choice);
    }
    if (stops) {
        if (!json_is_array(stops)) {
            bad(e, "stop_sequences", "Input should be a valid list");
            goto fail;
        }
        /* empty ones never match (and the chat parser drops them): keep the
         * indices the scheduler reports in step with this list */
        json_t *kept = json_array();
        json_array_foreach(stops, i, v) {
            if (!json_is_string(v)) {
                char w[48];
                snprintf(w, sizeof w, "stop_sequences.%zu", i);
                json_decref(kept);
                bad(e, w, "Input should be a valid string");
                goto fail;
            }
            if (json_string_length(v)) json_array_append(kept, v);
        }
        json_object_set_new(chat, "stop", kept);
    }
    json_t *think = lmx_jopt(req, "thinking");
    if (think) {
        const char *type = lmx_jstr(think, "type");
        if (!type ||
            (strcmp(type, "enabled") && strcmp(type, "disabled") && strcmp(type, "adaptive"))) {
            bad(e, "thinking.type", "Input should be 'enabled', 'disabled' or 'adaptive'");
            goto fail;
        }
        /* templates with a thinking switch (Qwen 3, QwQ) read enable_thinking;
         * budget_tokens is not enforced */
        json_object_set_new(chat, "chat_template_kwargs",
                            json_pack("{s:b}", "enable_thinking", strcmp(type, "disabled") != 0));
    }
    static const char *const same[] = {"temperature", "top_p", "top_k", "stream"};
    for (i = 0; i < sizeof same / sizeof same[0]; i++)
        if ((v = lmx_jopt(req, same[i]))) json_object_set(chat, same[i], v);
    json_object_foreach(req, k, v) if (field_policy(k) == LMX_BR_EXT) json_object_set(chat, k, v);
    return chat;
fail:
    json_decref(chat);
    return NULL;
}

json_t *lmx_anthropic_to_chat(json_t *req, lmx_api_err *e) {
    bool parallel;
    if (!json_is_object(req)) {
        bad(e, NULL, "The request body must be a JSON object.");
        return NULL;
    }
    return translate(req, &parallel, e);
}

/* ---- per-message state and the encoder ---- */

typedef struct {
    char id[40];
    bool started, finished;
    const char *finish;
    json_t *stops;   /* the request's stop sequences (stop_index counts from 1 in these) */
    int stop_index;  /* the one that ended the output; 0: none */
    json_t *content; /* the blocks so far */
    int text_block;  /* index of the open text block; -1: none */
    lmx_buf text;
    int think_block; /* index of the open thinking block; -1: none */
    lmx_buf thought;
    lmx_bridge_calls calls;
} astate;

static void astate_free(void *p) {
    astate *st = p;
    if (!st) return;
    json_decref(st->content);
    json_decref(st->stops);
    lmx_buf_free(&st->text);
    lmx_buf_free(&st->thought);
    lmx_tc_free(st->calls.tc);
    free(st);
}

/* An event {type, ...fields} (fields stolen); out NULL: not streaming. */
static void event(lmx_buf *out, const char *type, json_t *fields) {
    if (out) {
        json_t *o = json_pack("{s:s}", "type", type);
        json_object_update(o, fields);
        lmx_sse_event(out, type, o);
        json_decref(o);
    }
    json_decref(fields);
}

static void close_text(astate *st, lmx_buf *out) {
    if (st->text_block < 0) return;
    json_t *t = json_stringn(st->text.p ? st->text.p : "", st->text.n);
    json_array_set_new(
        st->content, (size_t)st->text_block,
        json_pack("{s:s,s:o,s:n}", "type", "text", "text", t ? t : json_string(""), "citations"));
    event(out, "content_block_stop", json_pack("{s:i}", "index", st->text_block));
    st->text_block = -1;
    lmx_buf_free(&st->text);
}

static void close_thinking(astate *st, lmx_buf *out) {
    if (st->think_block < 0) return;
    json_t *t = json_stringn(st->thought.p ? st->thought.p : "", st->thought.n);
    json_array_set_new(st->content, (size_t)st->think_block,
                       json_pack("{s:s,s:o,s:s}", "type", "thinking", "thinking",
                                 t ? t : json_string(""), "signature", ""));
    event(out, "content_block_stop", json_pack("{s:i}", "index", st->think_block));
    st->think_block = -1;
    lmx_buf_free(&st->thought);
}

/* A piece of the model's thought (templates that think): a "thinking" block,
 * unsigned (signature ""), before the text it precedes. */
static void add_thinking(astate *st, lmx_buf *out, const char *text, size_t len) {
    if (!len) return;
    if (st->think_block < 0) {
        close_text(st, out);
        st->think_block = (int)json_array_size(st->content);
        json_array_append_new(st->content, json_pack("{s:s,s:s,s:s}", "type", "thinking",
                                                     "thinking", "", "signature", ""));
        event(out, "content_block_start",
              json_pack("{s:i,s:{s:s,s:s,s:s}}", "index", st->think_block, "content_block", "type",
                        "thinking", "thinking", "", "signature", ""));
    }
    lmx_buf_add(&st->thought, text, len);
    json_t *d = json_stringn(text, len);
    event(out, "content_block_delta",
          json_pack("{s:i,s:{s:s,s:o}}", "index", st->think_block, "delta", "type",
                    "thinking_delta", "thinking", d ? d : json_string("")));
}

static void add_text(void *vst, lmx_buf *out, const char *text, size_t len) {
    astate *st = vst;
    if (!len) return;
    close_thinking(st, out);
    if (st->text_block < 0) {
        st->text_block = (int)json_array_size(st->content);
        json_array_append_new(st->content,
                              json_pack("{s:s,s:s,s:n}", "type", "text", "text", "", "citations"));
        event(out, "content_block_start",
              json_pack("{s:i,s:{s:s,s:s,s:n}}", "index", st->text_block, "content_block", "type",
                        "text", "text", "", "citations"));
    }
    lmx_buf_add(&st->text, text, len);
    json_t *d = json_stringn(text, len);
    event(out, "content_block_delta",
          json_pack("{s:i,s:{s:s,s:o}}", "index", st->text_block, "delta", "type", "text_delta",
                    "text", d ? d : json_string("")));
}

static void add_call(void *vst, lmx_buf *out, const char *call_id, const char *name,
                     const char *args) {
    astate *st = vst;
    close_thinking(st, out);
    close_text(st, out);
    char id[64];
    snprintf(id, sizeof id, "toolu_%s", strncmp(call_id, "call_", 5) ? call_id : call_id + 5);
    int idx = (int)json_array_size(st->content);
    json_t *input = json_loads(args, 0, NULL);
    if (!json_is_object(input)) {
        json_decref(input);
        input = json_object();
    }
    event(out, "content_block_start",
          json_pack("{s:i,s:{s:s,s:s,s:s,s:{},s:{s:s}}}", "index", idx, "content_block", "type",
                    "tool_use", "id", id, "name", name, "input", "caller", "type", "direct"));
    event(out, "content_block_delta",
          json_pack("{s:i,s:{s:s,s:s}}", "index", idx, "delta", "type", "input_json_delta",
                    "partial_json", args));
    event(out, "content_block_stop", json_pack("{s:i}", "index", idx));
    /* caller: the model called it itself (not code execution calling it) */
    json_array_append_new(st->content,
                          json_pack("{s:s,s:s,s:s,s:o,s:{s:s}}", "type", "tool_use", "id", id,
                                    "name", name, "input", input, "caller", "type", "direct"));
}

static void feed(lmx_gen *g, astate *st, lmx_buf *out, const char *text, size_t len) {
    lmx_bridge_parse(g, &st->calls, text, len, false, add_text, add_call, st, out);
}

static void finish(lmx_gen *g, astate *st, lmx_buf *out, const char *reason, int stop_index) {
    if (st->finished) return;
    lmx_bridge_parse(g, &st->calls, NULL, 0, true, add_text, add_call, st, out);
    close_thinking(st, out);
    close_text(st, out);
    st->finish = reason ? reason : "stop";
    st->stop_index = stop_index;
    st->finished = true;
}

static const char *stop_sequence(const astate *st) {
    return st->stop_index > 0
               ? json_string_value(json_array_get(st->stops, (size_t)st->stop_index - 1))
               : NULL;
}

static const char *stop_reason(const astate *st) {
    if (st->finish && !strcmp(st->finish, "length")) return "max_tokens";
    if (st->calls.n_calls) return "tool_use";
    return stop_sequence(st) ? "stop_sequence" : "end_turn";
}

static json_t *stop_sequence_json(const astate *st) {
    const char *s = stop_sequence(st);
    return s ? json_string(s) : json_null();
}

/* Anthropic's usage with its nullable fields: no server tools, no prompt
 * caching breakdown by TTL; the prefix cache's reads count as cache reads. */
static json_t *usage_of(int in, int cached, int out) {
    return json_pack("{s:i,s:i,s:i,s:i,s:n,s:n,s:s}", "input_tokens", in - cached,
                     "cache_creation_input_tokens", 0, "cache_read_input_tokens", cached,
                     "output_tokens", out, "cache_creation", "server_tool_use", "service_tier",
                     "standard");
}

static json_t *usage(const lmx_gen *g) {
    return usage_of(g->prompt_tokens, g->cached_tokens, g->completion_tokens);
}

static void msg_stream(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out) {
    (void)job;
    astate *st = g->api;
    if (!st->started) {
        st->started = true;
        int in = ev && ev->type == LMX_EV_STARTED ? ev->prompt_tokens : g->prompt_tokens;
        int cached = ev && ev->type == LMX_EV_STARTED ? ev->cached_tokens : g->cached_tokens;
        event(out, "message_start",
              json_pack("{s:{s:s,s:s,s:s,s:[],s:s,s:n,s:n,s:n,s:n,s:o}}", "message", "id", st->id,
                        "type", "message", "role", "assistant", "content", "model", g->s->name,
                        "stop_reason", "stop_sequence", "stop_details", "container", "usage",
                        usage_of(in, cached, 0)));
        event(out, "ping", json_object());
    }
    if (!ev) {
        finish(g, st, out, NULL, 0);
        event(out, "message_delta",
              json_pack("{s:{s:s,s:o},s:o}", "delta", "stop_reason", stop_reason(st),
                        "stop_sequence", stop_sequence_json(st), "usage", usage(g)));
        event(out, "message_stop", json_object());
        return;
    }
    if ((ev->type == LMX_EV_TOKEN || ev->type == LMX_EV_FINISH) && ev->choice == 0) {
        /* with a thinking template the split thought comes in g->thought; a
         * FINISH carries what the split held back */
        add_thinking(st, out, g->thought, g->thought_len);
        feed(g, st, out, ev->text, ev->text_len);
    }
    if (ev->type == LMX_EV_FINISH && ev->choice == 0)
        finish(g, st, out, ev->finish_reason, ev->stop_index);
}

static void msg_stream_error(lmx_gen *g, const lmx_api_err *e, lmx_buf *out) {
    (void)g;
    json_t *o = lmx_err_json_style(e, LMX_ERRS_ANTHROPIC);
    lmx_sse_event(out, "error", o);
    json_decref(o);
}

static json_t *msg_body(lmx_gen *g) {
    astate *st = g->api;
    const lmx_choice *c = &g->ch[0];
    add_thinking(st, NULL, c->reasoning.p, c->reasoning.n);
    feed(g, st, NULL, c->text.p, c->text.n);
    finish(g, st, NULL, c->finish, c->stop_index);
    return json_pack("{s:s,s:s,s:s,s:s,s:O,s:s,s:o,s:n,s:n,s:o}", "id", st->id, "type", "message",
                     "role", "assistant", "model", g->s->name, "content", st->content,
                     "stop_reason", stop_reason(st), "stop_sequence", stop_sequence_json(st),
                     "stop_details", "container", "usage", usage(g));
}

static const lmx_gen_fmt fmt_messages = {"text/event-stream", msg_stream, msg_stream_error,
                                         msg_body, true};

/* A body must be an object; its model names the request in the log. */
static bool body_ok(lmx_req *r, const json_t *req, lmx_api_err *e) {
    if (!json_is_object(req)) {
        bad(e, NULL, "The request body must be a JSON object.");
        return false;
    }
    if (json_is_string(json_object_get(req, "model")))
        lmx_req_set_model(r, json_string_value(json_object_get(req, "model")));
    return true;
}

static json_t *read_body(lmx_req *r, lmx_api_err *e) {
    json_t *req = lmx_req_json(r, false, e);
    if (req && !body_ok(r, req, e)) {
        json_decref(req);
        return NULL;
    }
    return req;
}

int lmx_h_messages(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e = {0};
    json_t *req = read_body(r, &e);
    if (!req) return lmx_reply_err(r, &e);
    bool parallel = true, stream = false;
    json_t *chat = translate(req, &parallel, &e);
    lmx_gen *g = chat ? lmx_bridge_start(r, chat, names, &stream, &e) : NULL;
    astate *st = g ? calloc(1, sizeof *st) : NULL;
    int ok;
    if (!st) {
        if (g) {
            lmx_gen_free(g);
            lmx_err_set(&e, 500, "server_error", NULL, NULL, "out of memory");
        }
        ok = lmx_reply_err(r, &e);
    } else {
        lmx_rand_id(st->id, sizeof st->id, "msg_");
        st->calls.parallel = parallel;
        st->text_block = -1;
        st->think_block = -1;
        st->content = json_array();
        st->stops = json_incref(json_object_get(chat, "stop"));
        g->api = st;
        g->api_free = astate_free;
        ok = lmx_reply_gen(r, g, &fmt_messages, stream);
    }
    json_decref(chat);
    json_decref(req);
    return ok;
}

static json_t *count_tokens(lmx_req *r, json_t *req, lmx_api_err *e) {
    if (!body_ok(r, req, e)) return NULL;
    /* max_tokens is not part of a count request */
    if (!json_object_get(req, "max_tokens"))
        json_object_set_new(req, "max_tokens", json_integer(1));
    json_object_del(req, "stream");
    bool parallel;
    json_t *chat = translate(req, &parallel, e);
    int n = chat ? lmx_bridge_count(r, chat, names, e) : -1;
    json_decref(chat);
    return n < 0 ? NULL : json_pack("{s:i}", "input_tokens", n);
}

LMX_HANDLER_CALL(lmx_h_count_tokens, lmx_reply_work, 200, count_tokens)
