/* Role definitions: what an agent is (model, instructions template, tools,
 * tool-choice plan, limits, sampling, retry policy, output schema), checked
 * once when defined, and what a run derives from one: its system prompt and
 * each model step's Chat Completions request.
 *
 * A definition is a JSON object (the config's `agents:` entries, the admin
 * API's bodies and a run's inline `definition` share the shape; see
 * docs/agents.md). lmx_role_check fills in every default, so the rest of the
 * runtime reads fields without checking them again. */
#ifndef LMX_AGENTS_ROLE_H
#define LMX_AGENTS_ROLE_H

#include <jansson.h>

#include "util/api_err.h"

/* def checked and normalised (new reference), or NULL with e set: 400,
 * param "definition.FIELD". */
json_t *lmx_role_check(const json_t *def, lmx_api_err *e);

/* The instructions rendered over the run's variables (malloc'd; "" when the
 * role has none), or NULL with e set (400: a template error). */
char *lmx_role_instructions(const json_t *def, const json_t *variables, lmx_api_err *e);

/* The Chat Completions body of model step `step` (0-based) over the run's
 * messages (new reference). */
json_t *lmx_role_step_body(const json_t *def, const json_t *messages, int step);

/* 0 when output (a tool's answer) is valid under that tool's output_schema
 * (or the tool has none); -1 with the reason in why. The output must be JSON
 * text; the check is the schema's grammar (text/json_schema.h), the same one
 * structured output is generated under. */
int lmx_role_check_tool_output(const json_t *def, const char *tool, const char *output, char *why,
                               size_t n);

/* Retry policy: the delay before attempt `attempt + 1` after `attempt`
 * failed (1-based), in ms: initial * multiplier^(attempt-1), at most max,
 * spread by ±jitter (rnd in [0,1)), and never less than retry_after_s. */
double lmx_role_backoff_ms(const json_t *def, int attempt, double retry_after_s, double rnd);

#endif
