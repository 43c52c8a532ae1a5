/* The Responses API's store on SQLite (see response_store.h). */
#include "server/api/response_store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/log.h"

struct lmx_rstore {
    pthread_mutex_t mu; /* guards db and the opening */
    const char *path;   /* NULL: in memory; else stored after the struct */
    int max_rows;
    long long max_age_s;
    sqlite3 *db;
    bool open_failed;
};

lmx_rstore *lmx_rstore_new(const char *path, int max_rows, long long max_age_s) {
    /* one allocation: the struct, then its path */
    size_t plen = path ? strlen(path) + 1 : 0;
    lmx_rstore *st = calloc(1, sizeof *st + plen);
    if (!st) return NULL;
    if (path) st->path = memcpy(st + 1, path, plen);
    pthread_mutex_init(&st->mu, NULL);
    st->max_rows = max_rows;
    st->max_age_s = max_age_s;
    return st;
}

void lmx_rstore_free(lmx_rstore *st) {
    if (!st) return;
    if (st->db) sqlite3_close(st->db);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* mkdir -p of path's directory. */
static void make_parent(const char *path) {
    char *d = strdup(path);
    if (!d) return;
    char *slash = strrchr(d, '/');
    if (slash && slash != d) {
        *slash = 0;
        for (char *p = d + 1; *p; p++) {
            if (*p != '/') continue;
            *p = 0;
            mkdir(d, 0700);
            *p = '/';
        }
        mkdir(d, 0700);
    }
    free(d);
}

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS responses ("
    " id TEXT PRIMARY KEY,"
    " created_at INTEGER NOT NULL,"
    " response TEXT NOT NULL,"
    " conversation TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS responses_created ON responses(created_at);";

static sqlite3 *open_db(const char *path, char *why, size_t cap) {
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (path) make_parent(path);
    int rc = sqlite3_open_v2(path ? path : ":memory:", &db, flags, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000); /* several daemons may share one file */
        char *msg = NULL;
        rc = sqlite3_exec(db, SCHEMA, NULL, NULL, &msg);
        if (rc != SQLITE_OK) snprintf(why, cap, "%s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    } else
        snprintf(why, cap, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    if (rc != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* The connection, opened on first use (mu held). An unusable file falls back
 * to memory, once, with a warning: responses then last until the daemon
 * stops, which beats refusing store: true. */
static sqlite3 *db_of(lmx_rstore *st) {
    if (st->db || st->open_failed) return st->db;
    char why[256] = "";
    st->db = open_db(st->path, why, sizeof why);
    if (!st->db && st->path) {
        lmx_log("warn",
                "response store: cannot open the database file; keeping responses in memory",
                json_pack("{s:s,s:s}", "path", st->path, "error", why));
        st->db = open_db(NULL, why, sizeof why);
    }
    if (!st->db) {
        st->open_failed = true;
        lmx_log("error", "response store: cannot open an in-memory database",
                json_pack("{s:s}", "error", why));
    }
    return st->db;
}

static void prune(sqlite3 *db, int max_rows, long long max_age_s) {
    sqlite3_stmt *q;
    if (max_age_s > 0 && sqlite3_prepare_v2(db, "DELETE FROM responses WHERE created_at < ?", -1,
                                            &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, (sqlite3_int64)time(NULL) - max_age_s);
        sqlite3_step(q);
        sqlite3_finalize(q);
    }
    if (max_rows > 0 &&
        sqlite3_prepare_v2(db,
                           "DELETE FROM responses WHERE id NOT IN (SELECT id FROM responses "
                           "ORDER BY created_at DESC, rowid DESC LIMIT ?)",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int(q, 1, max_rows);
        sqlite3_step(q);
        sqlite3_finalize(q);
    }
}

int lmx_rstore_put(lmx_rstore *st, const char *id, long long created_at, const json_t *response,
                   const json_t *conversation, char *err, size_t errlen) {
    char *r = json_dumps(response, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *c = json_dumps(conversation, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int ok = -1;
    pthread_mutex_lock(&st->mu);
    sqlite3 *db = db_of(st);
    sqlite3_stmt *q = NULL;
    if (!r || !c)
        snprintf(err, errlen, "out of memory");
    else if (!db)
        snprintf(err, errlen, "the response store is unavailable");
    else if (sqlite3_prepare_v2(db,
                                "INSERT OR REPLACE INTO responses(id, created_at, response, "
                                "conversation) VALUES (?, ?, ?, ?)",
                                -1, &q, NULL) != SQLITE_OK)
        snprintf(err, errlen, "response store: %s", sqlite3_errmsg(db));
    else {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)created_at);
        sqlite3_bind_text(q, 3, r, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, c, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_DONE)
            ok = 0;
        else
            snprintf(err, errlen, "response store: %s", sqlite3_errmsg(db));
        sqlite3_finalize(q);
        prune(db, st->max_rows, st->max_age_s);
    }
    pthread_mutex_unlock(&st->mu);
    free(r);
    free(c);
    return ok;
}

json_t *lmx_rstore_get(lmx_rstore *st, const char *id, json_t **conversation) {
    json_t *resp = NULL;
    if (conversation) *conversation = NULL;
    pthread_mutex_lock(&st->mu);
    sqlite3 *db = db_of(st);
    sqlite3_stmt *q;
    if (db && sqlite3_prepare_v2(db,
                                 "SELECT response, conversation FROM responses WHERE id = ? AND "
                                 "created_at >= ?",
                                 -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, st->max_age_s > 0 ? (sqlite3_int64)time(NULL) - st->max_age_s : 0);
        if (sqlite3_step(q) == SQLITE_ROW) {
            resp = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
            if (resp && conversation) {
                *conversation = json_loads((const char *)sqlite3_column_text(q, 1), 0, NULL);
                if (!*conversation) {
                    json_decref(resp);
                    resp = NULL;
                }
            }
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return resp;
}

int lmx_rstore_delete(lmx_rstore *st, const char *id) {
    int n = -1;
    pthread_mutex_lock(&st->mu);
    sqlite3 *db = db_of(st);
    sqlite3_stmt *q;
    if (db &&
        sqlite3_prepare_v2(db, "DELETE FROM responses WHERE id = ?", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_DONE) n = sqlite3_changes(db) > 0;
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}
