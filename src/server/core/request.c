/* Request-body validation for the OpenAI endpoints.
 *
 * Messages follow OpenAI's own wording where it has one ("Invalid type for
 * 'temperature': expected a number, but got a string instead."), so clients
 * that surface the message to a user show something familiar. null counts as
 * absent for every optional field, as OpenAI's API treats it. */
#include "server/core/request.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/json_schema.h"

typedef struct {
    const char *name;
    unsigned kinds; /* bit 0: chat, bit 1: completions */
    lmx_field_policy policy;
} field;

#define CHAT 1u
#define CMPL 2u
#define BOTH 3u

static const field fields[] = {
    {"model", BOTH, LMX_FIELD_SUPPORTED},
    {"messages", CHAT, LMX_FIELD_SUPPORTED},
    {"prompt", CMPL, LMX_FIELD_SUPPORTED},
    {"max_tokens", BOTH, LMX_FIELD_SUPPORTED},
    {"max_completion_tokens", CHAT, LMX_FIELD_SUPPORTED},
    {"temperature", BOTH, LMX_FIELD_SUPPORTED},
    {"top_p", BOTH, LMX_FIELD_SUPPORTED},
    {"top_k", BOTH, LMX_FIELD_SUPPORTED},
    {"min_p", BOTH, LMX_FIELD_SUPPORTED},
    {"n", BOTH, LMX_FIELD_SUPPORTED},
    {"stop", BOTH, LMX_FIELD_SUPPORTED},
    {"seed", BOTH, LMX_FIELD_SUPPORTED},
    {"presence_penalty", BOTH, LMX_FIELD_SUPPORTED},
    {"frequency_penalty", BOTH, LMX_FIELD_SUPPORTED},
    {"repetition_penalty", BOTH, LMX_FIELD_SUPPORTED},
    {"repeat_penalty", BOTH, LMX_FIELD_SUPPORTED},
    {"logit_bias", BOTH, LMX_FIELD_SUPPORTED},
    {"logprobs", BOTH, LMX_FIELD_SUPPORTED},
    {"top_logprobs", CHAT, LMX_FIELD_SUPPORTED},
    {"stream", BOTH, LMX_FIELD_SUPPORTED},
    {"stream_options", BOTH, LMX_FIELD_SUPPORTED},
    {"user", BOTH, LMX_FIELD_SUPPORTED},
    {"response_format", BOTH, LMX_FIELD_SUPPORTED},
    {"tools", CHAT, LMX_FIELD_SUPPORTED},
    {"tool_choice", CHAT, LMX_FIELD_SUPPORTED},
    {"chat_template_kwargs", CHAT, LMX_FIELD_SUPPORTED},
    {"modalities", CHAT, LMX_FIELD_SUPPORTED},
    {"echo", CMPL, LMX_FIELD_SUPPORTED},
    {"ignore_eos", BOTH, LMX_FIELD_SUPPORTED}, /* llama.cpp / vLLM: serving benchmarks send it */
    {"best_of", CMPL, LMX_FIELD_SUPPORTED},
    {"store", BOTH, LMX_FIELD_IGNORED},
    {"metadata", BOTH, LMX_FIELD_IGNORED},
    {"service_tier", BOTH, LMX_FIELD_IGNORED},
    {"parallel_tool_calls", CHAT, LMX_FIELD_SUPPORTED},
    {"reasoning_effort", CHAT, LMX_FIELD_SUPPORTED},
    {"reasoning_format", CHAT, LMX_FIELD_SUPPORTED},
    {"prompt_cache_key", BOTH, LMX_FIELD_IGNORED},
    {"safety_identifier", BOTH, LMX_FIELD_IGNORED},
    {"verbosity", CHAT, LMX_FIELD_IGNORED},
    {"cache_prompt", BOTH, LMX_FIELD_IGNORED},
    {"ttl", BOTH, LMX_FIELD_SUPPORTED}, /* LM Studio's JIT idle ttl; the endpoint reads it */
};

lmx_field_policy lmx_oai_field_policy(lmx_oai_kind kind, const char *name) {
    unsigned bit = kind == LMX_OAI_CHAT ? CHAT : CMPL;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!strcmp(fields[i].name, name) && (fields[i].kinds & bit)) return fields[i].policy;
    return LMX_FIELD_REFUSED;
}

/* Why a refused field is refused, for the ones clients are likely to send. */
static const char *refusal_reason(const char *name) {
    static const struct {
        const char *name, *why;
    } r[] = {
        {"suffix", "insertion (suffix) is not supported"},
        {"functions", "the deprecated 'functions' parameter is not supported; use 'tools'"},
        {"function_call",
         "the deprecated 'function_call' parameter is not supported; use 'tool_choice'"},
        {"audio", "audio output is not supported"},
        {"prediction", "predicted outputs are not supported"},
        {"web_search_options", "web search is not supported"},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (!strcmp(r[i].name, name)) return r[i].why;
    return NULL;
}

/* What an error calls each JSON type ("but got a string instead"). */
static const char *type_name(const json_t *v) {
    static const char *const names[] = {
        [JSON_OBJECT] = "an object",   [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "an integer", [JSON_REAL] = "a decimal", [JSON_TRUE] = "a boolean",
        [JSON_FALSE] = "a boolean",    [JSON_NULL] = "null",
    };
    unsigned t = (unsigned)json_typeof(v);
    return t < sizeof names / sizeof names[0] && names[t] ? names[t] : "null";
}

static int bad_type(lmx_api_err *e, const char *name, const char *want, const json_t *v) {
    lmx_err_bad(e, name, "Invalid type for '%s': expected %s, but got %s instead.", name, want,
                type_name(v));
    return -1;
}

/* Optional field: NULL if absent or null. */
static json_t *opt(json_t *body, const char *name) {
    json_t *v = json_object_get(body, name);
    return v && !json_is_null(v) ? v : NULL;
}

static int num_field(json_t *body, const char *name, double lo, double hi, float *out,
                     lmx_api_err *e) {
    json_t *v = opt(body, name);
    if (!v) return 0;
    if (!json_is_number(v)) return bad_type(e, name, "a number", v);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi) {
        lmx_err_bad(e, name,
                    "Invalid '%s': expected a value between %g and %g, but got %g instead.", name,
                    lo, hi, d);
        return -1;
    }
    *out = (float)d;
    return 0;
}

static int int_value(json_t *v, const char *name, long long lo, long long hi, long long *out,
                     lmx_api_err *e) {
    long long x;
    if (json_is_integer(v))
        x = json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
             fabs(json_real_value(v)) < 9e15)
        x = (long long)json_real_value(v);
    else
        return bad_type(e, name, "an integer", v);
    if (x < lo || x > hi) {
        lmx_err_bad(e, name,
                    "Invalid '%s': expected a value between %lld and %lld, but got %lld instead.",
                    name, lo, hi, x);
        return -1;
    }
    *out = x;
    return 0;
}

static int int_field(json_t *body, const char *name, long long lo, long long hi, int *out,
                     lmx_api_err *e) {
    json_t *v = opt(body, name);
    if (!v) return 0;
    long long x;
    if (int_value(v, name, lo, hi, &x, e)) return -1;
    *out = (int)x;
    return 0;
}

static int bool_field(json_t *body, const char *name, bool *out, lmx_api_err *e) {
    json_t *v = opt(body, name);
    if (!v) return 0;
    if (!json_is_boolean(v)) return bad_type(e, name, "a boolean", v);
    *out = json_is_true(v);
    return 0;
}

static int parse_stop(json_t *body, lmx_oai_req *r, lmx_api_err *e) {
    json_t *v = opt(body, "stop");
    if (!v) return 0;
    if (json_is_string(v)) {
        if (json_string_length(v)) r->stop[r->n_stop++] = json_string_value(v);
        return 0;
    }
    if (!json_is_array(v)) return bad_type(e, "stop", "a string or an array of strings", v);
    if (json_array_size(v) > LMX_OAI_MAX_STOP) {
        lmx_err_bad(e, "stop", "Invalid 'stop': at most %d stop sequences are allowed, got %zu.",
                    LMX_OAI_MAX_STOP, json_array_size(v));
        return -1;
    }
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s)) {
            char p[32];
            snprintf(p, sizeof p, "stop[%zu]", i);
            return bad_type(e, p, "a string", s);
        }
        if (json_string_length(s)) r->stop[r->n_stop++] = json_string_value(s);
    }
    return 0;
}

static int parse_bias(json_t *body, lmx_oai_req *r, lmx_api_err *e) {
    json_t *v = opt(body, "logit_bias");
    if (!v) return 0;
    if (!json_is_object(v)) return bad_type(e, "logit_bias", "an object", v);
    size_t n = json_object_size(v);
    if (!n) return 0;
    r->bias = calloc(n, sizeof *r->bias);
    if (!r->bias) {
        lmx_err_set(e, 500, "server_error", NULL, NULL, "out of memory");
        return -1;
    }
    const char *k;
    json_t *b;
    json_object_foreach(v, k, b) {
        char *end;
        long id = strtol(k, &end, 10);
        if (!*k || *end || id < 0 || id > INT32_MAX) {
            lmx_err_bad(e, "logit_bias",
                        "Invalid 'logit_bias': keys must be token ids (integers >= 0), got '%s'.",
                        k);
            return -1;
        }
        if (!json_is_number(b)) return bad_type(e, "logit_bias", "a number for each token", b);
        double d = json_number_value(b);
        if (d < -100 || d > 100) {
            lmx_err_bad(e, "logit_bias",
                        "Invalid 'logit_bias': the bias of token %ld is %g; it must be between "
                        "-100 and 100.",
                        id, d);
            return -1;
        }
        r->bias[r->n_bias].id = (int32_t)id;
        r->bias[r->n_bias].bias = (float)d;
        r->n_bias++;
    }
    return 0;
}

static int parse_prompt(json_t *body, lmx_oai_req *r, lmx_api_err *e) {
    json_t *p = opt(body, "prompt");
    if (!p) {
        lmx_err_bad(e, "prompt", "Missing required parameter: 'prompt'.");
        return -1;
    }
    r->prompt = p;
    if (json_is_string(p)) return 0;
    const char *want =
        "a string, an array of strings, an array of token ids or an array of arrays of token ids";
    if (!json_is_array(p) || !json_array_size(p)) {
        if (json_is_array(p)) lmx_err_bad(e, "prompt", "Invalid 'prompt': the array is empty.");
        return json_is_array(p) ? -1 : bad_type(e, "prompt", want, p);
    }
    json_t *first = json_array_get(p, 0);
    size_t i;
    json_t *x;
    json_array_foreach(p, i, x) {
        char name[48];
        snprintf(name, sizeof name, "prompt[%zu]", i);
        if (json_typeof(x) != json_typeof(first) && !(json_is_integer(first) && json_is_integer(x)))
            return bad_type(e, name, want, p);
        if (json_is_string(x)) continue;
        if (json_is_integer(x)) {
            if (json_integer_value(x) < 0 || json_integer_value(x) > INT32_MAX) {
                lmx_err_bad(e, name, "Invalid '%s': token ids are integers >= 0.", name);
                return -1;
            }
            continue;
        }
        if (!json_is_array(x))
            return bad_type(e, name, "a string, a token id or an array of token ids", x);
        if (!json_array_size(x)) {
            lmx_err_bad(e, name, "Invalid '%s': the array of token ids is empty.", name);
            return -1;
        }
        size_t j;
        json_t *t;
        json_array_foreach(x, j, t) {
            if (!json_is_integer(t) || json_integer_value(t) < 0 ||
                json_integer_value(t) > INT32_MAX) {
                snprintf(name, sizeof name, "prompt[%zu][%zu]", i, j);
                return bad_type(e, name, "a token id (an integer >= 0)", t);
            }
        }
    }
    return 0;
}

static int parse_reasoning(json_t *body, lmx_oai_req *r, lmx_api_err *e);

static int parse_chat_only(json_t *body, lmx_oai_req *r, lmx_api_err *e) {
    json_t *m = opt(body, "messages");
    if (!m) {
        lmx_err_bad(e, "messages", "Missing required parameter: 'messages'.");
        return -1;
    }
    if (!json_is_array(m)) return bad_type(e, "messages", "an array", m);
    if (!json_array_size(m)) {
        lmx_err_bad(e, "messages",
                    "Invalid 'messages': empty array. Expected an array with minimum length 1.");
        return -1;
    }
    r->messages = m;
    if (int_field(body, "max_completion_tokens", 1, 1 << 30, &r->max_tokens, e)) return -1;
    bool lp = false;
    if (bool_field(body, "logprobs", &lp, e)) return -1;
    int top = -1;
    if (int_field(body, "top_logprobs", 0, 20, &top, e)) return -1;
    if (top >= 0 && !lp) {
        lmx_err_bad(
            e, "top_logprobs",
            "Invalid 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.");
        return -1;
    }
    r->logprobs = lp;
    r->top_logprobs = lp ? (top < 0 ? 0 : top) : -1;
    json_t *tools = opt(body, "tools");
    if (tools) {
        if (!json_is_array(tools)) return bad_type(e, "tools", "an array", tools);
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t) {
            char p[48];
            snprintf(p, sizeof p, "tools[%zu]", i);
            if (!json_is_object(t)) return bad_type(e, p, "an object", t);
            json_t *ty = json_object_get(t, "type"), *fn = json_object_get(t, "function");
            if (ty && !json_is_null(ty) &&
                (!json_is_string(ty) || strcmp(json_string_value(ty), "function"))) {
                snprintf(p, sizeof p, "tools[%zu].type", i);
                lmx_err_bad(e, p, "Invalid '%s': only tools of type 'function' are supported.", p);
                return -1;
            }
            if (!json_is_object(fn)) {
                snprintf(p, sizeof p, "tools[%zu].function", i);
                if (!fn) {
                    lmx_err_bad(e, p, "Missing required parameter: '%s'.", p);
                    return -1;
                }
                return bad_type(e, p, "an object", fn);
            }
            if (!json_is_string(json_object_get(fn, "name"))) {
                snprintf(p, sizeof p, "tools[%zu].function.name", i);
                lmx_err_bad(e, p, "Missing required parameter: '%s'.", p);
                return -1;
            }
        }
        if (json_array_size(tools)) r->tools = tools;
    }
    json_t *tc = opt(body, "tool_choice");
    if (tc) {
        const char *v = json_string_value(tc);
        if (v && !strcmp(v, "none"))
            r->tool_choice = LMX_TOOL_NONE;
        else if (v && !strcmp(v, "auto"))
            r->tool_choice = LMX_TOOL_AUTO;
        else if (v && !strcmp(v, "required"))
            r->tool_choice = LMX_TOOL_REQUIRED;
        else if (v) {
            lmx_err_bad(e, "tool_choice",
                        "Invalid value for 'tool_choice': '%s'. Supported values are: 'none', "
                        "'auto', 'required' or an object naming a function.",
                        v);
            return -1;
        } else if (json_is_object(tc)) {
            json_t *ty = json_object_get(tc, "type");
            const char *name =
                json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
            if (!json_is_string(ty) || strcmp(json_string_value(ty), "function") || !name) {
                lmx_err_bad(e, "tool_choice",
                            "Invalid 'tool_choice': expected {\"type\": \"function\", "
                            "\"function\": {\"name\": NAME}}.");
                return -1;
            }
            r->tool_choice = LMX_TOOL_NAMED;
            r->tool_name = name;
        } else
            return bad_type(e, "tool_choice", "a string or an object", tc);
        if ((r->tool_choice == LMX_TOOL_REQUIRED || r->tool_choice == LMX_TOOL_NAMED) &&
            !r->tools) {
            lmx_err_bad(e, "tool_choice",
                        "Invalid value for 'tool_choice': 'tool_choice' is only allowed when "
                        "'tools' are specified.");
            return -1;
        }
        if (r->tool_choice == LMX_TOOL_NAMED) {
            size_t i;
            json_t *t;
            bool found = false;
            json_array_foreach(r->tools, i, t) {
                const char *n =
                    json_string_value(json_object_get(json_object_get(t, "function"), "name"));
                if (n && !strcmp(n, r->tool_name)) found = true;
            }
            if (!found) {
                lmx_err_bad(e, "tool_choice",
                            "Invalid 'tool_choice': no function named '%s' in 'tools'.",
                            r->tool_name);
                return -1;
            }
        }
    }
    r->parallel_tool_calls = true;
    if (bool_field(body, "parallel_tool_calls", &r->parallel_tool_calls, e)) return -1;
    json_t *kw = opt(body, "chat_template_kwargs");
    if (kw) {
        if (!json_is_object(kw)) return bad_type(e, "chat_template_kwargs", "an object", kw);
        r->template_kwargs = kw;
    }
    if (parse_reasoning(body, r, e)) return -1;
    json_t *mod = opt(body, "modalities");
    if (mod) {
        if (!json_is_array(mod)) return bad_type(e, "modalities", "an array of strings", mod);
        size_t i;
        json_t *x;
        json_array_foreach(mod, i,
                           x) if (!json_is_string(x) || strcmp(json_string_value(x), "text")) {
            lmx_err_bad(e, "modalities", "Invalid 'modalities': only [\"text\"] is supported.");
            return -1;
        }
    }
    return 0;
}

/* reasoning_effort reaches the template as a variable (gpt-oss and others read
 * it); reasoning_format "none" keeps a thought in content (llama.cpp's). */
static int parse_reasoning(json_t *body, lmx_oai_req *r, lmx_api_err *e) {
    static const char *const efforts[] = {"none", "minimal", "low", "medium", "high"};
    json_t *v = opt(body, "reasoning_effort");
    if (v) {
        const char *s = json_string_value(v);
        if (!s) return bad_type(e, "reasoning_effort", "a string", v);
        bool ok = false;
        for (size_t i = 0; i < sizeof efforts / sizeof efforts[0]; i++)
            ok = ok || !strcmp(s, efforts[i]);
        if (!ok) {
            lmx_err_bad(e, "reasoning_effort",
                        "Invalid 'reasoning_effort': expected one of none, minimal, low, medium, "
                        "high; got '%s'.",
                        s);
            return -1;
        }
        r->reasoning_effort = s;
    }
    v = opt(body, "reasoning_format");
    if (v) {
        const char *s = json_string_value(v);
        if (!s) return bad_type(e, "reasoning_format", "a string", v);
        if (strcmp(s, "none") && strcmp(s, "auto") && strcmp(s, "deepseek")) {
            lmx_err_bad(e, "reasoning_format",
                        "Invalid 'reasoning_format': expected 'auto', 'deepseek' (the thought in "
                        "reasoning_content) or 'none' (left in content); got '%s'.",
                        s);
            return -1;
        }
        r->reasoning_none = !strcmp(s, "none");
    }
    return 0;
}

/* response_format: text, json_object (any object), or json_schema (kept, and
 * compiled by lmx_gen_start once the prompt is known to fit: a request that
 * ends in a 400 for its length must not pay for a large schema first). */
static int parse_response_format(json_t *body, lmx_oai_req *r, lmx_api_err *e) {
    json_t *rf = opt(body, "response_format");
    if (!rf) return 0;
    if (!json_is_object(rf)) return bad_type(e, "response_format", "an object", rf);
    json_t *t = json_object_get(rf, "type");
    if (!json_is_string(t)) {
        lmx_err_bad(e, "response_format.type",
                    "Missing required parameter: 'response_format.type'.");
        return -1;
    }
    const char *type = json_string_value(t);
    char err[512];
    if (!strcmp(type, "text")) return 0;
    if (!strcmp(type, "json_object")) {
        r->grammar = lmx_json_object_grammar(err, sizeof err);
        if (!r->grammar) {
            lmx_err_set(e, 500, "server_error", NULL, NULL, "%s", err);
            return -1;
        }
        return 0;
    }
    if (strcmp(type, "json_schema")) {
        lmx_err_bad(e, "response_format.type",
                    "Invalid 'response_format.type': '%s'. Supported values are: 'text', "
                    "'json_object' and 'json_schema'.",
                    type);
        return -1;
    }
    json_t *js = json_object_get(rf, "json_schema");
    if (!json_is_object(js)) {
        if (!js || json_is_null(js)) {
            lmx_err_bad(e, "response_format.json_schema",
                        "Missing required parameter: 'response_format.json_schema'.");
            return -1;
        }
        return bad_type(e, "response_format.json_schema", "an object", js);
    }
    const char *k;
    json_t *v;
    json_object_foreach(js, k, v) {
        if (!strcmp(k, "name") || !strcmp(k, "schema") || !strcmp(k, "strict") ||
            !strcmp(k, "description"))
            continue;
        lmx_err_bad(e, "response_format.json_schema",
                    "Unrecognized parameter 'response_format.json_schema.%s'.", k);
        return -1;
    }
    json_t *name = json_object_get(js, "name");
    if (!json_is_string(name)) {
        if (!name) {
            lmx_err_bad(e, "response_format.json_schema.name",
                        "Missing required parameter: 'response_format.json_schema.name'.");
            return -1;
        }
        return bad_type(e, "response_format.json_schema.name", "a string", name);
    }
    json_t *strict = json_object_get(js, "strict");
    if (strict && !json_is_null(strict) && !json_is_boolean(strict))
        return bad_type(e, "response_format.json_schema.strict", "a boolean", strict);
    json_t *schema = json_object_get(js, "schema");
    if (!schema || json_is_null(schema)) { /* OpenAI's default: any JSON object */
        r->grammar = lmx_json_object_grammar(err, sizeof err);
    } else {
        if (!json_is_object(schema) && !json_is_boolean(schema))
            return bad_type(e, "response_format.json_schema.schema", "an object", schema);
        r->schema = schema;
        return 0;
    }
    if (!r->grammar) {
        lmx_err_bad(e, "response_format.json_schema.schema", "%s", err);
        return -1;
    }
    return 0;
}

static int parse_completions_only(json_t *body, lmx_oai_req *r, lmx_api_err *e) {
    if (parse_prompt(body, r, e)) return -1;
    int lp = -1;
    if (int_field(body, "logprobs", 0, 20, &lp, e)) return -1;
    r->logprobs = lp >= 0;
    r->top_logprobs = lp;
    if (bool_field(body, "echo", &r->echo, e)) return -1;
    if (opt(body, "max_tokens") && r->max_tokens == 0) {
        /* what evaluation harnesses send to score a text; without echo the
         * answer would be empty, which no client wants: refused */
        if (!r->echo) {
            lmx_err_bad(e, "max_tokens",
                        "Invalid 'max_tokens': 0 is allowed only with 'echo': true (the prompt "
                        "is returned, with its log-probabilities when 'logprobs' is set, and "
                        "nothing is generated).");
            return -1;
        }
        r->prompt_only = true;
    }
    int best_of = 0;
    if (int_field(body, "best_of", 1, 128, &best_of, e)) return -1;
    if (best_of && best_of != 1 && best_of != r->n) {
        lmx_err_bad(e, "best_of",
                    "Invalid 'best_of': only best_of = 1 or best_of = n is supported.");
        return -1;
    }
    return 0;
}

int lmx_oai_parse(json_t *body, lmx_oai_kind kind, lmx_oai_req *r, lmx_api_err *e) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->n = 1;
    r->top_logprobs = -1;
    /* OpenAI's defaults, not llama.cpp's: plain temperature-1 sampling */
    r->sample = lmx_sample_defaults();
    r->sample.temperature = 1.0f;
    r->sample.top_p = 1.0f;
    r->sample.top_k = 0;
    r->sample.min_p = 0.0f;
    r->sample.repeat_penalty = 1.0f;
    r->sample.presence_penalty = 0;
    r->sample.frequency_penalty = 0;
    if (!json_is_object(body)) {
        lmx_err_bad(e, NULL, "The request body must be a JSON object.");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (lmx_oai_field_policy(kind, k) != LMX_FIELD_REFUSED) continue;
        const char *why = refusal_reason(k);
        if (why)
            lmx_err_bad(e, k, "Unsupported parameter: '%s': %s.", k, why);
        else
            lmx_err_bad(e, k, "Unrecognized request argument supplied: %s", k);
        return -1;
    }
    json_t *m = opt(body, "model");
    if (m && !json_is_string(m)) return bad_type(e, "model", "a string", m);
    /* none or "": the manager's default model (the one loaded, or default_model) */
    r->model = m ? json_string_value(m) : "";
    if (int_field(body, "n", 1, 128, &r->n, e)) return -1;
    /* completions take 0 with echo: the prompt alone, scored (parse_completions_only) */
    if (int_field(body, "max_tokens", kind == LMX_OAI_COMPLETIONS ? 0 : 1, 1 << 30, &r->max_tokens,
                  e))
        return -1;
    if (bool_field(body, "ignore_eos", &r->ignore_eos, e)) return -1;
    if (num_field(body, "temperature", 0, 2, &r->sample.temperature, e)) return -1;
    if (num_field(body, "top_p", 0, 1, &r->sample.top_p, e)) return -1;
    if (int_field(body, "top_k", 0, 1 << 30, &r->sample.top_k, e)) return -1;
    if (num_field(body, "min_p", 0, 1, &r->sample.min_p, e)) return -1;
    if (num_field(body, "presence_penalty", -2, 2, &r->sample.presence_penalty, e)) return -1;
    if (num_field(body, "frequency_penalty", -2, 2, &r->sample.frequency_penalty, e)) return -1;
    if (num_field(body, "repeat_penalty", 0.01, 10, &r->sample.repeat_penalty, e)) return -1;
    if (num_field(body, "repetition_penalty", 0.01, 10, &r->sample.repeat_penalty, e)) return -1;
    json_t *seed = opt(body, "seed");
    if (seed) {
        long long s;
        if (int_value(seed, "seed", INT64_MIN, INT64_MAX, &s, e)) return -1;
        r->sample.seed = (uint64_t)s;
        r->seed_given = true;
    } else {
        static _Atomic unsigned long long counter;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r->sample.seed =
            (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec ^ ++counter;
    }
    if (parse_stop(body, r, e) || parse_bias(body, r, e)) return -1;
    if (bool_field(body, "stream", &r->stream, e)) return -1;
    json_t *so = opt(body, "stream_options");
    if (so) {
        if (!json_is_object(so)) return bad_type(e, "stream_options", "an object", so);
        json_t *iu = json_object_get(so, "include_usage");
        if (iu && !json_is_null(iu)) {
            if (!json_is_boolean(iu))
                return bad_type(e, "stream_options.include_usage", "a boolean", iu);
            r->include_usage = json_is_true(iu);
        }
    }
    json_t *u = opt(body, "user");
    if (u && !json_is_string(u)) return bad_type(e, "user", "a string", u);
    if (kind == LMX_OAI_CHAT ? parse_chat_only(body, r, e) : parse_completions_only(body, r, e))
        return -1;
    return parse_response_format(body, r, e);
}

void lmx_oai_req_free(lmx_oai_req *r) {
    free(r->bias);
    r->bias = NULL;
    r->n_bias = 0;
    lmx_gram_release(r->grammar);
    r->grammar = NULL;
}
