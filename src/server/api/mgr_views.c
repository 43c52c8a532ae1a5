/* The manager's records as admin-API JSON (mgr_views.h). */
#include "server/api/mgr_views.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "manager/store.h"
#include "sched/spec.h"
#include "server/core/mgr_error.h"

/* A model's speculative decoding: {"mode","draft_model","draft_max","drafted",
 * "accepted","verifies","auto_off"}. */
static json_t *spec_json(const lmx_tuning *t, const lmx_sched_stats *st) {
    return json_pack("{s:s,s:o,s:i,s:I,s:I,s:I,s:I}", "mode", lmx_spec_mode_name(t->spec),
                     "draft_model",
                     t->spec == LMX_SPEC_DRAFT ? json_string(t->draft_model) : json_null(),
                     "draft_max", st->spec_draft_max, "drafted", (json_int_t)st->spec_drafted,
                     "accepted", (json_int_t)st->spec_accepted, "verifies",
                     (json_int_t)st->spec_verifies, "auto_off", (json_int_t)st->spec_auto_off);
}

json_t *lmx_view_loaded_entry(const lmx_mgr_model *r) {
    json_t *aliases = json_array();
    for (int i = 0; i < r->n_aliases; i++)
        json_array_append_new(aliases, json_string(r->aliases[i]));
    json_t *expires = r->expires ? json_integer((json_int_t)r->expires_at) : json_null();
    json_t *o = json_pack("{s:s,s:o,s:s,s:o,s:I,s:i,s:i,s:f,s:o,s:I,s:f,s:i,s:i}", "id", r->id,
                          "aliases", aliases, "state", r->state, "reason",
                          r->reason[0] ? json_string(r->reason) : json_null(), "memory_bytes",
                          (json_int_t)r->memory_bytes, "context_length", r->n_ctx, "parallel",
                          r->n_parallel, "ttl_s", r->ttl_s, "expires_at", expires, "last_used",
                          (json_int_t)r->last_used, "load_time_ms", r->load_time_ms, "queued",
                          r->queued, "active", r->active);
    json_object_set_new(o, "kv_type", json_string(lmx_kv_type_name(r->tune.kv_type)));
    json_object_set_new(o, "speculative", spec_json(&r->tune, &r->sched));
    /* the latency target: what it is, what the batch is capped at for it, what it measures */
    json_object_set_new(o, "itl_target_ms",
                        r->itl_target_ms > 0 ? json_real(r->itl_target_ms) : json_null());
    json_object_set_new(o, "batch_cap", json_integer(r->sched.batch_cap));
    json_object_set_new(o, "itl_p95_ms", json_real(r->sched.itl_p95_ms));
    return o;
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

static json_t *text_or_null(const char *s) {
    return s && *s ? json_string(s) : json_null();
}

json_t *lmx_view_store_entry(const lmx_store_entry *e) {
    json_t *files = json_array();
    for (int i = 0; i < e->n_files; i++) json_array_append_new(files, json_string(e->files[i]));
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:o,s:I,s:o,s:I,s:o,s:I,s:b,s:o}", "id", e->id, "object", "model", "path",
        e->path, "files", files, "size_bytes", (json_int_t)e->size, "architecture",
        text_or_null(e->architecture), "parameters", (json_int_t)e->parameters, "quantization",
        text_or_null(e->quantization), "context_length", (json_int_t)e->context_length,
        "supports_tools", e->supports_tools, "sha256", text_or_null(e->sha256));
    json_object_set_new(o, "source",
                        e->repo && *e->repo
                            ? json_pack("{s:s,s:o,s:o}", "repo", e->repo, "revision",
                                        text_or_null(e->revision), "file", text_or_null(e->file))
                            : json_null());
    if (e->error && *e->error) json_object_set_new(o, "error", json_string(e->error));
    return o;
}

json_t *lmx_view_store(lmx_mgr *m) {
    json_t *a = json_array();
    lmx_store_entry *v;
    int n = lmx_mgr_store_list(m, &v);
    for (int i = 0; i < n; i++) {
        json_t *o = lmx_view_store_entry(&v[i]);
        json_object_set_new(o, "loaded", json_boolean(v[i].loaded));
        json_array_append_new(a, o);
    }
    lmx_store_entries_free(v, n);
    return a;
}

json_t *lmx_view_model(lmx_mgr *m, const char *id, lmx_api_err *e) {
    lmx_mgr_err me;
    lmx_store_entry se;
    if (!lmx_mgr_store_entry(m, id, &se, &me)) {
        lmx_err_from_mgr(e, &me);
        return NULL;
    }
    json_t *o = lmx_view_store_entry(&se);
    lmx_mgr_model r;
    bool tracked = lmx_mgr_model_get(m, se.id, &r);
    json_object_set_new(o, "loaded", tracked ? lmx_view_loaded_entry(&r) : json_null());
    lmx_store_entry_free(&se);
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

static json_t *str_or_null(const char *s) {
    return s[0] ? json_string(s) : json_null();
}

json_t *lmx_view_download(const lmx_dl_info *i) {
    json_t *files = json_array();
    for (int k = 0; k < i->n_files; k++) json_array_append_new(files, json_string(i->files[k]));
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(i->id));
    json_object_set_new(o, "object", json_string("model.download"));
    json_object_set_new(o, "state", json_string(i->state));
    json_object_set_new(o, "repo", json_string(i->repo));
    json_object_set_new(o, "file", json_string(i->n_files ? i->files[0] : ""));
    json_object_set_new(o, "files", files);
    json_object_set_new(o, "revision", json_string(i->revision));
    json_object_set_new(o, "commit", str_or_null(i->commit));
    json_object_set_new(o, "quant", str_or_null(i->quant));
    json_object_set_new(o, "bytes", json_integer((json_int_t)i->bytes));
    json_object_set_new(o, "total",
                        i->total >= 0 ? json_integer((json_int_t)i->total) : json_null());
    json_object_set_new(o, "rate", json_real(round(i->rate)));
    json_object_set_new(o, "eta", i->eta >= 0 ? json_integer((json_int_t)i->eta) : json_null());
    json_object_set_new(o, "model", str_or_null(i->model));
    json_object_set_new(o, "error", str_or_null(i->error));
    json_object_set_new(o, "created", json_integer((json_int_t)i->created));
    return o;
}

/* The view of a download's info when found (NULL otherwise); frees the info. */
static json_t *view_found(bool found, lmx_dl_info *i) {
    if (!found) return NULL;
    json_t *o = lmx_view_download(i);
    lmx_dl_info_free(i);
    return o;
}

json_t *lmx_view_dl_status(lmx_dl *d, const char *id) {
    lmx_dl_info i;
    return view_found(lmx_dl_get(d, id, &i), &i);
}

json_t *lmx_view_dl_list(lmx_dl *d) {
    json_t *a = json_array();
    lmx_dl_info *all;
    int n = lmx_dl_all(d, &all);
    for (int k = 0; k < n; k++) json_array_append_new(a, lmx_view_download(&all[k]));
    lmx_dl_infos_free(all, n);
    return a;
}

json_t *lmx_view_dl_wait(lmx_dl *d, const char *id, unsigned long *seen, int timeout_ms) {
    lmx_dl_info i;
    return view_found(lmx_dl_wait(d, id, seen, timeout_ms, &i), &i);
}
