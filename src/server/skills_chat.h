/* The server-side skill loop of /v1/chat/completions: a request whose
 * `tools` name skills ({"type": "skill", "name": "ns/name@1"}) gets their
 * schemas as function tools; when the model calls one, LMX runs it, appends
 * the call and its result to the conversation and asks the model again, up
 * to skills_max_steps turns, then answers with the final message and a
 * `skill_calls` list of what ran. Plain function tools keep their meaning:
 * a call of one ends the loop and goes back to the client as usual. */
#ifndef LMX_SRV_SKILLS_CHAT_H
#define LMX_SRV_SKILLS_CHAT_H

#include <jansson.h>
#include <stdbool.h>

#include "server/route.h"

/* Whether body's tools name a skill. */
bool lmx_skills_chat_wanted(const json_t *body);
/* Answers the request (body: borrowed). */
int lmx_skills_chat(lmx_req *r, json_t *body);

#endif
