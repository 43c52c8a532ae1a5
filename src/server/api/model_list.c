/* /v1/models as model pickers and agents' discovery read it (see model_list.h).
 * Loaded models come first (their figures are the running ones), then the
 * store's others, then the aliases; an alias is loaded when one of its models
 * is. Listing counts as no use of a model (the manager's TTLs go on). */
#include "server/api/model_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "manager/served.h"
#include "server/api/mgr_views.h"

/* A loaded model as OpenAI's {"object": "model", ...} entry (new reference),
 * with what LMX knows of it besides. */
static json_t *model_object(const lmx_served *s) {
    return json_pack("{s:s,s:s,s:I,s:s,s:i,s:s,s:s,s:I,s:b,s:b}", "id", s->name, "object", "model",
                     "created", (json_int_t)s->created, "owned_by", "lmx", "context_length",
                     s->n_ctx, "architecture", s->m->hp.arch, "quantization", s->quant,
                     "parameters", (json_int_t)s->n_params, "supports_tools", s->tmpl_tools,
                     "default_chat_template", s->tmpl_is_default);
}

static json_t *loaded_entry(const lmx_served *s) {
    json_t *o = model_object(s);
    json_object_set_new(o, "loaded", json_true());
    return o;
}

/* A STORE_ENTRY as an OpenAI model object, not loaded. */
static json_t *store_entry(const json_t *st) {
    struct stat sb;
    const char *path = json_string_value(json_object_get(st, "path"));
    json_int_t created = path && !stat(path, &sb) ? (json_int_t)sb.st_mtime : 0;
    json_t *o = json_pack("{s:O,s:s,s:I,s:s}", "id", json_object_get(st, "id"), "object", "model",
                          "created", created, "owned_by", "lmx");
    static const char *const keys[] = {"context_length", "architecture", "quantization",
                                       "parameters", "supports_tools"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *v = json_object_get(st, keys[i]);
        if (v) json_object_set(o, keys[i], v);
    }
    json_object_set_new(o, "loaded", json_false());
    return o;
}

static json_t *alias_entry(const char *name, json_t *models, bool loaded) {
    return json_pack("{s:s,s:s,s:I,s:s,s:O,s:b}", "id", name, "object", "model", "created",
                     (json_int_t)0, "owned_by", "lmx", "alias_of", models, "loaded", loaded);
}

static bool in_list(json_t *data, const char *id) {
    size_t i;
    json_t *o;
    json_array_foreach(data, i,
                       o) if (!strcmp(json_string_value(json_object_get(o, "id")), id)) return true;
    return false;
}

json_t *lmx_model_list(lmx_mgr *m) {
    json_t *data = json_array();
    lmx_served **list;
    int n = lmx_mgr_list(m, &list);
    for (int i = 0; i < n; i++) json_array_append_new(data, loaded_entry(list[i]));
    lmx_mgr_list_release(list, n);
    lmx_alias *al;
    int n_al;
    if (lmx_mgr_catalog(m, &al, &n_al)) {
        json_t *store = lmx_view_store(m);
        size_t i;
        json_t *st;
        json_array_foreach(store, i, st) {
            const char *id = json_string_value(json_object_get(st, "id"));
            if (id && !json_object_get(st, "error") && !in_list(data, id))
                json_array_append_new(data, store_entry(st));
        }
        json_decref(store);
        for (int a = 0; a < n_al; a++) {
            const char *name = al[a].name;
            if (in_list(data, name) || strpbrk(name, "*?")) continue; /* patterns name no model */
            json_t *models = json_array();
            bool loaded = false;
            for (int k = 0; k < al[a].n_models; k++) {
                json_array_append_new(models, json_string(al[a].models[k]));
                size_t j;
                json_t *o;
                json_array_foreach(data, j,
                                   o) if (json_is_true(json_object_get(o, "loaded")) &&
                                          !strcmp(json_string_value(json_object_get(o, "id")),
                                                  al[a].models[k])) loaded = true;
            }
            json_array_append_new(data, alias_entry(name, models, loaded));
            json_decref(models);
        }
    }
    free(al);
    return json_pack("{s:s,s:o}", "object", "list", "data", data);
}

json_t *lmx_model_get(lmx_mgr *m, const char *id, lmx_api_err *e) {
    /* from the whole list: the same entry, the same rules, nothing loaded */
    json_t *l = lmx_model_list(m), *hit = NULL;
    size_t i;
    json_t *o;
    char names[512] = "";
    size_t n = 0;
    json_array_foreach(json_object_get(l, "data"), i, o) {
        const char *oid = json_string_value(json_object_get(o, "id"));
        if (!strcmp(oid, id)) {
            hit = json_incref(o);
            break;
        }
        if (n < sizeof names) /* the choices, for the message */
            n += (size_t)snprintf(names + n, sizeof names - n, "%s'%s'", n ? ", " : "", oid);
    }
    json_decref(l);
    if (!hit)
        lmx_err_set(e, 404, "invalid_request_error", "model_not_found", "model",
                    "The model '%s' does not exist.%s%s%s", id, n ? " Available models: " : "",
                    names, n ? "." : "");
    return hit;
}
