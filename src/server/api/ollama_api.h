/* Ollama's native API's handlers (ollama_api.c); its request translation is
 * ollama_req.h's. */
#ifndef LMX_SRV_API_OLLAMA_API_H
#define LMX_SRV_API_OLLAMA_API_H

#include "server/http/http.h"

lmx_handler_fn lmx_h_ol_root, lmx_h_ol_version, lmx_h_ol_chat, lmx_h_ol_generate, lmx_h_ol_tags,
    lmx_h_ol_ps, lmx_h_ol_show, lmx_h_ol_pull, lmx_h_ol_delete, lmx_h_ol_embed, lmx_h_ol_embeddings;

#endif
