/* Downloads from a Hugging Face hub into the model store.
 *
 * lmx_dl_start does the parts a client must hear about at once (the repo and
 * file exist, the bytes fit on disk) on the caller's thread, then queues the
 * download; a few worker threads fetch queued downloads one file at a time
 * into <models_dir>/<org>/<repo>/<file>.part, verify the sha256 the hub
 * announced, rename to the final name and register the model.
 *
 * Each download has a record, <models_dir>/.lmx/downloads/<id>.json, written
 * on every state change; a daemon started again requeues the unfinished ones,
 * which resolve their URL again (CDN links expire) and continue from the
 * .part's length with a Range request. */
#include "manager/download.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "manager/hub.h"
#include "util/clock.h"
#include "trace/trace.h"
#include "util/curl_init.h"
#include "util/grow.h"

#define N_WORKERS    2
#define MAX_ATTEMPTS 6

typedef enum {
    DL_QUEUED,
    DL_DOWNLOADING,
    DL_VERIFYING,
    DL_COMPLETED,
    DL_FAILED,
    DL_CANCELLED
} dl_state;
static const char *const state_name[] = {"queued",    "downloading", "verifying",
                                         "completed", "failed",      "cancelled"};

typedef struct {
    char *name;      /* path in the repo; immutable */
    char sha256[65]; /* expected (from the hub), or computed when it gave none */
    int64_t size;    /* expected; -1 unknown */
    bool done;       /* verified and at its final name */
    bool fetched;    /* this download put it there (a cancel removes it) */
} dl_file;

typedef struct dl_item {
    struct dl_item *next;
    char id[24];
    char *repo, *revision; /* immutable */
    char quant[32];
    char commit[41]; /* what revision resolved to at the start; "" unknown */
    dl_file *files;
    int n_files;
    dl_state state;
    int64_t bytes;
    double rate, tick_t; /* smoothed bytes/s; when it was last updated */
    int64_t tick_bytes;
    char model[256];
    char error[700];
    bool cancel;  /* asked to cancel */
    bool running; /* a worker holds it */
    long long created;
} dl_item;

struct lmx_dl {
    lmx_mgr *mgr;
    lmx_hub hub;
    char *endpoint, *token;
    char models_dir[PATH_MAX], rec_dir[PATH_MAX + 32];
    /* mu guards the list, every item's mutable fields, stopping and version */
    pthread_mutex_t mu;
    pthread_cond_t work;     /* a download was queued, or stopping */
    pthread_cond_t changed;  /* version moved: some status changed */
    pthread_mutex_t save_mu; /* serialises record writes */
    unsigned long version;
    unsigned long long fetched; /* bytes received, all downloads */
    void (*on_bytes)(uint64_t n);
    dl_item *items;
    bool stopping;
    pthread_t workers[N_WORKERS];
    int n_workers;
};

/* ---- helpers ---- */

static bool is_final(dl_state s) {
    return s == DL_COMPLETED || s == DL_FAILED || s == DL_CANCELLED;
}

static void bump(lmx_dl *d) { /* under mu */
    d->version++;
    pthread_cond_broadcast(&d->changed);
}

static int mkdir_p(const char *path) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    return 0;
}

static void final_path(const lmx_dl *d, const dl_item *it, int fi, char *out, size_t n) {
    snprintf(out, n, "%s/%s/%s", d->models_dir, it->repo, it->files[fi].name);
}

static void part_path(const lmx_dl *d, const dl_item *it, int fi, char *out, size_t n) {
    snprintf(out, n, "%s/%s/%s.part", d->models_dir, it->repo, it->files[fi].name);
}

static int64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) ? -1 : (int64_t)st.st_size;
}

static int64_t total_of(const dl_item *it) {
    int64_t t = 0;
    for (int i = 0; i < it->n_files; i++) {
        if (it->files[i].size < 0) return -1;
        t += it->files[i].size;
    }
    return t;
}

/* Bytes on disk for it: finished files plus .part lengths. */
static int64_t bytes_on_disk(const lmx_dl *d, const dl_item *it) {
    int64_t b = 0;
    char p[PATH_MAX + 1100];
    for (int i = 0; i < it->n_files; i++) {
        if (it->files[i].done) {
            b += it->files[i].size > 0 ? it->files[i].size : 0;
            continue;
        }
        part_path(d, it, i, p, sizeof p);
        int64_t s = file_size(p);
        if (s > 0) b += s;
    }
    return b;
}

static void item_free(dl_item *it) {
    if (!it) return;
    for (int i = 0; i < it->n_files; i++) free(it->files[i].name);
    free(it->files);
    free(it->repo);
    free(it->revision);
    free(it);
}

static dl_item *find(lmx_dl *d, const char *id) {
    for (dl_item *it = d->items; it; it = it->next)
        if (!strcmp(it->id, id)) return it;
    return NULL;
}

static void append(lmx_dl *d, dl_item *it) {
    dl_item **p = &d->items;
    while (*p) p = &(*p)->next;
    *p = it;
}

/* ---- records ---- */

static json_t *record_json(const dl_item *it) { /* under mu */
    json_t *files = json_array();
    for (int i = 0; i < it->n_files; i++) {
        const dl_file *f = &it->files[i];
        json_array_append_new(files, json_pack("{s:s,s:s,s:I,s:b,s:b}", "name", f->name, "sha256",
                                               f->sha256, "size", (json_int_t)f->size, "done",
                                               f->done, "fetched", f->fetched));
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:s,s:I}", "id", it->id, "repo", it->repo,
                     "revision", it->revision, "commit", it->commit, "quant", it->quant, "files",
                     files, "state", state_name[it->state], "model", it->model, "error", it->error,
                     "created", (json_int_t)it->created);
}

/* Writes it's record (atomically: a temporary file renamed over it). */
static void save(lmx_dl *d, dl_item *it) {
    pthread_mutex_lock(&d->mu);
    json_t *r = record_json(it);
    pthread_mutex_unlock(&d->mu);
    char path[PATH_MAX + 64], tmp[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s.json", d->rec_dir, it->id);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    pthread_mutex_lock(&d->save_mu);
    if (!mkdir_p(d->rec_dir) && !json_dump_file(r, tmp, JSON_INDENT(1) | JSON_PRESERVE_ORDER))
        rename(tmp, path);
    pthread_mutex_unlock(&d->save_mu);
    json_decref(r);
}

static bool valid_id(const char *id) {
    size_t n = strlen(id);
    if (n < 4 || n >= 24 || strncmp(id, "dl_", 3)) return false;
    for (size_t i = 3; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return false;
    return true;
}

static dl_item *item_from_record(const json_t *r) {
    const char *id = json_string_value(json_object_get(r, "id"));
    const char *repo = json_string_value(json_object_get(r, "repo"));
    const char *rev = json_string_value(json_object_get(r, "revision"));
    const char *st = json_string_value(json_object_get(r, "state"));
    json_t *files = json_object_get(r, "files");
    if (!id || !valid_id(id) || !lmx_hub_valid_repo(repo) || !rev || !st || !json_is_array(files) ||
        !json_array_size(files) || json_array_size(files) > 1000)
        return NULL;
    dl_item *it = calloc(1, sizeof *it);
    if (!it) return NULL;
    snprintf(it->id, sizeof it->id, "%s", id);
    it->repo = strdup(repo);
    it->revision = strdup(rev);
    it->files = calloc(json_array_size(files), sizeof *it->files);
    const char *q = json_string_value(json_object_get(r, "quant"));
    snprintf(it->quant, sizeof it->quant, "%s", q ? q : "");
    const char *cm = json_string_value(json_object_get(r, "commit"));
    if (cm && strlen(cm) == 40 && strspn(cm, "0123456789abcdef") == 40) memcpy(it->commit, cm, 41);
    const char *m = json_string_value(json_object_get(r, "model"));
    snprintf(it->model, sizeof it->model, "%s", m ? m : "");
    const char *er = json_string_value(json_object_get(r, "error"));
    snprintf(it->error, sizeof it->error, "%s", er ? er : "");
    it->created = (long long)json_integer_value(json_object_get(r, "created"));
    it->state = DL_QUEUED;
    for (int s = 0; s < 6; s++)
        if (!strcmp(st, state_name[s])) it->state = (dl_state)s;
    if (!it->repo || !it->revision || !it->files) goto bad;
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *sha = json_string_value(json_object_get(f, "sha256"));
        if (!lmx_hub_valid_path(name)) goto bad;
        dl_file *o = &it->files[it->n_files++];
        o->name = strdup(name);
        if (!o->name) goto bad;
        snprintf(o->sha256, sizeof o->sha256, "%s", sha && strlen(sha) == 64 ? sha : "");
        json_t *sz = json_object_get(f, "size");
        o->size = json_is_integer(sz) ? (int64_t)json_integer_value(sz) : -1;
        o->done = json_is_true(json_object_get(f, "done"));
        o->fetched = json_is_true(json_object_get(f, "fetched"));
    }
    return it;
bad:
    item_free(it);
    return NULL;
}

static int by_created(const void *a, const void *b) {
    const dl_item *x = *(dl_item *const *)a, *y = *(dl_item *const *)b;
    if (x->created != y->created) return x->created < y->created ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Reads every record; unfinished downloads are queued again. */
static void load_records(lmx_dl *d) {
    DIR *dir = opendir(d->rec_dir);
    if (!dir) return;
    dl_item **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json")) continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", d->rec_dir, de->d_name);
        json_t *r = json_load_file(path, 0, NULL);
        dl_item *it = r ? item_from_record(r) : NULL;
        json_decref(r);
        if (!it) continue;
        if (!is_final(it->state)) it->state = DL_QUEUED;
        it->bytes = bytes_on_disk(d, it);
        if (!lmx_grow(&v, &cap, n + 1, sizeof *v, 16)) {
            item_free(it);
            break;
        }
        v[n++] = it;
    }
    closedir(dir);
    if (n) qsort(v, n, sizeof *v, by_created);
    for (size_t i = 0; i < n; i++) append(d, v[i]);
    free(v);
}

/* ---- status ---- */

/* it's record in out (strings copied). Under mu. false when out of memory. */
static bool info_of(const dl_item *it, lmx_dl_info *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", it->id);
    out->state = state_name[it->state];
    out->repo = strdup(it->repo);
    out->revision = strdup(it->revision);
    out->files = calloc((size_t)it->n_files, sizeof *out->files);
    bool ok = out->repo && out->revision && out->files;
    for (int i = 0; ok && i < it->n_files; i++) {
        ok = (out->files[i] = strdup(it->files[i].name)) != NULL;
        out->n_files += ok;
    }
    if (!ok) {
        lmx_dl_info_free(out);
        return false;
    }
    memcpy(out->commit, it->commit, sizeof out->commit);
    memcpy(out->quant, it->quant, sizeof out->quant);
    out->bytes = it->bytes;
    out->total = total_of(it);
    bool moving = it->state == DL_DOWNLOADING;
    out->rate = moving ? it->rate : 0;
    out->eta = moving && out->rate > 0 && out->total >= 0
                   ? (int64_t)ceil((double)(out->total - it->bytes) / out->rate)
                   : -1;
    snprintf(out->model, sizeof out->model, "%s", it->model);
    snprintf(out->error, sizeof out->error, "%s", it->error);
    out->created = it->created;
    return true;
}

void lmx_dl_info_free(lmx_dl_info *i) {
    free(i->repo);
    free(i->revision);
    for (int k = 0; k < i->n_files; k++) free(i->files[k]);
    free(i->files);
    memset(i, 0, sizeof *i);
}

bool lmx_dl_final(const char *state) {
    return state &&
           (!strcmp(state, "completed") || !strcmp(state, "failed") || !strcmp(state, "cancelled"));
}

bool lmx_dl_get(lmx_dl *d, const char *id, lmx_dl_info *out) {
    pthread_mutex_lock(&d->mu);
    dl_item *it = find(d, id);
    bool ok = it && info_of(it, out);
    pthread_mutex_unlock(&d->mu);
    return ok;
}

int lmx_dl_all(lmx_dl *d, lmx_dl_info **out) {
    pthread_mutex_lock(&d->mu);
    int n = 0, k = 0;
    for (dl_item *it = d->items; it; it = it->next) n++;
    *out = calloc((size_t)(n ? n : 1), sizeof **out);
    for (dl_item *it = d->items; *out && it; it = it->next)
        if (info_of(it, &(*out)[k])) k++;
    pthread_mutex_unlock(&d->mu);
    return k;
}

void lmx_dl_infos_free(lmx_dl_info *list, int n) {
    for (int i = 0; i < n; i++) lmx_dl_info_free(&list[i]);
    free(list);
}

unsigned long long lmx_dl_bytes_fetched(lmx_dl *d) {
    pthread_mutex_lock(&d->mu);
    unsigned long long n = d->fetched;
    pthread_mutex_unlock(&d->mu);
    return n;
}

void lmx_dl_on_bytes(lmx_dl *d, void (*fn)(uint64_t n)) {
    pthread_mutex_lock(&d->mu);
    d->on_bytes = fn;
    pthread_mutex_unlock(&d->mu);
}

bool lmx_dl_wait(lmx_dl *d, const char *id, unsigned long *seen, int timeout_ms, lmx_dl_info *out) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&d->mu);
    while (d->version == *seen && !d->stopping)
        if (pthread_cond_timedwait(&d->changed, &d->mu, &dl) == ETIMEDOUT) break;
    dl_item *it = find(d, id);
    bool ok = it && info_of(it, out);
    *seen = d->version;
    pthread_mutex_unlock(&d->mu);
    return ok;
}

/* ---- the worker ---- */

/* Progress from a transfer or a hash: counts bytes, keeps the rate, and says
 * whether to go on. */
typedef struct {
    lmx_dl *d;
    dl_item *it;
    bool count; /* hashing does not add to bytes */
} progress;

static bool on_progress(void *ud, size_t n) {
    progress *p = ud;
    lmx_dl *d = p->d;
    dl_item *it = p->it;
    pthread_mutex_lock(&d->mu);
    if (p->count) {
        it->bytes += (int64_t)n;
        d->fetched += n;
    }
    double now = lmx_now_s(), dt = now - it->tick_t;
    if (dt >= 0.25) {
        double inst = (double)(it->bytes - it->tick_bytes) / dt;
        /* exponential smoothing: steady enough for an eta, quick to follow a change */
        it->rate = it->rate > 0 ? 0.7 * it->rate + 0.3 * inst : inst;
        it->tick_t = now;
        it->tick_bytes = it->bytes;
        bump(d);
    }
    bool go = !it->cancel && !d->stopping;
    void (*cb)(uint64_t) = d->on_bytes;
    pthread_mutex_unlock(&d->mu);
    if (cb && p->count && n) cb((uint64_t)n);
    return go;
}

enum { RUN_OK = 0, RUN_FAILED = -1, RUN_STOPPED = 1, RUN_CANCELLED = 2 };

static int interrupted(lmx_dl *d, dl_item *it) { /* under mu */
    return it->cancel ? RUN_CANCELLED : d->stopping ? RUN_STOPPED : RUN_OK;
}

/* Sleeps s seconds unless cancelled or stopping. */
static int backoff(lmx_dl *d, dl_item *it, int s) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += s;
    pthread_mutex_lock(&d->mu);
    int r;
    while (!(r = interrupted(d, it)))
        if (pthread_cond_timedwait(&d->changed, &d->mu, &dl) == ETIMEDOUT) break;
    pthread_mutex_unlock(&d->mu);
    return r;
}

static void set_state(lmx_dl *d, dl_item *it, dl_state s) {
    pthread_mutex_lock(&d->mu);
    it->state = s;
    bump(d);
    pthread_mutex_unlock(&d->mu);
}

/* Verifies path against file fi's expected sha256; RUN_OK or RUN_FAILED with err. */
static int verify(lmx_dl *d, dl_item *it, int fi, const char *path, char *err, size_t errlen) {
    dl_file *f = &it->files[fi];
    set_state(d, it, DL_VERIFYING);
    int64_t sz = file_size(path);
    if (f->size >= 0 && sz != f->size) {
        snprintf(err, errlen, "%s: %lld bytes arrived but the hub announced %lld.", f->name,
                 (long long)sz, (long long)f->size);
        return RUN_FAILED;
    }
    char hex[65];
    progress p = {d, it, false};
    if (lmx_sha256_file(path, hex, on_progress, &p)) {
        if (errno == ECANCELED) {
            pthread_mutex_lock(&d->mu);
            int r = interrupted(d, it);
            pthread_mutex_unlock(&d->mu);
            return r;
        }
        snprintf(err, errlen, "%s: reading it back failed: %s.", path, strerror(errno));
        return RUN_FAILED;
    }
    pthread_mutex_lock(&d->mu);
    bool bad = f->sha256[0] && strcmp(hex, f->sha256);
    if (!bad && !f->sha256[0]) memcpy(f->sha256, hex, sizeof hex);
    pthread_mutex_unlock(&d->mu);
    if (bad) {
        snprintf(err, errlen,
                 "sha256 mismatch for %s: the hub announced %s but the bytes hash to %s; the "
                 "download was discarded.",
                 f->name, f->sha256, hex);
        return RUN_FAILED;
    }
    return RUN_OK;
}

/* Fetches file fi to its final name. */
static int fetch_one(lmx_dl *d, dl_item *it, int fi, char *err, size_t errlen) {
    dl_file *f = &it->files[fi];
    char fin[PATH_MAX + 1100], part[PATH_MAX + 1100];
    final_path(d, it, fi, fin, sizeof fin);
    part_path(d, it, fi, part, sizeof part);
    char dir[sizeof fin];
    snprintf(dir, sizeof dir, "%s", fin);
    *strrchr(dir, '/') = 0;
    if (mkdir_p(dir)) {
        snprintf(err, errlen, "Cannot create %s: %s.", dir, strerror(errno));
        return RUN_FAILED;
    }
    if (file_size(fin) >= 0 && file_size(part) < 0) {
        /* already in the store (an earlier download): keep it if it is the same file */
        int r = verify(d, it, fi, fin, err, errlen);
        if (r == RUN_FAILED && !strncmp(err, "sha256", 6))
            snprintf(err, errlen, "%s already exists in the store with other content.", fin);
        if (r) return r;
        pthread_mutex_lock(&d->mu);
        f->done = true;
        it->bytes = bytes_on_disk(d, it);
        bump(d);
        pthread_mutex_unlock(&d->mu);
        save(d, it);
        return RUN_OK;
    }
    char why[600] = "";
    bool got = false;
    for (int attempt = 0; attempt < MAX_ATTEMPTS && !got; attempt++) {
        if (attempt) {
            int r = backoff(d, it, attempt < 5 ? 1 << attempt : 30);
            if (r) return r;
        }
        lmx_hub_target t;
        lmx_mgr_err e = {0};
        if (lmx_hub_probe(&d->hub, it->repo, it->commit[0] ? it->commit : it->revision, f->name, &t,
                          &e)) {
            snprintf(why, sizeof why, "%s", e.message);
            if (e.status == LMX_MGR_NOT_FOUND || e.status == LMX_MGR_FORBIDDEN) break;
            continue;
        }
        /* another sha256 than recorded: the file changed upstream, old bytes are no use */
        pthread_mutex_lock(&d->mu);
        bool changed = t.sha256[0] && f->sha256[0] && strcmp(t.sha256, f->sha256);
        if (t.sha256[0]) memcpy(f->sha256, t.sha256, sizeof f->sha256);
        if (t.size >= 0) f->size = t.size;
        pthread_mutex_unlock(&d->mu);
        if (changed) unlink(part);
        FILE *fp = fopen(part, "ab");
        if (!fp) {
            lmx_hub_target_free(&t);
            snprintf(err, errlen, "Cannot write %s: %s.", part, strerror(errno));
            return RUN_FAILED;
        }
        int64_t off = file_size(part);
        if (off < 0) off = 0;
        if (f->size >= 0 && off > f->size) {
            if (ftruncate(fileno(fp), 0))
                off = -1;
            else
                off = 0;
        }
        pthread_mutex_lock(&d->mu);
        it->state = DL_DOWNLOADING;
        it->bytes = bytes_on_disk(d, it);
        it->tick_t = lmx_now_s();
        it->tick_bytes = it->bytes;
        bump(d);
        pthread_mutex_unlock(&d->mu);
        lmx_fetch_result r = LMX_FETCH_OK;
        progress p = {d, it, true};
        if (off < 0)
            r = LMX_FETCH_RESTART;
        else if (!(f->size >= 0 && off == f->size))
            r = lmx_hub_fetch(&d->hub, &t, fp, off, on_progress, &p, why, sizeof why);
        lmx_hub_target_free(&t);
        bool wrote = fflush(fp) == 0 && fsync(fileno(fp)) == 0;
        wrote = (fclose(fp) == 0) && wrote;
        if (!wrote && r == LMX_FETCH_OK) {
            snprintf(err, errlen, "Writing %s failed: %s.", part, strerror(errno));
            return RUN_FAILED;
        }
        switch (r) {
        case LMX_FETCH_OK:
            got = true;
            break;
        case LMX_FETCH_STOPPED: {
            pthread_mutex_lock(&d->mu);
            int s = interrupted(d, it);
            pthread_mutex_unlock(&d->mu);
            return s ? s : RUN_STOPPED;
        }
        case LMX_FETCH_RESTART:
            unlink(part);
            break;
        case LMX_FETCH_RETRY:
            break;
        case LMX_FETCH_FATAL:
            snprintf(err, errlen, "Downloading %s failed: %s.", f->name, why);
            return RUN_FAILED;
        }
    }
    if (!got) {
        snprintf(err, errlen, "Downloading %s failed after %d attempts: %s", f->name, MAX_ATTEMPTS,
                 why);
        return RUN_FAILED;
    }
    int r = verify(d, it, fi, part, err, errlen);
    if (r == RUN_FAILED) unlink(part); /* a mismatching file is never left to be listed */
    if (r) return r;
    if (rename(part, fin)) {
        snprintf(err, errlen, "Renaming %s failed: %s.", part, strerror(errno));
        return RUN_FAILED;
    }
    pthread_mutex_lock(&d->mu);
    f->done = true;
    f->fetched = true;
    bump(d);
    pthread_mutex_unlock(&d->mu);
    save(d, it);
    return RUN_OK;
}

/* Removes what a cancelled download left: .part files and files it fetched. */
static void remove_files(lmx_dl *d, dl_item *it) {
    char p[PATH_MAX + 1100];
    for (int i = 0; i < it->n_files; i++) {
        part_path(d, it, i, p, sizeof p);
        unlink(p);
        pthread_mutex_lock(&d->mu);
        bool ours = it->files[i].fetched;
        it->files[i].fetched = it->files[i].done = false;
        pthread_mutex_unlock(&d->mu);
        if (ours) {
            final_path(d, it, i, p, sizeof p);
            unlink(p);
        }
    }
}

static void run(lmx_dl *d, dl_item *it) {
    char err[700] = "";
    int r = RUN_OK;
    for (int i = 0; i < it->n_files && r == RUN_OK; i++)
        if (!it->files[i].done) r = fetch_one(d, it, i, err, sizeof err);
    char model[256] = "";
    if (r == RUN_OK) {
        char first[PATH_MAX + 1100];
        final_path(d, it, 0, first, sizeof first);
        json_t *files = json_array();
        for (int i = 0; i < it->n_files; i++)
            json_array_append_new(files, json_string(it->files[i].name));
        pthread_mutex_lock(&d->mu);
        json_t *meta = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "repo", it->repo, "revision",
                                 it->revision, "file", it->files[0].name, "quant", it->quant,
                                 "sha256", it->files[0].sha256, "files", files);
        if (it->commit[0]) json_object_set_new(meta, "commit", json_string(it->commit));
        pthread_mutex_unlock(&d->mu);
        lmx_mgr_err e = {0};
        if (lmx_mgr_register(d->mgr, first, meta, model, sizeof model, &e)) {
            snprintf(err, sizeof err,
                     "The files are downloaded and verified, but adding the model to the store "
                     "failed: %s",
                     e.message);
            r = RUN_FAILED;
        }
        json_decref(meta);
    }
    if (r == RUN_STOPPED) {
        save(d, it); /* stays unfinished: the next start resumes it */
        return;
    }
    if (r == RUN_CANCELLED) remove_files(d, it);
    pthread_mutex_lock(&d->mu);
    it->state = r == RUN_OK ? DL_COMPLETED : r == RUN_CANCELLED ? DL_CANCELLED : DL_FAILED;
    snprintf(it->error, sizeof it->error, "%s", r == RUN_FAILED ? err : "");
    snprintf(it->model, sizeof it->model, "%s", model);
    it->rate = 0;
    bump(d);
    pthread_mutex_unlock(&d->mu);
    save(d, it);
}

static void *worker(void *arg) {
    lmx_dl *d = arg;
    pthread_mutex_lock(&d->mu);
    while (!d->stopping) {
        dl_item *it = d->items;
        while (it && !(it->state == DL_QUEUED && !it->running)) it = it->next;
        if (!it) {
            pthread_cond_wait(&d->work, &d->mu);
            continue;
        }
        it->running = true;
        it->state = DL_DOWNLOADING;
        it->rate = 0;
        it->tick_t = lmx_now_s();
        it->tick_bytes = it->bytes;
        bump(d);
        pthread_mutex_unlock(&d->mu);
        save(d, it);
        double t0 = lmx_now_s();
        run(d, it);
        lmx_trace_op("download", t0, it->state == DL_FAILED,
                     (lmx_trace_attr[]){{"lmx.download.repo", it->repo, 0},
                                        {"lmx.download.bytes", NULL, (int64_t)it->bytes}},
                     2);
        pthread_mutex_lock(&d->mu);
        it->running = false;
        bump(d);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* ---- the API ---- */

lmx_dl *lmx_dl_create(lmx_mgr *mgr, char *err, size_t errlen) {
    lmx_curl_init();
    lmx_dl *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->mgr = mgr;
    const char *md = mgr ? lmx_mgr_models_dir(mgr) : NULL;
    snprintf(d->models_dir, sizeof d->models_dir, "%s", md ? md : ".");
    snprintf(d->rec_dir, sizeof d->rec_dir, "%s/.lmx/downloads", d->models_dir);
    const char *ep = getenv("HF_ENDPOINT");
    d->endpoint = strdup(ep && *ep ? ep : "https://huggingface.co");
    const char *tok = getenv("HF_TOKEN");
    if (!tok || !*tok) tok = getenv("HUGGING_FACE_HUB_TOKEN");
    d->token = tok && *tok ? strdup(tok) : NULL;
    if (!d->endpoint) {
        free(d);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t n = strlen(d->endpoint);
    while (n > 0 && d->endpoint[n - 1] == '/') d->endpoint[--n] = 0;
    d->hub.endpoint = d->endpoint;
    d->hub.token = d->token;
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->save_mu, NULL);
    pthread_cond_init(&d->work, NULL);
    pthread_cond_init(&d->changed, NULL);
    load_records(d);
    for (int i = 0; i < N_WORKERS; i++) {
        if (pthread_create(&d->workers[i], NULL, worker, d)) break;
        d->n_workers++;
    }
    if (!d->n_workers) {
        snprintf(err, errlen, "cannot start the download threads");
        lmx_dl_destroy(d);
        return NULL;
    }
    return d;
}

void lmx_dl_destroy(lmx_dl *d) {
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    pthread_cond_broadcast(&d->work);
    bump(d);
    pthread_mutex_unlock(&d->mu);
    for (int i = 0; i < d->n_workers; i++) pthread_join(d->workers[i], NULL);
    for (dl_item *it = d->items, *nx; it; it = nx) {
        nx = it->next;
        item_free(it);
    }
    pthread_cond_destroy(&d->changed);
    pthread_cond_destroy(&d->work);
    pthread_mutex_destroy(&d->save_mu);
    pthread_mutex_destroy(&d->mu);
    free(d->endpoint);
    free(d->token);
    free(d);
}

static bool valid_revision(const char *r) {
    size_t n = strlen(r);
    if (!n || n > 200) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)r[i] <= 0x20 || r[i] == 0x7f) return false;
    return true;
}

static void human(int64_t b, char *out, size_t n) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 5) v /= 1024, i++;
    snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

int lmx_dl_start(lmx_dl *d, const char *repo, const char *file, const char *quant,
                 const char *revision, char *id, size_t idlen, lmx_mgr_err *e) {
    if (!lmx_hub_valid_repo(repo)) {
        lmx_mgr_fail(
            e, LMX_MGR_INVALID, LMX_MGR_W_NONE, "repo",
            "\"repo\" must be 'org/name' (letters, digits, '.', '_', '-'; neither part starting "
            "with '.'), got '%s'.",
            repo ? repo : "");
        return -1;
    }
    if (file && *file && !lmx_hub_valid_path(file)) {
        lmx_mgr_fail(e, LMX_MGR_INVALID, LMX_MGR_W_NONE, "file",
                     "\"file\" must be a relative path inside the repo (no part starting with "
                     "'.'), got '%s'.",
                     file);
        return -1;
    }
    if (quant && (strlen(quant) >= 32 || strchr(quant, '/'))) {
        lmx_mgr_fail(e, LMX_MGR_INVALID, LMX_MGR_W_NONE, "quant",
                     "\"quant\" '%s' is not a quant name.", quant);
        return -1;
    }
    if (!revision || !*revision) revision = "main";
    if (!valid_revision(revision)) {
        lmx_mgr_fail(e, LMX_MGR_INVALID, LMX_MGR_W_NONE, "revision", "\"revision\" is not valid.");
        return -1;
    }
    json_t *listing = lmx_hub_list(&d->hub, repo, revision, e);
    if (!listing) return -1;
    lmx_hub_file *hf = NULL;
    int n = lmx_hub_choose(listing, file, quant, &hf, e);
    json_decref(listing);
    if (n < 0) return -1;
    dl_item *it = calloc(1, sizeof *it);
    if (!it || !(it->files = calloc((size_t)n, sizeof *it->files))) {
        free(it);
        lmx_hub_files_free(hf, n);
        lmx_mgr_fail(e, LMX_MGR_INTERNAL, LMX_MGR_W_NONE, NULL, "Out of memory.");
        return -1;
    }
    it->repo = strdup(repo);
    it->revision = strdup(revision);
    for (int i = 0; i < n; i++) {
        dl_file *f = &it->files[it->n_files++];
        f->name = hf[i].name;
        hf[i].name = NULL;
        memcpy(f->sha256, hf[i].sha256, sizeof f->sha256);
        f->size = hf[i].size;
        /* the resolve URL's headers are what the download will be checked against */
        lmx_hub_target t;
        if (lmx_hub_probe(&d->hub, repo, it->commit[0] ? it->commit : revision, f->name, &t, e)) {
            lmx_hub_files_free(hf, n);
            item_free(it);
            return -1;
        }
        if (!it->commit[0]) memcpy(it->commit, t.commit, sizeof it->commit);
        if (t.sha256[0]) memcpy(f->sha256, t.sha256, sizeof f->sha256);
        if (t.size >= 0) f->size = t.size;
        lmx_hub_target_free(&t);
    }
    lmx_hub_files_free(hf, n);
    if (quant && *quant) {
        size_t i = 0;
        for (; quant[i] && i + 1 < sizeof it->quant; i++)
            it->quant[i] = (char)(quant[i] >= 'a' && quant[i] <= 'z' ? quant[i] - 32 : quant[i]);
        it->quant[i] = 0;
    } else {
        lmx_hub_quant_of(it->files[0].name, it->quant, sizeof it->quant);
    }
    if (!it->repo || !it->revision) {
        item_free(it);
        lmx_mgr_fail(e, LMX_MGR_INTERNAL, LMX_MGR_W_NONE, NULL, "Out of memory.");
        return -1;
    }
    /* disk space: what is still to come must fit */
    char dir[PATH_MAX + 1100];
    final_path(d, it, 0, dir, sizeof dir);
    *strrchr(dir, '/') = 0;
    if (mkdir_p(dir)) {
        lmx_mgr_fail(e, LMX_MGR_INTERNAL, LMX_MGR_W_NONE, NULL, "Cannot create %s: %s.", dir,
                     strerror(errno));
        item_free(it);
        return -1;
    }
    int64_t total = total_of(it), have = bytes_on_disk(d, it);
    for (int i = 0; i < it->n_files; i++) { /* finished copies already in the store count too */
        char p[PATH_MAX + 1100];
        final_path(d, it, i, p, sizeof p);
        int64_t s = file_size(p);
        if (s > 0) have += s;
    }
    struct statvfs vfs;
    if (total > 0 && !statvfs(dir, &vfs)) {
        int64_t avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
        int64_t need = total - have;
        if (need > avail) {
            char hn[32], ha[32];
            human(need, hn, sizeof hn);
            human(avail, ha, sizeof ha);
            lmx_mgr_fail(e, LMX_MGR_NO_STORAGE, LMX_MGR_W_NONE, NULL,
                         "Not enough disk space for %s: %lld bytes (%s) needed, %lld bytes (%s) "
                         "free in %s.",
                         repo, (long long)need, hn, (long long)avail, ha, d->models_dir);
            e->needed = (uint64_t)need;
            e->available = (uint64_t)avail;
            item_free(it);
            return -1;
        }
    }
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        unsigned long long x = (unsigned long long)time(NULL) ^
                               ((unsigned long long)getpid() << 32) ^
                               (unsigned long long)(uintptr_t)it;
        memcpy(rnd, &x, sizeof rnd);
    }
    snprintf(it->id, sizeof it->id, "dl_%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    it->created = (long long)time(NULL);
    it->state = DL_QUEUED;
    it->bytes = have > 0 && total >= 0 && have <= total ? have : bytes_on_disk(d, it);
    pthread_mutex_lock(&d->mu);
    /* the same files already on their way (two writers would share a .part): that
     * download is the answer; checked with the append under one lock */
    for (dl_item *o = d->items; o; o = o->next) {
        if (is_final(o->state) || strcmp(o->repo, repo) || strcmp(o->revision, revision) ||
            strcmp(o->files[0].name, it->files[0].name))
            continue;
        snprintf(id, idlen, "%s", o->id);
        pthread_mutex_unlock(&d->mu);
        item_free(it);
        return 0;
    }
    append(d, it);
    bump(d);
    pthread_cond_signal(&d->work);
    pthread_mutex_unlock(&d->mu);
    save(d, it);
    snprintf(id, idlen, "%s", it->id);
    return 0;
}

int lmx_dl_cancel(lmx_dl *d, const char *id, lmx_mgr_err *e) {
    pthread_mutex_lock(&d->mu);
    dl_item *it = find(d, id);
    if (!it) {
        pthread_mutex_unlock(&d->mu);
        lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_DOWNLOAD, NULL, "No download with id '%s'.",
                     id);
        return -1;
    }
    if (it->state == DL_CANCELLED) {
        pthread_mutex_unlock(&d->mu);
        return 0;
    }
    if (is_final(it->state)) {
        lmx_mgr_fail(e, LMX_MGR_FINISHED, LMX_MGR_W_DOWNLOAD, NULL,
                     "Download '%s' already %s; delete the model instead.", id,
                     state_name[it->state]);
        pthread_mutex_unlock(&d->mu);
        return -1;
    }
    it->cancel = true;
    bump(d); /* wakes a worker waiting to retry */
    if (!it->running) {
        it->state = DL_CANCELLED;
        pthread_mutex_unlock(&d->mu);
        remove_files(d, it);
        save(d, it);
        return 0;
    }
    /* the worker stops at its next progress callback (at least once a second) */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 15;
    while (it->running && it->state != DL_CANCELLED)
        if (pthread_cond_timedwait(&d->changed, &d->mu, &dl) == ETIMEDOUT) break;
    pthread_mutex_unlock(&d->mu);
    return 0;
}
