/* The server-side skill loop of /v1/chat/completions: a request whose
 * `tools` name skills ({"type": "skill", "name": "ns/name@1"}) gets their
 * schemas as function tools; when the model calls one, LMX runs it, appends
 * the call and its result to the conversation and asks the model again, up
 * to skills_max_steps turns, then answers with the final message and a
 * `skill_calls` list of what ran. Plain function tools keep their meaning:
 * a call of one ends the loop and goes back to the client as usual. */
#ifndef LMX_SRV_API_SKILLS_CHAT_H
#define LMX_SRV_API_SKILLS_CHAT_H

#include <jansson.h>
#include <stdbool.h>

#include "server/core/gen.h"
#include "server/http/http.h"

/* Whether body's tools name a skill. */
bool lmx_skills_chat_wanted(const json_t *body);
/* What the loop did besides its last turn. */
typedef struct {
    json_t
        *calls; /* skill_calls: {id, step, name, version, arguments, result | error, duration_s} */
    int prompt_tokens, completion_tokens; /* over every turn */
    bool exhausted; /* skills_max_steps cut it: the last turn's calls did not run */
} lmx_skill_loop;

/* Runs the loop on body (a Chat Completions body, borrowed): the last
 * turn's finished generation (the caller encodes and frees it; out->calls is
 * the caller's), or NULL with e set (nothing to free). */
lmx_gen *lmx_skills_loop(lmx_req *r, json_t *body, lmx_skill_loop *out, lmx_api_err *e);
/* /v1/chat/completions with skill tools: the loop, answered as a
 * chat.completion with skill_calls (body: borrowed). */
int lmx_skills_chat(lmx_req *r, json_t *body);

#endif
