/* One job's events to its end (job_wait.h). */
#include "cli/job_wait.h"

#include <stdio.h>

int lmx_cli_job_wait(lmx_job *j, int timeout_ms, void (*on_event)(void *ctx, const lmx_event *ev),
                     void *ctx, char *err, size_t errlen) {
    for (;;) {
        lmx_event ev;
        lmx_event_type t = lmx_job_next(j, &ev, timeout_ms);
        on_event(ctx, &ev);
        if (t == LMX_EV_ERROR) snprintf(err, errlen, "%s", ev.message);
        lmx_event_clear(&ev);
        if (t == LMX_EV_DONE || t == LMX_EV_ERROR) return t == LMX_EV_ERROR ? -1 : 0;
    }
}
