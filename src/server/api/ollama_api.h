/* Ollama's native API's handlers (ollama_api.c); its request translation is
 * ollama_req.h's. */
#ifndef LMX_SRV_API_OLLAMA_API_H
#define LMX_SRV_API_OLLAMA_API_H

#include "server/http/http.h"

int lmx_h_ol_root(lmx_req *r, const char *rest);
int lmx_h_ol_version(lmx_req *r, const char *rest);
int lmx_h_ol_chat(lmx_req *r, const char *rest);
int lmx_h_ol_generate(lmx_req *r, const char *rest);
int lmx_h_ol_tags(lmx_req *r, const char *rest);
int lmx_h_ol_ps(lmx_req *r, const char *rest);
int lmx_h_ol_show(lmx_req *r, const char *rest);
int lmx_h_ol_pull(lmx_req *r, const char *rest);
int lmx_h_ol_delete(lmx_req *r, const char *rest);
int lmx_h_ol_embed(lmx_req *r, const char *rest);
int lmx_h_ol_embeddings(lmx_req *r, const char *rest);

#endif
