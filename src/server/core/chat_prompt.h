/* Chat messages → the prompt text a model expects (its chat template) →
 * token ids. */
#ifndef LMX_SRV_CORE_CHAT_PROMPT_H
#define LMX_SRV_CORE_CHAT_PROMPT_H

#include <jansson.h>
#include <stdint.h>

#include "manager/served.h"
#include "server/core/request.h"
#include "util/api_err.h"

/* Validates request messages and returns them as templates expect them (new
 * reference): developer → system, content parts joined into one string, null
 * content → "", tool-call arguments parsed from their JSON string. NULL with
 * e set (400 naming messages[i]...) on malformed input or image parts. */
json_t *lmx_chat_normalize(json_t *messages, lmx_api_err *e);

/* For templates that refuse a system role: system text moves to the front of
 * the first user turn. For templates that demand alternating roles:
 * consecutive same-role text turns become one. Both return new references. */
json_t *lmx_chat_merge_system(json_t *msgs);
json_t *lmx_chat_merge_runs(json_t *msgs);

/* Renders the request's messages with s's template, appends suffix (may be
 * NULL: the opening of a forced tool call) and tokenizes the result
 * (special tokens parsed; BOS added only if the template did not emit it).
 * 0 with *toks (malloc'd) / *n_toks set, or -1 with e set: 400 with the
 * template's message when it raises. */
int lmx_chat_prompt(const lmx_served *s, const lmx_oai_req *r, const char *suffix, int32_t **toks,
                    int *n_toks, lmx_api_err *e);

/* Tokenizes text (add_bos: add the vocab's BOS as it asks). 0 or -1 with e. */
int lmx_srv_tokenize(const lmx_served *s, const char *text, size_t len, bool add_bos,
                     int32_t **toks, int *n_toks, lmx_api_err *e);

#endif
