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
/* admin_api.c */
int lmx_h_admin_models(lmx_req *r, const char *id);
int lmx_h_admin_delete(lmx_req *r, const char *id);
int lmx_h_admin_load(lmx_req *r, const char *rest);
int lmx_h_admin_unload(lmx_req *r, const char *rest);
int lmx_h_admin_ledger(lmx_req *r, const char *rest);
int lmx_h_admin_status(lmx_req *r, const char *rest);
int lmx_h_admin_memory(lmx_req *r, const char *rest);
int lmx_h_healthz(lmx_req *r, const char *rest);
int lmx_h_readyz(lmx_req *r, const char *rest);
/* metrics.c */
int lmx_h_metrics(lmx_req *r, const char *rest);

/* config_api.c */
int lmx_h_config_reload(lmx_req *r, const char *rest);
/* ollama_api.c */
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

/* lmstudio_api.c */
int lmx_h_lms_models(lmx_req *r, const char *rest);
int lmx_h_lms_load(lmx_req *r, const char *rest);
int lmx_h_lms_unload(lmx_req *r, const char *rest);
int lmx_h_lms_download(lmx_req *r, const char *rest);
int lmx_h_lms_download_status(lmx_req *r, const char *job_id);
int lmx_h_lms_chat(lmx_req *r, const char *rest);
int lmx_h_lms_v0_models(lmx_req *r, const char *id);
int lmx_h_lms_v0_chat(lmx_req *r, const char *rest);
int lmx_h_lms_v0_completions(lmx_req *r, const char *rest);
int lmx_h_lms_v0_embeddings(lmx_req *r, const char *rest);
/* download_api.c */
int lmx_h_download_start(lmx_req *r, const char *rest);
int lmx_h_download_list(lmx_req *r, const char *rest);
int lmx_h_download_get(lmx_req *r, const char *rest);
int lmx_h_download_cancel(lmx_req *r, const char *rest);

/* responses_api.c */
int lmx_h_responses(lmx_req *r, const char *rest);
int lmx_h_response_get(lmx_req *r, const char *rest);
int lmx_h_response_delete(lmx_req *r, const char *id);

/* anthropic_api.c */
int lmx_h_messages(lmx_req *r, const char *rest);
int lmx_h_count_tokens(lmx_req *r, const char *rest);

/* skills_api.c */
int lmx_h_skills(lmx_req *r, const char *rest);
int lmx_h_skill_get(lmx_req *r, const char *ref);
int lmx_h_skill_invoke(lmx_req *r, const char *rest);
/* mcp_api.c */
int lmx_h_mcp(lmx_req *r, const char *rest);
int lmx_h_mcp_other(lmx_req *r, const char *rest);
#endif
