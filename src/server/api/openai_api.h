/* The OpenAI endpoints' handlers (openai_api.c): /v1/models,
 * /v1/chat/completions, /v1/completions and the plain /health probe, and
 * the parse-and-start steps the other dialects reuse. */
#ifndef LMX_SRV_API_OPENAI_API_H
#define LMX_SRV_API_OPENAI_API_H

#include <jansson.h>

#include "server/core/gen.h"
#include "server/core/request.h"
#include "server/http/http.h"

lmx_handler_fn lmx_h_health, lmx_h_models, lmx_h_chat, lmx_h_completions;

/* The chat / completions encoders; the WebSocket endpoint reuses the chat one. */
extern const lmx_gen_fmt lmx_fmt_chat, lmx_fmt_completions;
/* Their in-stream error: OpenAI's error object as one SSE data event (the
 * LM Studio v0 routes send the same). */
void lmx_oai_sse_error(lmx_gen *g, const lmx_api_err *e, lmx_buf *out);

/* lmx_chat_start or lmx_completions_start, as kind says; on failure s is
 * released (NULL with e set). */
lmx_gen *lmx_oai_start(lmx_served *s, lmx_oai_kind kind, const lmx_oai_req *q, lmx_api_err *e);

/* lmx_oai_parse, and the model named for the request log (also when the body
 * is invalid, if it names one). -1 with e set; q is freed by the caller. */
int lmx_oai_parse_named(lmx_req *r, json_t *body, lmx_oai_kind kind, lmx_oai_req *q,
                        lmx_api_err *e);

/* How a dialect takes the model a request names (LM Studio: just in time,
 * with the request's ttl). *load_s (may be NULL) gets the seconds spent
 * loading. NULL with e set. */
typedef lmx_served *(*lmx_oai_acquire_fn)(lmx_req *r, const json_t *body, const char *model,
                                          double *load_s, lmx_api_err *e);

/* The body parsed as kind (LM Studio's "max_tokens": -1 read as absent), its
 * model taken with acquire and the generation started. NULL with e set; q
 * needs lmx_oai_req_free either way. */
lmx_gen *lmx_oai_begin(lmx_req *r, json_t *body, lmx_oai_kind kind, lmx_oai_req *q,
                       lmx_oai_acquire_fn acquire, double *load_s, lmx_api_err *e);

#endif
