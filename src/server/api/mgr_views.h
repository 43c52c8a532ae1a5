/* The model manager's records (manager/manager.h) as the admin API's JSON:
 * LOADED_ENTRY, status, memory and one model's detail (docs/admin-api.md).
 * The manager fills structs; the shapes clients read are decided here. */
#ifndef LMX_SRV_API_MGR_VIEWS_H
#define LMX_SRV_API_MGR_VIEWS_H

#include <jansson.h>

#include "manager/download.h"
#include "manager/manager.h"
#include "util/api_err.h"

/* LOADED_ENTRY: {"id","aliases","state","reason","memory_bytes","context_length",
 * "parallel","ttl_s","expires_at","last_used","load_time_ms","queued","active"}. */
json_t *lmx_view_loaded_entry(const lmx_mgr_model *r);
/* Every tracked model as LOADED_ENTRY objects (new reference). */
json_t *lmx_view_loaded(lmx_mgr *m);
/* {"version","uptime_s","models","queue_depth","active_sequences","tokens_per_second"} */
json_t *lmx_view_status(lmx_mgr *m);
/* {"limit_bytes","available_bytes","reserve_bytes","used_by_models_bytes","source","models"} */
json_t *lmx_view_memory(lmx_mgr *m);
/* The ledger: [{"model","file","sha256","engine_version","result","reason","time",
 * "size_bytes","mtime"}] oldest first (new reference). */
json_t *lmx_view_ledger(lmx_mgr *m);
/* A download's status: {"id","object":"model.download","state","repo","file","files",
 * "revision","commit","quant","bytes","total","rate","eta","model","error","created"}. */
json_t *lmx_view_download(const lmx_dl_info *i);
/* id's status (new reference) or NULL when unknown. */
json_t *lmx_view_dl_status(lmx_dl *d, const char *id);
/* Every download's status (new reference). */
json_t *lmx_view_dl_list(lmx_dl *d);
/* lmx_dl_wait's status of id (new reference), NULL when unknown. */
json_t *lmx_view_dl_wait(lmx_dl *d, const char *id, unsigned long *seen, int timeout_ms);
/* STORE_ENTRY: {"id","object":"model","path","files","size_bytes","architecture",
 * "parameters","quantization","context_length","supports_tools","sha256","source",
 * "error"?} (new reference). */
json_t *lmx_view_store_entry(const lmx_store_entry *e);
/* The models on disk as STORE_ENTRY objects with "loaded": bool (new reference). */
json_t *lmx_view_store(lmx_mgr *m);
/* STORE_ENTRY with "loaded": LOADED_ENTRY|null; NULL with e set. */
json_t *lmx_view_model(lmx_mgr *m, const char *id, lmx_api_err *e);

#endif
