/* Chat prompt construction.
 *
 * The model's own template decides the prompt text; we only shape the
 * messages so that templates written for Hugging Face's apply_chat_template
 * see what they expect. Two common refusals are worked around instead of
 * failing the request: templates that raise on a system message (Gemma 2) get
 * the system text merged into the first user turn, and templates that raise
 * on two same-role turns in a row (Mistral-style alternation checks) get those
 * turns merged — agent clients such as OpenClaw send both. The model's probe
 * at load (models.c) says which applies; a raise at render time retries with
 * both before giving up with a 400 carrying the template's message. */
#include "server/core/chat_prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static int bad(lmx_api_err *e, const char *param, const char *msg) {
    lmx_err_bad(e, param, "Invalid '%s': %s", param, msg);
    return -1;
}

static int norm_content(json_t *c, size_t i, json_t **out, lmx_api_err *e) {
    char p[64];
    snprintf(p, sizeof p, "messages[%zu].content", i);
    if (!c || json_is_null(c)) {
        *out = json_string("");
        return 0;
    }
    if (json_is_string(c)) {
        *out = json_incref(c);
        return 0;
    }
    if (!json_is_array(c))
        return bad(e, p, "expected a string, an array of content parts or null.");
    size_t j, len = 0;
    json_t *part;
    json_array_foreach(c, j, part) {
        snprintf(p, sizeof p, "messages[%zu].content[%zu]", i, j);
        if (!json_is_object(part)) return bad(e, p, "expected a content part object.");
        json_t *t = json_object_get(part, "type");
        if (!json_is_string(t)) return bad(e, p, "missing the part's 'type'.");
        const char *ty = json_string_value(t);
        if (!strcmp(ty, "text") || !strcmp(ty, "input_text")) {
            json_t *x = json_object_get(part, "text");
            if (!json_is_string(x)) return bad(e, p, "a text part needs a string 'text'.");
            len += json_string_length(x) + 1;
        } else if (!strcmp(ty, "image_url") || !strcmp(ty, "input_image") || !strcmp(ty, "image")) {
            lmx_err_bad(e, p,
                        "Image inputs are not supported: this server's models read text only (%s).",
                        p);
            return -1;
        } else if (!strcmp(ty, "input_audio") || !strcmp(ty, "file")) {
            lmx_err_bad(
                e, p, "'%s' content parts are not supported: this server's models read text only.",
                ty);
            return -1;
        } else {
            lmx_err_bad(e, p, "Invalid '%s': unknown content part type '%s'.", p, ty);
            return -1;
        }
    }
    char *s = malloc(len + 1), *w = s;
    if (!s) {
        lmx_err_set(e, 500, "server_error", NULL, NULL, "out of memory");
        return -1;
    }
    json_array_foreach(c, j, part) {
        json_t *x = json_object_get(part, "text");
        if (w != s) *w++ = '\n';
        memcpy(w, json_string_value(x), json_string_length(x));
        w += json_string_length(x);
    }
    *w = 0;
    *out = json_stringn(s, (size_t)(w - s));
    free(s);
    if (!*out) return bad(e, p, "the text is not valid UTF-8.");
    return 0;
}

json_t *lmx_chat_normalize(json_t *messages, lmx_api_err *e) {
    static const char *roles[] = {"system", "developer", "user", "assistant", "tool", "function"};
    json_t *out = json_array();
    size_t i;
    json_t *m;
    char p[64];
    json_array_foreach(messages, i, m) {
        snprintf(p, sizeof p, "messages[%zu]", i);
        if (!json_is_object(m)) {
            bad(e, p, "expected an object.");
            goto fail;
        }
        json_t *role = json_object_get(m, "role");
        snprintf(p, sizeof p, "messages[%zu].role", i);
        if (!json_is_string(role)) {
            lmx_err_bad(e, p, "Missing required parameter: '%s'.", p);
            goto fail;
        }
        const char *r = json_string_value(role);
        size_t k = 0;
        while (k < sizeof roles / sizeof roles[0] && strcmp(roles[k], r)) k++;
        if (k == sizeof roles / sizeof roles[0]) {
            lmx_err_bad(e, p,
                        "Invalid value: '%s'. Supported values are: 'system', 'developer', 'user', "
                        "'assistant', 'tool' and 'function'.",
                        r);
            goto fail;
        }
        json_t *n = json_deep_copy(m), *c;
        json_array_append_new(out, n);
        if (!strcmp(r, "developer")) json_object_set_new(n, "role", json_string("system"));
        if (norm_content(json_object_get(m, "content"), i, &c, e)) goto fail;
        json_object_set_new(n, "content", c);
        json_t *name = json_object_get(m, "name");
        snprintf(p, sizeof p, "messages[%zu].name", i);
        if (name && !json_is_string(name) && !json_is_null(name)) {
            bad(e, p, "expected a string.");
            goto fail;
        }
        json_t *tc = json_object_get(n, "tool_calls");
        if (tc && !json_is_null(tc)) {
            snprintf(p, sizeof p, "messages[%zu].tool_calls", i);
            if (!json_is_array(tc)) {
                bad(e, p, "expected an array.");
                goto fail;
            }
            size_t j;
            json_t *call;
            json_array_foreach(tc, j, call) {
                json_t *fn = json_object_get(call, "function"),
                       *args = json_object_get(fn, "arguments");
                if (json_is_string(args)) { /* templates index arguments as a mapping */
                    json_t *parsed = json_loads(json_string_value(args), JSON_DECODE_ANY, NULL);
                    if (json_is_object(parsed))
                        json_object_set_new(fn, "arguments", parsed);
                    else
                        json_decref(parsed);
                }
            }
        }
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

static const char *role_of(json_t *m) {
    return json_string_value(json_object_get(m, "role"));
}

static json_t *concat(json_t *a, json_t *b) {
    const char *x = json_string_value(a), *y = json_string_value(b);
    size_t nx = strlen(x), ny = strlen(y);
    char *s = malloc(nx + ny + 3);
    if (!s) return json_incref(a);
    memcpy(s, x, nx);
    size_t o = nx;
    if (nx && ny) s[o++] = '\n', s[o++] = '\n';
    memcpy(s + o, y, ny);
    json_t *r = json_stringn(s, o + ny);
    free(s);
    return r;
}

json_t *lmx_chat_merge_system(json_t *msgs) {
    json_t *out = json_array(), *sys = json_string("");
    size_t i;
    json_t *m;
    bool merged = false;
    json_array_foreach(msgs, i, m) {
        if (!strcmp(role_of(m), "system")) {
            json_t *t = concat(sys, json_object_get(m, "content"));
            json_decref(sys);
            sys = t;
            continue;
        }
        json_t *n = json_deep_copy(m);
        if (!merged && !strcmp(role_of(m), "user")) {
            json_object_set_new(n, "content", concat(sys, json_object_get(m, "content")));
            merged = true;
        }
        json_array_append_new(out, n);
    }
    if (!merged && json_string_length(sys))
        json_array_insert_new(out, 0, json_pack("{s:s,s:O}", "role", "user", "content", sys));
    json_decref(sys);
    return out;
}

json_t *lmx_chat_merge_runs(json_t *msgs) {
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        json_t *last = json_array_get(out, json_array_size(out) - 1);
        const char *r = role_of(m);
        if (last && !strcmp(role_of(last), r) && strcmp(r, "tool") &&
            !json_object_get(m, "tool_calls") && !json_object_get(last, "tool_calls")) {
            json_object_set_new(
                last, "content",
                concat(json_object_get(last, "content"), json_object_get(m, "content")));
            continue;
        }
        json_array_append_new(out, json_deep_copy(m));
    }
    return out;
}

static char *render(const lmx_served *s, const lmx_oai_req *r, json_t *msgs, bool *raised,
                    bool *budget, char *err, size_t errlen) {
    json_t *ctx = json_object();
    if (r->template_kwargs) json_object_update(ctx, r->template_kwargs);
    if (r->reasoning_effort)
        json_object_set_new(ctx, "reasoning_effort", json_string(r->reasoning_effort));
    json_object_set(ctx, "messages", msgs);
    if (r->tools && r->tool_choice != LMX_TOOL_NONE) json_object_set(ctx, "tools", r->tools);
    json_object_set_new(ctx, "add_generation_prompt", json_true());
    json_object_set_new(ctx, "bos_token", json_string(s->bos_text));
    json_object_set_new(ctx, "eos_token", json_string(s->eos_text));
    lmx_tmpl_opts o = {0};
    char *out = lmx_tmpl_render(s->tmpl, ctx, &o, err, errlen);
    json_decref(ctx);
    *raised = o.raised != 0;
    *budget = o.budget != 0;
    return out;
}

int lmx_srv_tokenize(const lmx_served *s, const char *text, size_t len, bool add_bos,
                     int32_t **toks, int *n_toks, lmx_api_err *e) {
    int cap = (int)(len < (1u << 28) ? len : (1u << 28)) + 16;
    int32_t *t = malloc(sizeof(int32_t) * (size_t)cap);
    int n = t ? lmx_tok_encode(s->m->tok, text, len, add_bos, true, t, cap) : -1;
    if (n > cap) {
        int32_t *t2 = realloc(t, sizeof(int32_t) * (size_t)n);
        if (t2)
            n = lmx_tok_encode(s->m->tok, text, len, add_bos, true, t = t2, n);
        else
            n = -1;
    }
    if (n < 0) {
        free(t);
        lmx_err_set(e, 500, "server_error", NULL, NULL, "tokenization failed");
        return -1;
    }
    *toks = t;
    *n_toks = n;
    return 0;
}

int lmx_chat_prompt(const lmx_served *s, const lmx_oai_req *r, const char *suffix, int32_t **toks,
                    int *n_toks, lmx_api_err *e) {
    json_t *msgs = lmx_chat_normalize(r->messages, e);
    if (!msgs) return -1;
    bool did_sys = false, did_runs = false, raised, budget;
    if (s->tmpl_no_system) {
        json_t *t = lmx_chat_merge_system(msgs);
        json_decref(msgs);
        msgs = t;
        did_sys = true;
    }
    if (s->tmpl_alternate) {
        json_t *t = lmx_chat_merge_runs(msgs);
        json_decref(msgs);
        msgs = t;
        did_runs = true;
    }
    char err[512];
    char *text = render(s, r, msgs, &raised, &budget, err, sizeof err);
    if (!text && raised && (!did_sys || !did_runs)) {
        json_t *t = lmx_chat_merge_runs(msgs), *t2 = lmx_chat_merge_system(t);
        json_decref(t);
        text = render(s, r, t2, &raised, &budget, err, sizeof err);
        json_decref(t2);
    }
    json_decref(msgs);
    if (!text) {
        /* the template's own words, as a client error: the request is what
         * the template could not take (a server error would invite retries) */
        if (raised)
            lmx_err_set(e, 400, "invalid_request_error", NULL, "messages",
                        "The model's chat template refused the messages: %s", err);
        else if (budget)
            lmx_err_set(e, 422, "invalid_request_error", "chat_template_budget_exceeded",
                        "messages",
                        "The chat template of model '%s' (tokenizer.chat_template) exceeded its "
                        "budget rendering these messages: %s",
                        s->name, err);
        else
            lmx_err_set(e, 422, "invalid_request_error", "chat_template_error", "messages",
                        "The chat template of model '%s' (tokenizer.chat_template) failed on "
                        "these messages: %s",
                        s->name, err);
        return -1;
    }
    size_t tl = strlen(text);
    if (suffix && !lmx_str_append(&text, &tl, suffix, strlen(suffix))) {
        free(text);
        lmx_err_set(e, 500, "server_error", NULL, NULL, "out of memory");
        return -1;
    }
    size_t bl = strlen(s->bos_text);
    bool has_bos = bl && tl >= bl && !memcmp(text, s->bos_text, bl);
    int rc = lmx_srv_tokenize(s, text, tl, !has_bos, toks, n_toks, e);
    free(text);
    return rc;
}
