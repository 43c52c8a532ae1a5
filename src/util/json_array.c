/* JSON array helpers (json_array.h). */
#include "util/json_array.h"

#include <string.h>

json_t *lmx_jfind(const json_t *arr, const char *key, const char *value) {
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *x = json_string_value(json_object_get(v, key));
        if (x && !strcmp(x, value)) return v;
    }
    return NULL;
}

json_t *lmx_jmap(const json_t *arr, lmx_jmap_fn *fn, void *ctx, lmx_api_err *e) {
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        json_t *x = fn(v, i, ctx, e);
        if (!x) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, x);
    }
    return out;
}
