/* The embedding machinery of /v1/embeddings, shared with the Ollama
 * (/api/embed, /api/embeddings) and LM Studio (/api/v0/embeddings) routes:
 * inputs tokenized and run through the scheduler as embedding jobs, a window
 * at a time (embeddings_api.c). */
#ifndef LMX_SRV_API_EMBEDDINGS_API_H
#define LMX_SRV_API_EMBEDDINGS_API_H

#include <jansson.h>
#include <stdbool.h>

#include "manager/manager.h"
#include "server/http/http.h"
#include "util/api_err.h"

typedef struct {
    float *v; /* n rows of dim floats, in input order */
    int n, dim;
    int tokens; /* prompt tokens over all inputs */
} lmx_embeds;

/* Embeds `input` (a string, an array of strings, an array of token ids or of
 * token-id arrays; `field` names it in errors) with s. An input longer than
 * the context is cut to it when truncate, else a 400. 0, or -1 with e set;
 * out needs lmx_embeds_free either way. */
int lmx_embed(lmx_served *s, const json_t *inputs, const char *field, bool truncate,
              lmx_embeds *out, lmx_api_err *e);
void lmx_embeds_free(lmx_embeds *x);
/* The end of an embeddings handler, whichever way it went: answers o (200),
 * or e when o is NULL, then frees what the handler held (s and body may be
 * NULL). */
int lmx_embed_reply(lmx_req *r, json_t *o, const lmx_api_err *e, lmx_served *s, lmx_embeds *em,
                    json_t *body);

/* How an API takes the model for an embeddings request (LM Studio: loaded
 * just in time with the request's ttl). NULL with e set. */
typedef lmx_served *(*lmx_embed_acquire_fn)(lmx_req *r, const json_t *body, const char *model,
                                            lmx_api_err *e);

/* The OpenAI embeddings request and answer; acquire NULL: the manager's own
 * lmx_mgr_acquire (/v1). extra_field: one more body field accepted (LM
 * Studio's "ttl"), or NULL. */
int lmx_embeddings_openai(lmx_req *r, lmx_embed_acquire_fn acquire, const char *extra_field);

lmx_handler_fn lmx_h_embeddings;

#endif
