/* Where agent runs live: runs (one JSON document each, rewritten after every
 * state transition), their events (an append-only list per run, numbered
 * 1, 2, 3 ... so a reader can resume after any id), idempotency keys and the
 * roles defined through the admin API.
 *
 * Two backends behind one table of functions: SQLite in WAL mode (the
 * default: embedded, crash-safe, one file) and Redis (runs as strings, events
 * as a Stream per run whose entry ids are the event numbers, keys with SET NX
 * and a 24 h expiry) for operators who already run one.
 *
 * Threads: every function may be called from any thread; each backend guards
 * its connection with one lock. Returned strings and JSON are the caller's. */
#ifndef LMX_AGENTS_STORE_H
#define LMX_AGENTS_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *id, *tenant, *role, *status;
    double created;  /* unix seconds */
    const char *doc; /* the run object as JSON text */
} lmx_arun_row;

/* How an idempotent creation went. */
typedef enum {
    LMX_IDEM_CREATED = 0, /* the key was free: the run was stored under it */
    LMX_IDEM_EXISTS,      /* the key names an earlier run (*other_id, *other_hash set) */
    LMX_IDEM_ERROR,
} lmx_idem_result;

typedef struct lmx_astore lmx_astore;

typedef struct {
    int (*put_run)(lmx_astore *s, const lmx_arun_row *r, char *err, size_t n);
    char *(*get_run)(lmx_astore *s, const char *id);
    /* docs newest first; filters NULL = any; after: the id of the last run of
     * the previous page (NULL: from the newest) */
    json_t *(*list_runs)(lmx_astore *s, const char *tenant, const char *status, const char *role,
                         const char *after, int limit);
    /* ids of runs whose status is queued or running, oldest first */
    json_t *(*unfinished)(lmx_astore *s);
    /* appends and returns the event's number (>= 1), or -1 */
    long long (*append_event)(lmx_astore *s, const char *run_id, const char *type, const char *data,
                              double ts);
    /* [{id, type, data, created}] with id > after, at most limit */
    json_t *(*events_after)(lmx_astore *s, const char *run_id, long long after, int limit);
    /* Atomically: when (tenant, key) is free or older than ttl_s, stores the
     * run and the key; else reports the run it names. */
    lmx_idem_result (*idem_create)(lmx_astore *s, const char *tenant, const char *key,
                                   const char *body_hash, double ttl_s, const lmx_arun_row *r,
                                   char **other_id, char **other_hash, char *err, size_t n);
    int (*put_role)(lmx_astore *s, const char *name, const char *doc);
    int (*del_role)(lmx_astore *s, const char *name); /* 0, 1: no such role, -1 */
    json_t *(*roles)(lmx_astore *s);                  /* {name: definition} */
    /* drops finished runs (and their events) created before `before` */
    int (*purge)(lmx_astore *s, double before);
    void (*close)(lmx_astore *s);
    /* Optional (NULL: the runtime keeps its run queue in memory): a run queue in
     * the store, shared by every daemon using it. q_push appends a run; q_pop
     * takes the next one delivered to this daemon without waiting (1, 0: none,
     * -1: error), giving its queue entry for q_ack, which drops the entry once the
     * run left its executor; entries taken but never acknowledged (the daemon was
     * killed) are queued again when the store is opened. q_len: runs waiting, of
     * one tenant or (tenant NULL) in all. */
    int (*q_push)(lmx_astore *s, const char *id, const char *tenant);
    int (*q_pop)(lmx_astore *s, char *id, size_t idn, char *entry, size_t en);
    void (*q_ack)(lmx_astore *s, const char *entry);
    long (*q_len)(lmx_astore *s, const char *tenant);
} lmx_astore_ops;

struct lmx_astore {
    const lmx_astore_ops *ops;
    const char *backend; /* "sqlite" | "redis" */
};

/* path NULL or ":memory:": an in-memory database (tests). NULL with err set. */
lmx_astore *lmx_astore_sqlite(const char *path, char *err, size_t n);
/* url: redis://HOST:PORT[/DB]. NULL with err set (connection refused, ...). */
lmx_astore *lmx_astore_redis(const char *url, char *err, size_t n);

/* What both backends build from the text they keep (store.c): an event
 * {id, type, data, created} with data parsed (unparsable: {}), and a role
 * added to roles {name: definition} (skipped when def does not parse). */
json_t *lmx_astore_event(long long id, const char *type, const char *data, double created);
void lmx_astore_add_role(json_t *roles, const char *name, const char *def);

static inline void lmx_astore_close(lmx_astore *s) {
    if (s) s->ops->close(s);
}

#endif
