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
    {"POST", "/v1/embeddings", lmx_h_embeddings, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    /* admin: model manager (the download routes come before the /admin/models/ prefixes) */
    {"GET", "/healthz", lmx_h_healthz, LMX_ERRS_OPENAI, LMX_ACCESS_PUBLIC},
    {"GET", "/readyz", lmx_h_readyz, LMX_ERRS_OPENAI, LMX_ACCESS_PUBLIC},
    {"POST", "/admin/models/download", lmx_h_download_start, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/models/download", lmx_h_download_list, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/models/download/", lmx_h_download_get, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"DELETE", "/admin/models/download/", lmx_h_download_cancel, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"POST", "/admin/models/load", lmx_h_admin_load, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"POST", "/admin/models/unload", lmx_h_admin_unload, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/models", lmx_h_admin_models, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/models/", lmx_h_admin_models, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"DELETE", "/admin/models/", lmx_h_admin_delete, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/ledger", lmx_h_admin_ledger, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/status", lmx_h_admin_status, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/memory", lmx_h_admin_memory, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {0},
};
