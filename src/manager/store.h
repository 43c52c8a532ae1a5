/* The model store: a directory of GGUF files and a SQLite registry of what
 * is in it (<models_dir>/.lmx/registry.db).
 *
 * Two kinds of model live there: files dropped into the directory (listed
 * under their path relative to it, without .gguf; split models
 * NAME-00001-of-0000N.gguf as one, named NAME), and files a download
 * registered (id "org/repo:QUANT", with their source and sha256). The
 * directory is scanned on every listing; the registry caches what was read
 * from each file's header (keyed by size and mtime), keeps the downloads'
 * provenance across restarts, and holds the compatibility ledger: every load
 * outcome on this build.
 *
 * Thread-safe: one mutex (the store's) around every call. */
#ifndef LMX_MGR_STORE_H
#define LMX_MGR_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manager/mgr_err.h"

typedef struct lmx_store lmx_store;

/* Creates dir (and dir/.lmx) if missing, opens the registry. NULL with err. */
lmx_store *lmx_store_open(const char *dir, char *err, size_t errlen);
void lmx_store_close(lmx_store *st);

/* A model name a client may give: no "..", no absolute path, no control
 * characters or backslashes, at most 200 bytes. false with why set. */
bool lmx_store_valid_name(const char *name, char *why, size_t whylen);

/* A model in the store. Strings malloc'd; NULL when unknown. */
typedef struct {
    char *id;
    char *kind;   /* "local" (dropped in) | "download" (registered) */
    char *path;   /* the file (a split's first shard) */
    char **files; /* every file, shards in order */
    int n_files;
    uint64_t size; /* bytes, all files */
    char *architecture, *quantization;
    uint64_t parameters;
    int64_t context_length;
    bool supports_tools;
    char *sha256;
    char *repo, *revision, *file; /* where a download came from; repo NULL or "": dropped in */
    char *error;                  /* why its header could not be read; NULL or "": none */
    bool loaded;                  /* set by the manager's listing (lmx_mgr_store_list) */
} lmx_store_entry;

/* Every model on disk, by id: fills *out (free with lmx_store_entries_free)
 * and returns the count. */
int lmx_store_list(lmx_store *st, lmx_store_entry **out);
/* One model by id into out (NULL: only whether it exists; else free with
 * lmx_store_entry_free); false when the store has none. */
bool lmx_store_get(lmx_store *st, const char *id, lmx_store_entry *out);
void lmx_store_entry_free(lmx_store_entry *e);
void lmx_store_entries_free(lmx_store_entry *v, int n);
/* Adds a downloaded file (see lmx_mgr_register). 0, or -1 with e set. */
int lmx_store_register(lmx_store *st, const char *path, const json_t *meta, char *id, size_t idlen,
                       lmx_mgr_err *e);
/* Removes a model's files (every shard) and its registry row. 0, or -1 with e. */
int lmx_store_delete(lmx_store *st, const char *id, lmx_mgr_err *e);

/* Appends a load outcome to the ledger. */
void lmx_store_ledger_add(lmx_store *st, const char *model, const char *file, const char *sha256,
                          bool ok, const char *reason);
/* One load outcome. Strings may be NULL (model, file, sha256, reason) and
 * live only during the callback. */
typedef struct {
    const char *model, *file, *sha256, *engine_version;
    const char *result; /* "ok" | "failed" */
    const char *reason;
    long long time; /* unix seconds */
    bool has_size, has_mtime;
    long long size, mtime; /* of the file when it was loaded */
} lmx_ledger_row;
typedef void (*lmx_ledger_fn)(void *ud, const lmx_ledger_row *r);
/* fn for every ledger row, oldest first, under the store's lock (fn must not
 * call the store). */
void lmx_store_ledger_each(lmx_store *st, lmx_ledger_fn fn, void *ud);

#define LMX_ENGINE_VERSION "0.1.0"

#endif
