/* libFuzzer harness for the Ollama request translation (server/api/ollama_req.c):
 * the input is taken as an /api/chat and an /api/generate body, translated,
 * and the OpenAI body it becomes is run through the OpenAI contract; the raw
 * bytes are also read as a model name and as a keep_alive duration. Any
 * crash, sanitizer report or leak is a bug; 400s are fine, and every refusal
 * must carry a message.
 *
 * Built by `make fuzz` (build-fuzz/fuzz_ollama_request); seeds: any JSON. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "server/api/ollama_req.h"
#include "server/core/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    double secs;
    (void)lmx_ol_duration(s, &secs);
    char name[256];
    lmx_ol_name(s, name, sizeof name);
    free(s);
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!body) return 0;
    for (int chat = 0; chat < 2; chat++) {
        lmx_ol_req q;
        lmx_api_err e = {0};
        int rc = lmx_ol_parse(body, chat, &q, &e);
        if (rc && (e.status < 400 || !e.message[0])) abort();
        if (!rc && !q.oai) abort();
        if (!rc && !q.empty) {
            lmx_oai_req r;
            lmx_api_err e2 = {0};
            int rc2 = lmx_oai_parse(q.oai, q.raw ? LMX_OAI_COMPLETIONS : LMX_OAI_CHAT, &r, &e2);
            if (rc2 && (e2.status < 400 || !e2.message[0])) abort();
            lmx_oai_req_free(&r);
        }
        lmx_ol_req_free(&q);
    }
    json_decref(body);
    return 0;
}
