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
    /* OpenAI Responses */
    {"POST", "/v1/responses", lmx_h_responses, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"GET", "/v1/responses/", lmx_h_response_get, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"DELETE", "/v1/responses/", lmx_h_response_delete, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    /* Anthropic Messages */
    {"POST", "/v1/messages", lmx_h_messages, LMX_ERRS_ANTHROPIC, LMX_ACCESS_API},
    {"POST", "/v1/messages/count_tokens", lmx_h_count_tokens, LMX_ERRS_ANTHROPIC, LMX_ACCESS_API},
    /* admin: model manager (download routes, when added, go before /admin/models/) */
    {"GET", "/healthz", lmx_h_healthz, LMX_ERRS_OPENAI, LMX_ACCESS_PUBLIC},
    {"GET", "/readyz", lmx_h_readyz, LMX_ERRS_OPENAI, LMX_ACCESS_PUBLIC},
    {"POST", "/admin/models/load", lmx_h_admin_load, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"POST", "/admin/models/unload", lmx_h_admin_unload, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/models", lmx_h_admin_models, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/models/", lmx_h_admin_models, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"DELETE", "/admin/models/", lmx_h_admin_delete, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/ledger", lmx_h_admin_ledger, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/status", lmx_h_admin_status, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/memory", lmx_h_admin_memory, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    /* Prometheus; config reload */
    {"GET", "/metrics", lmx_h_metrics, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"POST", "/admin/config/reload", lmx_h_config_reload, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {0},
};
