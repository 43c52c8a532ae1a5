/* /v1/completions's request → generation and generation → response steps
 * (openai_completions.c); the HTTP layer drives the generation in between. */
#ifndef LMX_SRV_API_OPENAI_COMPLETIONS_H
#define LMX_SRV_API_OPENAI_COMPLETIONS_H

#include <jansson.h>

#include "server/core/gen.h"
#include "server/http/http.h"

/* Builds the prompts of a parsed request and submits them. NULL with e set. */
lmx_gen *lmx_completions_start(lmx_served *s, const lmx_oai_req *r, lmx_api_err *e);

/* The whole response body of a finished, non-streamed generation. */
json_t *lmx_completions_response(const lmx_gen *g);

/* Appends the SSE events for one event of job `job` (ev: NULL after the last
 * event: the usage chunk and [DONE]). */
void lmx_completions_stream(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out);

#endif
