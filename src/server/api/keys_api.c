/* The admin API of the fleet: inference keys (POST/GET /admin/keys,
 * DELETE /admin/keys/{id}) and the tenants' state (GET /admin/tenants: usage,
 * quotas, in-flight requests and each model's queue by tenant). */
#include <string.h>

#include "server/api/keys_api.h"
#include "manager/manager.h"
#include "server/core/json_handler.h"
#include "server/core/tenancy.h"

static lmx_tenancy *tenancy(lmx_req *r, lmx_api_err *e) {
    lmx_tenancy *t = lmx_req_app(r)->tenancy;
    if (!t)
        lmx_err_set(e, 503, "server_error", "tenancy_unavailable", NULL,
                    "This server runs without a tenancy database.");
    return t;
}

static json_t *key_add(lmx_req *r, json_t *body, lmx_api_err *e) {
    json_t *tn = json_object_get(body, "tenant");
    char err[256];
    json_t *k = json_is_string(tn) ? lmx_tenancy_key_add(lmx_req_app(r)->tenancy,
                                                         json_string_value(tn), err, sizeof err)
                                   : NULL;
    if (!k && !json_is_string(tn)) snprintf(err, sizeof err, "'tenant' (a string) is required");
    if (!k) lmx_err_bad(e, "tenant", "%s", err);
    return k;
}

int lmx_h_keys_add(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e = {0};
    return tenancy(r, &e) ? lmx_reply_work(r, 201, key_add) : lmx_reply_err(r, &e);
}

int lmx_h_keys_list(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e = {0};
    lmx_tenancy *t = tenancy(r, &e);
    if (!t) return lmx_reply_err(r, &e);
    return lmx_reply_json(
        r, 200, json_pack("{s:s,s:o}", "object", "list", "data", lmx_tenancy_key_list(t)));
}

int lmx_h_keys_revoke(lmx_req *r, const char *id) {
    lmx_api_err e = {0};
    lmx_tenancy *t = tenancy(r, &e);
    if (!t) return lmx_reply_err(r, &e);
    if (!lmx_tenancy_key_revoke(t, id)) {
        lmx_err_set(&e, 404, "invalid_request_error", "key_not_found", "id",
                    "No active key has the id '%s' (see GET /admin/keys).", id);
        return lmx_reply_err(r, &e);
    }
    return lmx_reply_json(r, 200, json_pack("{s:s,s:b}", "id", id, "revoked", 1));
}

static void queue_entry(void *ctx, const char *tenant, int queued) {
    json_object_set_new(ctx, tenant, json_integer(queued));
}

int lmx_h_tenants(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e = {0};
    lmx_tenancy *t = tenancy(r, &e);
    if (!t) return lmx_reply_err(r, &e);
    json_t *o = lmx_tenancy_status(t), *queues = json_object();
    lmx_served **list = NULL;
    int n = lmx_mgr_list(lmx_req_app(r)->mgr, &list);
    for (int i = 0; i < n; i++) {
        lmx_sched_stats st;
        lmx_sched_get_stats(list[i]->sched, &st);
        json_t *by = json_object();
        lmx_sched_each_tenant(list[i]->sched, queue_entry, by);
        json_object_set_new(queues, list[i]->name,
                            json_pack("{s:i,s:i,s:i,s:f,s:o}", "queued", st.queued, "limit",
                                      st.n_queue, "batch_cap", st.batch_cap, "drain_per_s",
                                      st.drain_per_s, "by_tenant", by));
    }
    lmx_mgr_list_release(list, n);
    json_object_set_new(o, "queues", queues);
    return lmx_reply_json(r, 200, o);
}
