/* Array lookup by a string member (json_find.h). */
#include "util/json_find.h"

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
