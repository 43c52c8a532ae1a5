/* Every URL the daemon answers, in one table: method, path (a trailing '/'
 * makes it a prefix), handler, error shape and access. The first entry whose
 * path and method match wins; a path that matches with another method is a
 * 405 listing the allowed ones. */
#include "server/http/routes.h"

#include "server/api/admin_api.h"
#include "server/api/agents_api.h"
#include "server/api/anthropic_api.h"
#include "server/api/config_api.h"
#include "server/api/download_api.h"
#include "server/api/embeddings_api.h"
#include "server/api/lmstudio_api.h"
#include "server/api/ollama_api.h"
#include "server/api/openai_api.h"
#include "server/api/responses_api.h"
#include "server/api/keys_api.h"
#include "server/api/ws_api.h"
#include "server/http/metrics.h"

const lmx_route lmx_routes[] = {
    {"GET", "/health", lmx_h_health, LMX_ERRS_OPENAI, LMX_ACCESS_PUBLIC},
    /* OpenAI */
    {"GET", "/v1/models", lmx_h_models, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"GET", "/v1/models/", lmx_h_models, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"POST", "/v1/chat/completions", lmx_h_chat, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"GET", "/v1/realtime", lmx_h_realtime, LMX_ERRS_OPENAI, LMX_ACCESS_API}, /* WebSocket */
    {"POST", "/v1/completions", lmx_h_completions, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"POST", "/v1/embeddings", lmx_h_embeddings, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    /* OpenAI Responses */
    {"POST", "/v1/responses", lmx_h_responses, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"GET", "/v1/responses/", lmx_h_response_get, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"DELETE", "/v1/responses/", lmx_h_response_delete, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    /* Anthropic Messages */
    {"POST", "/v1/messages", lmx_h_messages, LMX_ERRS_ANTHROPIC, LMX_ACCESS_API},
    {"POST", "/v1/messages/count_tokens", lmx_h_count_tokens, LMX_ERRS_ANTHROPIC, LMX_ACCESS_API},
    /* agent runs (agents_api.c) */
    {"POST", "/v1/agents/runs", lmx_h_agent_runs_create, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"GET", "/v1/agents/runs", lmx_h_agent_runs_list, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"GET", "/v1/agents/runs/", lmx_h_agent_run_get, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"POST", "/v1/agents/runs/", lmx_h_agent_run_post, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"GET", "/admin/agents/roles", lmx_h_admin_agent_roles, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/agents/roles/", lmx_h_admin_agent_roles, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"PUT", "/admin/agents/roles/", lmx_h_admin_agent_role_put, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"DELETE", "/admin/agents/roles/", lmx_h_admin_agent_role_delete, LMX_ERRS_OPENAI,
     LMX_ACCESS_ADMIN},
    {"GET", "/admin/agents/analytics", lmx_h_admin_agent_analytics, LMX_ERRS_OPENAI,
     LMX_ACCESS_ADMIN},
    {"GET", "/admin/agents/runs", lmx_h_admin_agent_runs, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/agents/runs/", lmx_h_admin_agent_runs, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"POST", "/admin/agents/runs/", lmx_h_admin_agent_run_post, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
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
    /* admin: the fleet's keys and tenants */
    {"POST", "/admin/keys", lmx_h_keys_add, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/keys", lmx_h_keys_list, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"DELETE", "/admin/keys/", lmx_h_keys_revoke, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/tenants", lmx_h_tenants, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"GET", "/admin/memory", lmx_h_admin_memory, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    /* Prometheus; config reload */
    {"GET", "/metrics", lmx_h_metrics, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"POST", "/admin/config/reload", lmx_h_config_reload, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    /* Ollama (ollama_api.c); also on --ollama-port */
    {"GET", "/", lmx_h_ol_root, LMX_ERRS_OLLAMA, LMX_ACCESS_PUBLIC},
    {"GET", "/api/version", lmx_h_ol_version, LMX_ERRS_OLLAMA, LMX_ACCESS_PUBLIC},
    {"POST", "/api/chat", lmx_h_ol_chat, LMX_ERRS_OLLAMA, LMX_ACCESS_API},
    {"POST", "/api/generate", lmx_h_ol_generate, LMX_ERRS_OLLAMA, LMX_ACCESS_API},
    {"GET", "/api/tags", lmx_h_ol_tags, LMX_ERRS_OLLAMA, LMX_ACCESS_API},
    {"GET", "/api/ps", lmx_h_ol_ps, LMX_ERRS_OLLAMA, LMX_ACCESS_API},
    {"POST", "/api/show", lmx_h_ol_show, LMX_ERRS_OLLAMA, LMX_ACCESS_API},
    {"POST", "/api/pull", lmx_h_ol_pull, LMX_ERRS_OLLAMA, LMX_ACCESS_ADMIN},
    {"DELETE", "/api/delete", lmx_h_ol_delete, LMX_ERRS_OLLAMA, LMX_ACCESS_ADMIN},
    {"POST", "/api/embed", lmx_h_ol_embed, LMX_ERRS_OLLAMA, LMX_ACCESS_API},
    {"POST", "/api/embeddings", lmx_h_ol_embeddings, LMX_ERRS_OLLAMA, LMX_ACCESS_API},
    /* LM Studio REST v1 and v0 (lmstudio_api.c) */
    {"GET", "/api/v1/models", lmx_h_lms_models, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"POST", "/api/v1/models/load", lmx_h_lms_load, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"POST", "/api/v1/models/unload", lmx_h_lms_unload, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"GET", "/api/v1/models/download/status/", lmx_h_lms_download_status, LMX_ERRS_OPENAI,
     LMX_ACCESS_ADMIN},
    {"POST", "/api/v1/models/download", lmx_h_lms_download, LMX_ERRS_OPENAI, LMX_ACCESS_ADMIN},
    {"POST", "/api/v1/chat", lmx_h_lms_chat, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"GET", "/api/v0/models", lmx_h_lms_v0_models, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"GET", "/api/v0/models/", lmx_h_lms_v0_models, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"POST", "/api/v0/chat/completions", lmx_h_lms_v0_chat, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"POST", "/api/v0/completions", lmx_h_lms_v0_completions, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {"POST", "/api/v0/embeddings", lmx_h_lms_v0_embeddings, LMX_ERRS_OPENAI, LMX_ACCESS_API},
    {0},
};
