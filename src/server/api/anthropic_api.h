/* Anthropic's Messages API (anthropic_api.c): POST /v1/messages and
 * /v1/messages/count_tokens. */
#ifndef LMX_SRV_API_ANTHROPIC_API_H
#define LMX_SRV_API_ANTHROPIC_API_H

#include "server/http/http.h"
#include "util/api_err.h"

lmx_handler_fn lmx_h_messages, lmx_h_count_tokens;

/* The translator, exposed for the fuzz harness: a request body → the Chat
 * Completions body it runs as (new reference), or NULL with e set. */
json_t *lmx_anthropic_to_chat(json_t *req, lmx_api_err *e);

#endif
