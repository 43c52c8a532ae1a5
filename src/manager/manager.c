/* The model manager. One mutex (mu) guards the table of entries, each
 * entry's state and each served model's reference count; one condition (cv)
 * is broadcast on every change of either, and everything that waits (a load
 * of a model another thread is loading, an unload waiting for in-flight
 * requests, the TTL reaper) waits on it.
 *
 * Slow work (reading a model, the canary, freeing a model) runs with the
 * lock released: an entry in state loading/canary/unloading is a placeholder
 * that makes other callers for the same id wait instead of loading twice.
 *
 * Memory admission reserves an entry's estimate under the lock before its
 * load starts, so two concurrent loads cannot both take the same bytes. */
#include "manager/manager.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "manager/defaults.h"
#include "manager/memory.h"
#include "manager/store.h"
#include "util/clock.h"
#include "util/free_each.h"
#include "util/grow.h"
#include "util/log.h"
#include "trace/trace.h"

typedef enum { ST_LOADING, ST_CANARY, ST_READY, ST_FAILED, ST_QUARANTINED, ST_UNLOADING } ent_state;

static const char *const state_names[] = {"loading", "canary",      "ready",
                                          "failed",  "quarantined", "unloading"};

#define MAX_FAILS 32

typedef struct entry {
    char id[256];
    char alias[128]; /* from the load request; "" none */
    char path[PATH_MAX];
    lmx_served *s; /* set once ready */
    ent_state state;
    char reason[512];
    uint64_t memory; /* the admission estimate, bytes */
    int n_ctx, n_parallel;
    lmx_tuning tune;  /* KV type, speculative decoding */
    double ttl_s;     /* idle unload; 0 never */
    double last_used; /* unix seconds */
    double load_ms;
    double itl_target_ms;           /* the latency target its scheduler was made with; 0: none */
    uint64_t load_done, load_total; /* tensor bytes prepared / in all, while loading */
    double load_t0;                 /* unix seconds the load began */
    double fails[MAX_FAILS];        /* unix seconds of recent run-time failures */
    int n_fails;
} entry;

struct lmx_mgr {
    lmx_mgr_opts o;
    char *models_dir, *proc_root;
    lmx_store *store; /* NULL when the directory could not be opened */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    entry **ents;
    int n_ents, cap;
    lmx_mgr_policy pol; /* aliases owned (pol_aliases) */
    lmx_alias *pol_aliases;
    double started;
    /* reaper: TTL unloads and the tokens/s samples */
    pthread_t reaper;
    bool reaper_on, stop;
    int n_bg_loads; /* on-demand loads running in their own thread (destroy waits) */
    uint64_t tok_samples[11];
    double tok_times[11];
    int n_samples;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *reaper_main(void *arg);

/* ---- table ---- */

static entry *find_locked(lmx_mgr *m, const char *id) {
    for (int i = 0; i < m->n_ents; i++)
        if (!strcmp(m->ents[i]->id, id)) return m->ents[i];
    for (int i = 0; i < m->n_ents; i++)
        if (m->ents[i]->alias[0] && !strcmp(m->ents[i]->alias, id)) return m->ents[i];
    return NULL;
}

static entry *add_locked(lmx_mgr *m, const char *id) {
    if (!lmx_grow_int(&m->ents, &m->cap, m->n_ents + 1, sizeof *m->ents, 8)) return NULL;
    entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    snprintf(e->id, sizeof e->id, "%s", id);
    e->last_used = now_s();
    m->ents[m->n_ents++] = e;
    return e;
}

static void remove_locked(lmx_mgr *m, entry *e) {
    for (int i = 0; i < m->n_ents; i++)
        if (m->ents[i] == e) {
            memmove(m->ents + i, m->ents + i + 1, (size_t)(m->n_ents - i - 1) * sizeof *m->ents);
            m->n_ents--;
            break;
        }
    pthread_cond_broadcast(&m->cv);
}

static bool busy(const entry *e) {
    return e->state == ST_LOADING || e->state == ST_CANARY || e->state == ST_UNLOADING;
}

/* Takes e (already removed from the table) down: frees its model, outside the lock. */
static void drop(entry *e, bool cancel_running) {
    if (e->s) lmx_served_free(e->s, cancel_running);
    free(e);
}

/* ---- create / destroy / policy ---- */

lmx_mgr *lmx_mgr_create(const lmx_mgr_opts *o) {
    lmx_mgr *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->o = *o;
    if (o->models_dir) {
        m->models_dir = strdup(o->models_dir);
    } else {
        const char *home = getenv("HOME");
        size_t n = strlen(home ? home : "") + 32;
        m->models_dir = malloc(n);
        if (m->models_dir) snprintf(m->models_dir, n, "%s/.lmx/models", home ? home : "");
    }
    m->proc_root = strdup(o->proc_root ? o->proc_root : "/");
    m->o.models_dir = m->models_dir;
    m->o.proc_root = m->proc_root;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->pol = (lmx_mgr_policy){.load_on_demand = true,
                              .load_wait_s = 30,
                              .quarantine_errors = 3,
                              .quarantine_window_s = 600};
    m->started = now_s();
    char err[512];
    if (m->models_dir) m->store = lmx_store_open(m->models_dir, err, sizeof err);
    if (!m->store)
        lmx_log("warn", "model store unavailable",
                json_pack("{s:s?,s:s}", "dir", m->models_dir, "error", err));
    m->reaper_on = pthread_create(&m->reaper, NULL, reaper_main, m) == 0;
    return m;
}

void lmx_mgr_destroy(lmx_mgr *m, bool cancel_running) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_broadcast(&m->cv);
    while (m->n_bg_loads > 0) pthread_cond_wait(&m->cv, &m->mu);
    pthread_mutex_unlock(&m->mu);
    if (m->reaper_on) pthread_join(m->reaper, NULL);
    for (int i = 0; i < m->n_ents; i++) drop(m->ents[i], cancel_running);
    lmx_store_close(m->store);
    LMX_FREE_EACH(m->ents, m->pol_aliases, m->models_dir, m->proc_root);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void lmx_mgr_set_policy(lmx_mgr *m, const lmx_mgr_policy *p) {
    lmx_alias *al = NULL;
    if (p->n_aliases > 0) {
        al = calloc((size_t)p->n_aliases, sizeof *al);
        if (al) memcpy(al, p->aliases, (size_t)p->n_aliases * sizeof *al);
    }
    pthread_mutex_lock(&m->mu);
    free(m->pol_aliases);
    m->pol = *p;
    if (m->pol.quarantine_errors <= 0) m->pol.quarantine_errors = 3;
    if (m->pol.quarantine_window_s <= 0) m->pol.quarantine_window_s = 600;
    m->pol_aliases = al;
    m->pol.aliases = al;
    m->pol.n_aliases = al ? p->n_aliases : 0;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

const char *lmx_mgr_models_dir(const lmx_mgr *m) {
    return m->models_dir;
}

/* ---- names ---- */

/* A client's name for a model → the id to look up: "lmx/" and "openai/"
 * prefixes dropped unless the full name is itself known (an org may be
 * called openai). */
static const char *normalise(lmx_mgr *m, const char *name) {
    static const char *const prefixes[] = {"lmx/", "openai/"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(name, prefixes[i], n) || !name[n]) continue;
        pthread_mutex_lock(&m->mu);
        bool known = find_locked(m, name) != NULL;
        pthread_mutex_unlock(&m->mu);
        if (!known && m->store) known = lmx_store_get(m->store, name, NULL);
        return known ? name : name + n;
    }
    return name;
}

static bool in_store(lmx_mgr *m, const char *id) {
    if (!m->store) return false;
    return lmx_store_get(m->store, id, NULL);
}

/* An alias of the policy → the first of its models that is ready, else the
 * first that is loadable (in the store), copied to out; false if name is no
 * alias (or none of its models exists). */
static bool resolve_alias(lmx_mgr *m, const char *name, char *out, size_t cap, bool *is_alias) {
    char cand[8][256];
    int n = 0;
    *is_alias = false;
    pthread_mutex_lock(&m->mu);
    int hit = -1; /* an exact name wins over a pattern (claude-* for vendor names) */
    for (int i = 0; i < m->pol.n_aliases && hit < 0; i++)
        if (!strcmp(m->pol.aliases[i].name, name)) hit = i;
    for (int i = 0; i < m->pol.n_aliases && hit < 0; i++)
        if (strpbrk(m->pol.aliases[i].name, "*?") && !fnmatch(m->pol.aliases[i].name, name, 0))
            hit = i;
    for (int i = hit; i >= 0 && i < m->pol.n_aliases; i++) {
        *is_alias = true;
        for (int k = 0; k < m->pol.aliases[i].n_models && k < 8; k++)
            snprintf(cand[n++], sizeof cand[0], "%s", m->pol.aliases[i].models[k]);
        break;
    }
    for (int k = 0; k < n; k++) {
        entry *e = find_locked(m, cand[k]);
        if (e && e->state == ST_READY) {
            snprintf(out, cap, "%s", e->id);
            pthread_mutex_unlock(&m->mu);
            return true;
        }
    }
    pthread_mutex_unlock(&m->mu);
    for (int k = 0; k < n; k++)
        if (in_store(m, cand[k])) {
            snprintf(out, cap, "%s", cand[k]);
            return true;
        }
    return false;
}

static void not_found(lmx_mgr *m, const char *name, lmx_mgr_err *e) {
    char list[512] = "";
    size_t n = 0;
    pthread_mutex_lock(&m->mu);
    int shown = 0;
    for (int i = 0; i < m->n_ents && n < sizeof list; i++) {
        if (m->ents[i]->state != ST_READY) continue;
        n += (size_t)snprintf(list + n, sizeof list - n, "%s'%s'", shown++ ? ", " : "",
                              m->ents[i]->id);
    }
    pthread_mutex_unlock(&m->mu);
    if (shown)
        lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_MODEL, "model",
                     "The model '%s' does not exist or is not loaded. Loaded models: %s.", name,
                     list);
    else
        lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_MODEL, "model",
                     "The model '%s' does not exist: no model is loaded and none of that name is "
                     "in the models directory %s.",
                     name, m->models_dir ? m->models_dir : "");
}

static bool check_name(const char *name, lmx_mgr_err *e) {
    char why[128];
    if (lmx_store_valid_name(name, why, sizeof why)) return true;
    lmx_mgr_fail(e, LMX_MGR_BAD_NAME, LMX_MGR_W_NONE, "model", "Invalid model name: it %s.", why);
    return false;
}

/* ---- memory ---- */

typedef struct {
    uint64_t limit, available, reserve, used;
    const char *source;
} mem_view;

/* What a new model may take now. Lock held. `used` counts every entry that
 * holds or has reserved memory. */
static void mem_view_locked(lmx_mgr *m, mem_view *v) {
    lmx_mem_info mi;
    lmx_mem_probe(m->proc_root, &mi);
    memset(v, 0, sizeof *v);
    v->reserve = m->pol.memory_reserve;
    uint64_t pending = 0;
    for (int i = 0; i < m->n_ents; i++) {
        entry *e = m->ents[i];
        if (e->state == ST_FAILED) continue;
        v->used += e->memory;
        /* a model still loading has not shown up in MemAvailable yet */
        if (e->state == ST_LOADING || e->state == ST_CANARY) pending += e->memory;
    }
    uint64_t machine = mi.available;
    machine = machine > pending ? machine - pending : 0;
    machine = machine > v->reserve ? machine - v->reserve : 0;
    v->available = machine;
    v->source = mi.source;
    v->limit = mi.cgroup ? mi.cg_limit : mi.mem_total;
    if (m->pol.memory_limit) {
        uint64_t budget = m->pol.memory_limit > v->used ? m->pol.memory_limit - v->used : 0;
        if (budget <= v->available) {
            v->available = budget;
            v->source = "config";
        }
        v->limit = m->pol.memory_limit;
    }
}

/* The least recently used idle ready model other than `keep`, or NULL. */
static entry *lru_idle_locked(lmx_mgr *m, const entry *keep) {
    entry *best = NULL;
    for (int i = 0; i < m->n_ents; i++) {
        entry *e = m->ents[i];
        if (e == keep || e->state != ST_READY || e->s->refs > 0) continue;
        if (!best || e->last_used < best->last_used) best = e;
    }
    return best;
}

/* What evicting every idle model (but keep) would free: the numbers decide
 * before anything is evicted, so an eviction that cannot make room never
 * happens. Lock held. */
static uint64_t idle_memory_locked(lmx_mgr *m, const entry *keep) {
    uint64_t sum = 0;
    for (int i = 0; i < m->n_ents; i++) {
        entry *e = m->ents[i];
        if (e != keep && e->state == ST_READY && e->s->refs == 0) sum += e->memory;
    }
    return sum;
}

/* The context and parallelism of a load: the user's where given, else chosen
 * from the memory available now (defaults.c), with one log line saying so. */
static void choose_shape(lmx_mgr *m, const char *id, const char *path, int ctx_given, int par_given,
                         int kv_type, int *n_ctx, int *par) {
    *n_ctx = ctx_given;
    *par = par_given > 0 ? par_given : LMX_DEFAULT_PARALLEL;
    if (ctx_given > 0 && par_given > 0) return;
    lmx_mem_estimate one, full;
    char err[256];
    if (lmx_model_estimate(path, 1, 1, 0, kv_type, &one, err, sizeof err) ||
        lmx_model_estimate(path, 0, 1, 0, kv_type, &full, err, sizeof err))
        return; /* the load's own estimate reports the error */
    pthread_mutex_lock(&m->mu);
    mem_view v;
    mem_view_locked(m, &v);
    uint64_t avail = v.available + (m->pol.auto_evict ? idle_memory_locked(m, NULL) : 0);
    pthread_mutex_unlock(&m->mu);
    /* the KV cache holds 2 sequences per parallel slot (served.c: prefix cache) */
    lmx_defaults_in in = {.fixed = one.weights + one.compute,
                          .kv_per_token = 2 * (uint64_t)one.kv,
                          .available = avail,
                          .ctx_max = full.n_ctx,
                          .parallel_max = LMX_DEFAULT_PARALLEL,
                          .ctx_given = ctx_given,
                          .parallel_given = par_given};
    lmx_defaults_out o;
    lmx_defaults_choose(&in, &o);
    *n_ctx = o.n_ctx;
    *par = o.n_parallel;
    lmx_log(o.reduced ? "warn" : "info",
            o.reduced ? "defaults reduced to fit memory" : "defaults fit memory",
            json_pack("{s:s,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:s,s:s,s:b}", "model", id, "parallel",
                      o.n_parallel, "ctx", o.n_ctx, "default_parallel", LMX_DEFAULT_PARALLEL,
                      "default_ctx", full.n_ctx, "model_bytes", (json_int_t)in.fixed,
                      "kv_bytes_per_token", (json_int_t)in.kv_per_token, "needed_bytes",
                      (json_int_t)o.needed, "available_bytes", (json_int_t)avail, "source",
                      v.source ? v.source : "", "set_with", "--parallel / --ctx-size", "fits",
                      o.fits));
}

static void fmt_bytes(uint64_t b, char *out, size_t cap) {
    if (b >= (1ull << 30))
        snprintf(out, cap, "%.2f GiB", b / (double)(1ull << 30));
    else
        snprintf(out, cap, "%.1f MiB", b / (double)(1ull << 20));
}

/* ---- load errors → stable codes ---- */

static void load_error(const char *msg, lmx_mgr_err *e) {
    lmx_mgr_status st = LMX_MGR_INVALID_MODEL;
    if (strstr(msg, "truncated") || strstr(msg, "runs past the end of the file") ||
        strstr(msg, "too small to be GGUF") || strstr(msg, "cannot fit in the file"))
        st = LMX_MGR_INCOMPLETE;
    else if (strstr(msg, "architecture '") && strstr(msg, "not supported"))
        st = LMX_MGR_UNSUPPORTED_ARCH;
    else if (strstr(msg, "unknown type") || (strstr(msg, "type ") && strstr(msg, "not supported")))
        st = LMX_MGR_UNSUPPORTED_TYPE;
    else if (strstr(msg, "different vocabulary"))
        st = LMX_MGR_DRAFT_MISMATCH;
    else if (strstr(msg, "out of memory"))
        st = LMX_MGR_LOAD_OUT_OF_MEMORY;
    lmx_mgr_fail(e, st, LMX_MGR_W_MODEL, "model", "%s", msg);
}

/* One forward pass of the BOS token on a context of its own (so the
 * scheduler's is untouched): an engine error or a non-finite logit fails it. */
static int canary(lmx_served *s, char *why, size_t cap) {
    char err[256];
    lmx_ctx_opts co = {.n_ctx = 16, .n_seq = 1, .n_batch = 1, .pool = NULL};
    lmx_ctx *c = lmx_ctx_create(s->m, &co, err, sizeof err);
    if (!c) {
        snprintf(why, cap, "canary: %s", err);
        return -1;
    }
    int n_vocab = s->m->hp.n_vocab;
    float *logits = malloc(sizeof(float) * (size_t)(n_vocab > 0 ? n_vocab : 1));
    int32_t tok = s->bos_id >= 0 ? s->bos_id : 0, pos = 0, seq = 0;
    lmx_batch b = {.n = 1, .tok = &tok, .pos = &pos, .seq = &seq, .logits = NULL};
    int rc = -1;
    if (!logits)
        snprintf(why, cap, "canary: out of memory");
    else if (lmx_forward(c, &b, logits, err, sizeof err))
        snprintf(why, cap, "canary: %s", err);
    else {
        rc = 0;
        for (int i = 0; i < n_vocab; i++)
            if (!isfinite(logits[i])) {
                snprintf(why, cap, "canary: logit %d of the first token is %f", i,
                         (double)logits[i]);
                rc = -1;
                break;
            }
    }
    free(logits);
    lmx_ctx_free(c);
    return rc;
}

static void lock_weights(lmx_served *s, const char *id) {
    const lmx_gguf *g = s->m->gguf;
    for (int i = 0; i < g->n_files; i++)
        if (mlock(g->files[i].map, g->files[i].size))
            lmx_log("warn", "mlock failed: the weights may be paged out",
                    json_pack("{s:s,s:s}", "model", id, "error", strerror(errno)));
}

/* The ledger's identity of a file: its sha256 when the store knows it. */
static void ledger(lmx_mgr *m, const char *id, const char *path, const char *sha, bool ok,
                   const char *reason) {
    if (!m->store) return;
    char file[PATH_MAX + 64];
    snprintf(file, sizeof file, "%s", path ? path : "");
    lmx_store_ledger_add(m->store, id, file, sha, ok, reason);
}

/* ---- loading ---- */

lmx_served *lmx_mgr_load_file(lmx_mgr *m, const char *path, char *err, size_t errlen) {
    int n_ctx, par;
    lmx_tuning tu;
    lmx_mgr_err te = {0};
    if (!lmx_tuning_resolve(NULL, &m->o.tune, m->store, &tu, &te)) {
        snprintf(err, errlen, "%s", te.message);
        return NULL;
    }
    choose_shape(m, path, path, m->o.n_ctx, m->o.n_parallel, tu.kv_type, &n_ctx, &par);
    lmx_served_opts so = {.path = path,
                          .n_ctx = n_ctx,
                          .n_parallel = par,
                          .n_queue = m->o.n_queue,
                          .itl_target_ms = m->o.itl_target_ms,
                          .pool = m->o.pool,
                          .kv_type = tu.kv_type,
                          .spec = tu.spec,
                          .draft_path = tu.draft_path,
                          .draft_max = tu.draft_max};
    double t0 = (lmx_now_s() * 1000.0);
    lmx_served *s = lmx_served_load(&so, err, errlen);
    lmx_trace_op("model.load", t0 / 1000.0, !s, (lmx_trace_attr[]){{"lmx.model.path", path, 0}}, 1);
    if (!s) {
        ledger(m, path, path, NULL, false, err);
        return NULL;
    }
    lmx_mem_estimate est = {0};
    char e2[256];
    lmx_model_estimate(path, s->n_ctx, 2 * s->n_parallel, 0, tu.kv_type, &est, e2, sizeof e2);
    lmx_tuning_add_draft(&tu, s->n_ctx, 2 * s->n_parallel, &est, e2, sizeof e2);
    pthread_mutex_lock(&m->mu);
    entry *e = add_locked(m, s->name);
    if (!e) {
        pthread_mutex_unlock(&m->mu);
        lmx_served_free(s, true);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(e->path, sizeof e->path, "%s", path);
    e->s = s;
    e->itl_target_ms = m->o.itl_target_ms;
    e->memory = est.total;
    e->n_ctx = s->n_ctx;
    e->n_parallel = s->n_parallel;
    e->tune = tu;
    e->load_ms = (lmx_now_s() * 1000.0) - t0;
    e->state = ST_READY;
    s->mgr = m;
    s->mgr_entry = e;
    if (m->pol.mlock) lock_weights(s, s->name);
    pthread_mutex_unlock(&m->mu);
    ledger(m, s->name, path, NULL, true, NULL);
    return s;
}

/* Waits while the entry for id is busy; returns it (or NULL when there is
 * none). Lock held. */
static entry *settle_locked(lmx_mgr *m, const char *id) {
    entry *e;
    while ((e = find_locked(m, id)) && busy(e)) pthread_cond_wait(&m->cv, &m->mu);
    return e;
}

/* Unloads e: marks it unloading, waits for its requests, removes it. Lock
 * held; returns with it held, the entry freed. */
static void unload_locked(lmx_mgr *m, entry *e, bool log) {
    e->state = ST_UNLOADING;
    pthread_cond_broadcast(&m->cv);
    while (e->s && e->s->refs > 0) pthread_cond_wait(&m->cv, &m->mu);
    remove_locked(m, e);
    pthread_mutex_unlock(&m->mu);
    if (log) lmx_log("info", "model unloaded", json_pack("{s:s}", "model", e->id));
    drop(e, false);
    pthread_mutex_lock(&m->mu);
}

/* Takes a reference for a caller. q: a load request (its ttl and alias
 * apply); fresh: e was just loaded, so the policy's default ttl applies when
 * q has none (a model loaded earlier, e.g. with -m, keeps its own). */
static void hold_locked(entry *e, const lmx_load_req *q, bool fresh, double default_ttl) {
    e->s->refs++;
    e->last_used = now_s();
    if (q && q->ttl_s > 0)
        e->ttl_s = q->ttl_s;
    else if (q && q->ttl_s < 0) /* never, also for one loaded already */
        e->ttl_s = 0;
    else if (fresh)
        e->ttl_s = default_ttl;
    if (q && q->alias && *q->alias) snprintf(e->alias, sizeof e->alias, "%s", q->alias);
}

/* A load's progress, from the engine (the loading thread): the entry's
 * counters, read by requests waiting for it to estimate Retry-After. */
typedef struct {
    lmx_mgr *m;
    entry *en;
} progress_ctx;

static void load_progress(void *ctx, uint64_t done, uint64_t total) {
    progress_ctx *p = ctx;
    pthread_mutex_lock(&p->m->mu);
    uint64_t before = p->en->load_done;
    p->en->load_done = done;
    p->en->load_total = total;
    pthread_mutex_unlock(&p->m->mu);
    /* TESTING ONLY (models_debug.load_delay_ms, 0 by default): a slow disk,
     * spread over the tensors so that the progress stays true */
    if (p->m->o.debug_load_delay_ms > 0 && total > 0 && done > before) {
        double ms = p->m->o.debug_load_delay_ms * (double)(done - before) / (double)total;
        struct timespec ts = {(time_t)(ms / 1000), (long)(fmod(ms, 1000) * 1e6)};
        nanosleep(&ts, NULL);
    }
}

/* What a load knows as it goes through its steps. */
typedef struct {
    char id[256];         /* the name resolved (alias, prefixes) */
    char path[PATH_MAX];  /* the file */
    char sha[80];         /* its sha256 when the store knows it */
    int n_ctx, par;       /* the shape chosen */
    lmx_tuning tu;        /* KV type, speculative decoding */
    double itl;           /* the scheduler's latency target (0: none) */
    lmx_mem_estimate est; /* what that shape costs */
    bool mlock;           /* the policy at admission */
    entry *en;            /* the entry reserved by admission */
    lmx_served *s;        /* the answer: loaded here, or already there */
    double t0_ms;         /* when loading began */
} load_plan;

typedef enum { STEP_FAIL = -1, STEP_NEXT = 0, STEP_DONE = 1 } load_step;

/* The ledger's record of a failed step, with e's message. */
static load_step load_refused(lmx_mgr *m, const load_plan *p, const lmx_mgr_err *e) {
    ledger(m, p->id, p->path, p->sha[0] ? p->sha : NULL, false, e->message);
    return STEP_FAIL;
}

/* Resolve: the name becomes an id and a file, its shape and estimate; a
 * model loaded already is the answer (DONE). */
static load_step load_resolve(lmx_mgr *m, const lmx_load_req *q, load_plan *p, lmx_mgr_err *e) {
    if (!q->model) {
        lmx_mgr_fail(e, LMX_MGR_INVALID, LMX_MGR_W_NONE, "model", "'model' is required.");
        return STEP_FAIL;
    }
    if (!check_name(q->model, e) || (q->alias && *q->alias && !check_name(q->alias, e)))
        return STEP_FAIL;
    bool is_alias;
    const char *name = normalise(m, q->model);
    if (!resolve_alias(m, name, p->id, sizeof p->id, &is_alias)) {
        if (is_alias) {
            lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_MODEL, "model",
                         "None of the models of alias '%s' is loaded or in the store.", name);
            return STEP_FAIL;
        }
        snprintf(p->id, sizeof p->id, "%s", name);
    }

    pthread_mutex_lock(&m->mu);
    entry *en = settle_locked(m, p->id);
    if (en && en->state == ST_READY) {
        hold_locked(en, q, false, 0);
        pthread_mutex_unlock(&m->mu);
        p->s = en->s;
        return STEP_DONE;
    }
    /* a model loaded from outside the store (-m) reloads from where it was */
    char prev_path[PATH_MAX] = "";
    if (en) snprintf(prev_path, sizeof prev_path, "%s", en->path);
    if (en && en->state == ST_QUARANTINED) {
        unload_locked(m, en, true); /* a reload clears it */
    } else if (en) {                /* failed: try again */
        remove_locked(m, en);
        free(en);
    }
    pthread_mutex_unlock(&m->mu);

    lmx_store_entry se;
    bool stored = m->store && lmx_store_get(m->store, p->id, &se);
    if (!stored && !prev_path[0]) {
        not_found(m, p->id, e);
        return STEP_FAIL;
    }
    snprintf(p->path, sizeof p->path, "%s", stored ? se.path : prev_path);
    if (stored && se.sha256) snprintf(p->sha, sizeof p->sha, "%s", se.sha256);
    if (stored) lmx_store_entry_free(&se);
    if (!lmx_tuning_resolve(&q->tune, &m->o.tune, m->store, &p->tu, e))
        return load_refused(m, p, e);
    p->itl = q->itl_target_ms > 0   ? q->itl_target_ms
             : q->itl_target_ms < 0 ? 0
                                    : m->o.itl_target_ms;
    choose_shape(m, p->id, p->path, q->ctx_size > 0 ? q->ctx_size : m->o.n_ctx,
                 q->parallel > 0 ? q->parallel : m->o.n_parallel, p->tu.kv_type, &p->n_ctx,
                 &p->par);
    char err[768];
    if (lmx_model_estimate(p->path, p->n_ctx, 2 * p->par, 0, p->tu.kv_type, &p->est, err,
                           sizeof err) ||
        lmx_tuning_add_draft(&p->tu, p->n_ctx, 2 * p->par, &p->est, err, sizeof err)) {
        load_error(err, e);
        return load_refused(m, p, e);
    }
    return STEP_NEXT;
}

/* e says why a model of this estimate does not fit in v. */
static void no_memory(lmx_mgr *m, const load_plan *p, const mem_view *v, lmx_mgr_err *e) {
    char a[32], b[32], c[32], ctx[48];
    if (p->n_ctx > 0)
        snprintf(ctx, sizeof ctx, "%d", p->n_ctx);
    else
        snprintf(ctx, sizeof ctx, "the model's, at most %d", LMX_DEFAULT_CTX_MAX);
    fmt_bytes(p->est.total, a, sizeof a);
    fmt_bytes(v->available, b, sizeof b);
    fmt_bytes(v->limit, c, sizeof c);
    lmx_mgr_fail(e, LMX_MGR_NO_MEMORY, LMX_MGR_W_MODEL, "model",
                 "Not enough memory to load '%s': needed %llu bytes (%s: weights %zu, KV "
                 "cache %zu, buffers %zu), available %llu bytes (%s), limit %llu bytes (%s, "
                 "from %s); %llu bytes used by loaded models, reserve %llu.%s A smaller "
                 "context (--ctx, ctx_size; now %s) or fewer parallel sequences (--parallel, "
                 "parallel; now %d) shrinks the KV cache.",
                 p->id, (unsigned long long)p->est.total, a, p->est.weights, p->est.kv,
                 p->est.compute, (unsigned long long)v->available, b, (unsigned long long)v->limit,
                 c, v->source, (unsigned long long)v->used, (unsigned long long)v->reserve,
                 m->pol.auto_evict ? "" : " Unload a model or enable auto_evict.", ctx, p->par);
    snprintf(e->name, sizeof e->name, "%s", p->id);
    e->needed = p->est.total;
    e->available = v->available;
    e->limit = v->limit;
    e->n_ctx = p->n_ctx;
    e->n_parallel = p->par;
}

/* Admit: reserve the estimate in a LOADING entry, evicting idle models LRU
 * first when that makes room; another caller's load of it is the answer. */
static load_step load_admit(lmx_mgr *m, const lmx_load_req *q, load_plan *p, lmx_mgr_err *e) {
    pthread_mutex_lock(&m->mu);
    entry *en = settle_locked(m, p->id);
    if (en && en->state == ST_READY) { /* another caller loaded it meanwhile */
        hold_locked(en, q, false, 0);
        pthread_mutex_unlock(&m->mu);
        p->s = en->s;
        return STEP_DONE;
    }
    if (en) { /* failed */
        remove_locked(m, en);
        free(en);
    }
    en = add_locked(m, p->id);
    if (!en) {
        pthread_mutex_unlock(&m->mu);
        lmx_mgr_fail(e, LMX_MGR_INTERNAL, LMX_MGR_W_NONE, NULL, "out of memory");
        return STEP_FAIL;
    }
    snprintf(en->path, sizeof en->path, "%s", p->path);
    en->state = ST_LOADING;
    en->load_t0 = now_s();
    en->load_t0 = now_s();
    for (;;) {
        mem_view v;
        mem_view_locked(m, &v);
        if (p->est.total <= v.available) break;
        /* evict only when evicting every idle model would make it fit */
        bool could_fit =
            m->pol.auto_evict && p->est.total <= v.available + idle_memory_locked(m, en);
        entry *victim = could_fit ? lru_idle_locked(m, en) : NULL;
        if (victim) {
            lmx_log("info", "evicting idle model to make room",
                    json_pack("{s:s,s:s,s:I}", "model", victim->id, "for", p->id, "needed",
                              (json_int_t)p->est.total));
            unload_locked(m, victim, true);
            continue;
        }
        remove_locked(m, en);
        free(en);
        no_memory(m, p, &v, e);
        pthread_mutex_unlock(&m->mu);
        return load_refused(m, p, e);
    }
    en->memory = p->est.total;
    en->n_ctx = p->n_ctx;
    en->n_parallel = p->par;
    en->tune = p->tu;
    p->mlock = m->pol.mlock;
    p->en = en;
    pthread_mutex_unlock(&m->mu);
    return STEP_NEXT;
}

/* Load and canary: the engine opens the file, then one forward pass must
 * give finite logits. */
static load_step load_and_canary(lmx_mgr *m, load_plan *p, lmx_mgr_err *e) {
    char err[768];
    p->t0_ms = lmx_now_s() * 1000.0;
    progress_ctx pc = {m, p->en};
    lmx_served_opts so = {.path = p->path,
                          .n_ctx = p->n_ctx,
                          .n_parallel = p->par,
                          .n_queue = m->o.n_queue,
                          .itl_target_ms = p->itl,
                          .pool = m->o.pool,
                          .kv_type = p->tu.kv_type,
                          .spec = p->tu.spec,
                          .draft_path = p->tu.draft_path,
                          .draft_max = p->tu.draft_max,
                          .model = {.progress = load_progress, .progress_ctx = &pc}};
    lmx_served *s = lmx_served_load(&so, err, sizeof err);
    if (!s) {
        load_error(err, e);
        return STEP_FAIL;
    }
    if (p->mlock) lock_weights(s, p->id);
    pthread_mutex_lock(&m->mu);
    p->en->state = ST_CANARY;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (canary(s, err, sizeof err)) {
        lmx_mgr_fail(e, LMX_MGR_CANARY_FAILED, LMX_MGR_W_MODEL, "model", "%s: %s", p->id, err);
        lmx_served_free(s, true);
        return STEP_FAIL;
    }
    p->s = s;
    return STEP_NEXT;
}

/* Commit: the entry becomes READY with the caller's reference (or FAILED
 * with the reason), and the ledger, trace and log say which. */
static lmx_served *load_commit(lmx_mgr *m, const lmx_load_req *q, load_plan *p, load_step st,
                               lmx_mgr_err *e) {
    bool ok = st != STEP_FAIL;
    entry *en = p->en;
    lmx_served *s = p->s;
    pthread_mutex_lock(&m->mu);
    if (!ok) {
        en->state = ST_FAILED;
        en->memory = 0;
        snprintf(en->reason, sizeof en->reason, "%s", e->message);
    } else {
        snprintf(s->name, sizeof s->name, "%s", p->id);
        s->mgr = m;
        s->mgr_entry = en;
        en->s = s;
        en->n_ctx = s->n_ctx;
        en->n_parallel = s->n_parallel;
        en->load_ms = (lmx_now_s() * 1000.0) - p->t0_ms;
        en->itl_target_ms = p->itl;
        en->state = ST_READY;
        en->n_fails = 0;
        en->reason[0] = 0;
        hold_locked(en, q, true, m->pol.default_ttl_s);
    }
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    ledger(m, p->id, p->path, p->sha[0] ? p->sha : NULL, ok, ok ? NULL : e->message);
    lmx_trace_op("model.load", p->t0_ms / 1000.0, !ok,
                 (lmx_trace_attr[]){{"gen_ai.request.model", p->id, 0}}, 1);
    if (!ok) return NULL;
    lmx_log("info", "model loaded",
            json_pack("{s:s,s:s,s:i,s:i,s:I,s:f}", "model", p->id, "path", p->path, "n_ctx",
                      s->n_ctx, "parallel", s->n_parallel, "memory_bytes", (json_int_t)p->est.total,
                      "load_time_ms", en->load_ms));
    return s;
}

lmx_served *lmx_mgr_load(lmx_mgr *m, const lmx_load_req *q, lmx_mgr_err *e) {
    load_plan *p = calloc(1, sizeof *p); /* PATH_MAX and more: not on a server thread's stack */
    if (!p) {
        lmx_mgr_fail(e, LMX_MGR_INTERNAL, LMX_MGR_W_NONE, NULL, "out of memory");
        return NULL;
    }
    lmx_served *s = NULL;
    load_step st = load_resolve(m, q, p, e);          /* name → id, file, shape, estimate */
    if (st == STEP_NEXT) st = load_admit(m, q, p, e); /* memory reserved, idle models evicted */
    if (st == STEP_NEXT) /* engine load + canary, then ready (or failed) */
        s = load_commit(m, q, p, load_and_canary(m, p, e), e);
    else if (st == STEP_DONE) /* loaded already */
        s = p->s;
    free(p);
    return s;
}

/* ---- requests ---- */

/* Seconds until a loading entry is likely ready: the bytes left at the rate
 * read so far, plus one for the canary and rounding; 1-59 (the SDKs honour
 * Retry-After up to 60 s), 5 before any progress is known. Lock held. */
static int load_eta_locked(const entry *en) {
    if (en->state == ST_CANARY) return 1;
    double el = now_s() - en->load_t0;
    if (!en->load_done || !en->load_total || el <= 0) return 5;
    uint64_t left = en->load_total > en->load_done ? en->load_total - en->load_done : 0;
    double eta = ceil((double)left * el / (double)en->load_done) + 1;
    return eta < 1 ? 1 : eta > 59 ? 59 : (int)eta;
}

static void loading_err_locked(lmx_mgr *m, const char *id, lmx_mgr_err *e) {
    entry *en = find_locked(m, id);
    bool known = en && busy(en) && en->load_t0 > 0;
    int eta = known ? load_eta_locked(en) : 5;
    double pct =
        known && en->load_total ? 100.0 * (double)en->load_done / (double)en->load_total : 0;
    double el = known ? now_s() - en->load_t0 : 0;
    lmx_mgr_fail(e, LMX_MGR_LOADING, LMX_MGR_W_MODEL, "model",
                 "The model '%s' is loading (%s, %.0f%% after %.1f s); retry in about %d s.", id,
                 known && en->state == ST_CANARY ? "checking" : "reading weights", pct, el, eta);
    snprintf(e->name, sizeof e->name, "%s", id);
    e->retry_after_s = eta;
}

/* Waits on the manager's condition until the deadline (unix seconds); false
 * once it has passed. Lock held. */
static bool wait_until_locked(lmx_mgr *m, double deadline) {
    double now = now_s();
    if (now >= deadline) return false;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + (deadline - now);
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    return true;
}

/* An on-demand load in its own thread, so that a request waits for it only
 * up to load_wait_s while the load goes on. Guarded by the manager's lock;
 * freed by the waiter, or by the thread when the waiter gave up. */
typedef struct {
    lmx_mgr *m;
    char id[256];
    bool done, abandoned;
    lmx_served *s; /* with a reference held for the waiter */
    lmx_mgr_err e;
} bg_load;

static void *bg_load_main(void *arg) {
    bg_load *j = arg;
    lmx_mgr *m = j->m;
    lmx_load_req q = {.model = j->id};
    lmx_mgr_err e = {0};
    lmx_served *s = lmx_mgr_load(m, &q, &e);
    pthread_mutex_lock(&m->mu);
    bool gone = j->abandoned;
    j->s = s;
    j->e = e;
    j->done = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (gone) {
        if (s) lmx_mgr_release(s);
        free(j);
    }
    pthread_mutex_lock(&m->mu);
    m->n_bg_loads--;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* Starts id loading in its own thread and waits for it until deadline. Lock held. */
static lmx_served *load_on_demand_locked(lmx_mgr *m, const char *id, double deadline,
                                         lmx_mgr_err *e) {
    bg_load *j = calloc(1, sizeof *j);
    if (j) {
        j->m = m;
        snprintf(j->id, sizeof j->id, "%s", id);
    }
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    bool started = j && !m->stop && !pthread_create(&th, &at, bg_load_main, j);
    pthread_attr_destroy(&at);
    if (!started) {
        free(j);
        lmx_mgr_fail(e, LMX_MGR_INTERNAL, LMX_MGR_W_NONE, NULL, "cannot start loading '%s'", id);
        return NULL;
    }
    m->n_bg_loads++;
    while (!j->done && wait_until_locked(m, deadline)) {
    }
    if (!j->done) { /* the load goes on; the thread frees j */
        j->abandoned = true;
        loading_err_locked(m, id, e);
        return NULL;
    }
    lmx_served *s = j->s;
    if (!s) *e = j->e;
    free(j);
    return s;
}

lmx_served *lmx_mgr_acquire(lmx_mgr *m, const char *name, lmx_mgr_err *e) {
    char id[256], dflt[256];
    bool is_alias;
    if (!name || !*name) { /* no model named: the default one */
        if (!lmx_mgr_default_model(m, dflt, sizeof dflt, e)) return NULL;
        name = dflt;
    }
    const char *nm = normalise(m, name);
    if (!resolve_alias(m, nm, id, sizeof id, &is_alias)) snprintf(id, sizeof id, "%s", nm);
    pthread_mutex_lock(&m->mu);
    double deadline = now_s() + m->pol.load_wait_s;
    entry *en;
    while ((en = find_locked(m, id)) && busy(en)) {
        if (en->state == ST_UNLOADING) { /* its requests are ending: not for long */
            pthread_cond_wait(&m->cv, &m->mu);
        } else if (!wait_until_locked(m, deadline)) {
            loading_err_locked(m, id, e);
            pthread_mutex_unlock(&m->mu);
            return NULL;
        }
    }
    if (en && en->state == ST_READY) {
        hold_locked(en, NULL, false, 0);
        pthread_mutex_unlock(&m->mu);
        return en->s;
    }
    if (en && en->state == ST_QUARANTINED) {
        lmx_mgr_fail(e, LMX_MGR_UNSTABLE, LMX_MGR_W_MODEL, "model",
                     "The model '%s' is quarantined: %s.", id, en->reason);
        snprintf(e->name, sizeof e->name, "%s", id);
        pthread_mutex_unlock(&m->mu);
        return NULL;
    }
    bool on_demand = m->pol.load_on_demand;
    pthread_mutex_unlock(&m->mu);
    char why[128];
    if (!on_demand || !lmx_store_valid_name(id, why, sizeof why) || !in_store(m, id)) {
        not_found(m, name, e);
        return NULL;
    }
    pthread_mutex_lock(&m->mu);
    lmx_served *s = load_on_demand_locked(m, id, deadline, e);
    pthread_mutex_unlock(&m->mu);
    return s;
}

void lmx_mgr_release(lmx_served *s) {
    if (!s) return;
    lmx_mgr *m = s->mgr;
    pthread_mutex_lock(&m->mu);
    s->refs--;
    entry *e = s->mgr_entry;
    if (e) e->last_used = now_s();
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

void lmx_mgr_report_failure(lmx_served *s, const char *reason) {
    if (!s || !s->mgr || !s->mgr_entry) return;
    lmx_mgr *m = s->mgr;
    pthread_mutex_lock(&m->mu);
    entry *e = s->mgr_entry;
    double now = now_s(), win = m->pol.quarantine_window_s;
    int k = 0;
    for (int i = 0; i < e->n_fails; i++)
        if (now - e->fails[i] <= win) e->fails[k++] = e->fails[i];
    e->n_fails = k;
    if (e->n_fails == MAX_FAILS) memmove(e->fails, e->fails + 1, --e->n_fails * sizeof *e->fails);
    e->fails[e->n_fails++] = now;
    bool quarantine = e->state == ST_READY && e->n_fails >= m->pol.quarantine_errors;
    if (quarantine) {
        e->state = ST_QUARANTINED;
        snprintf(e->reason, sizeof e->reason, "%d run-time failures within %.0f s, the last: %s",
                 e->n_fails, win, reason ? reason : "error");
    }
    pthread_mutex_unlock(&m->mu);
    if (quarantine)
        lmx_log("warn", "model quarantined",
                json_pack("{s:s,s:s}", "model", e->id, "reason", reason ? reason : ""));
}

int lmx_mgr_list(lmx_mgr *m, lmx_served ***out) {
    pthread_mutex_lock(&m->mu);
    *out = calloc((size_t)(m->n_ents ? m->n_ents : 1), sizeof **out);
    int n = 0;
    for (int i = 0; *out && i < m->n_ents; i++)
        if (m->ents[i]->state == ST_READY) {
            (*out)[n++] = m->ents[i]->s;
            m->ents[i]->s->refs++;
        }
    pthread_mutex_unlock(&m->mu);
    return n;
}

void lmx_mgr_list_release(lmx_served **list, int n) {
    for (int i = 0; i < n; i++) {
        if (!list[i]) continue; /* kept by the caller */
        lmx_mgr *m = list[i]->mgr;
        pthread_mutex_lock(&m->mu);
        list[i]->refs--;
        pthread_cond_broadcast(&m->cv);
        pthread_mutex_unlock(&m->mu);
    }
    free(list);
}

/* ---- unload / delete ---- */

int lmx_mgr_unload(lmx_mgr *m, const char *model, lmx_mgr_err *e) {
    if (!model || !check_name(model, e)) {
        if (!model)
            lmx_mgr_fail(e, LMX_MGR_INVALID, LMX_MGR_W_NONE, "model", "'model' is required.");
        return -1;
    }
    const char *id = normalise(m, model);
    pthread_mutex_lock(&m->mu);
    entry *en = settle_locked(m, id);
    if (!en) {
        pthread_mutex_unlock(&m->mu);
        lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_MODEL, "model",
                     "The model '%s' is not loaded.", model);
        return -1;
    }
    if (en->state == ST_FAILED) {
        remove_locked(m, en);
        free(en);
    } else {
        unload_locked(m, en, true);
    }
    pthread_mutex_unlock(&m->mu);
    return 0;
}

int lmx_mgr_delete(lmx_mgr *m, const char *model, lmx_mgr_err *e) {
    if (!check_name(model, e)) return -1;
    const char *id = normalise(m, model);
    pthread_mutex_lock(&m->mu);
    entry *en = find_locked(m, id);
    bool loaded = en && en->state != ST_FAILED;
    pthread_mutex_unlock(&m->mu);
    if (loaded) {
        lmx_mgr_fail(e, LMX_MGR_LOADED, LMX_MGR_W_MODEL, "model",
                     "The model '%s' is loaded; unload it first.", id);
        snprintf(e->name, sizeof e->name, "%s", id);
        return -1;
    }
    if (!m->store) {
        not_found(m, id, e);
        return -1;
    }
    return lmx_store_delete(m->store, id, e);
}

/* ---- records ---- */

/* The record of e. Lock held. */
static void model_record_locked(lmx_mgr *m, const entry *e, lmx_mgr_model *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", e->id);
    if (e->alias[0]) snprintf(r->aliases[r->n_aliases++], sizeof r->aliases[0], "%s", e->alias);
    for (int i = 0; i < m->pol.n_aliases; i++)
        for (int k = 0; k < m->pol.aliases[i].n_models && r->n_aliases < LMX_MGR_MAX_ALIASES; k++)
            if (!strcmp(m->pol.aliases[i].models[k], e->id))
                snprintf(r->aliases[r->n_aliases++], sizeof r->aliases[0], "%s",
                         m->pol.aliases[i].name);
    r->state = state_names[e->state];
    snprintf(r->reason, sizeof r->reason, "%s", e->reason);
    r->memory_bytes = e->memory;
    r->n_ctx = e->n_ctx;
    r->n_parallel = e->n_parallel;
    r->ttl_s = e->ttl_s;
    r->expires = e->ttl_s > 0 && e->state == ST_READY;
    r->expires_at = e->last_used + e->ttl_s;
    r->last_used = e->last_used;
    r->load_time_ms = e->load_ms;
    lmx_sched_stats st = {0};
    if (e->s && e->state != ST_UNLOADING) lmx_sched_get_stats(e->s->sched, &st);
    r->queued = st.queued;
    r->active = st.running;
    r->tune = e->tune;
    r->sched = st;
    r->itl_target_ms = e->itl_target_ms;
}

int lmx_mgr_models(lmx_mgr *m, lmx_mgr_model **out) {
    pthread_mutex_lock(&m->mu);
    *out = malloc((size_t)(m->n_ents ? m->n_ents : 1) * sizeof **out);
    int n = *out ? m->n_ents : -1;
    for (int i = 0; i < n; i++) model_record_locked(m, m->ents[i], &(*out)[i]);
    pthread_mutex_unlock(&m->mu);
    return n;
}

bool lmx_mgr_model_get(lmx_mgr *m, const char *id, lmx_mgr_model *out) {
    pthread_mutex_lock(&m->mu);
    entry *e = id ? find_locked(m, id) : NULL;
    if (e) model_record_locked(m, e, out);
    pthread_mutex_unlock(&m->mu);
    return e != NULL;
}

int lmx_mgr_store_list(lmx_mgr *m, lmx_store_entry **out) {
    *out = NULL;
    int n = m->store ? lmx_store_list(m->store, out) : 0;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < n; i++) {
        entry *e = find_locked(m, (*out)[i].id);
        (*out)[i].loaded = e && e->state != ST_FAILED;
    }
    pthread_mutex_unlock(&m->mu);
    return n;
}

bool lmx_mgr_store_entry(lmx_mgr *m, const char *id, lmx_store_entry *out, lmx_mgr_err *e) {
    if (!check_name(id, e)) return false;
    if (m->store && lmx_store_get(m->store, normalise(m, id), out)) return true;
    lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_MODEL, "model",
                 "The model '%s' is not in the models directory %s.", id,
                 m->models_dir ? m->models_dir : "");
    return false;
}

int lmx_mgr_register(lmx_mgr *m, const char *path, const json_t *meta, char *id, size_t idlen,
                     lmx_mgr_err *e) {
    if (!m->store) {
        lmx_mgr_fail(e, LMX_MGR_INTERNAL, LMX_MGR_W_NONE, NULL,
                     "The model store is not available.");
        return -1;
    }
    return lmx_store_register(m->store, path, meta, id, idlen, e);
}

void lmx_mgr_ledger_each(lmx_mgr *m, lmx_ledger_fn fn, void *ud) {
    if (m->store) lmx_store_ledger_each(m->store, fn, ud);
}

bool lmx_mgr_ready(lmx_mgr *m) {
    pthread_mutex_lock(&m->mu);
    bool ready = true;
    for (int i = 0; i < m->n_ents; i++)
        if (m->ents[i]->state == ST_LOADING || m->ents[i]->state == ST_CANARY) ready = false;
    pthread_mutex_unlock(&m->mu);
    return ready;
}

void lmx_mgr_memory_get(lmx_mgr *m, lmx_mgr_memory *out) {
    pthread_mutex_lock(&m->mu);
    mem_view v;
    mem_view_locked(m, &v);
    pthread_mutex_unlock(&m->mu);
    *out = (lmx_mgr_memory){.limit = v.limit,
                            .available = v.available,
                            .reserve = v.reserve,
                            .used_by_models = v.used,
                            .source = v.source};
}

void lmx_mgr_activity_get(lmx_mgr *m, lmx_mgr_activity *out) {
    double tps = 0;
    pthread_mutex_lock(&m->mu);
    if (m->n_samples >= 2) {
        int a = 0, b = m->n_samples - 1;
        double dt = m->tok_times[b] - m->tok_times[a];
        if (dt > 0) tps = (double)(m->tok_samples[b] - m->tok_samples[a]) / dt;
    }
    pthread_mutex_unlock(&m->mu);
    *out = (lmx_mgr_activity){.uptime_s = now_s() - m->started, .tokens_per_second = tps};
}

/* ---- the reaper: idle models past their TTL, tokens/s samples ---- */

static void *reaper_main(void *arg) {
    lmx_mgr *m = arg;
    pthread_mutex_lock(&m->mu);
    double last_sample = 0;
    while (!m->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
        if (m->stop) break;
        double now = now_s();
        for (int i = 0; i < m->n_ents; i++) {
            entry *e = m->ents[i];
            if (e->state != ST_READY || e->ttl_s <= 0 || e->s->refs > 0 ||
                now - e->last_used < e->ttl_s)
                continue;
            lmx_log("info", "model idle past its ttl",
                    json_pack("{s:s,s:f}", "model", e->id, "ttl_s", e->ttl_s));
            unload_locked(m, e, true);
            break; /* the table changed; look again next round */
        }
        if (now - last_sample >= 1.0) {
            last_sample = now;
            uint64_t toks = 0;
            for (int i = 0; i < m->n_ents; i++) {
                entry *e = m->ents[i];
                if (e->state != ST_READY && e->state != ST_QUARANTINED) continue;
                lmx_sched_stats st;
                lmx_sched_get_stats(e->s->sched, &st);
                toks += st.completion_tokens;
            }
            /* unloading a model lowers the sum: start the window again */
            if (m->n_samples && toks < m->tok_samples[m->n_samples - 1]) m->n_samples = 0;
            if (m->n_samples == 11) {
                memmove(m->tok_samples, m->tok_samples + 1, 10 * sizeof *m->tok_samples);
                memmove(m->tok_times, m->tok_times + 1, 10 * sizeof *m->tok_times);
                m->n_samples = 10;
            }
            m->tok_samples[m->n_samples] = toks;
            m->tok_times[m->n_samples++] = now;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

bool lmx_mgr_catalog(lmx_mgr *m, lmx_alias **aliases, int *n) {
    pthread_mutex_lock(&m->mu);
    *n = m->pol.n_aliases;
    *aliases = malloc((size_t)(*n ? *n : 1) * sizeof **aliases);
    if (!*aliases) *n = 0;
    if (*n) memcpy(*aliases, m->pol.aliases, (size_t)*n * sizeof **aliases);
    bool lod = m->pol.load_on_demand;
    pthread_mutex_unlock(&m->mu);
    return lod;
}

bool lmx_mgr_default_model(lmx_mgr *m, char *out, size_t n, lmx_mgr_err *e) {
    /* the one loaded model when there is exactly one, else the policy's default_model */
    int ready = 0;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->n_ents; i++)
        if (m->ents[i]->state == ST_READY && ready++ == 0) snprintf(out, n, "%s", m->ents[i]->id);
    if (ready != 1) snprintf(out, n, "%s", m->pol.default_model);
    pthread_mutex_unlock(&m->mu);
    if (*out) return true;
    /* neither: the choices, loaded ones first */
    char list[1024] = "";
    size_t k = 0;
    lmx_store_entry *store;
    int n_store = lmx_mgr_store_list(m, &store);
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->n_ents && k < sizeof list; i++)
        if (m->ents[i]->state == ST_READY)
            k += (size_t)snprintf(list + k, sizeof list - k, "%s'%s'", k ? ", " : "",
                                  m->ents[i]->id);
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; i < n_store; i++) {
        if (k >= sizeof list || store[i].loaded) continue;
        k += (size_t)snprintf(list + k, sizeof list - k, "%s'%s'", k ? ", " : "", store[i].id);
    }
    lmx_store_entries_free(store, n_store);
    lmx_mgr_fail(
        e, LMX_MGR_NO_DEFAULT, LMX_MGR_W_NONE, "model",
        "No model was named and there is no default: %s. Name one in 'model' (choices: %s), "
        "or set default_model (--default-model).",
        ready ? "several models are loaded" : "no model is loaded",
        k ? list : "none: the store is empty");
    return false;
}
