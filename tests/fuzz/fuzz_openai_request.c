/* libFuzzer harness for the server's request contract: the input is taken as a
 * request body and run through the chat and completions parsers, then (when
 * it has messages) the chat message normalization and both merges. Any crash,
 * sanitizer report or leak is a bug; 400s are fine — and every refusal must
 * carry a message.
 *
 * Built by `make fuzz` (build-fuzz/fuzz_openai_request); seeds: any JSON, e.g.
 * the request bodies in ../shared/clients/captures. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "server/core/chat_prompt.h"
#include "server/core/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!body) return 0;
    for (int k = 0; k < 2; k++) {
        lmx_oai_req r;
        lmx_api_err e = {0};
        int rc = lmx_oai_parse(body, k ? LMX_OAI_COMPLETIONS : LMX_OAI_CHAT, &r, &e);
        if (rc && (e.status < 400 || !e.message[0])) abort();
        if (!rc && k == 0) {
            json_t *n = lmx_chat_normalize(r.messages, &e);
            if (!n && (e.status < 400 || !e.message[0])) abort();
            if (n) {
                json_t *a = lmx_chat_merge_system(n), *b = lmx_chat_merge_runs(a);
                json_decref(a);
                json_decref(b);
                json_decref(n);
            }
        }
        lmx_oai_req_free(&r);
    }
    json_decref(body);
    return 0;
}
