/* The skill loop: tools → function tools, generate, run the skills the
 * model called, feed their results back, repeat (skills_chat.h). Each turn
 * is an ordinary chat generation (same parser, grammar and limits as a
 * client's own request); only the messages grow. */
#include "server/api/skills_chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/manager.h"
#include "server/api/openai_api.h"
#include "server/api/openai_chat.h"
#include "server/api/skills_api.h"
#include "skills/invoke.h"
#include "skills/registry.h"
#include "server/core/mgr_error.h"

bool lmx_skills_chat_wanted(const json_t *body) {
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(body, "tools"), i, t) {
        const char *type = json_string_value(json_object_get(t, "type"));
        if (type && !strcmp(type, "skill")) return true;
    }
    return false;
}

typedef struct {
    char tool[200]; /* the name the model calls */
    lmx_skill *k;
} bound;

typedef struct {
    bound *v;
    int n;
} bindings;

static void unbind(bindings *b) {
    for (int i = 0; i < b->n; i++) lmx_skill_unref(b->v[i].k);
    free(b->v);
}

static lmx_skill *bound_skill(const bindings *b, const char *tool) {
    for (int i = 0; i < b->n; i++)
        if (!strcmp(b->v[i].tool, tool)) return b->v[i].k;
    return NULL;
}

/* The request's tools with skills turned into function tools (new array),
 * or NULL with e set. */
static json_t *bind_tools(lmx_skills *s, const json_t *tools, bindings *b, lmx_api_err *e) {
    json_t *out = json_array();
    b->v = calloc(json_array_size(tools) + 1, sizeof *b->v);
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        const char *type = json_string_value(json_object_get(t, "type"));
        if (!type || strcmp(type, "skill")) {
            json_array_append(out, t);
            continue;
        }
        const char *ref = json_string_value(json_object_get(t, "name"));
        char param[64];
        snprintf(param, sizeof param, "tools[%zu].name", i);
        if (!ref) {
            lmx_err_bad(e, param, "A skill tool needs 'name' (NAMESPACE/NAME[@VERSION]).");
            goto fail;
        }
        bool nf;
        char err[900];
        lmx_skill *k = s ? lmx_skills_get(s, ref, &nf, err, sizeof err) : NULL;
        if (!k) {
            if (!s) snprintf(err, sizeof err, "skills are not enabled (skills_dir)"), nf = true;
            lmx_err_set(e, nf ? 404 : 400, nf ? "not_found_error" : "invalid_request_error",
                        nf ? "skill_not_found" : "invalid_skill", param, "%s", err);
            goto fail;
        }
        bound *bd = &b->v[b->n++];
        bd->k = k;
        lmx_skill_tool_name(k->name, bd->tool, sizeof bd->tool);
        for (int j = 0; j < b->n - 1; j++)
            if (!strcmp(b->v[j].tool, bd->tool)) {
                lmx_err_bad(e, param, "The skill '%s' is named twice in tools.", k->name);
                goto fail;
            }
        json_array_append_new(out, lmx_skill_tool_json(k));
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* tool_choice {"type": "skill", "name": REF} → the function it became. */
static json_t *bind_choice(const json_t *choice, const bindings *b, lmx_api_err *e) {
    const char *type = json_string_value(json_object_get(choice, "type"));
    if (!type || strcmp(type, "skill")) return json_incref((json_t *)choice);
    const char *ref = json_string_value(json_object_get(choice, "name"));
    char name[256];
    snprintf(name, sizeof name, "%s", ref ? ref : "");
    char *at = strchr(name, '@');
    if (at) *at = 0;
    for (int i = 0; i < b->n; i++)
        if (!strcmp(b->v[i].k->name, name))
            return json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", b->v[i].tool);
    lmx_err_bad(e, "tool_choice", "tool_choice names the skill '%s', which is not in tools.",
                ref ? ref : "");
    return NULL;
}

/* One model turn: the body → its finished generation, or NULL with e set. */
static lmx_gen *turn(lmx_req *r, json_t *body, lmx_api_err *e) {
    lmx_oai_req q;
    lmx_gen *g = NULL;
    if (lmx_oai_parse_named(r, body, LMX_OAI_CHAT, &q, e)) goto done;
    lmx_served *sv = lmx_api_acquire(lmx_req_app(r)->mgr, q.model, e);
    if (!sv) goto done;
    g = lmx_oai_start(sv, LMX_OAI_CHAT, &q, e);
    if (g && !lmx_req_gen_run(r, g, e)) {
        lmx_gen_free(g);
        g = NULL;
    }
done:
    lmx_oai_req_free(&q);
    return g;
}

/* Runs the calls of one assistant message; appends the tool messages to
 * msgs and a record per call to calls. false when a call is not a skill's
 * (the client's own function: the loop stops and the client gets it). */
static bool run_calls(lmx_req *r, lmx_skills *s, const bindings *b, const json_t *tool_calls,
                      int step, json_t *msgs, json_t *calls) {
    size_t i;
    json_t *c;
    json_array_foreach(tool_calls, i, c) {
        const char *fn = json_string_value(json_object_get(json_object_get(c, "function"), "name"));
        if (!fn || !bound_skill(b, fn)) return false;
    }
    json_array_foreach(tool_calls, i, c) {
        json_t *f = json_object_get(c, "function");
        lmx_skill *k = bound_skill(b, json_string_value(json_object_get(f, "name")));
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *astr = json_string_value(json_object_get(f, "arguments"));
        json_t *args = astr && *astr ? json_loads(astr, 0, NULL) : json_object();
        json_t *rec = json_pack("{s:s,s:i,s:s,s:s}", "id", id ? id : "", "step", step, "name",
                                k->name, "version", k->version);
        json_t *content;
        if (!json_is_object(args)) {
            json_object_set_new(rec, "arguments", json_string(astr ? astr : ""));
            json_object_set_new(rec, "error",
                                json_pack("{s:s,s:s}", "code", "invalid_arguments", "message",
                                          "the arguments are not a JSON object"));
            content = json_pack("{s:s}", "error", "the arguments are not a JSON object");
        } else {
            lmx_skr res;
            lmx_skills_invoke_for(r, s, k, NULL, args, &res);
            json_object_set(rec, "arguments", args);
            json_object_set_new(rec, "duration_s", json_real(res.duration_s));
            if (res.code == LMX_SKR_OK) {
                json_object_set(rec, "result", res.result);
                content = json_incref(res.result);
            } else {
                json_t *d = lmx_skr_details(&res);
                json_object_set_new(d, "code", json_string(lmx_skr_code_name(res.code)));
                json_object_set_new(d, "message", json_string(res.message));
                json_object_set(rec, "error", d);
                content = json_pack("{s:o}", "error", d);
            }
            lmx_skr_free(&res);
        }
        json_decref(args);
        char *text = json_dumps(content, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(content);
        json_array_append_new(msgs, json_pack("{s:s,s:s,s:s,s:s}", "role", "tool", "tool_call_id",
                                              id ? id : "", "name",
                                              json_string_value(json_object_get(f, "name")),
                                              "content", text ? text : "null"));
        free(text);
        json_array_append_new(calls, rec);
    }
    return true;
}

lmx_gen *lmx_skills_loop(lmx_req *r, json_t *body, lmx_skill_loop *out, lmx_api_err *e) {
    lmx_app *app = lmx_req_app(r);
    memset(out, 0, sizeof *out);
    out->calls = json_array();
    bindings b = {0};
    json_t *work = NULL;
    lmx_gen *g = NULL;
    if (json_is_true(json_object_get(body, "stream"))) {
        lmx_err_bad(e, "stream", "Skill tools run in a server-side loop: stream must be false.");
        goto fail;
    }
    json_t *n = json_object_get(body, "n");
    if (n && !(json_is_integer(n) && json_integer_value(n) == 1)) {
        lmx_err_bad(e, "n", "Skill tools run in a server-side loop: n must be 1.");
        goto fail;
    }
    json_t *tools = bind_tools(app->skills, json_object_get(body, "tools"), &b, e);
    if (!tools) goto fail;
    work = json_copy(body);
    json_object_set_new(work, "tools", tools);
    json_t *choice = json_object_get(body, "tool_choice");
    if (choice) {
        json_t *c = bind_choice(choice, &b, e);
        if (!c) goto fail;
        json_object_set_new(work, "tool_choice", c);
    }
    json_t *msgs = json_deep_copy(json_object_get(body, "messages"));
    json_object_set_new(work, "messages", msgs ? msgs : json_array());
    int steps = atomic_load(&app->skill_steps);
    if (steps < 1) steps = 4;
    for (int step = 1;; step++) {
        lmx_gen_free(g);
        g = turn(r, work, e);
        if (!g) goto fail;
        out->prompt_tokens += g->prompt_tokens;
        out->completion_tokens += g->completion_tokens;
        /* the turn as the chat API shows it: its message and tool calls */
        json_t *resp = lmx_chat_response(g);
        json_t *msg =
            json_object_get(json_array_get(json_object_get(resp, "choices"), 0), "message");
        json_t *tc = json_object_get(msg, "tool_calls");
        bool more = json_array_size(tc) > 0;
        if (more && step >= steps) {
            out->exhausted = true;
            more = false;
        }
        if (more) {
            json_t *m = json_object_get(work, "messages");
            json_array_append_new(m, json_pack("{s:s,s:O,s:O}", "role", "assistant", "content",
                                               json_object_get(msg, "content") ?: json_null(),
                                               "tool_calls", tc));
            /* a call of the client's own function ends the loop: it is theirs to run */
            more = run_calls(r, app->skills, &b, tc, step, m, out->calls);
        }
        json_decref(resp);
        if (!more) break;
        /* a forced choice was honoured; the next turns may answer in words
         * (as the OpenAI Agents SDK resets tool_choice, so a loop can end) */
        if (json_object_get(work, "tool_choice"))
            json_object_set_new(work, "tool_choice", json_string("auto"));
    }
    json_decref(work);
    unbind(&b);
    return g;
fail:
    lmx_gen_free(g);
    json_decref(work);
    unbind(&b);
    json_decref(out->calls);
    out->calls = NULL;
    return NULL;
}

int lmx_skills_chat(lmx_req *r, json_t *body) {
    lmx_api_err e = {0};
    lmx_skill_loop lp;
    lmx_gen *g = lmx_skills_loop(r, body, &lp, &e);
    if (!g) return lmx_reply_err(r, &e);
    g->prompt_tokens = lp.prompt_tokens; /* usage over every turn */
    g->completion_tokens = lp.completion_tokens;
    json_t *resp = lmx_chat_response(g);
    lmx_gen_free(g);
    json_object_set_new(resp, "skill_calls", lp.calls);
    if (lp.exhausted) json_object_set_new(resp, "skill_steps_exhausted", json_true());
    return lmx_reply_json(r, 200, resp);
}
