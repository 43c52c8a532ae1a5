/* Finding an entry of a JSON array of objects by one of its string members
 * (a model list by "id", a file listing by "path"). */
#ifndef LMX_UTIL_JSON_FIND_H
#define LMX_UTIL_JSON_FIND_H

#include <jansson.h>

/* The first object of arr whose member key is the string value (borrowed
 * from arr), or NULL. */
json_t *lmx_jfind(const json_t *arr, const char *key, const char *value);

#endif
