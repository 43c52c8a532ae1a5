/* OpenAI's Responses API (responses_api.c): POST /v1/responses, GET /
 * DELETE /v1/responses/{id}. */
#ifndef LMX_SRV_API_RESPONSES_API_H
#define LMX_SRV_API_RESPONSES_API_H

#include "server/core/app.h"
#include "server/http/http.h"
#include "util/api_err.h"

lmx_handler_fn lmx_h_responses, lmx_h_response_get, lmx_h_response_delete;

/* The translator, exposed for the fuzz harness: a request body → the Chat
 * Completions body it runs as (new reference), or NULL with e set.
 * previous_response_id is looked up in app->responses (app may be NULL: no
 * store). */
json_t *lmx_responses_to_chat(lmx_app *app, json_t *req, lmx_api_err *e);

/* For the WebSocket endpoint (ws_api.c), which runs the generation itself:
 * lmx_responses_begin translates a Responses body into the chat body it
 * runs as (new reference, with "stream": true) and makes the stream's state
 * (*state); NULL with e set. lmx_responses_attach hands the state to the
 * started generation (freed with it) and writes the stream's first events
 * (response.created, response.in_progress) as SSE into out; the rest come
 * from lmx_fmt_responses, the very events of POST /v1/responses with
 * "stream": true. A state whose generation did not start is freed with
 * lmx_responses_state_free. */
json_t *lmx_responses_begin(lmx_app *app, json_t *req, void **state, lmx_api_err *e);
void lmx_responses_attach(lmx_gen *g, void *state, lmx_buf *out);
void lmx_responses_state_free(void *state);
extern const lmx_gen_fmt lmx_fmt_responses;

#endif
