/* Structured logging: one JSON object per line on stderr. */
#ifndef LMX_UTIL_LOG_H
#define LMX_UTIL_LOG_H

#include <jansson.h>

/* Writes {"ts": ..., "level": level, "msg": msg, ...fields} as one line.
 * Steals the reference to `fields` (may be NULL). Thread-safe. */
void lmx_log(const char *level, const char *msg, json_t *fields);
/* Lines below this level ("debug", "info", "warn", "error") are dropped. */
void lmx_log_set_level(const char *level);
/* "json": one JSON object per line (for journald, log shippers, scripts);
 * "text": "2026-12-06 22:21:22.123 info  msg key=value ..." for a person;
 * "auto" (or NULL): text when stderr is a terminal, else json. */
void lmx_log_set_format(const char *fmt);

#endif
