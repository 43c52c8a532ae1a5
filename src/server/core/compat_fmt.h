/* What the LM Studio and Ollama modules share besides their models
 * (compat_models.h): request fields both read, parameter counts as "7B",
 * ISO 8601 times, stand-in digests. */
#ifndef LMX_SRV_CORE_COMPAT_FMT_H
#define LMX_SRV_CORE_COMPAT_FMT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/api_err.h"

/* Reads an optional number of seconds >= 0 (LM Studio's "ttl"). 1 when
 * given, 0 when absent or null, -1 with e set when invalid. */
int lmx_compat_seconds(const json_t *body, const char *field, double *out, lmx_api_err *e);

/* LM Studio's clients send "max_tokens": -1 for "no limit": drops it so the
 * OpenAI contract reads it as absent. */
void lmx_compat_no_limit(json_t *body);

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
