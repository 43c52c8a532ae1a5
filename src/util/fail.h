/* The failure return of functions that explain themselves in a caller's
 * buffer (char *err, size_t errlen): `return lmx_fail(err, errlen, ...);`
 * says the message and the -1 in one statement. */
#ifndef LMX_UTIL_FAIL_H
#define LMX_UTIL_FAIL_H

#include <stddef.h>

/* Formats the message into err (truncated to errlen) and returns -1. */
int lmx_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
