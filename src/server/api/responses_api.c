/* OpenAI's Responses API: POST /v1/responses, GET / DELETE /v1/responses/{id},
 * GET /v1/responses/{id}/input_items.
 *
 * A request is translated into a Chat Completions body (input items →
 * messages, function tools → chat tools, text.format → response_format,
 * max_output_tokens → max_tokens) and run by the chat machinery
 * (chat_bridge.h), so templates, tool-call parsing and constrained decoding
 * behave exactly as in /v1/chat/completions.
 *
 * Output: the choice's text goes through the chat tool-call parser; content
 * becomes one "message" item, each call a "function_call" item, in the order
 * the model wrote them. The same code builds the streamed events and the
 * final object: the non-streamed response replays the whole text through it
 * with the events discarded, so both forms always agree.
 *
 * Streams end with response.completed, also when max_output_tokens cut the
 * output (status "incomplete", incomplete_details.reason
 * "max_output_tokens"): clients such as OpenClaw fail a stream that has no
 * response.completed. A generation that fails ends with response.failed.
 *
 * store (default true) saves the response and its conversation (input items,
 * those of the response it continued included, then its output) in the
 * response store; previous_response_id prepends a stored conversation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/api/response_store.h"
#include "server/api/responses_api.h"
#include "server/api/skills_chat.h"
#include "server/core/chat_bridge.h"
#include "util/json_array.h"
#include "util/log.h"

/* ---- request fields ---- */

static const lmx_bridge_field fields[] = {
    {"model", LMX_BR_OK},
    {"input", LMX_BR_OK},
    {"instructions", LMX_BR_OK},
    {"tools", LMX_BR_OK},
    {"tool_choice", LMX_BR_OK},
    {"text", LMX_BR_OK},
    {"max_output_tokens", LMX_BR_OK},
    {"temperature", LMX_BR_OK},
    {"top_p", LMX_BR_OK},
    {"parallel_tool_calls", LMX_BR_OK},
    {"store", LMX_BR_OK},
    {"stream", LMX_BR_OK},
    {"previous_response_id", LMX_BR_OK},
    {"metadata", LMX_BR_OK},
    {"user", LMX_BR_OK},
    {"reasoning", LMX_BR_OK},
    {"background", LMX_BR_OK}, /* false only */
    {"include", LMX_BR_IGNORED},
    {"truncation", LMX_BR_IGNORED},
    {"service_tier", LMX_BR_IGNORED},
    {"prompt_cache_key", LMX_BR_IGNORED},
    {"prompt_cache_retention", LMX_BR_IGNORED},
    {"safety_identifier", LMX_BR_IGNORED},
    {"max_tool_calls", LMX_BR_IGNORED},
    {"stream_options", LMX_BR_IGNORED},
    {"top_logprobs", LMX_BR_IGNORED},
    /* LMX extensions, passed to the sampler as in /v1/chat/completions */
    {"top_k", LMX_BR_EXT},
    {"stop", LMX_BR_EXT},
    {"ignore_eos", LMX_BR_EXT},
    LMX_BRIDGE_SAMPLER_EXT,
};

static const lmx_bridge_name names[] = {
    {"max_tokens", "max_output_tokens"},
    {"messages", "input"},
    {"response_format", "text.format"},
    {"reasoning_effort", "reasoning.effort"},
    {NULL, NULL},
};

static int field_policy(const char *k) {
    return lmx_bridge_field_policy(fields, sizeof fields / sizeof fields[0], k);
}

static int bad(lmx_api_err *e, const char *param, const char *msg) {
    lmx_err_bad(e, param, "%s", msg);
    return -1;
}

/* An optional field v (NULL: absent) of the type `is` checks: false, with e
 * naming what it should be, when it is given with another. */
static bool typed(const json_t *v, bool is, const char *name, const char *what, lmx_api_err *e) {
    if (!v || is) return true;
    lmx_err_bad(e, name, "Invalid type for '%s': expected %s.", name, what);
    return false;
}

/* The text of a content value: a string, or parts of type input_text /
 * output_text / text (refusal parts: their refusal). */
static int content_text(const json_t *c, const char *where, lmx_buf *b, lmx_api_err *e) {
    if (json_is_string(c)) {
        lmx_buf_add(b, json_string_value(c), json_string_length(c));
        return 0;
    }
    if (!json_is_array(c)) {
        lmx_err_bad(e, where, "Invalid type for '%s': expected a string or an array of parts.",
                    where);
        return -1;
    }
    size_t i;
    json_t *p;
    json_array_foreach(c, i, p) {
        const char *t = lmx_jstr(p, "type");
        const char *text = lmx_jstr(p, t && !strcmp(t, "refusal") ? "refusal" : "text");
        char w[96];
        snprintf(w, sizeof w, "%s[%zu]", where, i);
        if (t &&
            (!strcmp(t, "input_image") || !strcmp(t, "input_file") || !strcmp(t, "input_audio"))) {
            lmx_err_bad(e, w,
                        "Invalid '%s': '%s' parts are not supported by this server (text only).", w,
                        t);
            return -1;
        }
        if (!t || !text ||
            (strcmp(t, "input_text") && strcmp(t, "output_text") && strcmp(t, "text") &&
             strcmp(t, "refusal"))) {
            lmx_err_bad(e, w,
                        "Invalid '%s': expected a part {\"type\": \"input_text\" | "
                        "\"output_text\", \"text\": STRING}.",
                        w);
            return -1;
        }
        lmx_buf_add(b, text, strlen(text));
    }
    return 0;
}

/* Conversation items → chat messages (appended to msgs). base: the index of
 * the request's first item in items (earlier ones come from a stored
 * response), for error names. */
static int items_to_messages(const json_t *items, size_t base, json_t *msgs, lmx_api_err *e) {
    size_t i;
    json_t *it;
    json_t *last_calls = NULL; /* the tool_calls array of an assistant message still open */
    json_array_foreach(items, i, it) {
        char w[64];
        snprintf(w, sizeof w, "input[%zu]", i >= base ? i - base : 0);
        if (!json_is_object(it)) {
            lmx_err_bad(e, w, "Invalid type for '%s': expected an object.", w);
            return -1;
        }
        const char *type = lmx_jstr(it, "type");
        if (!type || !strcmp(type, "message")) {
            const char *role = lmx_jstr(it, "role");
            if (!role || (strcmp(role, "user") && strcmp(role, "system") &&
                          strcmp(role, "developer") && strcmp(role, "assistant"))) {
                lmx_err_bad(e, w,
                            "Invalid '%s.role': expected 'user', 'assistant', 'system' or "
                            "'developer'.",
                            w);
                return -1;
            }
            lmx_buf b = {0};
            char wc[80];
            snprintf(wc, sizeof wc, "%s.content", w);
            json_t *c = json_object_get(it, "content");
            if (content_text(c ? c : json_null(), wc, &b, e)) {
                lmx_buf_free(&b);
                return -1;
            }
            json_array_append_new(
                msgs, json_pack("{s:s,s:o}", "role", role, "content", lmx_buf_json_string(&b)));
            last_calls = NULL;
            if (!strcmp(role, "assistant")) {
                /* calls right after this text belong to the same turn */
                last_calls = json_array();
                json_object_set_new(json_array_get(msgs, json_array_size(msgs) - 1), "tool_calls",
                                    last_calls);
            }
        } else if (!strcmp(type, "function_call")) {
            const char *call_id = lmx_jstr(it, "call_id"), *name = lmx_jstr(it, "name"),
                       *args = lmx_jstr(it, "arguments");
            if (!call_id || !name || !args) {
                lmx_err_bad(e, w,
                            "Invalid '%s': a function_call item needs string 'call_id', 'name' "
                            "and 'arguments'.",
                            w);
                return -1;
            }
            if (!last_calls) {
                last_calls = json_array();
                json_array_append_new(msgs, json_pack("{s:s,s:n,s:o}", "role", "assistant",
                                                      "content", "tool_calls", last_calls));
            }
            json_array_append_new(last_calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", call_id,
                                                        "type", "function", "function", "name",
                                                        name, "arguments", args));
        } else if (!strcmp(type, "function_call_output")) {
            const char *call_id = lmx_jstr(it, "call_id");
            json_t *out = json_object_get(it, "output");
            char wo[80];
            snprintf(wo, sizeof wo, "%s.output", w);
            lmx_buf b = {0};
            if (!call_id) {
                lmx_err_bad(e, w, "Invalid '%s': a function_call_output item needs 'call_id'.", w);
                return -1;
            }
            if (content_text(out ? out : json_null(), wo, &b, e)) {
                lmx_buf_free(&b);
                return -1;
            }
            json_array_append_new(msgs, json_pack("{s:s,s:s,s:o}", "role", "tool", "tool_call_id",
                                                  call_id, "content", lmx_buf_json_string(&b)));
            last_calls = NULL;
        } else if (!strcmp(type, "reasoning")) {
            continue; /* a model's earlier thoughts are not shown to it again */
        } else {
            lmx_err_bad(e, w,
                        "Invalid '%s.type': '%s' items are not supported by this server; "
                        "supported: message, function_call, function_call_output, reasoning.",
                        w, type);
            return -1;
        }
    }
    /* assistant turns that made no calls: no empty tool_calls */
    json_array_foreach(msgs, i, it) {
        json_t *tc = json_object_get(it, "tool_calls");
        if (tc && !json_array_size(tc)) json_object_del(it, "tool_calls");
    }
    return 0;
}

/* An item's id, given to each input item that has none, so that
 * /input_items lists them as OpenAI does (msg_ for messages). */
static void give_id(json_t *it) {
    if (!json_is_object(it) || json_is_string(json_object_get(it, "id"))) return;
    const char *type = lmx_jstr(it, "type");
    char id[64];
    lmx_rand_id(id, sizeof id,
                !type || !strcmp(type, "message")       ? "msg_"
                : !strcmp(type, "function_call_output") ? "fco_"
                                                        : "item_");
    json_object_set_new(it, "id", json_string(id));
}

/* One input item as a conversation item: a copy, a message when it has a
 * role and no type, with an id. */
static json_t *input_item(const json_t *it, size_t i, void *ctx, lmx_api_err *e) {
    (void)ctx;
    (void)i;
    (void)e;
    json_t *c = json_is_object(it) ? json_deep_copy(it) : json_incref((json_t *)it);
    if (json_is_object(c) && !json_object_get(c, "type") && json_object_get(c, "role"))
        json_object_set_new(c, "type", json_string("message"));
    give_id(c);
    return c;
}

/* Request input → conversation items (new reference): a string is one user
 * message; items without a type are messages; each gets an id. */
static json_t *input_items(const json_t *input, lmx_api_err *e) {
    if (json_is_string(input)) {
        json_t *a =
            json_pack("[{s:s,s:s,s:O}]", "type", "message", "role", "user", "content", input);
        give_id(json_array_get(a, 0));
        return a;
    }
    if (!json_is_array(input)) {
        bad(e, "input", "Invalid type for 'input': expected a string or an array of items.");
        return NULL;
    }
    return lmx_jmap(input, input_item, NULL, e);
}

/* The tools as a response object repeats them: each function tool with its
 * strict, description and parameters (null where not given; strict false:
 * nothing enforced it) as OpenAI's FunctionTool has them. */
static json_t *echo_tools(const json_t *tools) {
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        json_t *c = json_deep_copy(t);
        const char *type = lmx_jstr(c, "type");
        if (json_is_object(c) && type && !strcmp(type, "function")) {
            if (!json_is_boolean(json_object_get(c, "strict")))
                json_object_set_new(c, "strict", json_false());
            if (!json_object_get(c, "description"))
                json_object_set_new(c, "description", json_null());
            if (!json_object_get(c, "parameters"))
                json_object_set_new(c, "parameters", json_null());
        }
        json_array_append_new(out, c);
    }
    return out;
}

/* A function tool → a chat tool. */
static json_t *chat_tool(const json_t *t, size_t i, void *ctx, lmx_api_err *e) {
    (void)ctx;
    char w[48];
    snprintf(w, sizeof w, "tools[%zu]", i);
    const char *type = lmx_jstr(t, "type"), *name = lmx_jstr(t, "name");
    if (type && !strcmp(type, "skill")) /* an LMX skill: run by the server (skills_chat.h) */
        return json_incref((json_t *)t);
    if (!type || strcmp(type, "function")) {
        lmx_err_bad(e, w,
                    "Invalid '%s.type': only tools of type 'function' (and LMX's 'skill') are "
                    "supported by this server; got '%s'.",
                    w, type ? type : "(none)");
        return NULL;
    }
    if (!name) {
        lmx_err_bad(e, w, "Missing required parameter: '%s.name'.", w);
        return NULL;
    }
    json_t *fn = json_pack("{s:s}", "name", name);
    const char *keys[] = {"description", "parameters", "strict"};
    for (int k = 0; k < 3; k++) {
        json_t *v = lmx_jopt(t, keys[k]);
        if (v) json_object_set(fn, keys[k], v);
    }
    return json_pack("{s:s,s:o}", "type", "function", "function", fn);
}

static json_t *chat_tools(const json_t *tools, lmx_api_err *e) {
    if (!json_is_array(tools)) {
        bad(e, "tools", "Invalid type for 'tools': expected an array.");
        return NULL;
    }
    return lmx_jmap(tools, chat_tool, NULL, e);
}

static json_t *chat_tool_choice(const json_t *tc, lmx_api_err *e) {
    if (json_is_string(tc)) return json_incref((json_t *)tc);
    const char *type = lmx_jstr(tc, "type"), *name = lmx_jstr(tc, "name");
    if (type && !strcmp(type, "function") && name)
        return json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", name);
    if (type && !strcmp(type, "skill") && name) return json_incref((json_t *)tc);
    bad(e, "tool_choice",
        "Invalid 'tool_choice': expected 'none', 'auto', 'required' or {\"type\": \"function\", "
        "\"name\": NAME}.");
    return NULL;
}

/* text.format → response_format. */
static json_t *response_format(const json_t *text, lmx_api_err *e) {
    if (!json_is_object(text)) {
        bad(e, "text", "Invalid type for 'text': expected an object.");
        return NULL;
    }
    json_t *f = lmx_jopt(text, "format");
    if (!f) return json_pack("{s:s}", "type", "text");
    const char *type = lmx_jstr(f, "type");
    if (type && (!strcmp(type, "text") || !strcmp(type, "json_object")))
        return json_pack("{s:s}", "type", type);
    if (type && !strcmp(type, "json_schema")) {
        json_t *js = json_object();
        const char *keys[] = {"name", "schema", "strict", "description"};
        for (int k = 0; k < 4; k++) {
            json_t *v = lmx_jopt(f, keys[k]);
            if (v) json_object_set(js, keys[k], v);
        }
        return json_pack("{s:s,s:o}", "type", "json_schema", "json_schema", js);
    }
    bad(e, "text.format.type",
        "Invalid 'text.format.type': expected 'text', 'json_object' or 'json_schema'.");
    return NULL;
}

/* ---- per-response state and the encoder ---- */

typedef struct {
    lmx_app *app;
    char id[40];
    long long created_at;
    json_t *echo;         /* the request's fields a response object repeats */
    json_t *conversation; /* input items (stored ones first) */
    bool store;
    /* output so far */
    int seq;
    bool created_sent, finished;
    const char *finish; /* "stop" | "length" */
    json_t *output;
    lmx_bridge_calls calls;
    int msg_index; /* output index of the open message item; -1: none */
    char msg_id[40];
    lmx_buf text;
    int rs_index; /* output index of the open reasoning item; -1: none */
    char rs_id[40];
    lmx_buf thought;
} rstate;

static void rstate_free(void *p) {
    rstate *st = p;
    if (!st) return;
    json_decref(st->echo);
    json_decref(st->conversation);
    json_decref(st->output);
    lmx_tc_free(st->calls.tc);
    lmx_buf_free(&st->text);
    lmx_buf_free(&st->thought);
    free(st);
}

/* The response object as it stands. */
static json_t *response_obj(const lmx_gen *g, const rstate *st, const char *status) {
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:b,s:n,s:n}", "id", st->id, "object", "response",
                          "created_at", (json_int_t)st->created_at, "status", status, "background",
                          0, "error", "incomplete_details");
    json_object_update(o, st->echo);
    json_object_set_new(o, "model", json_string(g->s->name));
    json_object_set_new(o, "output", json_deep_copy(st->output));
    if (!strcmp(status, "incomplete"))
        json_object_set_new(o, "incomplete_details",
                            json_pack("{s:s}", "reason", "max_output_tokens"));
    if (st->finished)
        json_object_set_new(o, "usage",
                            json_pack("{s:i,s:{s:i,s:i},s:i,s:{s:i},s:i}", "input_tokens",
                                      g->prompt_tokens, "input_tokens_details", "cached_tokens",
                                      g->cached_tokens, "cache_write_tokens",
                                      /* OpenAI counts only explicit cache writes here, and
                                       * clients (OpenClaw) subtract them from input_tokens:
                                       * automatic prefix caching writes none */
                                      0, "output_tokens", g->completion_tokens,
                                      "output_tokens_details", "reasoning_tokens",
                                      g->reasoning_tokens, "total_tokens",
                                      g->prompt_tokens + g->completion_tokens));
    else
        json_object_set_new(o, "usage", json_null());
    return o;
}

/* An event: {type, sequence_number, ...fields} (fields stolen). out NULL:
 * building a non-streamed response, nothing is sent. */
static void event(rstate *st, lmx_buf *out, const char *type, json_t *fields) {
    if (out) {
        json_t *o = json_pack("{s:s,s:i}", "type", type, "sequence_number", st->seq++);
        json_object_update(o, fields);
        lmx_sse_event(out, type, o);
        json_decref(o);
    }
    json_decref(fields);
}

static json_t *text_part(const char *text, size_t len) {
    json_t *t = json_stringn(text ? text : "", len);
    return json_pack("{s:s,s:[],s:[],s:o}", "type", "output_text", "annotations", "logprobs",
                     "text", t ? t : json_string(""));
}

static json_t *reasoning_item(const rstate *st, bool done) {
    json_t *t = json_stringn(st->thought.p ? st->thought.p : "", st->thought.n);
    json_t *item = json_pack("{s:s,s:s,s:[]}", "id", st->rs_id, "type", "reasoning", "summary");
    if (done)
        json_object_set_new(
            item, "content",
            json_pack("[{s:s,s:o}]", "type", "reasoning_text", "text", t ? t : json_string("")));
    else
        json_decref(t);
    return item;
}

static void close_reasoning(rstate *st, lmx_buf *out) {
    if (st->rs_index < 0) return;
    json_t *t = json_stringn(st->thought.p ? st->thought.p : "", st->thought.n);
    event(st, out, "response.reasoning_text.done",
          json_pack("{s:s,s:i,s:i,s:o}", "item_id", st->rs_id, "output_index", st->rs_index,
                    "content_index", 0, "text", t ? t : json_string("")));
    json_t *item = reasoning_item(st, true);
    json_array_set(st->output, (size_t)st->rs_index, item);
    event(st, out, "response.output_item.done",
          json_pack("{s:i,s:o}", "output_index", st->rs_index, "item", item));
    st->rs_index = -1;
    lmx_buf_free(&st->thought);
}

static void close_message(rstate *st, lmx_buf *out);

/* A piece of the model's thought (templates that think): one "reasoning"
 * item per run of thought, before the answer it precedes. */
static void add_reasoning(rstate *st, lmx_buf *out, const char *text, size_t len) {
    if (!len) return;
    if (st->rs_index < 0) {
        close_message(st, out);
        st->rs_index = (int)json_array_size(st->output);
        lmx_rand_id(st->rs_id, sizeof st->rs_id, "rs_");
        json_t *item = reasoning_item(st, false);
        json_array_append(st->output, item);
        event(st, out, "response.output_item.added",
              json_pack("{s:i,s:o}", "output_index", st->rs_index, "item", item));
    }
    lmx_buf_add(&st->thought, text, len);
    json_t *d = json_stringn(text, len);
    event(st, out, "response.reasoning_text.delta",
          json_pack("{s:s,s:i,s:i,s:o}", "item_id", st->rs_id, "output_index", st->rs_index,
                    "content_index", 0, "delta", d ? d : json_string("")));
}

static void open_message(rstate *st, lmx_buf *out) {
    if (st->msg_index >= 0) return;
    close_reasoning(st, out);
    st->msg_index = (int)json_array_size(st->output);
    lmx_rand_id(st->msg_id, sizeof st->msg_id, "msg_");
    json_t *item = json_pack("{s:s,s:s,s:s,s:s,s:[]}", "id", st->msg_id, "type", "message",
                             "status", "in_progress", "role", "assistant", "content");
    json_array_append(st->output, item);
    event(st, out, "response.output_item.added",
          json_pack("{s:i,s:o}", "output_index", st->msg_index, "item", item));
    event(st, out, "response.content_part.added",
          json_pack("{s:s,s:i,s:i,s:o}", "item_id", st->msg_id, "output_index", st->msg_index,
                    "content_index", 0, "part", text_part("", 0)));
}

static void add_text(void *vst, lmx_buf *out, const char *text, size_t len) {
    rstate *st = vst;
    if (!len) return;
    open_message(st, out);
    lmx_buf_add(&st->text, text, len);
    json_t *d = json_stringn(text, len);
    event(st, out, "response.output_text.delta",
          json_pack("{s:s,s:i,s:i,s:o,s:[]}", "item_id", st->msg_id, "output_index", st->msg_index,
                    "content_index", 0, "delta", d ? d : json_string(""), "logprobs"));
}

static void close_message(rstate *st, lmx_buf *out) {
    if (st->msg_index < 0) return;
    const char *t = st->text.p ? st->text.p : "";
    json_t *ts = json_stringn(t, st->text.n);
    if (!ts) ts = json_string("");
    event(st, out, "response.output_text.done",
          json_pack("{s:s,s:i,s:i,s:O,s:[]}", "item_id", st->msg_id, "output_index", st->msg_index,
                    "content_index", 0, "text", ts, "logprobs"));
    event(st, out, "response.content_part.done",
          json_pack("{s:s,s:i,s:i,s:o}", "item_id", st->msg_id, "output_index", st->msg_index,
                    "content_index", 0, "part", text_part(t, st->text.n)));
    /* a message cut by max_output_tokens is "incomplete", as OpenAI marks it */
    const char *status = st->finish && !strcmp(st->finish, "length") ? "incomplete" : "completed";
    json_t *item =
        json_pack("{s:s,s:s,s:s,s:s,s:[o]}", "id", st->msg_id, "type", "message", "status", status,
                  "role", "assistant", "content", text_part(t, st->text.n));
    json_decref(ts);
    json_array_set(st->output, (size_t)st->msg_index, item);
    event(st, out, "response.output_item.done",
          json_pack("{s:i,s:o}", "output_index", st->msg_index, "item", item));
    st->msg_index = -1;
    lmx_buf_free(&st->text);
}

static void add_call(void *vst, lmx_buf *out, const char *call_id, const char *name,
                     const char *args) {
    rstate *st = vst;
    close_reasoning(st, out);
    close_message(st, out);
    char fc_id[40];
    lmx_rand_id(fc_id, sizeof fc_id, "fc_");
    int idx = (int)json_array_size(st->output);
    event(st, out, "response.output_item.added",
          json_pack("{s:i,s:{s:s,s:s,s:s,s:s,s:s,s:s}}", "output_index", idx, "item", "id", fc_id,
                    "type", "function_call", "status", "in_progress", "arguments", "", "call_id",
                    call_id, "name", name));
    event(st, out, "response.function_call_arguments.delta",
          json_pack("{s:s,s:i,s:s}", "item_id", fc_id, "output_index", idx, "delta", args));
    event(st, out, "response.function_call_arguments.done",
          json_pack("{s:s,s:i,s:s,s:s}", "item_id", fc_id, "output_index", idx, "name", name,
                    "arguments", args));
    json_t *item =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", fc_id, "type", "function_call", "status",
                  "completed", "arguments", args, "call_id", call_id, "name", name);
    json_array_append(st->output, item);
    event(st, out, "response.output_item.done",
          json_pack("{s:i,s:o}", "output_index", idx, "item", item));
}

static void feed(lmx_gen *g, rstate *st, lmx_buf *out, const char *text, size_t len) {
    lmx_bridge_parse(g, &st->calls, text, len, false, add_text, add_call, st, out);
}

/* The output has a message or a call (not only reasoning). */
static bool has_answer(const rstate *st) {
    size_t i;
    json_t *it;
    json_array_foreach(st->output, i,
                       it) if (strcmp(lmx_jstr(it, "type"), "reasoning")) return true;
    return false;
}

static void finish(lmx_gen *g, rstate *st, lmx_buf *out, const char *reason) {
    if (st->finished) return;
    lmx_bridge_parse(g, &st->calls, NULL, 0, true, add_text, add_call, st, out);
    st->finish = reason ? reason : "stop";
    close_reasoning(st, out);
    /* every response says something: no calls and no text is an empty message */
    if (!json_array_size(st->output) || !has_answer(st)) open_message(st, out);
    close_message(st, out);
    st->finished = true;
}

static const char *final_status(const rstate *st) {
    return st->finish && !strcmp(st->finish, "length") ? "incomplete" : "completed";
}

/* The finished response (new reference), saved when store. */
static json_t *complete(lmx_gen *g, rstate *st) {
    json_t *o = response_obj(g, st, final_status(st));
    if (st->store && st->app->responses) {
        json_t *conv = json_copy(st->conversation);
        json_array_extend(conv, st->output);
        char err[256];
        if (lmx_rstore_put(st->app->responses, st->id, st->created_at, o, conv, err, sizeof err))
            lmx_log("warn", "response not stored",
                    json_pack("{s:s,s:s}", "id", st->id, "error", err));
        json_decref(conv);
    }
    return o;
}

static void start_events(lmx_gen *g, rstate *st, lmx_buf *out) {
    if (st->created_sent) return;
    st->created_sent = true;
    event(st, out, "response.created",
          json_pack("{s:o}", "response", response_obj(g, st, "in_progress")));
    event(st, out, "response.in_progress",
          json_pack("{s:o}", "response", response_obj(g, st, "in_progress")));
}

static void resp_stream(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out) {
    (void)job;
    rstate *st = g->api;
    start_events(g, st, out);
    if (!ev) {
        finish(g, st, out, NULL);
        event(st, out, "response.completed", json_pack("{s:o}", "response", complete(g, st)));
        return;
    }
    if ((ev->type == LMX_EV_TOKEN || ev->type == LMX_EV_FINISH) && ev->choice == 0) {
        /* with a thinking template the split thought comes in g->thought; a
         * FINISH carries what the split held back */
        add_reasoning(st, out, g->thought, g->thought_len);
        feed(g, st, out, ev->text, ev->text_len);
    }
    if (ev->type == LMX_EV_FINISH && ev->choice == 0) finish(g, st, out, ev->finish_reason);
}

static void resp_stream_error(lmx_gen *g, const lmx_api_err *e, lmx_buf *out) {
    rstate *st = g->api;
    start_events(g, st, out);
    json_t *r = response_obj(g, st, "failed");
    json_object_set_new(r, "error",
                        json_pack("{s:s,s:s}", "code", "server_error", "message", e->message));
    event(st, out, "response.failed", json_pack("{s:o}", "response", r));
}

static json_t *resp_body(lmx_gen *g) {
    rstate *st = g->api;
    const lmx_choice *c = &g->ch[0];
    add_reasoning(st, NULL, c->reasoning.p, c->reasoning.n);
    feed(g, st, NULL, c->text.p, c->text.n);
    finish(g, st, NULL, c->finish);
    return complete(g, st);
}

const lmx_gen_fmt lmx_fmt_responses = {"text/event-stream", resp_stream, resp_stream_error,
                                       resp_body, true};

/* ---- handlers ---- */

/* A new reference to v, or null. */
static json_t *keep(json_t *v) {
    return v ? json_incref(v) : json_null();
}

/* The chat body for req (new reference) and the state's echo/conversation. */
static json_t *translate(lmx_app *app, json_t *req, rstate *st, lmx_api_err *e) {
    const char *k;
    json_t *v;
    json_object_foreach(req, k, v) {
        if (field_policy(k) >= 0) continue;
        lmx_err_set(e, 400, "invalid_request_error", "unknown_parameter", k,
                    "Unknown parameter: '%s'.", k);
        return NULL;
    }
    if (json_is_true(json_object_get(req, "background"))) {
        bad(e, "background",
            "Unsupported parameter: 'background': background responses are not "
            "supported by this server.");
        return NULL;
    }
    json_t *model = lmx_jopt(req, "model");
    if (!json_is_string(model)) {
        bad(e, "model",
            model ? "Invalid type for 'model': expected a string."
                  : "Missing required parameter: 'model'.");
        return NULL;
    }
    json_t *input = lmx_jopt(req, "input"), *instr = lmx_jopt(req, "instructions"),
           *prev = lmx_jopt(req, "previous_response_id"), *store = lmx_jopt(req, "store"),
           *meta = lmx_jopt(req, "metadata"), *text = lmx_jopt(req, "text"),
           *tools = lmx_jopt(req, "tools"), *tc = lmx_jopt(req, "tool_choice"),
           *reasoning = lmx_jopt(req, "reasoning");
    if (!input) {
        bad(e, "input", "Missing required parameter: 'input'.");
        return NULL;
    }
    if (!typed(instr, json_is_string(instr), "instructions", "a string", e) ||
        !typed(prev, json_is_string(prev), "previous_response_id", "a string", e) ||
        !typed(store, json_is_boolean(store), "store", "a boolean", e) ||
        !typed(meta, json_is_object(meta), "metadata", "an object", e) ||
        !typed(reasoning, json_is_object(reasoning), "reasoning", "an object", e))
        return NULL;
    st->store = !store || json_is_true(store);

    /* the conversation: a stored one first */
    json_t *conv = NULL;
    if (prev) {
        json_t *old =
            app->responses ? lmx_rstore_get(app->responses, json_string_value(prev), &conv) : NULL;
        if (!old) {
            lmx_err_set(e, 404, "invalid_request_error", "previous_response_not_found",
                        "previous_response_id", "Previous response with id '%s' not found.",
                        json_string_value(prev));
            return NULL;
        }
        json_decref(old);
    } else
        conv = json_array();
    size_t base = json_array_size(conv);
    json_t *items = input_items(input, e);
    if (!items) {
        json_decref(conv);
        return NULL;
    }
    json_array_extend(conv, items);
    json_decref(items);
    st->conversation = conv;

    json_t *msgs = json_array();
    if (instr)
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "system", "content", instr));
    if (items_to_messages(conv, base, msgs, e)) {
        json_decref(msgs);
        return NULL;
    }
    json_t *chat = json_pack("{s:O,s:o}", "model", model, "messages", msgs);
    if (tools && json_array_size(tools)) {
        json_t *t = chat_tools(tools, e);
        if (!t) goto fail;
        json_object_set_new(chat, "tools", t);
    }
    if (tc) {
        json_t *t = chat_tool_choice(tc, e);
        if (!t) goto fail;
        json_object_set_new(chat, "tool_choice", t);
    }
    if (text) {
        json_t *f = response_format(text, e);
        if (!f) goto fail;
        json_object_set_new(chat, "response_format", f);
    }
    if (reasoning && lmx_jopt(reasoning, "effort")) {
        json_t *eff = lmx_jopt(reasoning, "effort");
        json_object_set(chat, "reasoning_effort", eff);
        /* templates with a thinking switch (Qwen 3, QwQ) read enable_thinking */
        if (json_is_string(eff))
            json_object_set_new(
                chat, "chat_template_kwargs",
                json_pack("{s:b}", "enable_thinking", strcmp(json_string_value(eff), "none") != 0));
    }
    static const char *const same[] = {"temperature", "top_p", "parallel_tool_calls", "stream",
                                       "user"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if ((v = lmx_jopt(req, same[i]))) json_object_set(chat, same[i], v);
    if ((v = lmx_jopt(req, "max_output_tokens"))) json_object_set(chat, "max_tokens", v);
    json_object_foreach(req, k, v) if (field_policy(k) == LMX_BR_EXT) json_object_set(chat, k, v);

    /* what the response object repeats of the request, with OpenAI's defaults */
    json_t *par = lmx_jopt(req, "parallel_tool_calls");
    st->calls.parallel = !par || json_is_true(par);
    json_t *temp = lmx_jopt(req, "temperature"), *top_p = lmx_jopt(req, "top_p"),
           *mot = lmx_jopt(req, "max_output_tokens"), *user = lmx_jopt(req, "user");
    st->echo = json_pack(
        "{s:o,s:o,s:o,s:o,s:b,s:o,s:o,s:o,s:b,s:o,s:o,s:o,s:s,s:o,s:i,s:n,s:s}", "instructions",
        keep(instr), "max_output_tokens", keep(mot), "metadata", meta ? keep(meta) : json_object(),
        "previous_response_id", keep(prev), "parallel_tool_calls", st->calls.parallel, "reasoning",
        reasoning ? keep(reasoning) : json_pack("{s:n,s:n}", "effort", "summary"), "temperature",
        temp ? keep(temp) : json_real(1.0), "top_p", top_p ? keep(top_p) : json_real(1.0), "store",
        st->store, "text", text ? keep(text) : json_pack("{s:{s:s}}", "format", "type", "text"),
        "tool_choice", tc ? keep(tc) : json_string("auto"), "tools",
        json_is_array(tools) ? echo_tools(tools) : json_array(), "truncation", "disabled", "user",
        keep(user), "top_logprobs", 0, "max_tool_calls", "service_tier", "default");
    return chat;
fail:
    json_decref(chat);
    return NULL;
}

json_t *lmx_responses_to_chat(lmx_app *app, json_t *req, lmx_api_err *e) {
    if (!json_is_object(req)) {
        bad(e, NULL, "The request body must be a JSON object.");
        return NULL;
    }
    rstate st = {.msg_index = -1, .rs_index = -1};
    lmx_app none = {0};
    json_t *chat = translate(app ? app : &none, req, &st, e);
    json_decref(st.echo);
    json_decref(st.conversation);
    return chat;
}

static rstate *rstate_new(lmx_app *app) {
    rstate *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->app = app;
    st->msg_index = -1;
    st->rs_index = -1;
    st->output = json_array();
    lmx_rand_id(st->id, sizeof st->id, "resp_");
    st->created_at = (long long)time(NULL);
    return st;
}

json_t *lmx_responses_begin(lmx_app *app, json_t *req, void **state, lmx_api_err *e) {
    *state = NULL;
    if (!json_is_object(req)) {
        bad(e, "response", "'response' must be a Responses request object.");
        return NULL;
    }
    rstate *st = rstate_new(app);
    if (!st) {
        lmx_err_set(e, 500, "server_error", NULL, NULL, "out of memory");
        return NULL;
    }
    json_t *chat = translate(app, req, st, e);
    if (!chat) {
        rstate_free(st);
        return NULL;
    }
    json_object_set_new(chat, "stream", json_true());
    *state = st;
    return chat;
}

void lmx_responses_attach(lmx_gen *g, void *state, lmx_buf *out) {
    g->api = state;
    g->api_free = rstate_free;
    start_events(g, state, out);
}

void lmx_responses_state_free(void *state) {
    rstate_free(state);
}

int lmx_h_responses(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e = {0};
    json_t *req = lmx_req_json(r, false, &e);
    if (!req) return lmx_reply_err(r, &e);
    if (!json_is_object(req)) {
        json_decref(req);
        bad(&e, NULL, "The request body must be a JSON object.");
        return lmx_reply_err(r, &e);
    }
    if (json_is_string(json_object_get(req, "model")))
        lmx_req_set_model(r, json_string_value(json_object_get(req, "model")));
    rstate *st = rstate_new(lmx_req_app(r));
    json_t *chat = NULL;
    int ok;
    if (!st) {
        lmx_err_set(&e, 500, "server_error", NULL, NULL, "out of memory");
        ok = lmx_reply_err(r, &e);
        goto out;
    }
    chat = translate(st->app, req, st, &e);
    if (chat && lmx_skills_chat_wanted(chat)) { /* the server-side skill loop */
        lmx_skill_loop lp;
        lmx_gen *g = lmx_skills_loop(r, chat, &lp, &e);
        if (!g) {
            rstate_free(st);
            ok = lmx_reply_err(r, &e);
            goto out;
        }
        g->prompt_tokens = lp.prompt_tokens; /* usage over every turn */
        g->completion_tokens = lp.completion_tokens;
        g->api = st;
        g->api_free = rstate_free;
        json_t *body = resp_body(g);
        lmx_gen_free(g);
        json_object_set_new(body, "skill_calls", lp.calls);
        if (lp.exhausted) json_object_set_new(body, "skill_steps_exhausted", json_true());
        ok = lmx_reply_json(r, 200, body);
        goto out;
    }
    bool stream = false;
    lmx_gen *g = chat ? lmx_bridge_start(r, chat, names, &stream, &e) : NULL;
    if (!g) {
        rstate_free(st);
        ok = lmx_reply_err(r, &e);
        goto out;
    }
    g->api = st;
    g->api_free = rstate_free;
    ok = lmx_reply_gen(r, g, &lmx_fmt_responses, stream);
out:
    json_decref(chat);
    json_decref(req);
    return ok;
}

static int not_found(lmx_req *r, const char *id) {
    lmx_api_err e;
    lmx_err_set(&e, 404, "invalid_request_error", NULL, NULL, "Response with id '%s' not found.",
                id);
    return lmx_reply_err(r, &e);
}

/* A stored input item as the input_items list shows it (new reference): a
 * message's text as typed content parts (input_text; output_text for an
 * assistant turn), and an id for items stored before ids were given. */
static json_t *item_resource(const json_t *it) {
    json_t *c = json_deep_copy(it);
    if (!json_is_object(c)) return c;
    if (!json_is_string(json_object_get(c, "id"))) {
        char id[64];
        lmx_rand_id(id, sizeof id, "msg_");
        json_object_set_new(c, "id", json_string(id));
    }
    const char *type = lmx_jstr(c, "type"), *role = lmx_jstr(c, "role");
    json_t *content = json_object_get(c, "content");
    if (type && !strcmp(type, "message") && json_is_string(content)) {
        bool out = role && !strcmp(role, "assistant");
        json_object_set_new(
            c, "content",
            json_pack("[{s:s,s:O}]", "type", out ? "output_text" : "input_text", "text", content));
    }
    return c;
}

/* GET /v1/responses/{id} and /v1/responses/{id}/input_items */
int lmx_h_response_get(lmx_req *r, const char *rest) {
    char id[128];
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    snprintf(id, sizeof id, "%.*s", (int)(n < sizeof id ? n : sizeof id - 1), rest);
    bool items = slash && !strcmp(slash, "/input_items");
    lmx_app *app = lmx_req_app(r);
    if ((slash && !items) || !*id) {
        lmx_api_err e;
        lmx_err_set(&e, 404, "invalid_request_error", NULL, NULL, "Unknown URL: %s",
                    lmx_req_path(r));
        return lmx_reply_err(r, &e);
    }
    json_t *conv = NULL;
    json_t *o = app->responses ? lmx_rstore_get(app->responses, id, items ? &conv : NULL) : NULL;
    if (!o) return not_found(r, id);
    if (!items) return lmx_reply_json(r, 200, o);
    /* the input items, newest first as OpenAI lists them */
    size_t n_out = json_array_size(json_object_get(o, "output"));
    size_t n_in = json_array_size(conv) >= n_out ? json_array_size(conv) - n_out : 0;
    json_t *data = json_array();
    for (size_t i = n_in; i-- > 0;)
        json_array_append_new(data, item_resource(json_array_get(conv, i)));
    json_decref(o);
    json_decref(conv);
    size_t nd = json_array_size(data);
    json_t *first = nd ? json_object_get(json_array_get(data, 0), "id") : NULL,
           *last = nd ? json_object_get(json_array_get(data, nd - 1), "id") : NULL;
    return lmx_reply_json(r, 200,
                          json_pack("{s:s,s:o,s:O?,s:O?,s:b}", "object", "list", "data", data,
                                    "first_id", first, "last_id", last, "has_more", 0));
}

int lmx_h_response_delete(lmx_req *r, const char *id) {
    lmx_app *app = lmx_req_app(r);
    int d = app->responses && *id ? lmx_rstore_delete(app->responses, id) : 0;
    if (d < 0) {
        lmx_api_err e;
        lmx_err_set(&e, 500, "server_error", NULL, NULL, "The response store failed.");
        return lmx_reply_err(r, &e);
    }
    if (!d) return not_found(r, id);
    return lmx_reply_json(r, 200,
                          json_pack("{s:s,s:s,s:b}", "id", id, "object", "response", "deleted", 1));
}
