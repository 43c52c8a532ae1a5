/* The models the LM Studio and Ollama APIs see: loaded on demand, listed as
 * one merged view (see compat_models.h). */
#include "server/core/compat_models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "manager/manager.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/json_array.h"
#include "server/core/mgr_error.h"
#include "server/api/mgr_views.h"

/* The placeholder manager answers 501 not_implemented to loads: the
 * request's own 404 is then the better answer. */
static bool not_implemented(const lmx_api_err *e) {
    return e->status == 501;
}

lmx_served *lmx_compat_acquire(lmx_app *app, const char *name, const lmx_compat_load *o,
                               double *load_s, lmx_api_err *e) {
    lmx_load_req q = {.model = name,
                      .ctx_size = o ? o->ctx_size : 0,
                      .parallel = o ? o->parallel : 0,
                      /* the request's "never" is the manager's negative ttl */
                      .ttl_s = o && o->ttl_given ? (o->ttl_s > 0 ? o->ttl_s : -1) : 0};
    if (load_s) *load_s = 0;
    lmx_served *s;
    if (o && o->ttl_given) {
        /* loads it, or refreshes a loaded one's ttl */
        double t0 = lmx_now_s();
        lmx_served **list;
        int n = lmx_mgr_list(app->mgr, &list);
        bool was_loaded = false;
        for (int i = 0; i < n; i++)
            if (!strcmp(list[i]->name, name)) was_loaded = true;
        lmx_mgr_list_release(list, n);
        /* not ready: acquiring waits for a load at most load_wait (then 503
         * model_loading); the load below then only sets the ttl */
        lmx_served *held = was_loaded ? NULL : lmx_api_acquire(app->mgr, name, e);
        if (!held && !was_loaded && e->status == 503) return NULL;
        if (!held) *e = (lmx_api_err){0};
        s = lmx_api_load(app->mgr, &q, e);
        if (held) lmx_mgr_release(held);
        if (s) {
            if (load_s && !was_loaded) *load_s = lmx_now_s() - t0;
            return s;
        }
        if (!not_implemented(e)) return NULL;
    }
    s = lmx_api_acquire(app->mgr, name, e);
    if (s || e->status != 404) return s;
    lmx_api_err le = {0};
    double t0 = lmx_now_s();
    s = lmx_api_load(app->mgr, &q, &le);
    if (s) {
        if (load_s) *load_s = lmx_now_s() - t0;
        return s;
    }
    if (!not_implemented(&le) && le.status != 404) *e = le;
    return NULL;
}

/* ---- the merged model list ---- */

static json_t *num_or(const json_t *o, const char *a, const char *b) {
    json_t *v = json_object_get(o, a);
    if (!json_is_number(v) && b) v = json_object_get(o, b);
    return json_is_number(v) ? json_incref(v) : json_integer(0);
}

/* The loaded part of an entry: the manager's figures, completed by the
 * served model's (n_ctx, parallel) when the manager's listing lacks them. */
static json_t *loaded_part(const json_t *le, const lmx_served *s) {
    json_t *o = json_object();
    json_object_set_new(o, "state",
                        le && json_is_string(json_object_get(le, "state"))
                            ? json_incref(json_object_get(le, "state"))
                            : json_string("ready"));
    json_object_set_new(
        o, "context_length",
        json_integer(s ? s->n_ctx : json_integer_value(json_object_get(le, "context_length"))));
    json_object_set_new(
        o, "parallel",
        json_integer(s ? s->n_parallel : json_integer_value(json_object_get(le, "parallel"))));
    json_t *ttl = le ? json_object_get(le, "ttl_s") : NULL;
    json_object_set_new(o, "ttl_s", json_is_number(ttl) ? json_incref(ttl) : json_integer(0));
    json_t *exp = le ? json_object_get(le, "expires_at") : NULL;
    json_object_set_new(o, "expires_at", json_is_number(exp) ? json_incref(exp) : json_null());
    json_t *mem = le ? json_object_get(le, "memory_bytes") : NULL;
    uint64_t fallback = 0;
    if (s)
        for (int i = 0; i < s->m->gguf->n_files; i++) fallback += s->m->gguf->files[i].size;
    json_object_set_new(o, "memory_bytes",
                        json_is_number(mem) ? json_incref(mem)
                                            : json_integer((json_int_t)fallback));
    return o;
}

json_t *lmx_compat_models(lmx_app *app) {
    json_t *out = json_array();
    json_t *store = lmx_view_store(app->mgr);
    json_t *loaded = lmx_view_loaded(app->mgr);
    lmx_served **list;
    int n = lmx_mgr_list(app->mgr, &list);
    size_t i;
    json_t *e;
    json_array_foreach(store, i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));
        if (!id) continue;
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(id));
        json_object_set_new(o, "path", lmx_jstr_or_null(e, "path"));
        json_object_set_new(o, "size_bytes", num_or(e, "size_bytes", "size"));
        json_object_set_new(o, "architecture", lmx_jstr_or_null(e, "architecture"));
        json_object_set_new(o, "quantization", lmx_jstr_or_null(e, "quantization"));
        json_object_set_new(o, "parameters", num_or(e, "parameters", NULL));
        json_object_set_new(o, "context_length", num_or(e, "context_length", NULL));
        json_object_set_new(o, "supports_tools",
                            json_boolean(json_is_true(json_object_get(e, "supports_tools"))));
        json_object_set_new(o, "sha256", lmx_jstr_or_null(e, "sha256"));
        struct stat st;
        const char *path = json_string_value(json_object_get(e, "path"));
        json_object_set_new(o, "modified",
                            json_integer(path && !stat(path, &st) ? (json_int_t)st.st_mtime
                                                                  : (json_int_t)time(NULL)));
        const lmx_served *s = NULL;
        for (int k = 0; k < n; k++)
            if (!strcmp(list[k]->name, id)) s = list[k];
        json_t *le = lmx_jfind(loaded, "id", id);
        json_object_set_new(o, "loaded", s || le ? loaded_part(le, s) : json_null());
        json_array_append_new(out, o);
    }
    /* loaded models the store does not list (served from a file given at start) */
    for (int k = 0; k < n; k++) {
        const lmx_served *s = list[k];
        if (lmx_jfind(out, "id", s->name)) continue;
        uint64_t size = 0;
        for (int f = 0; f < s->m->gguf->n_files; f++) size += s->m->gguf->files[f].size;
        json_t *o =
            json_pack("{s:s,s:n,s:I,s:s,s:s,s:I,s:i,s:b,s:n,s:I}", "id", s->name, "path",
                      "size_bytes", (json_int_t)size, "architecture", s->m->hp.arch, "quantization",
                      s->quant, "parameters", (json_int_t)s->n_params, "context_length",
                      s->m->hp.n_ctx_train > 0 ? s->m->hp.n_ctx_train : s->n_ctx, "supports_tools",
                      s->tmpl_tools, "sha256", "modified", (json_int_t)s->created);
        json_object_set_new(o, "loaded", loaded_part(lmx_jfind(loaded, "id", s->name), s));
        json_array_append_new(out, o);
    }
    lmx_mgr_list_release(list, n);
    json_decref(store);
    json_decref(loaded);
    return out;
}

json_t *lmx_compat_model(lmx_app *app, const char *id) {
    json_t *all = lmx_compat_models(app);
    json_t *e = lmx_jfind(all, "id", id);
    if (e) json_incref(e);
    json_decref(all);
    return e;
}

json_t *lmx_compat_models_map(lmx_app *app, json_t *(*entry)(const json_t *m)) {
    json_t *all = lmx_compat_models(app), *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(all, i, m) {
        json_t *o = entry(m);
        if (o) json_array_append_new(out, o);
    }
    json_decref(all);
    return out;
}
