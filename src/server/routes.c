/* Every URL the daemon answers, in one table: method, path (a trailing '/'
 * makes it a prefix), handler, error shape and access. The first entry whose
 * path and method match wins; a path that matches with another method is a
 * 405 listing the allowed ones. */
#include "server/routes.h"

const lmx_route lmx_routes[] = {
    {"GET", "/health", lmx_h_health, LMX_ERRS_OPENAI, LMX_ACCESS_PUBLIC},
    /* OpenAI */
    {"GET", "/v1/models", lmx_h_models, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"GET", "/v1/models/", lmx_h_models, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"POST", "/v1/chat/completions", lmx_h_chat, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"POST", "/v1/completions", lmx_h_completions, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    /* admin: downloads (before any /admin/models/ prefix route) */
    {"POST", "/admin/models/download", lmx_h_download_start, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/models/download", lmx_h_download_list, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/models/download/", lmx_h_download_get, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"DELETE", "/admin/models/download/", lmx_h_download_cancel, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {0},
};
