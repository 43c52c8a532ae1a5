/* LM Studio's native REST API's handlers (lmstudio_api.c): v1 and v0. */
#ifndef LMX_SRV_API_LMSTUDIO_API_H
#define LMX_SRV_API_LMSTUDIO_API_H

#include "server/http/http.h"

lmx_handler_fn lmx_h_lms_models, lmx_h_lms_load, lmx_h_lms_unload, lmx_h_lms_download,
    lmx_h_lms_download_status, lmx_h_lms_chat, lmx_h_lms_v0_models, lmx_h_lms_v0_chat,
    lmx_h_lms_v0_completions, lmx_h_lms_v0_embeddings;

#endif
