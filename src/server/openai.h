/* The OpenAI endpoints' request → generation and generation → response
 * steps. openai_chat.c: /v1/chat/completions; openai_completions.c:
 * /v1/completions. The HTTP layer drives the generation in between. */
#ifndef LMX_SRV_OPENAI_H
#define LMX_SRV_OPENAI_H

#include <jansson.h>

#include "server/gen.h"
#include "server/route.h"

#define LMX_SYSTEM_FINGERPRINT "fp_lmx"

/* openai_api.c: how chat and completions generations are encoded. */
extern const lmx_gen_fmt lmx_fmt_chat;
extern const lmx_gen_fmt lmx_fmt_completions;

/* Builds the prompt(s) of a parsed request and submits them. NULL with e set. */
lmx_gen *lmx_chat_start(lmx_served *s, const lmx_oai_req *r, lmx_api_err *e);
lmx_gen *lmx_completions_start(lmx_served *s, const lmx_oai_req *r, lmx_api_err *e);

/* lmx_chat_start or lmx_completions_start, as kind says; on failure s is
 * released (NULL with e set). */
lmx_gen *lmx_oai_start(lmx_served *s, lmx_oai_kind kind, const lmx_oai_req *q, lmx_api_err *e);

/* lmx_oai_parse, and the model named for the request log (also when the body
 * is invalid, if it names one). -1 with e set; q is freed by the caller. */
int lmx_oai_parse_named(lmx_req *r, json_t *body, lmx_oai_kind kind, lmx_oai_req *q,
                        lmx_api_err *e);

/* A tool-call parser for choice i of a chat generation with tools (fed the
 * forced opening, if any; ids seeded from g->id and i, so two parsers of the
 * same choice name the same calls). NULL out of memory. Caller frees. */
lmx_tc *lmx_chat_parser(const lmx_gen *g, int i);

/* The whole response body of a finished, non-streamed generation. */
json_t *lmx_chat_response(const lmx_gen *g);
json_t *lmx_completions_response(const lmx_gen *g);

/* Appends the SSE events for one event of job `job` (ev: NULL after the last
 * event: the usage chunk and [DONE]). */
void lmx_chat_stream(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out);
void lmx_completions_stream(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out);

#endif
