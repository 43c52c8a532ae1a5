/* The model list a client's model picker reads (GET /v1/models) and one
 * entry of it (GET /v1/models/{id}): what can be used, not only what is
 * loaded. With load_on_demand on, every model of the store and every alias
 * is listed, each with "loaded"; a GET of one answers from the store and
 * never loads it. */
#ifndef LMX_SRV_API_MODEL_LIST_H
#define LMX_SRV_API_MODEL_LIST_H

#include <jansson.h>

#include "manager/manager.h"
#include "util/api_err.h"

/* {"object": "list", "data": [MODEL...]} (new reference). */
json_t *lmx_model_list(lmx_mgr *m);
/* One MODEL, or NULL with e set (404 model_not_found). */
json_t *lmx_model_get(lmx_mgr *m, const char *id, lmx_api_err *e);

#endif
