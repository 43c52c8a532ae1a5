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

#endif
