/* The agent run engine (see runtime.h): run creation and idempotency, the
 * bounded run queue, the executors' step loop with retries, tool outputs,
 * cancellation, events and resumption after a restart. */
#include "agents/runtime.h"

#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agents/role.h"
#include "agents/stats.h"
#include "util/deadline.h"

#define MAX_ACTIVE 64

typedef struct qent {
    char id[48];
    char tenant[72];
    struct qent *next;
} qent;

/* A run an executor is driving: its cancel flag is what the model step polls. */
typedef struct {
    char id[48];
    atomic_bool cancel;
    bool used;
} active_run;

struct lmx_agents {
    lmx_agents_opts o;
    lmx_astore *st;
    pthread_mutex_t mu;    /* guards everything below and every run-document rewrite */
    pthread_cond_t work;   /* a run was queued, or stopping */
    pthread_cond_t events; /* an event was appended */
    qent *head, **tail;    /* tail: the last entry's next, or &head when empty */
    int queued;
    json_t *tenant_queued; /* {tenant: n} */
    json_t *config_roles;  /* {name: definition} from the config */
    json_t *admin_roles;   /* {name: definition} from the admin API (persisted) */
    active_run active[MAX_ACTIVE];
    bool stopping;
    pthread_t *threads;
    int n_threads;
    double last_purge, last_reap;
    unsigned long long rng;
    lmx_astats *stats;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void rand_id(lmx_agents *a, char *out, size_t cap, const char *prefix) {
    static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    size_t n = (size_t)snprintf(out, cap, "%s", prefix);
    unsigned long long x = a->rng ^ (unsigned long long)(now_s() * 1e6);
    for (int i = 0; i < 24 && n + 1 < cap; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        out[n++] = al[x % 36];
    }
    a->rng = x;
    out[n] = 0;
}

static double rnd01(lmx_agents *a) {
    unsigned long long x = a->rng ? a->rng : 88172645463325252ull;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    a->rng = x;
    return (double)(x >> 11) / 9007199254740992.0;
}

static bool final_status(const char *s) {
    return s && (!strcmp(s, "completed") || !strcmp(s, "failed") || !strcmp(s, "cancelled") ||
                 !strcmp(s, "expired"));
}

static const char *jstr(const json_t *o, const char *k) {
    return json_string_value(json_object_get(o, k));
}

/* ---- persistence: every transition rewrites the document and appends an event ---- */

static int save(lmx_agents *a, json_t *run) {
    char *doc = json_dumps(run, JSON_COMPACT);
    if (!doc) return -1;
    lmx_arun_row r = {jstr(run, "id"),
                      jstr(run, "_tenant"),
                      jstr(run, "_role_key"),
                      jstr(run, "status"),
                      json_number_value(json_object_get(run, "created_at")),
                      doc};
    char err[256];
    int rc = a->st->ops->put_run(a->st, &r, err, sizeof err);
    free(doc);
    return rc;
}

/* Appends event `type` with data (stolen) for run; wakes the streams. */
static void event(lmx_agents *a, const json_t *run, const char *type, json_t *data) {
    if (!data) data = json_object();
    json_object_set_new(data, "run_id", json_string(jstr(run, "id")));
    json_object_set_new(data, "status", json_string(jstr(run, "status")));
    char *d = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (d) a->st->ops->append_event(a->st, jstr(run, "id"), type, d, now_s());
    free(d);
    pthread_cond_broadcast(&a->events);
}

static json_t *load(lmx_agents *a, const char *id) {
    char *doc = a->st->ops->get_run(a->st, id);
    json_t *r = doc ? json_loads(doc, 0, NULL) : NULL;
    free(doc);
    return r;
}

/* What a client sees of a run: the document without its internal fields. */
static json_t *public_view(const json_t *run) {
    json_t *o = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)run, k, v) if (k[0] != '_') json_object_set(o, k, v);
    return o;
}

static void set_status(json_t *run, const char *s) {
    json_object_set_new(run, "status", json_string(s));
}

/* Ends a run in a final state; error may be NULL (stolen). */
static void finish(lmx_agents *a, json_t *run, const char *status, json_t *error) {
    double t = now_s();
    set_status(run, status);
    json_object_set_new(run, "completed_at", json_real(t));
    json_object_set_new(run, "required_action", json_null());
    if (error) json_object_set(run, "error", error);
    save(a, run);
    char type[48];
    snprintf(type, sizeof type, "run.%s", status);
    json_t *d = json_pack("{s:O}", "usage", json_object_get(run, "usage"));
    if (error) json_object_set(d, "error", error);
    if (!strcmp(status, "completed")) json_object_set(d, "output", json_object_get(run, "output"));
    event(a, run, type, d);
    json_decref(error);
    lmx_astats_run(a->stats, run, t);
}

/* ---- the queue ----
 * In memory (SQLite store: rebuilt from the unfinished runs on start), or the
 * store's own shared queue when it has one (Redis: a Stream with a consumer
 * group, which also remembers runs taken by a daemon that was killed). */

static bool shared_queue(const lmx_agents *a) {
    return a->st->ops->q_push != NULL;
}

/* Runs waiting, in all (tenant NULL) or of one tenant. */
static long queued_locked(lmx_agents *a, const char *tenant) {
    if (shared_queue(a)) return a->st->ops->q_len(a->st, tenant);
    return tenant ? (long)json_integer_value(json_object_get(a->tenant_queued, tenant)) : a->queued;
}

static void enqueue_locked(lmx_agents *a, const char *id, const char *tenant) {
    if (shared_queue(a)) {
        a->st->ops->q_push(a->st, id, tenant ? tenant : "");
        pthread_cond_signal(&a->work);
        return;
    }
    qent *q = calloc(1, sizeof *q);
    if (!q) return;
    snprintf(q->id, sizeof q->id, "%s", id);
    snprintf(q->tenant, sizeof q->tenant, "%s", tenant ? tenant : "");
    *a->tail = q;
    a->tail = &q->next;
    a->queued++;
    json_t *n = json_object_get(a->tenant_queued, q->tenant);
    json_object_set_new(a->tenant_queued, q->tenant, json_integer(json_integer_value(n) + 1));
    pthread_cond_signal(&a->work);
}

static void dequeued_locked(lmx_agents *a, const qent *q) {
    a->queued--;
    json_t *n = json_object_get(a->tenant_queued, q->tenant);
    json_int_t v = json_integer_value(n) - 1;
    if (v > 0)
        json_object_set_new(a->tenant_queued, q->tenant, json_integer(v));
    else
        json_object_del(a->tenant_queued, q->tenant);
}

/* Takes *p (&a->head or an entry's next) out of the queue; the entry is the caller's. */
static qent *unlink_locked(lmx_agents *a, qent **p) {
    qent *q = *p;
    *p = q->next;
    if (a->tail == &q->next) a->tail = p;
    dequeued_locked(a, q);
    return q;
}

static void unqueue_locked(lmx_agents *a, const char *id) {
    for (qent **p = &a->head; *p; p = &(*p)->next)
        if (!strcmp((*p)->id, id)) {
            free(unlink_locked(a, p));
            return;
        }
}

static active_run *find_active(lmx_agents *a, const char *id) {
    for (int i = 0; i < MAX_ACTIVE; i++)
        if (a->active[i].used && !strcmp(a->active[i].id, id)) return &a->active[i];
    return NULL;
}

/* ---- roles ---- */

json_t *lmx_agents_check_definition(const json_t *def, lmx_api_err *e) {
    return lmx_role_check(def, e);
}

int lmx_agents_set_config_roles(lmx_agents *a, const json_t *roles, lmx_api_err *e) {
    json_t *next = json_object();
    const char *name;
    json_t *def;
    if (roles && !json_is_object(roles)) {
        lmx_err_bad(e, "agents", "agents: expected a mapping of role name to definition.");
        json_decref(next);
        return -1;
    }
    json_object_foreach((json_t *)roles, name, def) {
        json_t *d = lmx_role_check(def, e);
        if (!d) {
            char m[sizeof e->message];
            snprintf(m, sizeof m, "agents: %s: %s", name, e->message);
            snprintf(e->message, sizeof e->message, "%s", m);
            json_decref(next);
            return -1;
        }
        json_object_set_new(next, name, d);
    }
    pthread_mutex_lock(&a->mu);
    json_decref(a->config_roles);
    a->config_roles = next;
    pthread_mutex_unlock(&a->mu);
    return 0;
}

json_t *lmx_agents_roles(lmx_agents *a) {
    json_t *out = json_array();
    pthread_mutex_lock(&a->mu);
    const char *name;
    json_t *def;
    json_object_foreach(a->admin_roles, name, def) json_array_append_new(
        out, json_pack("{s:s,s:s,s:O}", "name", name, "source", "admin", "definition", def));
    json_object_foreach(a->config_roles, name, def) if (!json_object_get(a->admin_roles, name))
        json_array_append_new(
            out, json_pack("{s:s,s:s,s:O}", "name", name, "source", "config", "definition", def));
    pthread_mutex_unlock(&a->mu);
    return out;
}

static bool good_name(const char *n) {
    if (!n || !*n || strlen(n) > 64) return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return false;
    return true;
}

int lmx_agents_put_role(lmx_agents *a, const char *name, const json_t *def, lmx_api_err *e) {
    if (!good_name(name)) {
        lmx_err_bad(e, "name", "Invalid role name: 1 to 64 of A-Z a-z 0-9 _ - .");
        return -1;
    }
    json_t *d = lmx_role_check(def, e);
    if (!d) return -1;
    char *doc = json_dumps(d, JSON_COMPACT);
    pthread_mutex_lock(&a->mu);
    int rc = doc ? a->st->ops->put_role(a->st, name, doc) : -1;
    if (!rc) json_object_set(a->admin_roles, name, d);
    pthread_mutex_unlock(&a->mu);
    free(doc);
    json_decref(d);
    if (rc)
        lmx_err_set(e, 500, "server_error", "store_error", NULL, "The role could not be stored.");
    return rc;
}

int lmx_agents_del_role(lmx_agents *a, const char *name, lmx_api_err *e) {
    pthread_mutex_lock(&a->mu);
    int rc = a->st->ops->del_role(a->st, name);
    if (!rc) json_object_del(a->admin_roles, name);
    pthread_mutex_unlock(&a->mu);
    if (rc == 1)
        lmx_err_set(e, 404, "invalid_request_error", "role_not_found", "name",
                    "No role '%s' defined through the admin API (config roles change with the "
                    "config file).",
                    name);
    else if (rc)
        lmx_err_set(e, 500, "server_error", "store_error", NULL, "The role could not be deleted.");
    return rc ? -1 : 0;
}

/* ---- creating a run ---- */

static void sha256_hex(const char *s, char out[65]) {
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* req's input (a string or a list of messages) as chat messages (new reference). */
static json_t *input_messages(const json_t *in, lmx_api_err *e) {
    if (json_is_string(in)) return json_pack("[{s:s,s:O}]", "role", "user", "content", in);
    if (!json_is_array(in) || !json_array_size(in)) {
        lmx_err_bad(e, "input",
                    "Invalid 'input': expected a string or a non-empty list of messages.");
        return NULL;
    }
    size_t i;
    json_t *m;
    json_array_foreach(in, i, m) {
        const char *role = jstr(m, "role");
        if (!role || (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "system") &&
                      strcmp(role, "developer"))) {
            lmx_err_bad(e, "input",
                        "Invalid 'input[%zu]': a message needs a role (user, "
                        "assistant, system or developer) and content.",
                        i);
            return NULL;
        }
    }
    return json_deep_copy(in);
}

static const char *create_fields[] = {"role",     "definition", "input", "variables",
                                      "metadata", "stream",     NULL};

json_t *lmx_agents_create(lmx_agents *a, const char *tenant, const json_t *req,
                          const char *idem_key, lmx_acreate *out, lmx_api_err *e) {
    out->status = 201;
    out->replayed = false;
    if (!json_is_object(req)) {
        lmx_err_bad(e, NULL, "The request body must be a JSON object.");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)req, k, v) {
        bool ok = false;
        for (int i = 0; create_fields[i]; i++) ok |= !strcmp(create_fields[i], k);
        if (!ok) {
            lmx_err_bad(e, k,
                        "Unrecognized request argument supplied: %s (known: role, "
                        "definition, input, variables, metadata, stream)",
                        k);
            return NULL;
        }
    }
    const char *role = jstr(req, "role");
    json_t *inline_def = json_object_get(req, "definition");
    if (!!role == !!(inline_def && !json_is_null(inline_def))) {
        lmx_err_bad(e, "role",
                    "A run needs exactly one of 'role' (a role's name) and "
                    "'definition' (an inline role).");
        return NULL;
    }
    json_t *vars = json_object_get(req, "variables"), *meta = json_object_get(req, "metadata");
    if ((vars && !json_is_null(vars) && !json_is_object(vars)) ||
        (meta && !json_is_null(meta) && !json_is_object(meta))) {
        lmx_err_bad(e, vars && !json_is_object(vars) ? "variables" : "metadata",
                    "Invalid '%s': expected an object.",
                    vars && !json_is_object(vars) ? "variables" : "metadata");
        return NULL;
    }
    json_t *def;
    if (role) {
        pthread_mutex_lock(&a->mu);
        def = json_object_get(a->admin_roles, role);
        if (!def) def = json_object_get(a->config_roles, role);
        json_incref(def);
        pthread_mutex_unlock(&a->mu);
        if (!def) {
            lmx_err_set(e, 404, "invalid_request_error", "role_not_found", "role",
                        "No agent role named '%s' (GET /admin/agents/roles lists them).", role);
            return NULL;
        }
    } else if (!(def = lmx_role_check(inline_def, e)))
        return NULL;
    json_t *msgs = input_messages(json_object_get(req, "input"), e);
    char *instr = msgs ? lmx_role_instructions(def, vars, e) : NULL;
    if (!instr) {
        json_decref(def);
        json_decref(msgs);
        return NULL;
    }
    if (*instr)
        json_array_insert_new(msgs, 0, json_pack("{s:s,s:s}", "role", "system", "content", instr));
    free(instr);
    double t = now_s();
    char id[48];
    rand_id(a, id, sizeof id, "run_");
    json_t *run = json_pack(
        "{s:s,s:s,s:f,s:s,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:[],s:n,s:n,s:{s:i,s:i,s:i},s:n,s:n,s:n,"
        "s:i,s:s,s:s}",
        "id", id, "object", "agent.run", "created_at", t, "status", "queued", "role",
        role ? json_string(role) : json_null(), "model", jstr(def, "model"), "definition", def,
        "variables", json_is_object(vars) ? json_incref(vars) : json_object(), "metadata",
        json_is_object(meta) ? json_incref(meta) : json_object(), "input",
        json_deep_copy(json_object_get(req, "input")), "messages", msgs, "steps", "required_action",
        "output", "usage", "prompt_tokens", 0, "completion_tokens", 0, "total_tokens", 0, "error",
        "started_at", "completed_at", "model_steps", 0, "_tenant", tenant ? tenant : "",
        "_role_key", role ? role : "inline");
    pthread_mutex_lock(&a->mu);
    const char *tk = tenant ? tenant : "";
    long tq = queued_locked(a, tk), all = queued_locked(a, NULL);
    if (all >= a->o.queue_max || tq >= a->o.queue_per_tenant) {
        int ra = 1 + (int)(all / (a->o.workers > 0 ? a->o.workers * 4 : 4));
        pthread_mutex_unlock(&a->mu);
        json_decref(run);
        lmx_err_set(e, 429, "rate_limit_error", "agents_queue_full", NULL,
                    "Too many agent runs are queued (%s): retry after %d s.",
                    tq >= a->o.queue_per_tenant ? "for this API key" : "on this server", ra);
        e->retry_after = ra;
        lmx_astats_refused(a->stats);
        return NULL;
    }
    char *doc = json_dumps(run, JSON_COMPACT);
    int rc;
    char err[256] = "";
    if (idem_key && *idem_key) {
        char *canon = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS), hash[65];
        sha256_hex(canon ? canon : "", hash);
        free(canon);
        lmx_arun_row row = {id, tk, jstr(run, "_role_key"), "queued", t, doc};
        char *oid = NULL, *ohash = NULL;
        lmx_idem_result ir = a->st->ops->idem_create(a->st, tk, idem_key, hash, 86400, &row, &oid,
                                                     &ohash, err, sizeof err);
        if (ir == LMX_IDEM_EXISTS) {
            json_t *prev = load(a, oid);
            bool same = ohash && !strcmp(ohash, hash);
            pthread_mutex_unlock(&a->mu);
            free(doc);
            json_decref(run);
            free(ohash);
            if (!same) {
                lmx_err_set(e, 409, "invalid_request_error", "idempotency_key_reused",
                            "Idempotency-Key",
                            "This Idempotency-Key was used within the last 24 hours with a "
                            "different request body (run %s).",
                            oid);
                free(oid);
                json_decref(prev);
                return NULL;
            }
            free(oid);
            if (!prev) {
                lmx_err_set(e, 500, "server_error", "store_error", NULL,
                            "The run this Idempotency-Key names is gone.");
                return NULL;
            }
            out->status = 200;
            out->replayed = true;
            json_t *pv = public_view(prev);
            json_decref(prev);
            return pv;
        }
        rc = ir == LMX_IDEM_CREATED ? 0 : -1;
    } else {
        lmx_arun_row row = {id, tk, jstr(run, "_role_key"), "queued", t, doc};
        rc = a->st->ops->put_run(a->st, &row, err, sizeof err);
    }
    free(doc);
    if (rc) {
        pthread_mutex_unlock(&a->mu);
        json_decref(run);
        lmx_err_set(e, 500, "server_error", "store_error", NULL, "The run could not be stored: %s",
                    err);
        return NULL;
    }
    event(
        a, run, "run.created",
        json_pack("{s:O,s:s}", "role", json_object_get(run, "role"), "model", jstr(run, "model")));
    enqueue_locked(a, id, tk);
    pthread_mutex_unlock(&a->mu);
    json_t *pv = public_view(run);
    json_decref(run);
    return pv;
}

static json_t *load_owned(lmx_agents *a, const char *tenant, const char *id, lmx_api_err *e) {
    json_t *run = load(a, id);
    if (!run || (tenant && strcmp(jstr(run, "_tenant") ? jstr(run, "_tenant") : "", tenant))) {
        json_decref(run);
        lmx_err_set(e, 404, "invalid_request_error", "run_not_found", "run_id",
                    "No agent run with id '%s'.", id);
        return NULL;
    }
    return run;
}

json_t *lmx_agents_get(lmx_agents *a, const char *tenant, const char *id, lmx_api_err *e) {
    json_t *run = load_owned(a, tenant, id, e);
    if (!run) return NULL;
    json_t *pv = public_view(run);
    json_decref(run);
    return pv;
}

json_t *lmx_agents_list(lmx_agents *a, const char *tenant, const char *status, const char *role,
                        const char *after, int limit, lmx_api_err *e) {
    (void)e;
    if (limit < 1) limit = 20;
    if (limit > 100) limit = 100;
    json_t *docs = a->st->ops->list_runs(a->st, tenant, status, role, after, limit + 1);
    json_t *data = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) if ((int)i < limit) json_array_append_new(data, public_view(d));
    bool more = json_array_size(docs) > (size_t)limit;
    json_decref(docs);
    size_t n = json_array_size(data);
    return json_pack(
        "{s:s,s:o,s:b,s:o,s:o}", "object", "list", "data", data, "has_more", more, "first_id",
        n ? json_incref(json_object_get(json_array_get(data, 0), "id")) : json_null(), "last_id",
        n ? json_incref(json_object_get(json_array_get(data, n - 1), "id")) : json_null());
}

json_t *lmx_agents_cancel(lmx_agents *a, const char *tenant, const char *id, lmx_api_err *e) {
    pthread_mutex_lock(&a->mu);
    json_t *run = load_owned(a, tenant, id, e);
    if (!run) {
        pthread_mutex_unlock(&a->mu);
        return NULL;
    }
    if (final_status(jstr(run, "status"))) {
        lmx_err_set(e, 409, "invalid_request_error", "run_not_active", "run_id",
                    "Cannot cancel run %s: its status is already %s.", id, jstr(run, "status"));
        pthread_mutex_unlock(&a->mu);
        json_decref(run);
        return NULL;
    }
    unqueue_locked(a, id);
    active_run *ar = find_active(a, id);
    if (ar) atomic_store(&ar->cancel, true);
    finish(a, run, "cancelled", NULL);
    pthread_mutex_unlock(&a->mu);
    json_t *pv = public_view(run);
    json_decref(run);
    return pv;
}

json_t *lmx_agents_tool_outputs(lmx_agents *a, const char *tenant, const char *id,
                                const json_t *req, lmx_api_err *e) {
    json_t *outs = json_object_get(req, "tool_outputs");
    if (!json_is_array(outs) || !json_array_size(outs)) {
        lmx_err_bad(e, "tool_outputs",
                    "Invalid 'tool_outputs': expected a non-empty list of "
                    "{tool_call_id, output}.");
        return NULL;
    }
    pthread_mutex_lock(&a->mu);
    json_t *run = load_owned(a, tenant, id, e);
    if (!run) goto fail;
    if (strcmp(jstr(run, "status"), "requires_action")) {
        lmx_err_set(e, 409, "invalid_request_error", "run_not_requires_action", "run_id",
                    "Run %s does not wait for tool outputs (status %s).", id, jstr(run, "status"));
        goto fail;
    }
    json_t *calls = json_object_get(
        json_object_get(json_object_get(run, "required_action"), "submit_tool_outputs"),
        "tool_calls");
    /* every pending call must be answered, once, and nothing else */
    size_t i, j;
    json_t *o, *c;
    json_array_foreach(outs, i, o) {
        const char *cid = jstr(o, "tool_call_id");
        json_t *out = json_object_get(o, "output");
        bool found = false;
        json_array_foreach(calls, j, c) found |= cid && !strcmp(cid, jstr(c, "id"));
        if (!cid || !found || !out) {
            lmx_err_bad(e, "tool_outputs", "Invalid 'tool_outputs[%zu]': %s", i,
                        !cid || !out ? "expected {tool_call_id, output}."
                                     : "tool_call_id names no pending tool call of this run.");
            goto fail;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(jstr(json_array_get(outs, k), "tool_call_id"), cid)) {
                lmx_err_bad(e, "tool_outputs", "Invalid 'tool_outputs': %s is answered twice.",
                            cid);
                goto fail;
            }
    }
    json_array_foreach(calls, j, c) {
        bool found = false;
        json_array_foreach(outs, i, o) found |= !strcmp(jstr(o, "tool_call_id"), jstr(c, "id"));
        if (!found) {
            lmx_err_bad(e, "tool_outputs",
                        "Invalid 'tool_outputs': the pending call %s (%s) has "
                        "no output; every pending call must be answered.",
                        jstr(c, "id"), jstr(json_object_get(c, "function"), "name"));
            goto fail;
        }
    }
    double t = now_s();
    double deadline =
        json_number_value(json_object_get(run, "created_at")) +
        json_number_value(json_object_get(
            json_object_get(json_object_get(run, "definition"), "limits"), "wall_clock_s"));
    json_t *steps = json_object_get(run, "steps"), *msgs = json_object_get(run, "messages");
    json_t *def = json_object_get(run, "definition"), *again = json_array(),
           *retry_steps = json_array();
    int max_att =
        (int)json_integer_value(json_object_get(json_object_get(def, "retry"), "max_attempts"));
    bool exhausted = false;
    json_array_foreach(outs, i, o) {
        const char *cid = jstr(o, "tool_call_id");
        json_t *out = json_object_get(o, "output");
        char *text = json_is_string(out) ? strdup(json_string_value(out))
                                         : json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
        bool is_err = json_is_true(json_object_get(o, "is_error"));
        json_t *s;
        json_array_foreach(steps, j, s) {
            json_t *tc = json_object_get(s, "tool_call");
            if (!tc || strcmp(jstr(tc, "id"), cid) || strcmp(jstr(s, "status"), "pending"))
                continue;
            char why[256];
            if (!is_err && lmx_role_check_tool_output(def, jstr(tc, "name"), text ? text : "", why,
                                                      sizeof why)) {
                /* an output that fails the tool's schema is a transient failure of the
                 * tool step: the call is asked again (same id), up to max_attempts */
                int att = (int)json_integer_value(json_object_get(s, "attempt"));
                if (att < 1) att = 1;
                json_object_set_new(tc, "output", json_string(text ? text : ""));
                json_object_set_new(s, "status", json_string("failed"));
                json_object_set_new(s, "completed_at", json_real(t));
                json_object_set_new(s, "error",
                                    json_pack("{s:s,s:s,s:b}", "code", "tool_output_invalid",
                                              "message", why, "transient", 1));
                lmx_astats_tool(a->stats, run, jstr(tc, "name"), true);
                event(a, run, "step.failed",
                      json_pack("{s:s,s:s,s:i,s:s,s:s,s:b}", "step_id", jstr(s, "id"),
                                "tool_call_id", cid, "attempt", att, "code", "tool_output_invalid",
                                "message", why, "transient", 1));
                if (att >= max_att) {
                    exhausted = true;
                    break;
                }
                char sid[48];
                rand_id(a, sid, sizeof sid, "step_");
                json_array_append_new(
                    retry_steps,
                    json_pack("{s:s,s:s,s:O,s:i,s:s,s:f,s:n,s:{s:O,s:O,s:O,s:n}}", "id", sid,
                              "type", "tool_call", "index", json_object_get(s, "index"), "attempt",
                              att + 1, "status", "pending", "started_at", t, "completed_at",
                              "tool_call", "id", json_object_get(tc, "id"), "name",
                              json_object_get(tc, "name"), "arguments",
                              json_object_get(tc, "arguments"), "output"));
                event(a, run, "step.retrying",
                      json_pack("{s:s,s:s,s:i,s:s}", "step_id", sid, "tool_call_id", cid,
                                "next_attempt", att + 1, "code", "tool_output_invalid"));
                json_t *c;
                size_t k;
                json_array_foreach(calls, k, c) if (!strcmp(jstr(c, "id"), cid))
                    json_array_append(again, c);
                break;
            }
            json_object_set_new(tc, "output", json_string(text ? text : ""));
            json_object_set_new(s, "status", json_string(is_err ? "failed" : "completed"));
            json_object_set_new(s, "completed_at", json_real(t));
            json_object_set_new(
                s, "duration_ms",
                json_real((t - json_number_value(json_object_get(s, "started_at"))) * 1000));
            if (is_err)
                json_object_set_new(
                    s, "error",
                    json_pack("{s:s,s:s}", "code", "tool_error", "message", text ? text : ""));
            lmx_astats_tool(a->stats, run, jstr(tc, "name"), is_err);
            msgs = json_object_get(run, "messages");
            json_array_append_new(msgs, json_pack("{s:s,s:s,s:s,s:s}", "role", "tool",
                                                  "tool_call_id", cid, "name", jstr(tc, "name"),
                                                  "content", text ? text : ""));
            event(a, run, "tool_call.completed",
                  json_pack("{s:s,s:s,s:s,s:s,s:b}", "step_id", jstr(s, "id"), "tool_call_id", cid,
                            "name", jstr(tc, "name"), "output", text ? text : "", "is_error",
                            is_err));
            break;
        }
        free(text);
    }
    json_array_extend(steps, retry_steps);
    json_decref(retry_steps);
    if (exhausted) {
        finish(a, run, "failed",
               json_pack("{s:s,s:s}", "code", "retries_exhausted", "message",
                         "Retries exhausted: a tool output failed the tool's output_schema on "
                         "every attempt."));
    } else if (json_array_size(again) && t <= deadline) {
        /* still waiting, for the calls asked again */
        json_object_set_new(run, "required_action",
                            json_pack("{s:s,s:{s:O}}", "type", "submit_tool_outputs",
                                      "submit_tool_outputs", "tool_calls", again));
        save(a, run);
        event(a, run, "run.requires_action", json_pack("{s:O}", "tool_calls", again));
    } else if (t > deadline) {
        finish(a, run, "expired",
               json_pack("{s:s,s:s}", "code", "wall_clock_exceeded", "message",
                         "The run's wall-clock budget ran out."));
    } else {
        set_status(run, "queued");
        json_object_set_new(run, "required_action", json_null());
        save(a, run);
        event(a, run, "run.queued", NULL);
        enqueue_locked(a, id, jstr(run, "_tenant"));
    }
    json_decref(again);
    pthread_mutex_unlock(&a->mu);
    json_t *pv = public_view(run);
    json_decref(run);
    return pv;
fail:
    pthread_mutex_unlock(&a->mu);
    json_decref(run);
    return NULL;
}

/* ---- events ---- */

json_t *lmx_agents_events(lmx_agents *a, const char *tenant, const char *id, long long after,
                          int limit, bool *ended, lmx_api_err *e) {
    /* under mu: a transition's document and its events are written in one critical
     * section, so a final status read here means the final event is stored too */
    pthread_mutex_lock(&a->mu);
    json_t *run = load_owned(a, tenant, id, e), *evs = NULL;
    if (run) {
        *ended = final_status(jstr(run, "status"));
        evs = a->st->ops->events_after(a->st, id, after, limit);
    }
    pthread_mutex_unlock(&a->mu);
    json_decref(run);
    return evs;
}

void lmx_agents_wait(lmx_agents *a, int timeout_ms) {
    struct timespec ts = lmx_deadline_ms(timeout_ms);
    pthread_mutex_lock(&a->mu);
    if (!a->stopping) pthread_cond_timedwait(&a->events, &a->mu, &ts);
    pthread_mutex_unlock(&a->mu);
}

/* ---- the executors ---- */

/* Sleeps ms unless the run is cancelled or the runtime stops first. */
static bool pause_ms(lmx_agents *a, active_run *ar, double ms) {
    double end = now_s() + ms / 1000;
    while (now_s() < end) {
        if (atomic_load(&ar->cancel) || a->stopping) return false;
        double left = end - now_s();
        struct timespec ts = {0, (long)((left < 0.05 ? left : 0.05) * 1e9)};
        nanosleep(&ts, NULL);
    }
    return true;
}

static json_t *fail_obj(const char *code, const char *msg) {
    return json_pack("{s:s,s:s}", "code", code, "message", msg);
}

/* One model step, with retries: returns the chat.completion (new reference),
 * or NULL when the run ended (failed or cancelled: already saved). Called and
 * returning with mu held. */
static json_t *model_step(lmx_agents *a, json_t **runp, active_run *ar) {
    json_t *run = *runp, *def = json_object_get(run, "definition");
    int k = (int)json_integer_value(json_object_get(run, "model_steps"));
    int max_att =
        (int)json_integer_value(json_object_get(json_object_get(def, "retry"), "max_attempts"));
    double step_to =
        json_number_value(json_object_get(json_object_get(def, "limits"), "step_timeout_s"));
    for (int att = 1;; att++) {
        char sid[48];
        rand_id(a, sid, sizeof sid, "step_");
        double t0 = now_s();
        json_t *step = json_pack("{s:s,s:s,s:i,s:i,s:s,s:f,s:n,s:n,s:n,s:n}", "id", sid, "type",
                                 "model", "index", k, "attempt", att, "status", "in_progress",
                                 "started_at", t0, "completed_at", "duration_ms", "usage", "error");
        json_array_append_new(json_object_get(run, "steps"), step);
        save(a, run);
        event(a, run, "step.started",
              json_pack("{s:s,s:s,s:i,s:i}", "step_id", sid, "step_type", "model", "index", k,
                        "attempt", att));
        json_t *body = lmx_role_step_body(def, json_object_get(run, "messages"), k);
        pthread_mutex_unlock(&a->mu);
        lmx_astep_fail f = {0};
        json_t *resp = NULL;
        if (a->o.fault_delay_ms > 0) pause_ms(a, ar, a->o.fault_delay_ms);
        if (att <= a->o.fault_transient) {
            f.transient = true;
            snprintf(f.code, sizeof f.code, "injected_fault");
            snprintf(f.message, sizeof f.message,
                     "Injected transient failure %d of %d (agents_debug_fail_steps).", att,
                     a->o.fault_transient);
        } else if (atomic_load(&ar->cancel) || a->stopping) {
            f.transient = true;
            snprintf(f.code, sizeof f.code, "cancelled");
        } else {
            resp = a->o.model.chat(a->o.model.ctx, body, &ar->cancel, step_to, &f);
        }
        json_decref(body);
        pthread_mutex_lock(&a->mu);
        if (a->stopping) {
            /* left in_progress: the next start redoes it */
            json_decref(resp);
            return NULL;
        }
        /* the run may have been cancelled meanwhile: the stored document wins */
        json_t *cur = load(a, jstr(run, "id"));
        if (!cur || final_status(jstr(cur, "status"))) {
            json_decref(cur);
            json_decref(resp);
            return NULL;
        }
        json_decref(cur);
        double t1 = now_s();
        step = json_array_get(json_object_get(run, "steps"),
                              json_array_size(json_object_get(run, "steps")) - 1);
        json_object_set_new(step, "completed_at", json_real(t1));
        json_object_set_new(step, "duration_ms", json_real((t1 - t0) * 1000));
        if (resp) {
            json_t *u = json_object_get(resp, "usage");
            json_object_set_new(step, "status", json_string("completed"));
            json_object_set(step, "usage", u ? u : json_null());
            json_object_set(step, "finish_reason",
                            json_object_get(json_array_get(json_object_get(resp, "choices"), 0),
                                            "finish_reason"));
            json_t *ru = json_object_get(run, "usage");
            static const char *f3[] = {"prompt_tokens", "completion_tokens", "total_tokens"};
            for (int i = 0; i < 3; i++)
                json_object_set_new(ru, f3[i],
                                    json_integer(json_integer_value(json_object_get(ru, f3[i])) +
                                                 json_integer_value(json_object_get(u, f3[i]))));
            json_object_set_new(run, "model_steps", json_integer(k + 1));
            lmx_astats_step(a->stats, run, "model", false);
            return resp;
        }
        json_object_set_new(step, "status", json_string("failed"));
        json_object_set_new(step, "error",
                            json_pack("{s:s,s:s,s:b}", "code", f.code[0] ? f.code : "model_error",
                                      "message", f.message, "transient", f.transient));
        lmx_astats_step(a->stats, run, "model", true);
        save(a, run);
        event(a, run, "step.failed",
              json_pack("{s:s,s:i,s:s,s:s,s:b}", "step_id", sid, "attempt", att, "code",
                        f.code[0] ? f.code : "model_error", "message", f.message, "transient",
                        f.transient));
        if (!f.transient || att >= max_att) {
            char m[700];
            snprintf(m, sizeof m, "%s%s", f.transient ? "Retries exhausted: " : "", f.message);
            finish(
                a, run, "failed",
                fail_obj(f.transient ? "retries_exhausted" : (f.code[0] ? f.code : "model_error"),
                         m));
            return NULL;
        }
        double delay = lmx_role_backoff_ms(def, att, f.retry_after_s, rnd01(a));
        lmx_astats_retry(a->stats, run);
        event(a, run, "step.retrying",
              json_pack("{s:i,s:i,s:f,s:f,s:s}", "index", k, "next_attempt", att + 1, "delay_ms",
                        delay, "retry_after_s", f.retry_after_s, "code", f.code));
        pthread_mutex_unlock(&a->mu);
        bool go = pause_ms(a, ar, delay);
        pthread_mutex_lock(&a->mu);
        if (!go) return NULL;
    }
}

/* Drives a run until it waits for tool outputs or ends. mu held. */
static void drive(lmx_agents *a, const char *id, active_run *ar) {
    json_t *run = load(a, id);
    if (!run || strcmp(jstr(run, "status"), "queued")) {
        json_decref(run);
        return;
    }
    /* a model step a killed daemon left in progress is redone: mark it */
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(run, "steps"), i,
                       s) if (!strcmp(jstr(s, "status"), "in_progress") &&
                              !strcmp(jstr(s, "type"), "model")) {
        json_object_set_new(s, "status", json_string("interrupted"));
        json_object_set_new(
            s, "error",
            fail_obj("interrupted", "The daemon stopped during this step; it is redone."));
    }
    set_status(run, "running");
    if (json_is_null(json_object_get(run, "started_at")))
        json_object_set_new(run, "started_at", json_real(now_s()));
    save(a, run);
    event(a, run, "run.running", NULL);
    json_t *def = json_object_get(run, "definition"), *lim = json_object_get(def, "limits");
    for (;;) {
        double deadline = json_number_value(json_object_get(run, "created_at")) +
                          json_number_value(json_object_get(lim, "wall_clock_s"));
        if (now_s() > deadline) {
            finish(a, run, "expired",
                   fail_obj("wall_clock_exceeded", "The run's wall-clock budget ran out."));
            break;
        }
        if (json_integer_value(json_object_get(run, "model_steps")) >=
            json_integer_value(json_object_get(lim, "max_steps"))) {
            finish(a, run, "failed",
                   fail_obj("max_steps_exceeded",
                            "The run reached its role's max_steps without a final answer."));
            break;
        }
        json_t *resp = model_step(a, &run, ar);
        if (!resp) break;
        json_t *msg =
            json_object_get(json_array_get(json_object_get(resp, "choices"), 0), "message");
        json_t *calls = json_object_get(msg, "tool_calls");
        const char *content = jstr(msg, "content");
        json_t *step = json_array_get(json_object_get(run, "steps"),
                                      json_array_size(json_object_get(run, "steps")) - 1);
        json_t *am = json_pack("{s:s,s:O}", "role", "assistant", "content",
                               json_object_get(msg, "content") ? json_object_get(msg, "content")
                                                               : json_null());
        if (json_array_size(calls)) json_object_set(am, "tool_calls", calls);
        json_array_append_new(json_object_get(run, "messages"), am);
        json_object_set(step, "message", am);
        if (content && *content)
            event(a, run, "message.delta",
                  json_pack("{s:s,s:s}", "step_id", jstr(step, "id"), "content", content));
        event(a, run, "step.completed",
              json_pack("{s:s,s:s,s:O,s:O}", "step_id", jstr(step, "id"), "step_type", "model",
                        "usage", json_object_get(step, "usage"), "duration_ms",
                        json_object_get(step, "duration_ms")));
        json_int_t budget = json_integer_value(json_object_get(lim, "max_tokens_per_run"));
        if (json_integer_value(
                json_object_get(json_object_get(run, "usage"), "completion_tokens")) > budget) {
            json_decref(resp);
            finish(a, run, "failed",
                   fail_obj(
                       "token_budget_exceeded",
                       "The run used more completion tokens than its role's max_tokens_per_run."));
            break;
        }
        if (json_array_size(calls)) {
            double t = now_s();
            json_t *c;
            json_array_foreach(calls, i, c) {
                char sid[48];
                rand_id(a, sid, sizeof sid, "step_");
                json_t *fn = json_object_get(c, "function");
                json_array_append_new(
                    json_object_get(run, "steps"),
                    json_pack("{s:s,s:s,s:i,s:s,s:f,s:n,s:{s:O,s:O,s:O,s:n}}", "id", sid, "type",
                              "tool_call", "index", (int)i, "status", "pending", "started_at", t,
                              "completed_at", "tool_call", "id", json_object_get(c, "id"), "name",
                              json_object_get(fn, "name"), "arguments",
                              json_object_get(fn, "arguments"), "output"));
                event(a, run, "tool_call.created",
                      json_pack("{s:s,s:O,s:O,s:O}", "step_id", sid, "tool_call_id",
                                json_object_get(c, "id"), "name", json_object_get(fn, "name"),
                                "arguments", json_object_get(fn, "arguments")));
            }
            set_status(run, "requires_action");
            json_object_set_new(run, "required_action",
                                json_pack("{s:s,s:{s:O}}", "type", "submit_tool_outputs",
                                          "submit_tool_outputs", "tool_calls", calls));
            save(a, run);
            event(a, run, "run.requires_action", json_pack("{s:O}", "tool_calls", calls));
            json_decref(resp);
            break;
        }
        json_t *output = json_pack("{s:s}", "content", content ? content : "");
        if (json_is_object(json_object_get(def, "output_schema"))) {
            json_t *parsed = content ? json_loads(content, 0, NULL) : NULL;
            json_object_set_new(output, "parsed", parsed ? parsed : json_null());
        }
        json_object_set_new(run, "output", output);
        json_decref(resp);
        finish(a, run, "completed", NULL);
        break;
    }
    json_decref(run);
}

/* Runs waiting for tool outputs past their wall-clock budget end as expired
 * (checked every 2 s by an idle executor; a busy daemon also expires them when
 * their outputs arrive). mu held. */
static void reap_expired(lmx_agents *a, double t) {
    if (t - a->last_reap < 2) return;
    a->last_reap = t;
    json_t *waiting = a->st->ops->list_runs(a->st, NULL, "requires_action", NULL, NULL, 100);
    size_t i;
    json_t *d;
    json_array_foreach(waiting, i, d) {
        double deadline =
            json_number_value(json_object_get(d, "created_at")) +
            json_number_value(json_object_get(
                json_object_get(json_object_get(d, "definition"), "limits"), "wall_clock_s"));
        if (t <= deadline) continue;
        json_t *run = load(a, jstr(d, "id"));
        if (run && !strcmp(jstr(run, "status"), "requires_action"))
            finish(a, run, "expired",
                   json_pack("{s:s,s:s}", "code", "wall_clock_exceeded", "message",
                             "The run's wall-clock budget ran out while it waited for tool "
                             "outputs."));
        json_decref(run);
    }
    json_decref(waiting);
}

/* Waits for work (or a purge's or reap's time): at most 1 s in memory; with
 * a shared queue 200 ms, since another daemon may have queued a run. */
static void idle_wait(lmx_agents *a) {
    struct timespec ts = lmx_deadline_ms(shared_queue(a) ? 200 : 1000);
    pthread_cond_timedwait(&a->work, &a->mu, &ts);
    double t = now_s();
    reap_expired(a, t);
    if (a->o.retention_s > 0 && t - a->last_purge > 600) {
        a->last_purge = t;
        a->st->ops->purge(a->st, t - a->o.retention_s);
    }
}

/* An executor on the store's shared queue. mu held. */
static void execute_shared(lmx_agents *a) {
    while (!a->stopping) {
        char id[48], entry[64];
        active_run *ar = NULL;
        for (int i = 0; i < MAX_ACTIVE && !ar; i++)
            if (!a->active[i].used) ar = &a->active[i];
        if (!ar || a->st->ops->q_pop(a->st, id, sizeof id, entry, sizeof entry) != 1) {
            idle_wait(a);
            continue;
        }
        ar->used = true;
        atomic_store(&ar->cancel, false);
        snprintf(ar->id, sizeof ar->id, "%s", id);
        drive(a, ar->id, ar); /* a cancelled or finished run is skipped */
        ar->used = false;
        /* a step cut by a stop stays unacknowledged: the next start queues it again */
        if (!a->stopping) a->st->ops->q_ack(a->st, entry);
    }
}

static void *executor(void *arg) {
    lmx_agents *a = arg;
    pthread_mutex_lock(&a->mu);
    if (shared_queue(a)) {
        execute_shared(a);
        pthread_mutex_unlock(&a->mu);
        return NULL;
    }
    while (!a->stopping) {
        if (!a->head) {
            idle_wait(a);
            continue;
        }
        active_run *ar = NULL;
        for (int i = 0; i < MAX_ACTIVE && !ar; i++)
            if (!a->active[i].used) ar = &a->active[i];
        if (!ar) break; /* cannot happen with workers <= MAX_ACTIVE */
        qent *q = unlink_locked(a, &a->head);
        ar->used = true;
        atomic_store(&ar->cancel, false);
        snprintf(ar->id, sizeof ar->id, "%s", q->id);
        free(q);
        drive(a, ar->id, ar);
        ar->used = false;
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

lmx_agents *lmx_agents_start(const lmx_agents_opts *o, char *err, size_t n) {
    lmx_agents *a = calloc(1, sizeof *a);
    if (!a) return snprintf(err, n, "out of memory"), NULL;
    a->o = *o;
    if (a->o.workers <= 0) a->o.workers = 2;
    if (a->o.workers > MAX_ACTIVE) a->o.workers = MAX_ACTIVE;
    if (a->o.queue_max <= 0) a->o.queue_max = 256;
    if (a->o.queue_per_tenant <= 0) a->o.queue_per_tenant = 64;
    a->st = o->store;
    a->rng = (unsigned long long)(now_s() * 1e6) * 0x9E3779B97F4A7C15ull | 1;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->work, NULL);
    pthread_cond_init(&a->events, NULL);
    a->tail = &a->head;
    a->tenant_queued = json_object();
    a->config_roles = json_object();
    a->admin_roles = a->st->ops->roles(a->st);
    a->stats = lmx_astats_new();
    a->last_purge = now_s() - 590; /* first purge shortly after start */
    /* runs a killed daemon left queued or running continue */
    json_t *ids = a->st->ops->unfinished(a->st);
    size_t i;
    json_t *idv;
    json_array_foreach(ids, i, idv) {
        json_t *run = load(a, json_string_value(idv));
        if (!run) continue;
        if (!strcmp(jstr(run, "status"), "running")) {
            set_status(run, "queued");
            save(a, run);
            event(a, run, "run.resumed", NULL);
        }
        /* a shared queue still holds its runs (the store requeued the ones taken) */
        if (!shared_queue(a)) enqueue_locked(a, jstr(run, "id"), jstr(run, "_tenant"));
        json_decref(run);
    }
    json_decref(ids);
    a->threads = calloc((size_t)a->o.workers, sizeof *a->threads);
    for (int k = 0; a->threads && k < a->o.workers; k++)
        if (!pthread_create(&a->threads[k], NULL, executor, a)) a->n_threads++;
    if (!a->n_threads) {
        snprintf(err, n, "cannot start the agent executors");
        a->o.store = NULL;
        lmx_agents_stop(a);
        return NULL;
    }
    return a;
}

void lmx_agents_stop(lmx_agents *a) {
    if (!a) return;
    pthread_mutex_lock(&a->mu);
    a->stopping = true;
    for (int i = 0; i < MAX_ACTIVE; i++)
        if (a->active[i].used) atomic_store(&a->active[i].cancel, true);
    pthread_cond_broadcast(&a->work);
    pthread_cond_broadcast(&a->events);
    pthread_mutex_unlock(&a->mu);
    for (int k = 0; k < a->n_threads; k++) pthread_join(a->threads[k], NULL);
    free(a->threads);
    while (a->head) free(unlink_locked(a, &a->head));
    json_decref(a->tenant_queued);
    json_decref(a->config_roles);
    json_decref(a->admin_roles);
    lmx_astats_free(a->stats);
    lmx_astore_close(a->st);
    pthread_cond_destroy(&a->work);
    pthread_cond_destroy(&a->events);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

const char *lmx_agents_backend(const lmx_agents *a) {
    return a->st->backend;
}

json_t *lmx_agents_analytics(lmx_agents *a, double window_s) {
    pthread_mutex_lock(&a->mu);
    json_t *o = lmx_astats_analytics(a->stats, now_s(), window_s);
    json_object_set_new(o, "queued", json_integer(queued_locked(a, NULL)));
    pthread_mutex_unlock(&a->mu);
    return o;
}

char *lmx_agents_metrics(lmx_agents *a) {
    pthread_mutex_lock(&a->mu);
    char *t = lmx_astats_render(a->stats, (int)queued_locked(a, NULL));
    pthread_mutex_unlock(&a->mu);
    return t;
}
