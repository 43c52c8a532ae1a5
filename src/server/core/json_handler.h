/* The opening and closing most JSON handlers share: read the body, answer
 * the object the handler's work made or the error it met, free the body. The
 * work itself is then a plain function with early returns instead of a
 * goto ladder. */
#ifndef LMX_SRV_CORE_JSON_HANDLER_H
#define LMX_SRV_CORE_JSON_HANDLER_H

#include <jansson.h>

#include "server/http/http.h"
#include "util/api_err.h"

/* The work of a handler: the answer (new reference), or NULL with e set. */
typedef json_t *lmx_json_work(lmx_req *r, json_t *body, lmx_api_err *e);

/* Reads r's JSON body (an empty one refused), runs work on it and answers
 * with status and its object, or with its error. */
int lmx_reply_work(lmx_req *r, int status, lmx_json_work *work);

#endif
