/* API errors (util/api_err.h: an HTTP status, a type, a code, a message)
 * rendered in the error shape of the API a route belongs to. */
#ifndef LMX_SRV_CORE_ERROR_H
#define LMX_SRV_CORE_ERROR_H

#include <jansson.h>

#include "util/api_err.h"

typedef enum {
    LMX_ERRS_OPENAI = 0, /* {"error": {message, type, param, code}} */
    LMX_ERRS_OLLAMA,     /* {"error": "message"} */
    LMX_ERRS_ANTHROPIC,  /* {"type": "error", "error": {type, message}} */
} lmx_err_style;

/* e as a body in the given API's error shape (new reference). */
json_t *lmx_err_json_style(const lmx_api_err *e, lmx_err_style style);

#endif
