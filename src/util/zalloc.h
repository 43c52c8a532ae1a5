/* A constructor's first step: its zeroed object, or "out of memory" in the
 * error buffer it was given. One helper instead of a calloc, a test and a
 * message at every such constructor. */
#ifndef LMX_UTIL_ZALLOC_H
#define LMX_UTIL_ZALLOC_H

#include <stddef.h>

/* size zeroed bytes (free them with free), or NULL with "out of memory" in
 * err (errlen bytes). */
void *lmx_zalloc(size_t size, char *err, size_t errlen);

#endif
