/* The skills endpoints' shared step: an invocation outcome (skills/invoke.h)
 * as an API error. Used by skills_api.c (/v1/skills), mcp_api.c (/mcp) and
 * skills_chat.c (the server-side tool loop). */
#ifndef LMX_SRV_API_SKILLS_API_H
#define LMX_SRV_API_SKILLS_API_H

#include <jansson.h>

#include "server/http/http.h"
#include "skills/invoke.h"
#include "util/api_err.h"

/* GET /v1/skills, GET /v1/skills/{name}, POST /v1/skills/{name}/invoke */
int lmx_h_skills(lmx_req *r, const char *rest);
int lmx_h_skill_get(lmx_req *r, const char *ref);
int lmx_h_skill_invoke(lmx_req *r, const char *rest);

/* e for a failed outcome (status 400/404/429/502/503/504, code
 * invalid_arguments, skill_busy, ...); e->status 0 for LMX_SKR_OK. */
void lmx_skr_api_err(const lmx_skr *r, lmx_api_err *e);
/* The outcome's details for an error body: violations, exit status,
 * signal, stderr (new reference; an empty object when there are none). */
json_t *lmx_skr_details(const lmx_skr *r);

/* lmx_skills_invoke_skill (ref NULL) or lmx_skills_invoke (k NULL),
 * cancelled when the client of r hangs up: a watcher thread polls the
 * connection, so a sandboxed program is killed instead of running on for
 * nobody. */
void lmx_skills_invoke_for(lmx_req *r, lmx_skills *s, lmx_skill *k, const char *ref,
                           const json_t *args, lmx_skr *out);

#endif
