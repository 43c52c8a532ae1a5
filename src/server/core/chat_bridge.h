/* What the non-OpenAI-chat generation endpoints (Responses, Anthropic
 * Messages) share: they translate their request into a Chat Completions body,
 * and run it through the chat machinery (core/request.c validates it,
 * openai_chat.c builds the prompt and owns tool-call parsing); only their
 * request translation and their encoders are their own.
 *
 * Also the pieces their encoders have in common: named SSE events and
 * renaming chat field names in an error to the API's own (their random ids:
 * lmx_rand_id, gen.h). */
#ifndef LMX_SRV_CORE_CHAT_BRIDGE_H
#define LMX_SRV_CORE_CHAT_BRIDGE_H

#include <jansson.h>
#include <stdbool.h>

#include "server/http/http.h"
#include "util/json.h"

/* One chat field name and the translated API's name for it. */
typedef struct {
    const char *chat, *api;
} lmx_bridge_name;

/* Validates chat (a Chat Completions body), acquires its model and submits
 * the generation. NULL with e set (names in `names` rewritten in e's param
 * and message). *stream: the body asked for a stream. */
lmx_gen *lmx_bridge_start(lmx_req *r, json_t *chat, const lmx_bridge_name *names, bool *stream,
                          lmx_api_err *e);

/* The number of prompt tokens chat would have (its messages and tools
 * rendered by the model's template). -1 with e set. */
int lmx_bridge_count(lmx_req *r, json_t *chat, const lmx_bridge_name *names, lmx_api_err *e);

/* "event: NAME\ndata: <compact json>\n\n" (does not steal o). */
void lmx_sse_event(lmx_buf *out, const char *name, const json_t *o);

/* How a translator treats a request field: translated, accepted and ignored,
 * or an LMX sampler extension copied into the chat body as is. */
typedef enum { LMX_BR_OK, LMX_BR_IGNORED, LMX_BR_EXT } lmx_bridge_policy;

typedef struct {
    const char *name;
    lmx_bridge_policy p;
} lmx_bridge_field;

/* The LMX extensions both APIs take, passed to the sampler as in
 * /v1/chat/completions (a fields[] initializer). */
/* clang-format off */
#define LMX_BRIDGE_SAMPLER_EXT                                                 \
    {"min_p", LMX_BR_EXT}, {"seed", LMX_BR_EXT}, {"logit_bias", LMX_BR_EXT},   \
    {"presence_penalty", LMX_BR_EXT}, {"frequency_penalty", LMX_BR_EXT},       \
    {"repeat_penalty", LMX_BR_EXT}, {"repetition_penalty", LMX_BR_EXT}
/* clang-format on */

/* The policy of field k in fields[0..n), or -1 for a field the API lacks. */
int lmx_bridge_field_policy(const lmx_bridge_field *fields, size_t n, const char *k);

/* b's bytes as a JSON string (new reference, "" if they are not UTF-8);
 * frees b. */
json_t *lmx_buf_json_string(lmx_buf *b);

/* What the chat tool-call parser hands an encoder: a piece of text outside
 * calls, and each complete call (st and out as given to lmx_bridge_parse). */
typedef void (*lmx_bridge_text_fn)(void *st, lmx_buf *out, const char *text, size_t len);
typedef void (*lmx_bridge_call_fn)(void *st, lmx_buf *out, const char *id, const char *name,
                                   const char *args);

/* A choice's tool calls as an encoder sees them: its parser (created on
 * first use, freed by the encoder) and the calls passed on so far. Without
 * parallel (parallel_tool_calls false) only the first call is passed on. */
typedef struct {
    lmx_tc *tc;
    bool parallel;
    int n_calls;
} lmx_bridge_calls;

/* Runs a choice's generated text through its tool-call parser; finish: the
 * output ended, flush what the parser holds. Text and calls reach on_text /
 * on_call in the order they were written. */
void lmx_bridge_parse(const lmx_gen *g, lmx_bridge_calls *c, const char *text, size_t len,
                      bool finish, lmx_bridge_text_fn on_text, lmx_bridge_call_fn on_call, void *st,
                      lmx_buf *out);

#endif
