/* The http executor: the arguments POSTed as JSON to a URL with the
 * manifest's headers (libcurl); a 2xx JSON body is the result. */
#ifndef LMX_SKILLS_HTTP_EXEC_H
#define LMX_SKILLS_HTTP_EXEC_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#include "skills/manifest.h"

typedef enum {
    LMX_HX_OK = 0,
    LMX_HX_TIMEOUT,
    LMX_HX_FAILED,
    LMX_HX_UNREACHABLE,
    LMX_HX_CANCELLED
} lmx_hx_rc;

/* *result: the parsed body (OK). err: why otherwise ("HTTP 500: ..."). */
lmx_hx_rc lmx_http_exec(const lmx_skill *k, const json_t *args, const atomic_bool *cancel,
                        json_t **result, char *err, size_t n);

#endif
