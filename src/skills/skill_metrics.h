/* Per-skill metrics: invocations by outcome, a latency histogram and
 * sandbox kills by reason, rendered in Prometheus' text format and appended
 * to /metrics. Series are keyed by skill name (versions share one), at most
 * 256 names; thread-safe (one lock). */
#ifndef LMX_SKILLS_SKILL_METRICS_H
#define LMX_SKILLS_SKILL_METRICS_H

#include <stdio.h>

/* outcome: lmx_skr_code_name; kill: NULL, or why the sandbox killed it
 * ("timeout", "cpu", "memory", "file_size", "output", "cancel", "signal"). */
void lmx_skm_observe(const char *skill, const char *outcome, double seconds, const char *kill);
/* Appends the exposition text to f. */
void lmx_skm_render(FILE *f);

#endif
