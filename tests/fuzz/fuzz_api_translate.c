/* libFuzzer harness for the Responses and Anthropic Messages request
 * translators: the input is taken as a request body and translated by both
 * into a Chat Completions body, which then goes through the chat request
 * parser and message normalization as /v1/chat/completions would. Any crash,
 * sanitizer report or leak is a bug; 400s are fine, but every refusal must
 * carry a message, and a translated body must be a JSON object.
 *
 * Built by `make fuzz` (build-fuzz/fuzz_api_translate); seeds: any JSON, e.g.
 * the /v1/responses bodies in ../shared/clients/captures. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "server/api/anthropic_api.h"
#include "server/api/responses_api.h"
#include "server/core/chat_bridge.h"
#include "server/core/chat_prompt.h"
#include "server/core/request.h"

static void run_chat(json_t *chat) {
    if (!json_is_object(chat)) abort();
    lmx_oai_req r;
    lmx_api_err e = {0};
    int rc = lmx_oai_parse(chat, LMX_OAI_CHAT, &r, &e);
    if (rc && (e.status < 400 || !e.message[0])) abort();
    if (!rc) {
        json_t *n = lmx_chat_normalize(r.messages, &e);
        if (!n && (e.status < 400 || !e.message[0])) abort();
        json_decref(n);
    }
    lmx_oai_req_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!body) return 0;
    for (int k = 0; k < 2; k++) {
        lmx_api_err e = {0};
        json_t *chat = k ? lmx_anthropic_to_chat(body, &e) : lmx_responses_to_chat(NULL, body, &e);
        if (!chat && (e.status < 400 || !e.message[0])) abort();
        if (chat) run_chat(chat);
        json_decref(chat);
    }
    json_decref(body);
    return 0;
}
