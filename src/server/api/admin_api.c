/* The admin API's model-manager routes (docs/admin-api.md): the store
 * listing, load / unload / delete, the ledger, status, memory, and the
 * health probes. Every body is built by the manager; this file only maps
 * HTTP onto it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/manager.h"
#include "server/api/admin_api.h"
#include "server/http/http.h"
#include "server/core/tenancy.h"

static lmx_mgr *mgr(lmx_req *r) {
    return lmx_req_app(r)->mgr;
}

int lmx_h_admin_models(lmx_req *r, const char *id) {
    lmx_api_err e = {0};
    if (*id) {
        json_t *o = lmx_mgr_model_json(mgr(r), id, &e);
        return o ? lmx_reply_json(r, 200, o) : lmx_reply_err(r, &e);
    }
    return lmx_reply_json(
        r, 200, json_pack("{s:s,s:o}", "object", "list", "data", lmx_mgr_store_json(mgr(r))));
}

int lmx_h_admin_delete(lmx_req *r, const char *id) {
    lmx_api_err e = {0};
    lmx_req_set_model(r, id);
    if (lmx_mgr_delete(mgr(r), id, &e)) return lmx_reply_err(r, &e);
    return lmx_reply_json(r, 200, json_pack("{s:s,s:b}", "id", id, "deleted", 1));
}

/* An optional integer field in [lo, hi]; false with e set when present and bad. */
static bool opt_int(const json_t *body, const char *k, long lo, long hi, int *out, lmx_api_err *e) {
    const json_t *v = json_object_get(body, k);
    if (!v || json_is_null(v)) return true;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        lmx_err_bad(e, k, "'%s' must be an integer between %ld and %ld.", k, lo, hi);
        return false;
    }
    *out = (int)json_integer_value(v);
    return true;
}

/* An optional string field; checked by the manager (lmx_tuning_resolve). */
static bool opt_str(json_t *body, const char *k, const char **out, lmx_api_err *e) {
    const json_t *v = json_object_get(body, k);
    if (!v || json_is_null(v)) return true;
    if (!json_is_string(v) || !*json_string_value(v)) {
        lmx_err_bad(e, k, "'%s' must be a non-empty string.", k);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static const char *model_field(lmx_req *r, json_t **body, lmx_api_err *e) {
    *body = lmx_req_json(r, false, e);
    if (!*body) return NULL;
    const json_t *mv = json_object_get(*body, "model");
    if (!json_is_string(mv) || !*json_string_value(mv)) {
        lmx_err_bad(e, "model", "'model' is required and must be a non-empty string.");
        return NULL;
    }
    lmx_req_set_model(r, json_string_value(mv));
    return json_string_value(mv);
}

int lmx_h_admin_load(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e = {0};
    json_t *body;
    lmx_load_req q = {0};
    q.model = model_field(r, &body, &e);
    if (!q.model) goto fail;
    if (!opt_int(body, "ctx_size", 16, 1 << 24, &q.ctx_size, &e) ||
        !opt_int(body, "parallel", 1, 256, &q.parallel, &e))
        goto fail;
    if (!opt_int(body, "draft_max", 1, 32, &q.tune.draft_max, &e) ||
        !opt_str(body, "kv_type", &q.tune.kv_type, &e) ||
        !opt_str(body, "speculative", &q.tune.spec, &e) ||
        !opt_str(body, "draft_model", &q.tune.draft_model, &e))
        goto fail;
    const json_t *a = json_object_get(body, "alias"), *t = json_object_get(body, "ttl");
    if (a && !json_is_null(a)) {
        if (!json_is_string(a)) {
            lmx_err_bad(&e, "alias", "'alias' must be a string.");
            goto fail;
        }
        q.alias = json_string_value(a);
    }
    if (t && !json_is_null(t)) {
        if (!json_is_number(t) || !(json_number_value(t) >= 0) || json_number_value(t) > 1e9) {
            lmx_err_bad(&e, "ttl", "'ttl' must be a number of seconds >= 0.");
            goto fail;
        }
        q.ttl_s = json_number_value(t);
    }
    const json_t *it = json_object_get(body, "itl_target_ms");
    if (it && !json_is_null(it)) { /* absent or null: the global itl_target_ms */
        double v = json_is_number(it) ? json_number_value(it) : -1;
        if (!(v >= 0 && v <= 60000)) {
            lmx_err_bad(&e, "itl_target_ms",
                        "'itl_target_ms' must be a number of milliseconds from 0 (no target) to "
                        "60000.");
            goto fail;
        }
        q.itl_target_ms = v > 0 ? v : -1;
    }
    lmx_served *s = lmx_mgr_load(mgr(r), &q, &e);
    if (!s) goto fail;
    char id[256];
    snprintf(id, sizeof id, "%s", s->name);
    lmx_mgr_release(s);
    json_decref(body);
    /* the LOADED_ENTRY, as status shows it */
    json_t *all = lmx_mgr_loaded_json(mgr(r)), *hit = NULL, *o;
    size_t i;
    json_array_foreach(all, i, o) if (!strcmp(json_string_value(json_object_get(o, "id")), id)) {
        hit = json_incref(o);
        break;
    }
    json_decref(all);
    if (!hit) hit = json_pack("{s:s,s:s}", "id", id, "state", "unloaded");
    return lmx_reply_json(r, 200, hit);
fail:
    json_decref(body);
    return lmx_reply_err(r, &e);
}

int lmx_h_admin_unload(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e = {0};
    json_t *body;
    const char *model = model_field(r, &body, &e);
    if (!model || lmx_mgr_unload(mgr(r), model, &e)) {
        json_decref(body);
        return lmx_reply_err(r, &e);
    }
    json_t *o = json_pack("{s:s,s:s}", "id", model, "state", "unloaded");
    json_decref(body);
    return lmx_reply_json(r, 200, o);
}

int lmx_h_admin_ledger(lmx_req *r, const char *rest) {
    (void)rest;
    return lmx_reply_json(
        r, 200, json_pack("{s:s,s:o}", "object", "list", "data", lmx_mgr_ledger_json(mgr(r))));
}

int lmx_h_admin_status(lmx_req *r, const char *rest) {
    (void)rest;
    json_t *o = lmx_mgr_status_json(mgr(r));
    lmx_tenancy *t = lmx_req_app(r)->tenancy;
    if (t && json_is_object(o)) { /* the tenants' usage and quotas beside the models */
        json_t *ts = lmx_tenancy_status(t);
        json_object_set(o, "tenants", json_object_get(ts, "tenants"));
        json_decref(ts);
    }
    return lmx_reply_json(r, 200, o);
}

int lmx_h_admin_memory(lmx_req *r, const char *rest) {
    (void)rest;
    return lmx_reply_json(r, 200, lmx_mgr_memory_json(mgr(r)));
}

int lmx_h_healthz(lmx_req *r, const char *rest) {
    (void)rest;
    return lmx_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

int lmx_h_readyz(lmx_req *r, const char *rest) {
    (void)rest;
    if (lmx_mgr_ready(mgr(r))) return lmx_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
    return lmx_reply_json(r, 503, json_pack("{s:s}", "status", "loading"));
}
