/* What the LM Studio and Ollama modules share: loading a model just in time
 * for a request (with an idle ttl), one merged view of the models the daemon
 * knows (the store's and the loaded ones), and the small formatting helpers
 * both APIs need (parameter counts as "7B", ISO 8601 times). */
#ifndef LMX_SRV_COMPAT_H
#define LMX_SRV_COMPAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/app.h"
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

/* Reads an optional number of seconds >= 0 (LM Studio's "ttl"). 1 when
 * given, 0 when absent or null, -1 with e set when invalid. */
int lmx_compat_seconds(const json_t *body, const char *field, double *out, lmx_api_err *e);

/* LM Studio's clients send "max_tokens": -1 for "no limit": drops it so the
 * OpenAI contract reads it as absent. */
void lmx_compat_no_limit(json_t *body);

/* Every model the daemon knows, one entry per id (new reference):
 * [{"id", "path" (or null), "size_bytes", "architecture", "quantization",
 *   "parameters", "context_length" (the model's maximum), "supports_tools",
 *   "sha256" (or null), "modified" (unix s),
 *   "loaded": null | {"context_length", "parallel", "ttl_s", "expires_at",
 *                     "memory_bytes", "state"}}] */
json_t *lmx_compat_models(lmx_app *app);
/* The entry of lmx_compat_models for id (new reference) or NULL. */
json_t *lmx_compat_model(lmx_app *app, const char *id);

/* A parameter count as people write it: "260K", "1.1B", "7B". */
void lmx_compat_params(uint64_t n, char *out, size_t cap);
/* Wall-clock seconds since the epoch, with sub-second precision. */
double lmx_compat_wall(void);
/* unix_s as ISO 8601 UTC: "2025-10-03T15:33:23.496Z" (digits: 3 or 9 after the point). */
void lmx_compat_iso(double unix_s, int digits, char *out, size_t cap);
/* A 64-hex stand-in digest of a string (FNV-based, stable across runs): an
 * identifier for clients that want one, not a checksum. */
void lmx_compat_digest(const char *s, char out[65]);

#endif
