/* LM Studio's native REST API's handlers (lmstudio_api.c): v1 and v0. */
#ifndef LMX_SRV_API_LMSTUDIO_API_H
#define LMX_SRV_API_LMSTUDIO_API_H

#include "server/http/http.h"

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

#endif
