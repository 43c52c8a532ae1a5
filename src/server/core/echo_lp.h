/* /v1/completions with echo and logprobs: the prompt's tokens head each
 * choice's logprobs, as OpenAI's legacy API returns them — the first with a
 * null log-probability, text_offset indexing the echoed text in characters.
 * The scheduler scores the prompt (sched.h: a job's `score`) and sends one
 * LMX_EV_PROMPT per token before STARTED; here they are collected per job
 * and aligned to the echoed text. */
#ifndef LMX_SRV_CORE_ECHO_LP_H
#define LMX_SRV_CORE_ECHO_LP_H

#include <jansson.h>

#include "server/core/gen.h"

/* One prompt token of job (an LMX_EV_PROMPT event). */
void lmx_echo_lp_add(lmx_gen *g, int job, const lmx_event *ev);
/* The job's prompt has run: its choices' text offsets start after the echo. */
void lmx_echo_lp_started(lmx_gen *g, int job);
/* The job's prompt logprobs object (borrowed; NULL when none). */
json_t *lmx_echo_lp_prompt(const lmx_gen *g, int job);
/* A choice's whole logprobs object: the prompt's (when there are) followed by
 * the generated tokens' in gen_lp (may be NULL). New reference. */
json_t *lmx_echo_lp_merge(const lmx_gen *g, int job, json_t *gen_lp);
void lmx_echo_lp_free(lmx_gen *g);

#endif
