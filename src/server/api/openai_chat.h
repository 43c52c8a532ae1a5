/* /v1/chat/completions's request → generation and generation → response
 * steps (openai_chat.c); the HTTP layer drives the generation in between. */
#ifndef LMX_SRV_API_OPENAI_CHAT_H
#define LMX_SRV_API_OPENAI_CHAT_H

#include <jansson.h>

#include "server/core/gen.h"
#include "server/http/http.h"

#define LMX_SYSTEM_FINGERPRINT "fp_lmx"

/* Builds the prompt of a parsed request and submits it. NULL with e set. */
lmx_gen *lmx_chat_start(lmx_served *s, const lmx_oai_req *r, lmx_api_err *e);

/* A tool-call parser for choice i of a chat generation with tools (fed the
 * forced opening, if any; ids seeded from g->id and i, so two parsers of the
 * same choice name the same calls). NULL out of memory. Caller frees. */
lmx_tc *lmx_chat_parser(const lmx_gen *g, int i);

/* The whole response body of a finished, non-streamed generation. */
json_t *lmx_chat_response(const lmx_gen *g);

/* Appends the SSE events for one event of job `job` (ev: NULL after the last
 * event: the usage chunk and [DONE]). */
void lmx_chat_stream(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out);

#endif
