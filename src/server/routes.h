/* The handlers routes.c's table points at, by module. */
#ifndef LMX_SRV_ROUTES_H
#define LMX_SRV_ROUTES_H

#include "server/route.h"

/* openai_api.c */
int lmx_h_health(lmx_req *r, const char *rest);
int lmx_h_models(lmx_req *r, const char *id);
int lmx_h_chat(lmx_req *r, const char *rest);
int lmx_h_completions(lmx_req *r, const char *rest);

/* embeddings_api.c */
int lmx_h_embeddings(lmx_req *r, const char *rest);

/* responses_api.c */
int lmx_h_responses(lmx_req *r, const char *rest);
int lmx_h_response_get(lmx_req *r, const char *rest);
int lmx_h_response_delete(lmx_req *r, const char *id);

/* anthropic_api.c */
int lmx_h_messages(lmx_req *r, const char *rest);
int lmx_h_count_tokens(lmx_req *r, const char *rest);

#endif
