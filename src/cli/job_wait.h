/* Following one scheduler job to its end, for the CLI's in-process
 * generation (lmx chat's answers, spec_gen's runs): one loop that reads each
 * event, hands it over and frees it, and turns the job's end into a result. */
#ifndef LMX_CLI_JOB_WAIT_H
#define LMX_CLI_JOB_WAIT_H

#include <stddef.h>

#include "sched/sched.h"

/* Hands every event of j to on_event, up to its last (DONE or ERROR), and
 * NONE each timeout_ms without one (-1: waits, no NONE) so that on_event can
 * cancel the job. 0 after DONE; -1 after ERROR, with its message in err. */
int lmx_cli_job_wait(lmx_job *j, int timeout_ms, void (*on_event)(void *ctx, const lmx_event *ev),
                     void *ctx, char *err, size_t errlen);

#endif
