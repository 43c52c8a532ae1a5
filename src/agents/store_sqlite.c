/* The agent store on SQLite (see store.h): one connection in WAL mode behind
 * one lock, so an event append and the run rewrite that follows it are each
 * one durable transaction, and a reader (an SSE stream) never blocks them.
 * Idempotent creation is one IMMEDIATE transaction: the key row is the unique
 * constraint that makes concurrent duplicates create one run. */
#include "agents/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    lmx_astore base;
    pthread_mutex_t mu; /* guards db */
    sqlite3 *db;
} sq_store;

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS agent_runs(id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
    " role TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL, doc TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS agent_runs_created ON agent_runs(created, id);"
    "CREATE TABLE IF NOT EXISTS agent_events(run_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " type TEXT NOT NULL, data TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY(run_id, seq));"
    "CREATE TABLE IF NOT EXISTS agent_idem(tenant TEXT NOT NULL, key TEXT NOT NULL,"
    " hash TEXT NOT NULL, run_id TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY(tenant, key));"
    "CREATE TABLE IF NOT EXISTS agent_roles(name TEXT PRIMARY KEY, doc TEXT NOT NULL);";

/* The store behind b, its connection locked: every entry point starts here. */
static sq_store *locked(lmx_astore *b) {
    sq_store *s = (sq_store *)b;
    pthread_mutex_lock(&s->mu);
    return s;
}

/* Prepares sql and binds one parameter per letter of types: t text (NULL
 * binds SQL NULL), d double, i int, I long long. NULL when sql does not
 * compile. Caller holds mu. */
static sqlite3_stmt *vprep(sq_store *s, const char *sql, const char *types, va_list ap) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return NULL;
    for (int i = 1; *types; types++, i++) {
        if (*types == 't') {
            const char *v = va_arg(ap, const char *);
            if (v)
                sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i);
        } else if (*types == 'd') {
            sqlite3_bind_double(st, i, va_arg(ap, double));
        } else if (*types == 'i') {
            sqlite3_bind_int(st, i, va_arg(ap, int));
        } else {
            sqlite3_bind_int64(st, i, va_arg(ap, long long));
        }
    }
    return st;
}

static sqlite3_stmt *prep(sq_store *s, const char *sql, const char *types, ...) {
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *st = vprep(s, sql, types, ap);
    va_end(ap);
    return st;
}

/* Runs a statement that returns no rows, and finalizes it: 0, or -1 when it
 * failed (st NULL: it did not compile). */
static int done(sqlite3_stmt *st) {
    int rc = st && sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

static int put_run_locked(sq_store *s, const lmx_arun_row *r) {
    return done(prep(s,
                     "INSERT INTO agent_runs(id,tenant,role,status,created,doc) "
                     "VALUES(?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                     "status=excluded.status, doc=excluded.doc",
                     "ttttdt", r->id, r->tenant, r->role, r->status, r->created, r->doc));
}

static int sq_put_run(lmx_astore *b, const lmx_arun_row *r, char *err, size_t n) {
    sq_store *s = locked(b);
    int rc = put_run_locked(s, r);
    if (rc) snprintf(err, n, "agent store: %s", sqlite3_errmsg(s->db));
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static char *col_dup(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

/* The first row's first column of a query, as text (*text, the caller's) or
 * as an integer (*num); both left as they are when there is no row. */
static void first(lmx_astore *b, char **text, long long *num, const char *sql, const char *types,
                  ...) {
    sq_store *s = locked(b);
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *st = vprep(s, sql, types, ap);
    va_end(ap);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        if (text) *text = col_dup(st, 0);
        if (num) *num = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
}

/* Every row of a query, each added to `into` (an array or an object) by add;
 * `into` as it was when the query fails. The readers below are this and a
 * function that turns one row into JSON. */
static json_t *rows(lmx_astore *b, json_t *into, void (*add)(json_t *into, sqlite3_stmt *st),
                    const char *sql, const char *types, ...) {
    sq_store *s = locked(b);
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *st = vprep(s, sql, types, ap);
    va_end(ap);
    while (st && sqlite3_step(st) == SQLITE_ROW) add(into, st);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return into;
}

static char *sq_get_run(lmx_astore *b, const char *id) {
    char *doc = NULL;
    first(b, &doc, NULL, "SELECT doc FROM agent_runs WHERE id=?", "t", id);
    return doc;
}

static void add_doc(json_t *a, sqlite3_stmt *st) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    json_t *d = t ? json_loads(t, 0, NULL) : NULL;
    if (d) json_array_append_new(a, d);
}

static json_t *sq_list_runs(lmx_astore *b, const char *tenant, const char *status, const char *role,
                            const char *after, int limit) {
    return rows(b, json_array(), add_doc,
                "SELECT doc FROM agent_runs WHERE (?1 IS NULL OR tenant=?1) AND (?2 IS NULL OR "
                "status=?2) AND (?3 IS NULL OR role=?3) AND (?4 IS NULL OR (created,id) < (SELECT "
                "created,id FROM agent_runs WHERE id=?4)) ORDER BY created DESC, id DESC LIMIT ?5",
                "tttti", tenant, status, role, after, limit);
}

static void add_id(json_t *a, sqlite3_stmt *st) {
    json_array_append_new(a, json_string((const char *)sqlite3_column_text(st, 0)));
}

static json_t *sq_unfinished(lmx_astore *b) {
    return rows(b, json_array(), add_id,
                "SELECT id FROM agent_runs WHERE status IN ('queued','running') "
                "ORDER BY created, id",
                "");
}

static long long sq_append_event(lmx_astore *b, const char *run_id, const char *type,
                                 const char *data, double ts) {
    long long seq = -1;
    first(b, NULL, &seq,
          "INSERT INTO agent_events(run_id,seq,type,data,created) VALUES(?1,"
          "(SELECT COALESCE(MAX(seq),0)+1 FROM agent_events WHERE run_id=?1),"
          "?2,?3,?4) RETURNING seq",
          "tttd", run_id, type, data, ts);
    return seq;
}

static void add_event(json_t *a, sqlite3_stmt *st) {
    json_array_append_new(a, lmx_astore_event(sqlite3_column_int64(st, 0),
                                              (const char *)sqlite3_column_text(st, 1),
                                              (const char *)sqlite3_column_text(st, 2),
                                              sqlite3_column_double(st, 3)));
}

static json_t *sq_events_after(lmx_astore *b, const char *run_id, long long after, int limit) {
    return rows(b, json_array(), add_event,
                "SELECT seq,type,data,created FROM agent_events WHERE run_id=? AND "
                "seq>? ORDER BY seq LIMIT ?",
                "tIi", run_id, after, limit);
}

static lmx_idem_result sq_idem_create(lmx_astore *b, const char *tenant, const char *key,
                                      const char *hash, double ttl_s, const lmx_arun_row *r,
                                      char **other_id, char **other_hash, char *err, size_t n) {
    lmx_idem_result res = LMX_IDEM_ERROR;
    sq_store *s = locked(b);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) goto out;
    sqlite3_stmt *st = prep(s,
                            "SELECT run_id, hash FROM agent_idem WHERE tenant=? AND key=? "
                            "AND created>=?",
                            "ttd", tenant, key, r->created - ttl_s);
    if (!st) goto rollback;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *other_id = col_dup(st, 0);
        *other_hash = col_dup(st, 1);
        sqlite3_finalize(st);
        res = LMX_IDEM_EXISTS;
        goto rollback;
    }
    sqlite3_finalize(st);
    if (done(prep(s,
                  "INSERT OR REPLACE INTO agent_idem(tenant,key,hash,run_id,created) "
                  "VALUES(?,?,?,?,?)",
                  "ttttd", tenant, key, hash, r->id, r->created)) ||
        put_run_locked(s, r))
        goto rollback;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto rollback;
    res = LMX_IDEM_CREATED;
    goto out;
rollback:
    if (res == LMX_IDEM_ERROR) snprintf(err, n, "agent store: %s", sqlite3_errmsg(s->db));
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
    if (res == LMX_IDEM_ERROR && !*err) snprintf(err, n, "agent store: %s", sqlite3_errmsg(s->db));
    pthread_mutex_unlock(&s->mu);
    return res;
}

static int sq_put_role(lmx_astore *b, const char *name, const char *doc) {
    sq_store *s = locked(b);
    int rc =
        done(prep(s, "INSERT OR REPLACE INTO agent_roles(name,doc) VALUES(?,?)", "tt", name, doc));
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int sq_del_role(lmx_astore *b, const char *name) {
    sq_store *s = locked(b);
    int rc = done(prep(s, "DELETE FROM agent_roles WHERE name=?", "t", name));
    if (!rc) rc = sqlite3_changes(s->db) ? 0 : 1;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void add_role(json_t *o, sqlite3_stmt *st) {
    lmx_astore_add_role(o, (const char *)sqlite3_column_text(st, 0),
                        (const char *)sqlite3_column_text(st, 1));
}

static json_t *sq_roles(lmx_astore *b) {
    return rows(b, json_object(), add_role, "SELECT name, doc FROM agent_roles ORDER BY name", "");
}

static int sq_purge(lmx_astore *b, double before) {
    sq_store *s = locked(b);
    char sql[512];
    snprintf(
        sql, sizeof sql,
        "BEGIN;"
        "DELETE FROM agent_events WHERE run_id IN (SELECT id FROM agent_runs WHERE created<%.3f"
        " AND status NOT IN ('queued','running','requires_action'));"
        "DELETE FROM agent_runs WHERE created<%.3f AND status NOT IN "
        "('queued','running','requires_action');"
        "DELETE FROM agent_idem WHERE created<%.3f;COMMIT;",
        before, before, before);
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    if (rc) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void sq_close(lmx_astore *b) {
    sq_store *s = (sq_store *)b;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* no q_* functions: the runtime keeps the queue in memory and rebuilds it from
 * the unfinished runs on start */
static const lmx_astore_ops sq_ops = {.put_run = sq_put_run,
                                      .get_run = sq_get_run,
                                      .list_runs = sq_list_runs,
                                      .unfinished = sq_unfinished,
                                      .append_event = sq_append_event,
                                      .events_after = sq_events_after,
                                      .idem_create = sq_idem_create,
                                      .put_role = sq_put_role,
                                      .del_role = sq_del_role,
                                      .roles = sq_roles,
                                      .purge = sq_purge,
                                      .close = sq_close};

/* mkdir -p of path's directory. */
static void make_parent(const char *path) {
    char d[1024];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (!slash || slash == d) return;
    *slash = 0;
    for (char *p = d + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(d, 0700);
            *p = '/';
        }
    mkdir(d, 0700);
}

lmx_astore *lmx_astore_sqlite(const char *path, char *err, size_t n) {
    bool mem = !path || !*path || !strcmp(path, ":memory:");
    if (!mem) make_parent(path);
    sq_store *s = calloc(1, sizeof *s);
    if (!s) return snprintf(err, n, "out of memory"), NULL;
    if (sqlite3_open_v2(mem ? ":memory:" : path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, n, "%s: %s", mem ? ":memory:" : path,
                 s->db ? sqlite3_errmsg(s->db) : "cannot open");
        sqlite3_close(s->db);
        free(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char *e = NULL;
    if (sqlite3_exec(s->db, SCHEMA, NULL, NULL, &e) != SQLITE_OK) {
        snprintf(err, n, "%s: %s", mem ? ":memory:" : path, e ? e : "schema");
        sqlite3_free(e);
        sqlite3_close(s->db);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->base.ops = &sq_ops;
    s->base.backend = "sqlite";
    return &s->base;
}
