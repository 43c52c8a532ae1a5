/* The model manager. One mutex guards the table of loaded models; each entry
 * counts the requests holding it, and unloading waits for that count to drop
 * to zero, so a model never disappears under a running generation. */
#include "manager/manager.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lmx_mgr {
    lmx_mgr_opts o;
    char *models_dir;
    pthread_mutex_t mu;
    pthread_cond_t released;
    lmx_served **models;
    int n_models, cap;
};

lmx_mgr *lmx_mgr_create(const lmx_mgr_opts *o) {
    lmx_mgr *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->o = *o;
    if (o->models_dir) {
        m->models_dir = strdup(o->models_dir);
    } else {
        const char *home = getenv("HOME");
        size_t n = strlen(home ? home : "") + 32;
        m->models_dir = malloc(n);
        if (m->models_dir) snprintf(m->models_dir, n, "%s/.lmx/models", home ? home : "");
    }
    m->o.models_dir = m->models_dir;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->released, NULL);
    return m;
}

void lmx_mgr_destroy(lmx_mgr *m, bool cancel_running) {
    if (!m) return;
    for (int i = 0; i < m->n_models; i++) lmx_served_free(m->models[i], cancel_running);
    free(m->models);
    free(m->models_dir);
    pthread_cond_destroy(&m->released);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

lmx_served *lmx_mgr_load_file(lmx_mgr *m, const char *path, char *err, size_t errlen) {
    lmx_served_opts so = {.path = path,
                          .n_ctx = m->o.n_ctx,
                          .n_parallel = m->o.n_parallel,
                          .n_queue = m->o.n_queue,
                          .pool = m->o.pool};
    lmx_served *s = lmx_served_load(&so, err, errlen);
    if (!s) return NULL;
    s->mgr = m;
    pthread_mutex_lock(&m->mu);
    if (m->n_models == m->cap) {
        int cap = m->cap ? m->cap * 2 : 4;
        lmx_served **p = realloc(m->models, (size_t)cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&m->mu);
            lmx_served_free(s, true);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        m->models = p;
        m->cap = cap;
    }
    m->models[m->n_models++] = s;
    pthread_mutex_unlock(&m->mu);
    return s;
}

lmx_served *lmx_mgr_acquire(lmx_mgr *m, const char *name, lmx_api_err *e) {
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->n_models; i++)
        if (!strcmp(m->models[i]->name, name)) {
            lmx_served *s = m->models[i];
            s->refs++;
            pthread_mutex_unlock(&m->mu);
            return s;
        }
    char list[512] = "";
    size_t n = 0;
    for (int i = 0; i < m->n_models && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s'%s'", i ? ", " : "",
                              m->models[i]->name);
    int n_models = m->n_models;
    pthread_mutex_unlock(&m->mu);
    if (n_models)
        lmx_err_set(e, 404, "invalid_request_error", "model_not_found", "model",
                    "The model '%s' does not exist or is not loaded. Loaded models: %s.", name,
                    list);
    else
        lmx_err_set(e, 404, "invalid_request_error", "model_not_found", "model",
                    "The model '%s' does not exist: no model is loaded (start the server with "
                    "lmx serve -m MODEL.gguf).",
                    name);
    return NULL;
}

void lmx_mgr_release(lmx_served *s) {
    if (!s) return;
    lmx_mgr *m = s->mgr;
    pthread_mutex_lock(&m->mu);
    s->refs--;
    pthread_cond_broadcast(&m->released);
    pthread_mutex_unlock(&m->mu);
}

int lmx_mgr_list(lmx_mgr *m, lmx_served ***out) {
    pthread_mutex_lock(&m->mu);
    int n = m->n_models;
    *out = calloc((size_t)(n ? n : 1), sizeof **out);
    if (!*out) n = 0;
    for (int i = 0; i < n; i++) {
        (*out)[i] = m->models[i];
        m->models[i]->refs++;
    }
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* Placeholders until the store lands: the contract above, refusing. */
static void not_yet(lmx_api_err *e) {
    lmx_err_set(e, 501, "server_error", "not_implemented", NULL,
                "The model store is not available in this build.");
}

lmx_served *lmx_mgr_load(lmx_mgr *m, const lmx_load_req *q, lmx_api_err *e) {
    lmx_served *s = lmx_mgr_acquire(m, q->model, e);
    if (!s) not_yet(e);
    return s;
}

int lmx_mgr_unload(lmx_mgr *m, const char *model, lmx_api_err *e) {
    (void)m;
    (void)model;
    not_yet(e);
    return -1;
}

int lmx_mgr_delete(lmx_mgr *m, const char *model, lmx_api_err *e) {
    (void)m;
    (void)model;
    not_yet(e);
    return -1;
}

json_t *lmx_mgr_store_json(lmx_mgr *m) {
    (void)m;
    return json_array();
}

json_t *lmx_mgr_loaded_json(lmx_mgr *m) {
    lmx_served **list;
    int n = lmx_mgr_list(m, &list);
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(a, json_pack("{s:s,s:s,s:i,s:i}", "id", list[i]->name, "state",
                                           "ready", "context_length", list[i]->n_ctx, "parallel",
                                           list[i]->n_parallel));
        lmx_mgr_release(list[i]);
    }
    free(list);
    return a;
}

const char *lmx_mgr_models_dir(const lmx_mgr *m) {
    return m->models_dir;
}

void lmx_mgr_set_policy(lmx_mgr *m, const lmx_mgr_policy *p) {
    (void)m;
    (void)p;
}

int lmx_mgr_register(lmx_mgr *m, const char *path, const json_t *meta, char *id, size_t idlen,
                     lmx_api_err *e) {
    (void)m;
    (void)path;
    (void)meta;
    (void)id;
    (void)idlen;
    not_yet(e);
    return -1;
}
