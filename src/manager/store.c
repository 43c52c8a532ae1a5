/* The model store: directory scan + SQLite registry + compatibility ledger.
 * See store.h. The registry is a cache and a record, never the authority on
 * what exists: a row whose files are gone is dropped at the next scan, so a
 * model deleted by hand simply disappears. */
#include "manager/store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/dtype.h"
#include "engine/gguf.h"
#include "engine/gguf_stats.h"
#include "util/grow.h"

struct lmx_store {
    char *dir;
    sqlite3 *db;
    pthread_mutex_t mu; /* guards db and every scan */
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS models ("
    " id TEXT PRIMARY KEY, kind TEXT NOT NULL, path TEXT NOT NULL, files TEXT NOT NULL,"
    " size INTEGER, mtime INTEGER, architecture TEXT, parameters INTEGER, quantization TEXT,"
    " context_length INTEGER, supports_tools INTEGER, sha256 TEXT, repo TEXT, revision TEXT,"
    " file TEXT, error TEXT);"
    "CREATE TABLE IF NOT EXISTS ledger ("
    " n INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT, file TEXT, sha256 TEXT,"
    " engine_version TEXT, result TEXT, reason TEXT, time INTEGER, size INTEGER, mtime INTEGER);";

static int mkdirs(const char *path) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

lmx_store *lmx_store_open(const char *dir, char *err, size_t errlen) {
    char meta[PATH_MAX], db[PATH_MAX];
    snprintf(meta, sizeof meta, "%s/.lmx", dir);
    if (mkdirs(meta)) {
        snprintf(err, errlen, "models directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    lmx_store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* canonical, so scanned paths and registered (realpath'd) ones compare equal */
    char real[PATH_MAX];
    st->dir = strdup(realpath(dir, real) ? real : dir);
    snprintf(db, sizeof db, "%s/registry.db", meta);
    char *emsg = NULL;
    if (sqlite3_open_v2(db, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(st->db, schema, NULL, NULL, &emsg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", db, emsg ? emsg : sqlite3_errmsg(st->db));
        sqlite3_free(emsg);
        sqlite3_close(st->db);
        free(st->dir);
        free(st);
        return NULL;
    }
    sqlite3_busy_timeout(st->db, 2000);
    pthread_mutex_init(&st->mu, NULL);
    return st;
}

void lmx_store_close(lmx_store *st) {
    if (!st) return;
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->mu);
    free(st->dir);
    free(st);
}

bool lmx_store_valid_name(const char *name, char *why, size_t whylen) {
    size_t n = name ? strlen(name) : 0;
    const char *bad = NULL;
    if (!n)
        bad = "is empty";
    else if (n > 200)
        bad = "is longer than 200 bytes";
    else if (name[0] == '/')
        bad = "is an absolute path";
    else {
        for (size_t i = 0; i < n && !bad; i++) {
            unsigned char c = (unsigned char)name[i];
            if (c < 0x20 || c == 0x7f)
                bad = "contains a control character";
            else if (c == '\\')
                bad = "contains a backslash";
        }
        /* a component "." or ".." would step outside the store, and one starting
         * with a dot is hidden: the store keeps its own files in .lmx */
        for (const char *p = name; !bad && p; p = strchr(p, '/'), p = p ? p + 1 : NULL) {
            size_t cl = strcspn(p, "/");
            if (cl && p[0] == '.')
                bad = "has a path component starting with '.'";
            else if (cl == 0)
                bad = "contains an empty path component";
        }
    }
    if (bad) snprintf(why, whylen, "%s", bad);
    return !bad;
}

/* ---- reading a file's header ---- */

typedef struct {
    char arch[32], quant[32];
    uint64_t params;
    int64_t ctx;
    bool tools;
    char error[512];
} probe_info;

static void probe(const char *path, probe_info *pi) {
    memset(pi, 0, sizeof *pi);
    lmx_gguf *g = lmx_gguf_open(path, pi->error, sizeof pi->error);
    if (!g) return;
    pi->error[0] = 0;
    size_t n;
    const char *a = lmx_gguf_get_str(g, "general.architecture", &n);
    if (a) snprintf(pi->arch, sizeof pi->arch, "%.*s", (int)n, a);
    char key[96];
    snprintf(key, sizeof key, "%s.context_length", pi->arch);
    lmx_gguf_get_int(g, key, &pi->ctx);
    const char *t = lmx_gguf_get_str(g, "tokenizer.chat_template", &n);
    pi->tools = t && memmem(t, n, "tools", 5);
    snprintf(pi->quant, sizeof pi->quant, "%s", lmx_dtype_name(lmx_gguf_main_type(g, &pi->params)));
    for (char *p = pi->quant; *p; p++) *p = (char)toupper((unsigned char)*p);
    lmx_gguf_close(g);
}

/* ---- scanning ---- */

/* "x-00001-of-00003.gguf" → 3 and the prefix length; 0 when not a split name. */
static int split_of(const char *name, size_t *prefix, int *index) {
    size_t n = strlen(name);
    const size_t tl = strlen("-00001-of-00003.gguf");
    if (n < tl) return 0;
    int a, b;
    char tail[8];
    if (sscanf(name + n - tl, "-%5d-of-%5d.%5s", &a, &b, tail) != 3 || strcmp(tail, "gguf") ||
        a < 1 || b < 1 || a > b)
        return 0;
    *prefix = n - tl;
    *index = a;
    return b;
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

/* A found model: id, first file's path, every file, total size, newest mtime. */
typedef struct {
    char id[256];
    char path[PATH_MAX];
    json_t *files;
    uint64_t size;
    int64_t mtime;
} found;

typedef struct {
    found *v;
    int n, cap;
} found_list;

static void add_found(found_list *L, const char *id, const char *dir, const char *first,
                      int n_split, size_t prefix) {
    if (!lmx_grow_int(&L->v, &L->cap, L->n + 1, sizeof *L->v, 16)) return;
    found *f = &L->v[L->n];
    memset(f, 0, sizeof *f);
    snprintf(f->id, sizeof f->id, "%s", id);
    snprintf(f->path, sizeof f->path, "%s/%s", dir, first);
    f->files = json_array();
    for (int k = 1; k <= (n_split ? n_split : 1); k++) {
        char p[PATH_MAX];
        if (n_split)
            snprintf(p, sizeof p, "%s/%.*s-%05d-of-%05d.gguf", dir, (int)prefix, first, k, n_split);
        else
            snprintf(p, sizeof p, "%s", f->path);
        struct stat sb;
        if (stat(p, &sb) || !S_ISREG(sb.st_mode)) continue;
        json_array_append_new(f->files, json_string(p));
        f->size += (uint64_t)sb.st_size;
        if (sb.st_mtime > f->mtime) f->mtime = sb.st_mtime;
    }
    L->n++;
}

/* The walk's memory: directories already read (by device and inode, so a
 * link loop such as `loop -> .` or two links to one directory list each
 * model once) and the directory links still to follow. */
typedef struct {
    struct {
        dev_t dev;
        ino_t ino;
    } * seen;
    int n_seen, cap_seen;
    struct {
        char *dir, *rel;
        int depth;
    } * links;
    int n_links, cap_links;
} walk_state;

/* true the first time a directory is met */
static bool first_visit(walk_state *W, const struct stat *sb) {
    for (int i = 0; i < W->n_seen; i++)
        if (W->seen[i].dev == sb->st_dev && W->seen[i].ino == sb->st_ino) return false;
    if (!lmx_grow_int(&W->seen, &W->cap_seen, W->n_seen + 1, sizeof *W->seen, 16)) return false;
    W->seen[W->n_seen].dev = sb->st_dev;
    W->seen[W->n_seen++].ino = sb->st_ino;
    return true;
}

static void defer_link(walk_state *W, const char *dir, const char *rel, int depth) {
    if (!lmx_grow_int(&W->links, &W->cap_links, W->n_links + 1, sizeof *W->links, 8)) return;
    W->links[W->n_links].dir = strdup(dir);
    W->links[W->n_links].rel = strdup(rel);
    W->links[W->n_links++].depth = depth;
}

/* Walks dir (rel: its path under the store, "" at the top), skipping dot
 * entries (the registry lives in .lmx) and *.part files. Directory links are
 * followed for reading, but only after every real directory was read, so a
 * directory reachable both ways is listed under its real path. */
static void walk(walk_state *W, const char *dir, const char *rel, int depth, found_list *L) {
    struct stat ds;
    if (stat(dir, &ds) || !first_visit(W, &ds)) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat sb, lb;
        if (lstat(p, &lb) || stat(p, &sb)) continue;
        char r[PATH_MAX];
        snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        if (S_ISDIR(sb.st_mode)) {
            if (depth >= 4) continue;
            if (S_ISLNK(lb.st_mode))
                defer_link(W, p, r, depth + 1);
            else
                walk(W, p, r, depth + 1, L);
            continue;
        }
        if (!S_ISREG(sb.st_mode) || !ends_with(de->d_name, ".gguf")) continue;
        size_t prefix;
        int index, n_split = split_of(de->d_name, &prefix, &index);
        if (n_split && index != 1) continue; /* listed with its first shard */
        size_t rl = strlen(r) - 5;           /* without .gguf */
        if (n_split) rl = strlen(r) - strlen(de->d_name) + prefix;
        char id[256];
        snprintf(id, sizeof id, "%.*s", (int)rl, r);
        add_found(L, id, dir, de->d_name, n_split, prefix);
    }
    closedir(d);
}

/* ---- rows ---- */

static const char *col_text(sqlite3_stmt *s, int i) {
    return (const char *)sqlite3_column_text(s, i);
}

/* sql prepared on the store's database; NULL when it cannot be (a statement
 * that fails to prepare is skipped: the store's tables are its own). */
static sqlite3_stmt *prep(lmx_store *st, const char *sql) {
    sqlite3_stmt *s;
    return sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK ? s : NULL;
}

#define ROW_COLS                                                                                   \
    "id, kind, path, files, size, mtime, architecture, parameters, quantization, "                 \
    "context_length, supports_tools, sha256, repo, revision, file, error"

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

/* A registry row as an entry (strings copied). false when out of memory. */
static bool row_entry(sqlite3_stmt *s, lmx_store_entry *e) {
    memset(e, 0, sizeof *e);
    e->id = dup_or_null(col_text(s, 0));
    e->kind = dup_or_null(col_text(s, 1));
    e->path = dup_or_null(col_text(s, 2));
    json_t *files = json_loads(col_text(s, 3) ? col_text(s, 3) : "[]", 0, NULL);
    e->files = calloc(json_array_size(files) + 1, sizeof *e->files);
    bool ok = e->id && e->kind && e->path && e->files;
    size_t i;
    json_t *v;
    json_array_foreach(files, i, v) {
        if (!ok) break;
        ok = (e->files[e->n_files] = strdup(json_string_value(v) ? json_string_value(v) : ""));
        e->n_files += ok;
    }
    json_decref(files);
    e->size = (uint64_t)sqlite3_column_int64(s, 4);
    e->architecture = dup_or_null(col_text(s, 6));
    e->parameters = (uint64_t)sqlite3_column_int64(s, 7);
    e->quantization = dup_or_null(col_text(s, 8));
    e->context_length = sqlite3_column_int64(s, 9);
    e->supports_tools = sqlite3_column_int(s, 10) != 0;
    e->sha256 = dup_or_null(col_text(s, 11));
    e->repo = dup_or_null(col_text(s, 12));
    e->revision = dup_or_null(col_text(s, 13));
    e->file = dup_or_null(col_text(s, 14));
    e->error = dup_or_null(col_text(s, 15));
    if (!ok) lmx_store_entry_free(e);
    return ok;
}

void lmx_store_entry_free(lmx_store_entry *e) {
    char **strs[] = {&e->id,     &e->kind, &e->path,     &e->architecture, &e->quantization,
                     &e->sha256, &e->repo, &e->revision, &e->file,         &e->error};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) free(*strs[i]);
    for (int i = 0; i < e->n_files; i++) free(e->files[i]);
    free(e->files);
    memset(e, 0, sizeof *e);
}

void lmx_store_entries_free(lmx_store_entry *v, int n) {
    for (int i = 0; i < n; i++) lmx_store_entry_free(&v[i]);
    free(v);
}

static void upsert(lmx_store *st, const char *id, const char *kind, const found *f,
                   const probe_info *pi, const char *sha, const char *repo, const char *rev,
                   const char *file) {
    sqlite3_stmt *s = prep(st, "INSERT OR REPLACE INTO models (" ROW_COLS
                               ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!s) return;
    char *files = json_dumps(f->files, JSON_COMPACT);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, f->path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, files ? files : "[]", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)f->size);
    sqlite3_bind_int64(s, 6, f->mtime);
    sqlite3_bind_text(s, 7, pi->arch, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 8, (sqlite3_int64)pi->params);
    sqlite3_bind_text(s, 9, pi->quant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 10, pi->ctx);
    sqlite3_bind_int(s, 11, pi->tools);
    sqlite3_bind_text(s, 12, sha, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 13, repo, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 14, rev, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 15, file, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 16, pi->error, -1, SQLITE_TRANSIENT);
    sqlite3_step(s);
    sqlite3_finalize(s);
    free(files);
}

static void delete_row(lmx_store *st, const char *id) {
    sqlite3_stmt *s = prep(st, "DELETE FROM models WHERE id = ?");
    if (!s) return;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_step(s);
    sqlite3_finalize(s);
}

/* Brings the registry in line with the directory: new or changed dropped
 * files are probed, rows whose files are gone are dropped. Store lock held. */
static void sync_locked(lmx_store *st) {
    found_list L = {0};
    walk_state W = {0};
    walk(&W, st->dir, "", 0, &L);
    for (int i = 0; i < W.n_links; i++) { /* the list may grow while followed */
        if (W.links[i].dir && W.links[i].rel)
            walk(&W, W.links[i].dir, W.links[i].rel, W.links[i].depth, &L);
        free(W.links[i].dir);
        free(W.links[i].rel);
    }
    free(W.links);
    free(W.seen);
    sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL);
    /* rows first: drop the vanished, remember registered downloads' paths */
    json_t *dl_paths = json_object(), *gone = json_array(), *cached = json_object();
    sqlite3_stmt *s = prep(st, "SELECT id, kind, path, size, mtime FROM models");
    if (s) {
        while (sqlite3_step(s) == SQLITE_ROW) {
            const char *id = col_text(s, 0), *kind = col_text(s, 1), *path = col_text(s, 2);
            struct stat sb;
            if (stat(path, &sb) || !S_ISREG(sb.st_mode)) {
                json_array_append_new(gone, json_string(id));
                continue;
            }
            if (!strcmp(kind, "download"))
                json_object_set_new(dl_paths, path, json_true());
            else
                json_object_set_new(cached, id,
                                    json_pack("{s:s,s:I,s:I}", "path", path, "size",
                                              (json_int_t)sqlite3_column_int64(s, 3), "mtime",
                                              (json_int_t)sqlite3_column_int64(s, 4)));
        }
        sqlite3_finalize(s);
    }
    size_t i;
    json_t *v;
    json_array_foreach(gone, i, v) delete_row(st, json_string_value(v));
    for (int k = 0; k < L.n; k++) {
        found *f = &L.v[k];
        /* a registered download: its local row (if scanned before registration) goes */
        if (json_object_get(dl_paths, f->path)) {
            json_decref(f->files);
            continue;
        }
        json_t *c = json_object_get(cached, f->id);
        if (c && !strcmp(json_string_value(json_object_get(c, "path")), f->path) &&
            (uint64_t)json_integer_value(json_object_get(c, "size")) == f->size &&
            json_integer_value(json_object_get(c, "mtime")) == f->mtime)
            goto next;
        {
            probe_info pi;
            probe(f->path, &pi);
            upsert(st, f->id, "local", f, &pi, NULL, NULL, NULL, NULL);
        }
    next:
        json_object_del(cached, f->id);
        json_decref(f->files);
    }
    /* local rows no scan found (e.g. a file now shadowed by a download) */
    const char *key;
    json_object_foreach(cached, key, v) delete_row(st, key);
    sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    json_decref(dl_paths);
    json_decref(gone);
    json_decref(cached);
    free(L.v);
}

int lmx_store_list(lmx_store *st, lmx_store_entry **out) {
    int n = 0, cap = 0;
    *out = NULL;
    pthread_mutex_lock(&st->mu);
    sync_locked(st);
    sqlite3_stmt *s = prep(st, "SELECT " ROW_COLS " FROM models ORDER BY id");
    if (s) {
        while (sqlite3_step(s) == SQLITE_ROW)
            if (lmx_grow_int(out, &cap, n + 1, sizeof **out, 16) && row_entry(s, &(*out)[n])) n++;
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}

bool lmx_store_get(lmx_store *st, const char *id, lmx_store_entry *out) {
    bool found = false;
    pthread_mutex_lock(&st->mu);
    sync_locked(st);
    sqlite3_stmt *s = prep(st, "SELECT " ROW_COLS " FROM models WHERE id = ?");
    if (s) {
        sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(s) == SQLITE_ROW) found = !out || row_entry(s, out);
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
    return found;
}

static const char *meta_str(const json_t *meta, const char *k) {
    const char *v = json_string_value(json_object_get(meta, k));
    return v && *v ? v : NULL;
}

int lmx_store_register(lmx_store *st, const char *path, const json_t *meta, char *id, size_t idlen,
                       lmx_mgr_err *e) {
    /* the directory is resolved, not the file: a symlinked model stays in the store */
    char real[PATH_MAX], root[PATH_MAX], pdir[PATH_MAX], rdir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    snprintf(pdir, sizeof pdir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    struct stat sb;
    errno = 0;
    if (!slash || !slash[1] || !realpath(pdir, rdir) || !realpath(st->dir, root) ||
        stat(path, &sb) || !S_ISREG(sb.st_mode)) {
        lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_FILE, NULL, "%s: %s", path,
                     errno ? strerror(errno) : "not a regular file");
        return -1;
    }
    snprintf(real, sizeof real, "%s/%s", rdir, slash + 1);
    size_t rl = strlen(root);
    if (strncmp(real, root, rl) || real[rl] != '/') {
        lmx_mgr_fail(e, LMX_MGR_INVALID, LMX_MGR_W_NONE, NULL,
                     "%s is outside the models directory %s", path, root);
        return -1;
    }
    const char *base = strrchr(real, '/') + 1;
    size_t prefix;
    int index, n_split = split_of(base, &prefix, &index);
    probe_info pi;
    probe(real, &pi);
    const char *repo = meta_str(meta, "repo"), *quant = meta_str(meta, "quant");
    char q[64];
    if (quant) {
        snprintf(q, sizeof q, "%s", quant);
    } else {
        /* the quantization as the file name spells it: the last '-' or '.' separated part */
        char stem[256];
        snprintf(stem, sizeof stem, "%.*s", (int)(n_split ? prefix : strlen(base) - 5), base);
        char *d = strrchr(stem, '.'), *h = strrchr(stem, '-');
        char *sep = d > h ? d : h;
        snprintf(q, sizeof q, "%s", sep ? sep + 1 : pi.quant);
    }
    for (char *p = q; *p; p++) *p = (char)toupper((unsigned char)*p);
    char name[512];
    if (repo)
        snprintf(name, sizeof name, "%s:%s", repo, q);
    else
        snprintf(name, sizeof name, "%.*s", (int)(strlen(real) - rl - 1 - 5), real + rl + 1);
    char why[128];
    if (!lmx_store_valid_name(name, why, sizeof why)) {
        lmx_mgr_fail(e, LMX_MGR_BAD_NAME, LMX_MGR_W_NONE, NULL, "model id '%s' %s", name, why);
        return -1;
    }
    found f = {0};
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(base - real - 1), real);
    found_list L = {0};
    add_found(&L, name, dir, base, n_split, prefix);
    if (!L.n) {
        lmx_mgr_fail(e, LMX_MGR_INTERNAL, LMX_MGR_W_NONE, NULL, "out of memory");
        return -1;
    }
    f = L.v[0];
    free(L.v);
    pthread_mutex_lock(&st->mu);
    upsert(st, name, "download", &f, &pi, meta_str(meta, "sha256"), repo,
           meta_str(meta, "revision"), meta_str(meta, "file"));
    pthread_mutex_unlock(&st->mu);
    json_decref(f.files);
    snprintf(id, idlen, "%s", name);
    return 0;
}

/* Opens the directory holding `path` (absolute, under root) one component at a
 * time from the root with O_NOFOLLOW, so no directory link is ever gone
 * through; *base gets the last component. The fd, or -1 with why set:
 * "outside" (not under root) or the link's path. */
static int open_parent_inside(const char *root, const char *path, const char **base, char *why,
                              size_t whylen) {
    size_t rl = strlen(root);
    if (strncmp(path, root, rl) || path[rl] != '/') {
        snprintf(why, whylen, "outside");
        return -1;
    }
    int fd = open(root, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    const char *p = path + rl + 1;
    for (const char *sl; fd >= 0 && (sl = strchr(p, '/')); p = sl + 1) {
        char comp[NAME_MAX + 1];
        snprintf(comp, sizeof comp, "%.*s", (int)(sl - p), p);
        int nfd = openat(fd, comp, O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC);
        if (nfd < 0) snprintf(why, whylen, "%.*s", (int)(sl - path), path);
        close(fd);
        fd = nfd;
    }
    if (fd < 0 && !why[0]) snprintf(why, whylen, "%s", root);
    *base = p;
    return fd;
}

int lmx_store_delete(lmx_store *st, const char *id, lmx_mgr_err *e) {
    lmx_store_entry o;
    if (!lmx_store_get(st, id, &o)) {
        lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_MODEL, "model",
                     "The model '%s' is not in the store.", id);
        return -1;
    }
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    /* every file is resolved from the store root without following a
     * directory link before any is removed: a model listed through a linked
     * directory lives outside the store, and a refusal must lose nothing */
    for (int i = 0; i < o.n_files; i++) {
        const char *base;
        char why[PATH_MAX] = "";
        int fd = open_parent_inside(st->dir, o.files[i], &base, why, sizeof why);
        if (fd >= 0) {
            close(fd);
            continue;
        }
        lmx_mgr_fail(e, LMX_MGR_OUTSIDE_STORE, LMX_MGR_W_MODEL, "model",
                     "The model '%s' is reached through the directory link %s: LMX deletes only "
                     "inside the models directory %s, never through a link. Remove the link (or "
                     "its target) by hand.",
                     id, why, st->dir);
        rc = -1;
        break;
    }
    /* unlink, never follow: a symlinked model removes the link, not its target */
    for (int i = 0; i < o.n_files; i++) {
        if (rc) break;
        const char *base;
        char why[PATH_MAX] = "";
        int fd = open_parent_inside(st->dir, o.files[i], &base, why, sizeof why);
        if (fd < 0 || (unlinkat(fd, base, 0) && errno != ENOENT)) {
            lmx_mgr_fail(e, LMX_MGR_INTERNAL, LMX_MGR_W_NONE, NULL, "%s: %s", o.files[i],
                         strerror(errno));
            rc = -1;
        }
        if (fd >= 0) close(fd);
    }
    if (!rc) {
        delete_row(st, id);
        /* a download's org/repo/ directories go when empty (rmdir refuses otherwise) */
        char d[PATH_MAX];
        snprintf(d, sizeof d, "%s", o.path);
        size_t root = strlen(st->dir);
        for (char *sl = strrchr(d, '/'); sl && (size_t)(sl - d) > root; sl = strrchr(d, '/')) {
            *sl = 0;
            const char *base;
            char why[PATH_MAX] = "";
            int fd = open_parent_inside(st->dir, d, &base, why, sizeof why);
            int gone = fd >= 0 ? unlinkat(fd, base, AT_REMOVEDIR) : -1;
            if (fd >= 0) close(fd);
            if (gone) break;
        }
    }
    pthread_mutex_unlock(&st->mu);
    lmx_store_entry_free(&o);
    return rc;
}

void lmx_store_ledger_add(lmx_store *st, const char *model, const char *file, const char *sha256,
                          bool ok, const char *reason) {
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "INSERT INTO ledger (model, file, sha256, engine_version, result, "
                               "reason, time, size, mtime) VALUES (?,?,?,?,?,?,?,?,?)");
    if (s) {
        sqlite3_bind_text(s, 1, model, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, file, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, sha256, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, LMX_ENGINE_VERSION, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, ok ? "ok" : "failed", -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 7, (sqlite3_int64)time(NULL));
        /* without a sha256, size and mtime identify the file that was tried */
        struct stat sb;
        if (file && !stat(file, &sb)) {
            sqlite3_bind_int64(s, 8, (sqlite3_int64)sb.st_size);
            sqlite3_bind_int64(s, 9, (sqlite3_int64)sb.st_mtime);
        }
        sqlite3_step(s);
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
}

void lmx_store_ledger_each(lmx_store *st, lmx_ledger_fn fn, void *ud) {
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "SELECT model, file, sha256, engine_version, result, reason, time, "
                               "size, mtime FROM ledger ORDER BY n");
    if (s) {
        while (sqlite3_step(s) == SQLITE_ROW) {
            lmx_ledger_row r = {.model = col_text(s, 0),
                                .file = col_text(s, 1),
                                .sha256 = col_text(s, 2),
                                .engine_version = col_text(s, 3),
                                .result = col_text(s, 4),
                                .reason = col_text(s, 5),
                                .time = sqlite3_column_int64(s, 6),
                                .has_size = sqlite3_column_type(s, 7) != SQLITE_NULL,
                                .size = sqlite3_column_int64(s, 7),
                                .has_mtime = sqlite3_column_type(s, 8) != SQLITE_NULL,
                                .mtime = sqlite3_column_int64(s, 8)};
            fn(ud, &r);
        }
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
}
