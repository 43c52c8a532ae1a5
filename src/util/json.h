/* Small jansson helpers several modules share: reading optional fields and
 * building strings from bytes that may not be UTF-8. */
#ifndef LMX_UTIL_JSON_H
#define LMX_UTIL_JSON_H

#include <jansson.h>
#include <stddef.h>

/* The value of an optional field: NULL when absent or JSON null. */
static inline json_t *lmx_jopt(const json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return v && !json_is_null(v) ? v : NULL;
}

/* The text of a JSON string value, or NULL. */
static inline const char *lmx_jstr(const json_t *o, const char *key) {
    return json_string_value(json_object_get(o, key));
}

/* o[k] when it is a string (new reference), else JSON null. */
json_t *lmx_jstr_or_null(const json_t *o, const char *k);

/* n bytes at s (NULL: none) as a JSON string (new reference); "" when they
 * are not UTF-8. */
json_t *lmx_jtext(const char *s, size_t n);

#endif
