/* Role definitions (see role.h). */
#include "agents/role.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/json_schema.h"
#include "text/template.h"

static int bad(lmx_api_err *e, const char *field, const char *fmt, const char *detail) {
    char param[64];
    snprintf(param, sizeof param, "definition.%s", field);
    lmx_err_set(e, 400, "invalid_request_error", "invalid_definition", param, fmt, param, detail);
    return -1;
}

/* A number field of obj: absent → def; else must lie in [lo, hi]. */
static int num(json_t *obj, const char *parent, const char *k, double def, double lo, double hi,
               bool integer, lmx_api_err *e) {
    json_t *v = json_object_get(obj, k);
    char field[64];
    snprintf(field, sizeof field, "%s.%s", parent, k);
    if (!v || json_is_null(v)) {
        json_object_set_new(obj, k, integer ? json_integer((json_int_t)def) : json_real(def));
        return 0;
    }
    if (!json_is_number(v) || (integer && !json_is_integer(v)))
        return bad(e, field, "Invalid '%s': expected %s.", integer ? "an integer" : "a number");
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) {
        char d[96];
        snprintf(d, sizeof d, "%g to %g", lo, hi);
        return bad(e, field, "Invalid '%s': expected a value from %s.", d);
    }
    return 0;
}

/* A tool's output_schema (in its function object, or beside it) is moved to
 * def.tool_output_schemas {name: schema}: the chat request the steps send
 * carries only what Chat Completions knows. */
static int take_output_schema(json_t *def, json_t *t, json_t *fn, const char *name,
                              lmx_api_err *e) {
    json_t *os = json_object_get(fn, "output_schema");
    if (!os) os = json_object_get(t, "output_schema");
    if (!os) return 0;
    if (!json_is_object(os))
        return bad(e, "tools", "Invalid '%s': %s.",
                   "a tool's output_schema must be a JSON Schema object");
    char err[256];
    lmx_gram *g = lmx_json_schema_grammar(os, "output_schema", err, sizeof err);
    if (!g) return bad(e, "tools", "Invalid '%s': %s", err);
    lmx_gram_release(g);
    json_object_set(json_object_get(def, "tool_output_schemas"), name, os);
    json_object_del(fn, "output_schema");
    json_object_del(t, "output_schema");
    return 0;
}

static int check_tools(json_t *def, lmx_api_err *e) {
    json_t *tools = json_object_get(def, "tools");
    json_object_set_new(def, "tool_output_schemas", json_object());
    if (!tools || json_is_null(tools)) {
        json_object_set_new(def, "tools", json_array());
        return 0;
    }
    if (!json_is_array(tools)) return bad(e, "tools", "Invalid '%s': expected %s.", "a list");
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        /* {name, description, parameters} is taken as shorthand for the function form */
        if (json_is_object(t) && json_is_string(json_object_get(t, "name"))) {
            json_t *full = json_pack("{s:s,s:O}", "type", "function", "function", t);
            json_array_set_new(tools, i, full);
            t = full;
        }
        json_t *fn = json_object_get(t, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!json_is_object(t) || !json_is_object(fn) || !name || !*name)
            return bad(e, "tools", "Invalid '%s': %s.",
                       "each tool needs a function with a name ({type: function, function: "
                       "{name, description, parameters}})");
        json_t *p = json_object_get(fn, "parameters");
        if (p && !json_is_object(p))
            return bad(e, "tools", "Invalid '%s': %s.",
                       "a tool's parameters must be a JSON Schema object");
        if (!p)
            json_object_set_new(fn, "parameters",
                                json_pack("{s:s,s:{}}", "type", "object", "properties"));
        if (take_output_schema(def, t, fn, name, e)) return -1;
        for (size_t k = 0; k < i; k++) {
            const char *other = json_string_value(
                json_object_get(json_object_get(json_array_get(tools, k), "function"), "name"));
            if (other && !strcmp(other, name))
                return bad(e, "tools", "Invalid '%s': the tool name '%s' is used twice.", name);
        }
    }
    return 0;
}

static bool has_tool(const json_t *def, const char *name) {
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(def, "tools"), i, t) {
        const char *n = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        if (n && !strcmp(n, name)) return true;
    }
    return false;
}

/* One tool_choice entry → "auto" | "none" | "required" | a tool's name. */
static json_t *choice_entry(const json_t *def, const json_t *c, lmx_api_err *e) {
    const char *s = json_string_value(c);
    if (json_is_object(c))
        s = json_string_value(json_object_get(json_object_get(c, "function"), "name"));
    if (!s) {
        bad(e, "tool_choice", "Invalid '%s': %s.",
            "expected \"auto\", \"none\", \"required\", a tool name or {type: function, function: "
            "{name}}");
        return NULL;
    }
    bool kw = !strcmp(s, "auto") || !strcmp(s, "none") || !strcmp(s, "required");
    if (!kw && !has_tool(def, s)) {
        bad(e, "tool_choice", "Invalid '%s': '%s' is not one of the role's tools.", s);
        return NULL;
    }
    if (!kw || strcmp(s, "none")) {
        if (!json_array_size(json_object_get(def, "tools"))) {
            bad(e, "tool_choice", "Invalid '%s': %s.", "a tool choice other than none needs tools");
            return NULL;
        }
    }
    return json_string(s);
}

json_t *lmx_role_check(const json_t *in, lmx_api_err *e) {
    if (!json_is_object(in)) {
        lmx_err_set(e, 400, "invalid_request_error", "invalid_definition", "definition",
                    "Invalid 'definition': expected an object.");
        return NULL;
    }
    json_t *def = json_deep_copy(in);
    static const char *known[] = {"name",  "description",   "model",    "instructions",
                                  "tools", "tool_choice",   "limits",   "sampling",
                                  "retry", "output_schema", "metadata", "tool_output_schemas",
                                  NULL};
    const char *k;
    json_t *v;
    json_object_foreach(def, k, v) {
        bool ok = false;
        for (int i = 0; known[i]; i++) ok |= !strcmp(known[i], k);
        if (!ok) {
            bad(e, k, "Unknown field '%s'%s.", "");
            goto fail;
        }
    }
    if (!json_is_string(json_object_get(def, "model")) ||
        !*json_string_value(json_object_get(def, "model"))) {
        bad(e, "model", "Invalid '%s': %s.", "a role needs a model (a model name or alias)");
        goto fail;
    }
    v = json_object_get(def, "instructions");
    if (v && !json_is_null(v) && !json_is_string(v)) {
        bad(e, "instructions", "Invalid '%s': expected %s.",
            "a string (a template over the run's variables)");
        goto fail;
    }
    if (json_is_string(v)) {
        char err[256];
        lmx_tmpl *t = lmx_tmpl_parse(json_string_value(v), json_string_length(v), err, sizeof err);
        if (!t) {
            bad(e, "instructions", "Invalid '%s': template error at %s.", err);
            goto fail;
        }
        lmx_tmpl_free(t);
    }
    if (check_tools(def, e)) goto fail;
    /* tool_choice: one choice for every step, or a plan (a list: entry i for step i, the last
     * one for every step after) */
    v = json_object_get(def, "tool_choice");
    json_t *plan = json_array();
    if (!v || json_is_null(v))
        json_array_append_new(plan, json_string("auto"));
    else if (json_is_array(v) && json_array_size(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c) {
            json_t *x = choice_entry(def, c, e);
            if (!x) {
                json_decref(plan);
                goto fail;
            }
            json_array_append_new(plan, x);
        }
    } else {
        json_t *x = choice_entry(def, v, e);
        if (!x) {
            json_decref(plan);
            goto fail;
        }
        json_array_append_new(plan, x);
    }
    json_object_set_new(def, "tool_choice", plan);
    /* limits, sampling, retry: objects whose numbers are checked here once */
    static const char *objs[] = {"limits", "sampling", "retry"};
    for (int i = 0; i < 3; i++) {
        v = json_object_get(def, objs[i]);
        if (!v || json_is_null(v))
            json_object_set_new(def, objs[i], json_object());
        else if (!json_is_object(v)) {
            bad(e, objs[i], "Invalid '%s': expected %s.", "an object");
            goto fail;
        }
    }
    json_t *lim = json_object_get(def, "limits"), *rt = json_object_get(def, "retry"),
           *sm = json_object_get(def, "sampling");
    if (num(lim, "limits", "max_steps", 16, 1, 1000, true, e) ||
        num(lim, "limits", "max_tokens_per_step", 512, 1, 1 << 20, true, e) ||
        num(lim, "limits", "max_tokens_per_run", 16384, 1, 1 << 30, true, e) ||
        num(lim, "limits", "wall_clock_s", 3600, 1, 86400 * 7, false, e) ||
        num(lim, "limits", "step_timeout_s", 300, 0.1, 86400, false, e) ||
        num(rt, "retry", "max_attempts", 3, 1, 20, true, e) ||
        num(rt, "retry", "initial_backoff_ms", 500, 0, 600000, false, e) ||
        num(rt, "retry", "max_backoff_ms", 30000, 0, 3600000, false, e) ||
        num(rt, "retry", "multiplier", 2, 1, 10, false, e) ||
        num(rt, "retry", "jitter", 0.2, 0, 1, false, e))
        goto fail;
    json_object_foreach(lim, k, v) {
        if (strcmp(k, "max_steps") && strcmp(k, "max_tokens_per_step") &&
            strcmp(k, "max_tokens_per_run") && strcmp(k, "wall_clock_s") &&
            strcmp(k, "step_timeout_s")) {
            char f[80];
            snprintf(f, sizeof f, "limits.%s", k);
            bad(e, f, "Unknown field '%s'%s.", "");
            goto fail;
        }
    }
    static const char *sampling[] = {
        "temperature",       "top_p",          "top_k", "min_p",      "seed", "presence_penalty",
        "frequency_penalty", "repeat_penalty", "stop",  "logit_bias", NULL};
    json_object_foreach(sm, k, v) {
        bool ok = false;
        for (int i = 0; sampling[i]; i++) ok |= !strcmp(sampling[i], k);
        if (!ok) {
            char f[80];
            snprintf(f, sizeof f, "sampling.%s", k);
            bad(e, f, "Unknown field '%s'%s.",
                " (known: temperature, top_p, top_k, min_p, seed, "
                "presence_penalty, frequency_penalty, "
                "repeat_penalty, stop, logit_bias)");
            goto fail;
        }
    }
    v = json_object_get(def, "output_schema");
    if (v && !json_is_null(v) && !json_is_object(v)) {
        bad(e, "output_schema", "Invalid '%s': expected %s.", "a JSON Schema object");
        goto fail;
    }
    return def;
fail:
    json_decref(def);
    return NULL;
}

char *lmx_role_instructions(const json_t *def, const json_t *variables, lmx_api_err *e) {
    const char *src = json_string_value(json_object_get(def, "instructions"));
    if (!src) return strdup("");
    char err[512];
    lmx_tmpl *t = lmx_tmpl_parse(src, strlen(src), err, sizeof err);
    if (!t) {
        lmx_err_set(e, 400, "invalid_request_error", "invalid_definition",
                    "definition.instructions", "Invalid 'definition.instructions': %s", err);
        return NULL;
    }
    json_t *ctx = json_is_object(variables) ? json_deep_copy(variables) : json_object();
    lmx_tmpl_opts o = {0};
    char *out = lmx_tmpl_render(t, ctx, &o, err, sizeof err);
    json_decref(ctx);
    lmx_tmpl_free(t);
    if (!out)
        lmx_err_set(e, 400, "invalid_request_error", "invalid_variables", "variables",
                    "The role's instructions could not be rendered over the run's variables: %s",
                    err);
    return out;
}

json_t *lmx_role_step_body(const json_t *def, const json_t *messages, int step) {
    json_t *lim = json_object_get(def, "limits"), *plan = json_object_get(def, "tool_choice");
    json_t *b = json_pack("{s:O,s:O,s:O}", "model", json_object_get(def, "model"), "messages",
                          messages, "max_tokens", json_object_get(lim, "max_tokens_per_step"));
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(def, "sampling"), k, v) json_object_set(b, k, v);
    size_t np = json_array_size(plan);
    const char *choice =
        json_string_value(json_array_get(plan, (size_t)step < np ? (size_t)step : np - 1));
    if (!choice) choice = "auto";
    json_t *tools = json_object_get(def, "tools");
    bool use_tools = json_array_size(tools) && strcmp(choice, "none");
    if (use_tools) {
        json_object_set(b, "tools", tools);
        if (!strcmp(choice, "auto") || !strcmp(choice, "required"))
            json_object_set_new(b, "tool_choice", json_string(choice));
        else
            json_object_set_new(
                b, "tool_choice",
                json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", choice));
        json_object_set_new(b, "parallel_tool_calls", json_true());
    }
    json_t *schema = json_object_get(def, "output_schema");
    if (json_is_object(schema) && !use_tools)
        json_object_set_new(b, "response_format",
                            json_pack("{s:s,s:{s:s,s:O,s:b}}", "type", "json_schema", "json_schema",
                                      "name", "output", "schema", schema, "strict", 1));
    return b;
}

double lmx_role_backoff_ms(const json_t *def, int attempt, double retry_after_s, double rnd) {
    json_t *r = json_object_get(def, "retry");
    double init = json_number_value(json_object_get(r, "initial_backoff_ms"));
    double mx = json_number_value(json_object_get(r, "max_backoff_ms"));
    double mul = json_number_value(json_object_get(r, "multiplier"));
    double jit = json_number_value(json_object_get(r, "jitter"));
    double d = init * pow(mul, attempt > 1 ? attempt - 1 : 0);
    if (d > mx) d = mx;
    d *= 1 + jit * (2 * rnd - 1);
    if (d < 0) d = 0;
    if (d < retry_after_s * 1000) d = retry_after_s * 1000;
    return d;
}

/* v with object keys in the order the schema lists its properties (the schema
 * grammar accepts them in that order), recursively (new reference). */
static json_t *schema_order(json_t *v, const json_t *schema) {
    if (json_is_array(v)) {
        json_t *a = json_array(), *items = json_object_get(schema, "items"), *x;
        size_t i;
        json_array_foreach(v, i, x) json_array_append_new(a, schema_order(x, items));
        return a;
    }
    if (!json_is_object(v)) return json_incref(v);
    json_t *props = json_object_get(schema, "properties"), *o = json_object(), *x;
    const char *k;
    json_object_foreach(props, k, x) {
        json_t *val = json_object_get(v, k);
        if (val) json_object_set_new(o, k, schema_order(val, x));
    }
    json_object_foreach(v, k, x) if (!json_object_get(o, k)) json_object_set(o, k, x);
    return o;
}

int lmx_role_check_tool_output(const json_t *def, const char *tool, const char *output, char *why,
                               size_t n) {
    json_t *schema = json_object_get(json_object_get(def, "tool_output_schemas"), tool);
    if (!schema) return 0;
    json_error_t je;
    json_t *v = json_loads(output, JSON_DECODE_ANY, &je);
    if (!v) {
        snprintf(why, n, "the output of '%s' is not JSON: %s", tool, je.text);
        return -1;
    }
    json_t *ordered = schema_order(v, schema);
    json_decref(v);
    char *text = json_dumps(ordered, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(ordered);
    char err[256];
    lmx_gram *g = lmx_json_schema_grammar(schema, "output_schema", err, sizeof err);
    lmx_gram_state *st = g && text ? lmx_gram_state_new(g, NULL) : NULL;
    bool ok = st && !lmx_gram_accept_bytes(st, text, strlen(text)) && lmx_gram_complete(st);
    lmx_gram_state_free(st);
    lmx_gram_release(g);
    free(text);
    if (!ok) snprintf(why, n, "the output of '%s' does not match its output_schema", tool);
    return ok ? 0 : -1;
}
