/* Ollama's request bodies → LMX's: model names, keep_alive, and the
 * translation of /api/chat and /api/generate into an OpenAI request body
 * (options → sampling fields, format → response_format, messages with
 * tool calls, system / raw prompts), which then goes through lmx_oai_parse
 * like any /v1 request. ollama_api.c's handlers use it; kept apart so it can
 * be unit-tested and fuzzed without a server. */
#ifndef LMX_SRV_API_OLLAMA_REQ_H
#define LMX_SRV_API_OLLAMA_REQ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/api_err.h"

/* An Ollama model name → the LMX id or alias it means: "name:latest" is
 * "name", "hf.co/org/repo:QUANT" (or huggingface.co/...) is "org/repo:QUANT". */
void lmx_ol_name(const char *in, char *out, size_t cap);

/* Go's duration syntax ("5m", "1h30m", "300ms", "-1s") or a bare number of
 * seconds, as keep_alive takes it. */
bool lmx_ol_duration(const char *s, double *secs);

typedef enum {
    LMX_KA_ABSENT,  /* the manager's own ttl */
    LMX_KA_TTL,     /* unload after ttl_s idle */
    LMX_KA_FOREVER, /* negative: never unload */
    LMX_KA_UNLOAD,  /* 0: unload once the request is done */
} lmx_ol_keep;

/* body.keep_alive → kind and *ttl (LMX_KA_TTL): a duration, 0 (unload once
 * the request is done), negative (never unload). -1 with e set (400). */
int lmx_ol_keep_alive(const json_t *body, lmx_ol_keep *kind, double *ttl, lmx_api_err *e);

typedef struct {
    bool chat;        /* /api/chat (else /api/generate) */
    const char *name; /* the model as the client named it (borrowed from the body) */
    char id[256];     /* ... and as LMX names it */
    bool empty;       /* no messages / empty prompt: a load (or unload) request */
    bool raw;         /* generate with raw: no chat template */
    bool stream;      /* Ollama's default: true */
    lmx_ol_keep keep;
    double ttl_s; /* LMX_KA_TTL */
    int num_ctx;  /* 0: not given */
    bool repeat_last_n_given;
    int repeat_last_n; /* -1: the whole context */
    char ignored[256]; /* options with no LMX equivalent, comma-separated */
    json_t *oai;       /* the OpenAI-shaped body (own reference; NULL when empty) */
} lmx_ol_req;

/* Reads an /api/chat (chat) or /api/generate body. 0, or -1 with e set (400
 * naming the field; the message is what Ollama clients show). q needs
 * lmx_ol_req_free either way. */
int lmx_ol_parse(json_t *body, bool chat, lmx_ol_req *q, lmx_api_err *e);

/* A tool call as Ollama's responses write it (new reference): {"id", "function":
 * {"index" (its place among the message's calls), "name", "arguments" (the
 * JSON string args as an object; {} when it is not one)}}. */
json_t *lmx_ol_call(const char *id, int index, const char *name, const char *args);
void lmx_ol_req_free(lmx_ol_req *q);

#endif
