/* The models as the LM Studio and Ollama APIs see them: loaded just in time
 * for a request (with an idle ttl), and one merged view of the models the
 * daemon knows (the store's and the loaded ones). The small helpers both
 * APIs share are in compat_fmt.h. */
#ifndef LMX_SRV_CORE_COMPAT_MODELS_H
#define LMX_SRV_CORE_COMPAT_MODELS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/app.h"
#include "util/api_err.h"

typedef struct {
    int ctx_size;   /* 0: the manager's default */
    int parallel;   /* 0: the manager's default */
    bool ttl_given; /* the request set an idle ttl (LM Studio's ttl, Ollama's keep_alive) */
    double ttl_s;   /* unload after this long idle; 0: never */
} lmx_compat_load;

/* The model `name` with a reference held. A loaded model is used as is
 * (with ttl_given its ttl is refreshed through lmx_mgr_load); a model the
 * store knows but that is not loaded is loaded first, with o's context and
 * ttl, as LM Studio and Ollama load on demand. *load_s (may be NULL) gets
 * the seconds spent loading, 0 when it was loaded already. NULL with e set. */
lmx_served *lmx_compat_acquire(lmx_app *app, const char *name, const lmx_compat_load *o,
                               double *load_s, lmx_api_err *e);

/* Every model the daemon knows, one entry per id (new reference):
 * [{"id", "path" (or null), "size_bytes", "architecture", "quantization",
 *   "parameters", "context_length" (the model's maximum), "supports_tools",
 *   "sha256" (or null), "modified" (unix s),
 *   "loaded": null | {"context_length", "parallel", "ttl_s", "expires_at",
 *                     "memory_bytes", "state"}}] */
json_t *lmx_compat_models(lmx_app *app);
/* Every model of lmx_compat_models through entry, in the API's own shape
 * (new reference); models entry returns NULL for are left out. */
json_t *lmx_compat_models_map(lmx_app *app, json_t *(*entry)(const json_t *m));
/* The entry of lmx_compat_models for id (new reference) or NULL. */
json_t *lmx_compat_model(lmx_app *app, const char *id);

#endif
