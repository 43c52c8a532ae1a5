/* Config reload: POST /admin/config/reload and the SIGHUP path share
 * lmx_cfg_live_reload. A reload builds a whole new config first and applies
 * nothing unless it is valid, so a bad file leaves the daemon as it was. */
#include "server/api/config_api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/runtime.h"
#include "server/http/http.h"
#include "util/grow.h"
#include "util/log.h"
#include "server/core/tenancy.h"
#include "skills/registry.h"

struct lmx_cfg_live {
    pthread_mutex_t mu; /* serialises reloads; guards cfg */
    lmx_app *app;
    lmx_config cfg; /* what runs */
    char *path;     /* NULL: the default file */
    int argc;
    char **argv;
    char **old_keys; /* key strings replaced by reloads: readers may still hold them */
    int n_old, cap_old;
};

/* Publishes a key (NULL when empty). The previous string is kept until exit. */
static void set_key(lmx_cfg_live *l, _Atomic(const char *) *slot, const char *v) {
    const char *cur = atomic_load(slot);
    if ((!cur && !*v) || (cur && !strcmp(cur, v))) return;
    char *dup = *v ? strdup(v) : NULL;
    if (*v && !dup) return;
    if (cur) {
        if (!lmx_grow_int(&l->old_keys, &l->cap_old, l->n_old + 1, sizeof *l->old_keys, 8)) {
            free(dup);
            return;
        }
        l->old_keys[l->n_old++] = (char *)cur;
    }
    atomic_store(slot, dup);
}

int lmx_cfg_apply_fleet(lmx_app *app, const lmx_config *c, char *err, size_t errlen) {
    if (!app->tenancy) return 0;
    lmx_tenancy_cfg tc = {.tenants = c->tenants,
                          .api_keys = c->api_keys,
                          .legacy_key = c->api_key,
                          .trusted_proxies = c->trusted_proxies,
                          .client_max_inflight = c->client_max_inflight,
                          .client_prompt_tpm = c->client_prompt_tpm,
                          .max_prompt_tokens = c->max_prompt_tokens,
                          .queue_max_wait = c->queue_max_wait,
                          .client_labels = c->client_labels};
    return lmx_tenancy_configure(app->tenancy, &tc, err, errlen);
}

static void apply(lmx_cfg_live *l, const lmx_config *c) {
    lmx_app *app = l->app;
    set_key(l, &app->api_key, c->api_key);
    set_key(l, &app->admin_key, c->admin_key);
    atomic_store(&app->keepalive_ms, (int)c->sse_keepalive_ms);
    atomic_store(&app->max_body, (size_t)c->max_body);
    lmx_log_set_level(c->log_level);
    lmx_log_set_format(c->log_format);
    lmx_mgr_policy p;
    lmx_config_policy(c, &p);
    if (app->mgr) lmx_mgr_set_policy(app->mgr, &p);
    atomic_store(&app->skill_steps, (int)c->skills_max_steps);
    if (app->skills) { /* re-reads the directory: a reload picks up changed manifests */
        lmx_skills_opts so = {.dir = c->skills_dir,
                              .allow_unsandboxed = c->skills_allow_unsandboxed,
                              .queue = (int)c->skills_queue};
        lmx_skills_set_opts(app->skills, &so);
        int n = lmx_skills_reload(app->skills);
        json_t *l = lmx_skills_list_json(app->skills);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(l, "errors"), i, e)
            lmx_log("warn", "skill refused", json_incref(e));
        if (c->skills_dir[0])
            lmx_log("info", "skills loaded",
                    json_pack("{s:s,s:i,s:i}", "dir", c->skills_dir, "versions", n, "refused",
                              (int)json_array_size(json_object_get(l, "errors"))));
        json_decref(l);
    }
}

lmx_cfg_live *lmx_cfg_live_create(lmx_app *app, const lmx_config *c, const char *path, int argc,
                                  char **argv) {
    lmx_cfg_live *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    if (path && !(l->path = strdup(path))) {
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->app = app;
    l->cfg = *c;
    l->argc = argc;
    l->argv = argv;
    apply(l, c);
    app->config = l;
    return l;
}

void lmx_cfg_live_free(lmx_cfg_live *l) {
    if (!l) return;
    l->app->config = NULL;
    free((char *)atomic_exchange(&l->app->api_key, NULL));
    free((char *)atomic_exchange(&l->app->admin_key, NULL));
    for (int i = 0; i < l->n_old; i++) free(l->old_keys[i]);
    free(l->old_keys);
    free(l->path);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

json_t *lmx_cfg_live_reload(lmx_cfg_live *l, char *err, size_t errlen) {
    /* a config is ~100 KB (aliases, models): heap, not an HTTP thread's stack */
    lmx_config *next = malloc(sizeof *next);
    if (!next) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&l->mu);
    int brc = lmx_config_build(next, l->path, l->argc, l->argv, err, errlen);
    if (!brc) { /* the token lives in the running state_dir (a restart key) */
        char sd[sizeof next->state_dir];
        memcpy(sd, next->state_dir, sizeof sd);
        memcpy(next->state_dir, l->cfg.state_dir, sizeof sd);
        brc = lmx_config_admin_key(next, err, errlen);
        memcpy(next->state_dir, sd, sizeof sd);
    }
    if (brc) {
        pthread_mutex_unlock(&l->mu);
        free(next);
        lmx_log("warn", "config reload refused", json_pack("{s:s}", "error", err));
        return NULL;
    }
    const char *keys[64];
    bool restart[64];
    int n = lmx_config_diff(&l->cfg, next, keys, restart, 64);
    if (n > 64) n = 64;
    json_t *changed = json_array(), *later = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(restart[i] ? later : changed, json_string(keys[i]));
    lmx_config_keep_restart(next, &l->cfg);
    if (lmx_cfg_apply_agents(l->app, next, err, errlen) ||
        lmx_cfg_apply_fleet(l->app, next, err, errlen)) { /* validates before anything applies */
        pthread_mutex_unlock(&l->mu);
        free(next);
        json_decref(changed);
        json_decref(later);
        lmx_log("warn", "config reload refused", json_pack("{s:s}", "error", err));
        return NULL;
    }
    apply(l, next);
    l->cfg = *next;
    pthread_mutex_unlock(&l->mu);
    free(next);
    lmx_log(json_array_size(later) ? "warn" : "info", "config reloaded",
            json_pack("{s:O,s:O}", "changed", changed, "restart_required", later));
    return json_pack("{s:b,s:o,s:o}", "reloaded", 1, "changed", changed, "restart_required", later);
}

void lmx_cfg_live_tls(lmx_cfg_live *l, char *cert, char *key, size_t cap) {
    pthread_mutex_lock(&l->mu);
    snprintf(cert, cap, "%s", l->cfg.tls_cert);
    snprintf(key, cap, "%s", l->cfg.tls_key);
    pthread_mutex_unlock(&l->mu);
}

int lmx_cfg_apply_agents(lmx_app *app, const lmx_config *c, char *err, size_t errlen) {
    if (!app->agents) return 0;
    json_error_t je;
    json_t *roles = c->agents[0] ? json_loads(c->agents, 0, &je) : json_object();
    lmx_api_err e = {0};
    if (!roles) {
        snprintf(err, errlen, "agents: %s", je.text);
        return -1;
    }
    int rc = lmx_agents_set_config_roles(app->agents, roles, &e);
    json_decref(roles);
    if (rc) snprintf(err, errlen, "%s", e.message);
    return rc;
}

long lmx_cfg_live_drain_timeout(lmx_cfg_live *l) {
    pthread_mutex_lock(&l->mu);
    long d = l->cfg.drain_timeout;
    pthread_mutex_unlock(&l->mu);
    return d;
}

/* "PATH:LINE:COLUMN: reason" → line and column, when err has that shape. */
static void err_position(const char *err, const char *path, int *line, int *col) {
    *line = *col = 0;
    size_t n = path ? strlen(path) : 0;
    if (path && !strncmp(err, path, n) && err[n] == ':') sscanf(err + n + 1, "%d:%d:", line, col);
}

int lmx_h_config_reload(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_cfg_live *l = lmx_req_app(r)->config;
    lmx_api_err e = {0};
    if (!l) {
        lmx_err_set(&e, 503, "server_error", "config_unavailable", NULL,
                    "This server was started without a reloadable configuration.");
        return lmx_reply_err(r, &e);
    }
    char err[768];
    json_t *ok = lmx_cfg_live_reload(l, err, sizeof err);
    if (ok) return lmx_reply_json(r, 200, ok);
    lmx_err_set(&e, 400, "invalid_request_error", "invalid_config", NULL,
                "The configuration was not reloaded (the running one is unchanged): %s", err);
    json_t *body = lmx_err_json(&e);
    char def[1024];
    const char *path = l->path;
    if (!path) {
        lmx_config_default_path(def, sizeof def);
        path = def;
    }
    int line, col;
    err_position(err, path, &line, &col);
    json_t *eo = json_object_get(body, "error");
    json_object_set_new(eo, "file", json_string(path));
    json_object_set_new(eo, "line", line ? json_integer(line) : json_null());
    json_object_set_new(eo, "column", col ? json_integer(col) : json_null());
    json_object_set_new(eo, "reason", json_string(err));
    return lmx_reply_json(r, 400, body);
}
