/* The manager's results (mgr_err.h). */
#include "manager/mgr_err.h"

#include <stdarg.h>
#include <stdio.h>

void lmx_mgr_fail(lmx_mgr_err *e, lmx_mgr_status status, lmx_mgr_what what, const char *arg,
                  const char *fmt, ...) {
    if (!e) return;
    *e = (lmx_mgr_err){0};
    e->status = status;
    e->what = what;
    e->arg = arg;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

const char *lmx_mgr_status_name(lmx_mgr_status s) {
    static const char *const names[] = {
        [LMX_MGR_OK] = "ok",
        [LMX_MGR_INVALID] = "invalid",
        [LMX_MGR_BAD_NAME] = "bad_name",
        [LMX_MGR_NO_DEFAULT] = "no_default",
        [LMX_MGR_AMBIGUOUS] = "ambiguous",
        [LMX_MGR_NOT_FOUND] = "not_found",
        [LMX_MGR_FORBIDDEN] = "forbidden",
        [LMX_MGR_UNSTABLE] = "unstable",
        [LMX_MGR_LOADING] = "loading",
        [LMX_MGR_LOADED] = "loaded",
        [LMX_MGR_FINISHED] = "finished",
        [LMX_MGR_OUTSIDE_STORE] = "outside_store",
        [LMX_MGR_INVALID_MODEL] = "invalid_model",
        [LMX_MGR_INCOMPLETE] = "incomplete",
        [LMX_MGR_UNSUPPORTED_ARCH] = "unsupported_arch",
        [LMX_MGR_UNSUPPORTED_TYPE] = "unsupported_type",
        [LMX_MGR_CANARY_FAILED] = "canary_failed",
        [LMX_MGR_DRAFT_MISMATCH] = "draft_mismatch",
        [LMX_MGR_NO_MEMORY] = "no_memory",
        [LMX_MGR_LOAD_OUT_OF_MEMORY] = "load_out_of_memory",
        [LMX_MGR_NO_STORAGE] = "no_storage",
        [LMX_MGR_HUB_UNREACHABLE] = "hub_unreachable",
        [LMX_MGR_HUB_ERROR] = "hub_error",
        [LMX_MGR_INTERNAL] = "internal",
    };
    return (unsigned)s < sizeof names / sizeof *names && names[s] ? names[s] : "unknown";
}
