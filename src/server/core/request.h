/* The OpenAI request contract shared by /v1/chat/completions and
 * /v1/completions: JSON body → validated generation parameters.
 *
 * Every top-level field is either supported, accepted and ignored, or refused
 * with a 400 naming it (docs/openai-fields.md lists them; a test keeps the two
 * in step). Pointers into the body (model, messages, prompt, stop strings,
 * tools) stay valid while the body does. */
#ifndef LMX_SRV_CORE_REQUEST_H
#define LMX_SRV_CORE_REQUEST_H

#include <jansson.h>
#include <stdbool.h>

#include "engine/sample.h"
#include "text/grammar.h"
#include "util/api_err.h"

typedef enum { LMX_OAI_CHAT, LMX_OAI_COMPLETIONS } lmx_oai_kind;

#define LMX_OAI_MAX_STOP 16

typedef enum {
    LMX_TOOL_AUTO = 0,
    LMX_TOOL_NONE,     /* tools are not shown to the model; output is not parsed */
    LMX_TOOL_REQUIRED, /* at least one call */
    LMX_TOOL_NAMED,    /* a call of tool_name */
} lmx_tool_choice;

typedef struct {
    lmx_oai_kind kind;
    const char *model;
    int max_tokens; /* 0: up to the end of the context */
    int n;          /* choices per prompt */
    lmx_sample_params sample;
    bool seed_given;
    lmx_logit_bias *bias; /* malloc'd; ids not yet checked against the vocab */
    int n_bias;
    const char *stop[LMX_OAI_MAX_STOP];
    int n_stop;
    bool logprobs;    /* chat: logprobs=true; completions: logprobs given */
    int top_logprobs; /* -1 unless logprobs */
    bool stream, include_usage;
    bool echo;        /* completions */
    bool prompt_only; /* completions: max_tokens 0 with echo (score the prompt only) */
    bool ignore_eos;  /* generate past the end-of-generation token (up to max_tokens) */
    json_t *messages; /* chat: borrowed */
    json_t *tools;    /* chat: borrowed, NULL if absent or empty */
    lmx_tool_choice tool_choice;
    const char *tool_name;    /* LMX_TOOL_NAMED: the function (borrowed) */
    bool parallel_tool_calls; /* default true; false: at most one call per choice */
    json_t *template_kwargs;  /* chat: chat_template_kwargs, borrowed */
    const char *reasoning_effort; /* chat: passed to the template (borrowed), or NULL */
    bool reasoning_none;      /* chat: reasoning_format "none": a thought stays in content */
    json_t *prompt;           /* completions: borrowed */
    bool special_text;        /* set by the endpoint: control tokens are output text */
    lmx_gram *grammar;        /* response_format json_object / json_schema (owned), or NULL */
    const json_t *schema;     /* response_format json_schema's schema (borrowed): compiled
                                 into grammar by lmx_gen_start after the cheap checks */
} lmx_oai_req;

typedef enum { LMX_FIELD_SUPPORTED, LMX_FIELD_IGNORED, LMX_FIELD_REFUSED } lmx_field_policy;

/* The policy for a top-level field of a request of `kind`; unknown names are
 * LMX_FIELD_REFUSED. */
lmx_field_policy lmx_oai_field_policy(lmx_oai_kind kind, const char *name);

/* Fills r from body; 0, or -1 with e set (400 naming the field). r needs
 * lmx_oai_req_free either way. */
int lmx_oai_parse(json_t *body, lmx_oai_kind kind, lmx_oai_req *r, lmx_api_err *e);
void lmx_oai_req_free(lmx_oai_req *r);

#endif
