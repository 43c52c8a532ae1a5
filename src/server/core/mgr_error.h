/* The manager's results (manager/mgr_err.h) as API errors: the one place that
 * decides which HTTP status, OpenAI type and code each manager outcome gets;
 * every dialect then renders that in its own shape (error.h). */
#ifndef LMX_SRV_CORE_MGR_ERROR_H
#define LMX_SRV_CORE_MGR_ERROR_H

#include "manager/download.h"
#include "manager/manager.h"
#include "manager/mgr_err.h"
#include "util/api_err.h"

/* out from m (m->status != LMX_MGR_OK). */
void lmx_err_from_mgr(lmx_api_err *out, const lmx_mgr_err *m);

/* The manager's calls as the API modules make them: the same results, a
 * failure as an API error in e (lmx_err_from_mgr). */
lmx_served *lmx_api_acquire(lmx_mgr *m, const char *name, lmx_api_err *e);
lmx_served *lmx_api_load(lmx_mgr *m, const lmx_load_req *q, lmx_api_err *e);
int lmx_api_unload(lmx_mgr *m, const char *model, lmx_api_err *e);
int lmx_api_delete(lmx_mgr *m, const char *model, lmx_api_err *e);
int lmx_api_dl_start(lmx_dl *d, const char *repo, const char *file, const char *quant,
                     const char *revision, char *id, size_t idlen, lmx_api_err *e);
int lmx_api_dl_cancel(lmx_dl *d, const char *id, lmx_api_err *e);

#endif
