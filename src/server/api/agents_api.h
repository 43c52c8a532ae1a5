/* The agent runs API (agents_api.c): the handlers routes.c points at, and
 * the step runner `lmx serve` gives the agent runtime, which sends an agent's
 * model steps through the chat generation path. */
#ifndef LMX_SRV_API_AGENTS_API_H
#define LMX_SRV_API_AGENTS_API_H

#include "agents/runtime.h"
#include "server/core/app.h"
#include "server/http/http.h"

lmx_amodel lmx_agents_step_runner(lmx_app *app);

/* /v1/agents/runs ... (API access) */
int lmx_h_agent_runs_create(lmx_req *r, const char *rest);
int lmx_h_agent_runs_list(lmx_req *r, const char *rest);
int lmx_h_agent_run_get(lmx_req *r, const char *rest);  /* {id}, {id}/events */
int lmx_h_agent_run_post(lmx_req *r, const char *rest); /* {id}/cancel, {id}/tool_outputs */
/* /admin/agents/... (admin access) */
int lmx_h_admin_agent_runs(lmx_req *r, const char *rest);
int lmx_h_admin_agent_run_post(lmx_req *r, const char *rest);
int lmx_h_admin_agent_roles(lmx_req *r, const char *name);
int lmx_h_admin_agent_role_put(lmx_req *r, const char *name);
int lmx_h_admin_agent_role_delete(lmx_req *r, const char *name);
int lmx_h_admin_agent_analytics(lmx_req *r, const char *rest);

#endif
