/* Stored Responses-API responses (POST /v1/responses with store: true), for
 * GET / DELETE /v1/responses/{id} and previous_response_id.
 *
 * One SQLite file (or an in-memory database when no path is given or the
 * file cannot be opened), opened on first use so a daemon that never serves
 * the Responses API never touches the disk. Each row keeps the response
 * object as returned and the conversation it closes (its input items,
 * including those of the responses it continued, then its output items), so
 * continuing a response is one read. Retention: the newest max_rows rows, and
 * none older than max_age_s; pruned on every write.
 *
 * Thread safety: every call takes the store's one lock (`mu`); the SQLite
 * connection is used by one thread at a time. */
#ifndef LMX_SRV_API_RESPONSE_STORE_H
#define LMX_SRV_API_RESPONSE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct lmx_rstore lmx_rstore;

/* path: the database file (its directory is created if missing), or NULL for
 * an in-memory store. max_rows / max_age_s <= 0: no limit of that kind.
 * Opens nothing yet. NULL out of memory. */
lmx_rstore *lmx_rstore_new(const char *path, int max_rows, long long max_age_s);
void lmx_rstore_free(lmx_rstore *st);

/* Saves (or replaces) a response: 0, or -1 with err set. Borrows both. */
int lmx_rstore_put(lmx_rstore *st, const char *id, long long created_at, const json_t *response,
                   const json_t *conversation, char *err, size_t errlen);
/* The stored response (new reference) and, when conversation is not NULL,
 * its conversation (new reference); NULL when unknown or expired. */
json_t *lmx_rstore_get(lmx_rstore *st, const char *id, json_t **conversation);
/* 1 deleted, 0 unknown, -1 database error. */
int lmx_rstore_delete(lmx_rstore *st, const char *id);

#endif
