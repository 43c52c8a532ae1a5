/* Shared jansson helpers (see json.h). */
#include "util/json.h"

json_t *lmx_jstr_or_null(const json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_incref(v) : json_null();
}

json_t *lmx_jtext(const char *s, size_t n) {
    json_t *j = json_stringn(s ? s : "", n);
    return j ? j : json_string("");
}
