/* The agent runs API over the runtime in agents/runtime.h:
 *   POST /v1/agents/runs, GET /v1/agents/runs, GET /v1/agents/runs/{id},
 *   GET /v1/agents/runs/{id}/events (SSE, Last-Event-ID),
 *   POST /v1/agents/runs/{id}/cancel, POST /v1/agents/runs/{id}/tool_outputs;
 *   /admin/agents/roles[/{name}] (GET, PUT, DELETE), /admin/agents/analytics,
 *   /admin/agents/runs[/{id}[/events|/cancel]] (every tenant's runs).
 * and the step runner the runtime drives model steps through: one Chat
 * Completions request on the same path /v1/chat/completions takes (parsing,
 * the manager's reference, the scheduler, tool-call parsing and forced tool
 * choice grammars), so agent steps share the scheduler's queue and limits
 * with every other request.
 *
 * A tenant is whoever presents the same key (Authorization: Bearer or
 * x-api-key; none: the anonymous tenant): runs and idempotency keys are
 * scoped to it, and the admin routes see every tenant. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api/agents_api.h"

#include "agents/runtime.h"
#include "manager/manager.h"
#include "server/api/openai_api.h"
#include "server/api/openai_chat.h"
#include "server/core/request.h"
#include "server/core/tenancy.h"
#include "server/http/http.h"
#include "server/http/sse.h"
#include "util/clock.h"
#include "server/core/mgr_error.h"

/* Agent steps enter the fair queue (sched/queue.h) as one flow of the batch
 * class: however many runs are queued, an interactive request goes first. */
static lmx_gen *start_step(lmx_served *s, const lmx_oai_req *q, lmx_api_err *e) {
    lmx_caller step = {.weight = 1, .prio = 1};
    snprintf(step.tenant, sizeof step.tenant, "agents");
    snprintf(step.client, sizeof step.client, "agent-runs");
    lmx_caller *prev = lmx_caller_current;
    lmx_caller_current = &step; /* read synchronously by the generation's start */
    lmx_gen *g = lmx_oai_start(s, LMX_OAI_CHAT, q, e);
    lmx_caller_current = prev;
    return g;
}

/* ---- the step runner ---- */

static void fail_from(lmx_astep_fail *f, const lmx_api_err *e) {
    f->transient = e->status == 429 || e->status >= 500;
    snprintf(f->code, sizeof f->code, "%s",
             e->code        ? e->code
             : f->transient ? "server_error"
                            : "invalid_request");
    snprintf(f->message, sizeof f->message, "%s", e->message);
    f->retry_after_s = e->retry_after;
}

static json_t *step_chat(void *ctx, json_t *body, const atomic_bool *cancel, double timeout_s,
                         lmx_astep_fail *f) {
    lmx_app *app = ctx;
    lmx_oai_req q;
    lmx_api_err e = {0};
    json_t *resp = NULL;
    if (lmx_oai_parse(body, LMX_OAI_CHAT, &q, &e)) {
        fail_from(f, &e);
        f->transient = false;
        lmx_oai_req_free(&q);
        return NULL;
    }
    lmx_served *s = lmx_api_acquire(app->mgr, q.model, &e);
    lmx_gen *g = s ? start_step(s, &q, &e) : NULL;
    if (!g) {
        fail_from(f, &e);
        lmx_oai_req_free(&q);
        return NULL;
    }
    double t_end = lmx_now_s() + timeout_s;
    while (!lmx_gen_done(g)) {
        lmx_event ev;
        int job;
        lmx_gen_next(g, &ev, &job, 100);
        lmx_event_clear(&ev);
        if (atomic_load(cancel) || lmx_now_s() > t_end) {
            lmx_gen_cancel(g);
            f->transient = true;
            bool c = atomic_load(cancel);
            snprintf(f->code, sizeof f->code, "%s", c ? "cancelled" : "step_timeout");
            snprintf(f->message, sizeof f->message, "%s",
                     c ? "The step was cancelled."
                       : "The model step ran past the role's step_timeout_s.");
            goto out;
        }
    }
    if (g->failed) {
        f->transient = true;
        snprintf(f->code, sizeof f->code, "engine_error");
        snprintf(f->message, sizeof f->message, "Generation failed: %s", g->err);
        goto out;
    }
    resp = lmx_chat_response(g);
out:
    lmx_gen_free(g);
    lmx_oai_req_free(&q);
    return resp;
}

lmx_amodel lmx_agents_step_runner(lmx_app *app) {
    return (lmx_amodel){step_chat, app};
}

/* ---- helpers ---- */

static lmx_agents *runtime(lmx_req *r, lmx_api_err *e) {
    lmx_agents *a = lmx_req_app(r)->agents;
    if (!a)
        lmx_err_set(e, 503, "server_error", "agents_unavailable", NULL,
                    "Agent runs are not available on this server (the agent store did not open; "
                    "see the daemon's log).");
    return a;
}

/* The caller's tenant: a digest of the key it presented ("" without one). */
static void tenant_of(lmx_req *r, char out[33]) {
    const char *k = lmx_req_header(r, "Authorization");
    if (k && !strncasecmp(k, "Bearer ", 7))
        k += 7;
    else
        k = lmx_req_header(r, "x-api-key");
    out[0] = 0;
    if (!k || !*k) return;
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(k, strlen(k), md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int reply(lmx_req *r, json_t *o, int status, const lmx_api_err *e) {
    return o ? lmx_reply_json(r, status, o) : lmx_reply_err(r, e);
}

/* ---- the event stream ---- */

typedef struct {
    lmx_agents *a;
    lmx_req *r;
    char tenant[33];
    bool any_tenant;
    char id[64];
    long long last;
    bool ended;
} ev_stream;

static void sse_one(lmx_buf *out, const json_t *ev) {
    json_t *o = json_pack("{s:O,s:O,s:O}", "id", json_object_get(ev, "id"), "type",
                          json_object_get(ev, "type"), "created", json_object_get(ev, "created"));
    json_object_update(o, json_object_get(ev, "data"));
    char head[160];
    int n = snprintf(head, sizeof head, "id: %lld\nevent: %s\n",
                     (long long)json_integer_value(json_object_get(ev, "id")),
                     json_string_value(json_object_get(ev, "type")));
    lmx_buf_add(out, head, (size_t)n);
    lmx_sse_json(out, o);
    json_decref(o);
}

static bool ev_next(void *st, lmx_buf *out, int timeout_ms) {
    ev_stream *s = st;
    /* shutting down: close; the client resumes with Last-Event-ID elsewhere or later */
    if (lmx_req_draining(s->r)) return false;
    for (int round = 0; round < 2; round++) {
        bool ended = false;
        lmx_api_err e = {0};
        json_t *evs = lmx_agents_events(s->a, s->any_tenant ? NULL : s->tenant, s->id, s->last, 200,
                                        &ended, &e);
        if (!evs) return false; /* the run was purged */
        size_t i, n = json_array_size(evs);
        json_t *ev;
        json_array_foreach(evs, i, ev) {
            sse_one(out, ev);
            s->last = json_integer_value(json_object_get(ev, "id"));
        }
        json_decref(evs);
        if (ended && n < 200) return false; /* the whole history went out: close */
        if (n) return true;
        if (round == 0) lmx_agents_wait(s->a, timeout_ms);
    }
    return true;
}

static void ev_hangup(void *st) {
    (void)st;
}
static void ev_keepalive(void *st, lmx_buf *out) {
    (void)st;
    lmx_sse_keepalive(out);
}
static void ev_free(void *st) {
    free(st);
}

static int stream_events(lmx_req *r, lmx_agents *a, const char *tenant, const char *id,
                         long long after) {
    ev_stream *s = calloc(1, sizeof *s);
    if (!s) return lmx_reply_empty(r, 500);
    s->a = a;
    s->r = r;
    s->any_tenant = !tenant;
    snprintf(s->tenant, sizeof s->tenant, "%s", tenant ? tenant : "");
    snprintf(s->id, sizeof s->id, "%s", id);
    s->last = after;
    lmx_stream_ops ops = {ev_next, ev_hangup, ev_keepalive, ev_free};
    return lmx_reply_stream(r, "text/event-stream", &ops, s);
}

/* Last-Event-ID header, else ?after=N, else 0. -1 when malformed. */
static long long last_event_id(lmx_req *r) {
    const char *v = lmx_req_header(r, "Last-Event-ID");
    if (!v) v = lmx_req_query(r, "after");
    if (!v || !*v) return 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    return *end || x < 0 ? -1 : x;
}

/* ---- /v1/agents/runs ---- */

int lmx_h_agent_runs_create(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e = {0};
    lmx_agents *a = runtime(r, &e);
    if (!a) return lmx_reply_err(r, &e);
    json_t *body = lmx_req_json(r, false, &e);
    if (!body) return lmx_reply_err(r, &e);
    char tenant[33];
    tenant_of(r, tenant);
    const char *key = lmx_req_header(r, "Idempotency-Key");
    if (key && (!*key || strlen(key) > 255)) {
        json_decref(body);
        lmx_err_bad(&e, "Idempotency-Key", "Invalid 'Idempotency-Key': 1 to 255 characters.");
        return lmx_reply_err(r, &e);
    }
    json_t *sv = json_object_get(body, "stream");
    if (sv && !json_is_boolean(sv) && !json_is_null(sv)) {
        json_decref(body);
        lmx_err_bad(&e, "stream", "Invalid 'stream': expected a boolean.");
        return lmx_reply_err(r, &e);
    }
    bool stream = json_is_true(sv);
    lmx_acreate how;
    json_t *run = lmx_agents_create(a, tenant, body, key, &how, &e);
    json_decref(body);
    if (!run) return lmx_reply_err(r, &e);
    if (how.replayed) lmx_reply_header(r, "Idempotent-Replayed", "true");
    if (stream) {
        char id[64];
        snprintf(id, sizeof id, "%s", json_string_value(json_object_get(run, "id")));
        json_decref(run);
        return stream_events(r, a, tenant, id, 0);
    }
    return lmx_reply_json(r, how.status, run);
}

static int list(lmx_req *r, const char *tenant, bool any) {
    lmx_api_err e = {0};
    lmx_agents *a = runtime(r, &e);
    if (!a) return lmx_reply_err(r, &e);
    const char *lim = lmx_req_query(r, "limit");
    int limit = lim ? atoi(lim) : 20;
    if (lim && (limit < 1 || limit > 100)) {
        lmx_err_bad(&e, "limit", "Invalid 'limit': expected 1 to 100.");
        return lmx_reply_err(r, &e);
    }
    const char *status = lmx_req_query(r, "status");
    static const char *known[] = {"queued", "running",   "requires_action", "completed",
                                  "failed", "cancelled", "expired",         NULL};
    bool ok = !status;
    for (int i = 0; status && known[i]; i++) ok |= !strcmp(status, known[i]);
    if (!ok) {
        lmx_err_bad(&e, "status",
                    "Invalid 'status': expected queued, running, requires_action, "
                    "completed, failed, cancelled or expired.");
        return lmx_reply_err(r, &e);
    }
    json_t *o = lmx_agents_list(a, any ? NULL : tenant, status, lmx_req_query(r, "role"),
                                lmx_req_query(r, "after"), limit, &e);
    return reply(r, o, 200, &e);
}

int lmx_h_agent_runs_list(lmx_req *r, const char *rest) {
    (void)rest;
    char tenant[33];
    tenant_of(r, tenant);
    return list(r, tenant, false);
}

/* What the routes on one run share: the runtime and the run the URL names
 * (rest is "{id}" or "{id}/{sub}"; sub NULL without one), handed to fn,
 * which answers. tenant NULL: any. */
typedef int run_fn(lmx_req *r, lmx_agents *a, const char *tenant, const char *id, const char *sub,
                   lmx_api_err *e);

static int on_run(lmx_req *r, const char *rest, const char *tenant, run_fn *fn) {
    lmx_api_err e = {0};
    lmx_agents *a = runtime(r, &e);
    if (!a) return lmx_reply_err(r, &e);
    char id[64];
    size_t n = strcspn(rest, "/");
    snprintf(id, sizeof id, "%.*s", (int)(n < 63 ? n : 63), rest);
    return fn(r, a, tenant, id, rest[n] ? rest + n + 1 : NULL, &e);
}

/* GET {id} and {id}/events */
static int run_get(lmx_req *r, lmx_agents *a, const char *tenant, const char *id, const char *sub,
                   lmx_api_err *e) {
    if (sub && !strcmp(sub, "events")) {
        long long after = last_event_id(r);
        if (after < 0) {
            lmx_err_bad(e, "Last-Event-ID",
                        "Invalid 'Last-Event-ID': expected an event id (a "
                        "non-negative integer).");
            return lmx_reply_err(r, e);
        }
        /* a 404 before the stream starts */
        json_t *run = lmx_agents_get(a, tenant, id, e);
        if (!run) return lmx_reply_err(r, e);
        json_decref(run);
        return stream_events(r, a, tenant, id, after);
    }
    if (sub) {
        lmx_err_set(e, 404, "invalid_request_error", "not_found", NULL, "Unknown URL: %s",
                    lmx_req_path(r));
        return lmx_reply_err(r, e);
    }
    return reply(r, lmx_agents_get(a, tenant, id, e), 200, e);
}

int lmx_h_agent_run_get(lmx_req *r, const char *rest) {
    char tenant[33];
    tenant_of(r, tenant);
    return on_run(r, rest, tenant, run_get);
}

static int run_post(lmx_req *r, lmx_agents *a, const char *tenant, const char *id, const char *sub,
                    lmx_api_err *e) {
    if (!sub) sub = "";
    if (!strcmp(sub, "cancel")) return reply(r, lmx_agents_cancel(a, tenant, id, e), 200, e);
    if (!strcmp(sub, "tool_outputs") && tenant) {
        json_t *body = lmx_req_json(r, false, e);
        if (!body) return lmx_reply_err(r, e);
        json_t *o = lmx_agents_tool_outputs(a, tenant, id, body, e);
        json_decref(body);
        return reply(r, o, 200, e);
    }
    lmx_err_set(e, 404, "invalid_request_error", "not_found", NULL, "Unknown URL: %s",
                lmx_req_path(r));
    return lmx_reply_err(r, e);
}

int lmx_h_agent_run_post(lmx_req *r, const char *rest) {
    char tenant[33];
    tenant_of(r, tenant);
    return on_run(r, rest, tenant, run_post);
}

/* ---- /admin/agents ---- */

int lmx_h_admin_agent_runs(lmx_req *r, const char *rest) {
    if (!*rest) return list(r, NULL, true);
    return on_run(r, rest, NULL, run_get);
}

int lmx_h_admin_agent_run_post(lmx_req *r, const char *rest) {
    return on_run(r, rest, NULL, run_post);
}

int lmx_h_admin_agent_roles(lmx_req *r, const char *name) {
    lmx_api_err e = {0};
    lmx_agents *a = runtime(r, &e);
    if (!a) return lmx_reply_err(r, &e);
    json_t *roles = lmx_agents_roles(a);
    if (!*name)
        return lmx_reply_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data", roles));
    size_t i;
    json_t *x;
    json_array_foreach(roles, i,
                       x) if (!strcmp(json_string_value(json_object_get(x, "name")), name)) {
        json_incref(x);
        json_decref(roles);
        return lmx_reply_json(r, 200, x);
    }
    json_decref(roles);
    lmx_err_set(&e, 404, "invalid_request_error", "role_not_found", "name", "No role named '%s'.",
                name);
    return lmx_reply_err(r, &e);
}

int lmx_h_admin_agent_role_put(lmx_req *r, const char *name) {
    lmx_api_err e = {0};
    lmx_agents *a = runtime(r, &e);
    if (!a) return lmx_reply_err(r, &e);
    json_t *body = lmx_req_json(r, false, &e);
    if (!body) return lmx_reply_err(r, &e);
    int rc = lmx_agents_put_role(a, name, body, &e);
    json_decref(body);
    if (rc) return lmx_reply_err(r, &e);
    return lmx_h_admin_agent_roles(r, name);
}

int lmx_h_admin_agent_role_delete(lmx_req *r, const char *name) {
    lmx_api_err e = {0};
    lmx_agents *a = runtime(r, &e);
    if (!a) return lmx_reply_err(r, &e);
    if (lmx_agents_del_role(a, name, &e)) return lmx_reply_err(r, &e);
    return lmx_reply_json(r, 200, json_pack("{s:s,s:b}", "name", name, "deleted", 1));
}

int lmx_h_admin_agent_analytics(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e = {0};
    lmx_agents *a = runtime(r, &e);
    if (!a) return lmx_reply_err(r, &e);
    const char *w = lmx_req_query(r, "window");
    double window = 3600;
    if (w) {
        char *end;
        window = strtod(w, &end);
        if (*end || !(window > 0 && window <= 86400 * 30)) {
            lmx_err_bad(&e, "window", "Invalid 'window': seconds, from 1 to 2592000.");
            return lmx_reply_err(r, &e);
        }
    }
    json_t *o = lmx_agents_analytics(a, window);
    json_object_set_new(o, "backend", json_string(lmx_agents_backend(a)));
    return lmx_reply_json(r, 200, o);
}
