/* JSON array helpers: finding an entry of an array of objects by one of its
 * string members (a model list by "id"), and building one array from another
 * item by item (a request's messages or tools in another API's shape). */
#ifndef LMX_UTIL_JSON_ARRAY_H
#define LMX_UTIL_JSON_ARRAY_H

#include <jansson.h>
#include <stddef.h>

#include "util/api_err.h"

/* The first object of arr whose member key is the string value (borrowed
 * from arr), or NULL. */
json_t *lmx_jfind(const json_t *arr, const char *key, const char *value);

/* One item of arr (its index i) as the new array has it (new reference), or
 * NULL with e set; ctx is lmx_jmap's. */
typedef json_t *lmx_jmap_fn(const json_t *item, size_t i, void *ctx, lmx_api_err *e);

/* fn of each item of arr, in order, as a new array; NULL as soon as one
 * fails (e set by fn; what was built is freed). */
json_t *lmx_jmap(const json_t *arr, lmx_jmap_fn *fn, void *ctx, lmx_api_err *e);

#endif
