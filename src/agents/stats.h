/* Agent metrics and analytics: Prometheus series per role, model and tool
 * (runs by final status, steps, retries, tool calls and errors, run
 * duration), and a time-stamped log of outcomes for success rates over a
 * window (GET /admin/agents/analytics). Memory is bounded: the log keeps the
 * newest 20000 outcomes; label values are role names (config, admin or
 * "inline"), models and tools of defined roles.
 *
 * Threads: not locked here; the runtime calls it under its lock. */
#ifndef LMX_AGENTS_STATS_H
#define LMX_AGENTS_STATS_H

#include <jansson.h>
#include <stdbool.h>

typedef struct lmx_astats lmx_astats;

lmx_astats *lmx_astats_new(void);
void lmx_astats_free(lmx_astats *s);

/* run: the run document (its _role_key, model, status, created_at). */
void lmx_astats_run(lmx_astats *s, const json_t *run, double now);
void lmx_astats_step(lmx_astats *s, const json_t *run, const char *type, bool failed);
void lmx_astats_retry(lmx_astats *s, const json_t *run);
void lmx_astats_tool(lmx_astats *s, const json_t *run, const char *tool, bool error);
void lmx_astats_refused(lmx_astats *s);

/* {window_s, runs: {total, by_status}, by_role: [...], by_model: [...], by_tool: [...]} */
json_t *lmx_astats_analytics(lmx_astats *s, double now, double window_s);
/* Exposition text (malloc'd); queued: the run queue's length (a gauge). */
char *lmx_astats_render(lmx_astats *s, int queued);

#endif
