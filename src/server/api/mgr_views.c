/* The manager's records as admin-API JSON (mgr_views.h). */
#include "server/api/mgr_views.h"

#include <stdlib.h>
#include <string.h>

#include "manager/store.h"
#include "server/core/mgr_error.h"

json_t *lmx_view_loaded_entry(const lmx_mgr_model *r) {
    json_t *aliases = json_array();
    for (int i = 0; i < r->n_aliases; i++)
        json_array_append_new(aliases, json_string(r->aliases[i]));
    json_t *expires = r->expires ? json_integer((json_int_t)r->expires_at) : json_null();
    return json_pack("{s:s,s:o,s:s,s:o,s:I,s:i,s:i,s:f,s:o,s:I,s:f,s:i,s:i}", "id", r->id,
                     "aliases", aliases, "state", r->state, "reason",
                     r->reason[0] ? json_string(r->reason) : json_null(), "memory_bytes",
                     (json_int_t)r->memory_bytes, "context_length", r->n_ctx, "parallel",
                     r->n_parallel, "ttl_s", r->ttl_s, "expires_at", expires, "last_used",
                     (json_int_t)r->last_used, "load_time_ms", r->load_time_ms, "queued", r->queued,
                     "active", r->active);
}

json_t *lmx_view_loaded(lmx_mgr *m) {
    json_t *a = json_array();
    lmx_mgr_model *recs;
    int n = lmx_mgr_models(m, &recs);
    for (int i = 0; i < n; i++) json_array_append_new(a, lmx_view_loaded_entry(&recs[i]));
    free(recs);
    return a;
}

json_t *lmx_view_status(lmx_mgr *m) {
    json_t *models = json_array();
    int queued = 0, active = 0;
    lmx_mgr_model *recs;
    int n = lmx_mgr_models(m, &recs);
    for (int i = 0; i < n; i++) {
        queued += recs[i].queued;
        active += recs[i].active;
        json_array_append_new(models, lmx_view_loaded_entry(&recs[i]));
    }
    free(recs);
    lmx_mgr_activity act;
    lmx_mgr_activity_get(m, &act);
    return json_pack("{s:s,s:I,s:o,s:i,s:i,s:f}", "version", LMX_ENGINE_VERSION, "uptime_s",
                     (json_int_t)act.uptime_s, "models", models, "queue_depth", queued,
                     "active_sequences", active, "tokens_per_second", act.tokens_per_second);
}

json_t *lmx_view_memory(lmx_mgr *m) {
    lmx_mgr_memory v;
    lmx_mgr_memory_get(m, &v);
    json_t *models = json_array();
    lmx_mgr_model *recs;
    int n = lmx_mgr_models(m, &recs);
    for (int i = 0; i < n; i++)
        if (strcmp(recs[i].state, "failed"))
            json_array_append_new(models, json_pack("{s:s,s:I}", "id", recs[i].id, "memory_bytes",
                                                    (json_int_t)recs[i].memory_bytes));
    free(recs);
    return json_pack("{s:I,s:I,s:I,s:I,s:s,s:o}", "limit_bytes", (json_int_t)v.limit,
                     "available_bytes", (json_int_t)v.available, "reserve_bytes",
                     (json_int_t)v.reserve, "used_by_models_bytes", (json_int_t)v.used_by_models,
                     "source", v.source, "models", models);
}

json_t *lmx_view_model(lmx_mgr *m, const char *id, lmx_api_err *e) {
    lmx_mgr_err me;
    json_t *o = lmx_mgr_store_entry(m, id, &me);
    if (!o) {
        lmx_err_from_mgr(e, &me);
        return NULL;
    }
    lmx_mgr_model r;
    bool tracked = lmx_mgr_model_get(m, json_string_value(json_object_get(o, "id")), &r);
    json_object_set_new(o, "loaded", tracked ? lmx_view_loaded_entry(&r) : json_null());
    return o;
}

static json_t *nullable(const char *s) {
    return s && *s ? json_string(s) : json_null();
}

static json_t *int_or_null(bool has, long long v) {
    return has ? json_integer((json_int_t)v) : json_null();
}

static void ledger_row(void *ud, const lmx_ledger_row *r) {
    json_array_append_new(ud, json_pack("{s:s,s:o,s:o,s:s,s:s,s:o,s:I,s:o,s:o}", "model", r->model,
                                        "file", nullable(r->file), "sha256", nullable(r->sha256),
                                        "engine_version", r->engine_version, "result", r->result,
                                        "reason", nullable(r->reason), "time", (json_int_t)r->time,
                                        "size_bytes", int_or_null(r->has_size, r->size), "mtime",
                                        int_or_null(r->has_mtime, r->mtime)));
}

json_t *lmx_view_ledger(lmx_mgr *m) {
    json_t *a = json_array();
    lmx_mgr_ledger_each(m, ledger_row, a);
    return a;
}
