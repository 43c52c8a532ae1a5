/* The model manager: which models are loaded and under what names, and the
 * references requests hold on them.
 *
 * A request acquires a model by the name it was given and releases it when
 * its generation is freed; a model is unloaded only once no request holds it.
 * Everything that loads, unloads or lists models goes through here, whichever
 * API (OpenAI, admin, LM Studio, Ollama) asked. */
#ifndef LMX_MGR_MANAGER_H
#define LMX_MGR_MANAGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "manager/served.h"
#include "manager/tuning.h"
#include "util/api_err.h"

typedef struct lmx_mgr lmx_mgr;

typedef struct {
    int n_ctx, n_parallel, n_queue; /* defaults for models loaded without their own */
    double itl_target_ms;           /* each model's latency target (sched.h); 0: none */
    lmx_pool *pool;                 /* not owned */
    const char *models_dir;         /* the store (copied); NULL: ~/.lmx/models */
    const char *proc_root;          /* where /proc and /sys are read (tests); NULL: "/" */
    lmx_tuning_req tune;            /* KV type and speculative decoding defaults (strings
                                       must outlive the manager) */
    int debug_load_delay_ms;        /* TESTING ONLY: a load is slowed by this much in all,
                                       spread over its tensors (models_debug.load_delay_ms) */
} lmx_mgr_opts;

/* An alias: a name clients use, mapped to models in order of preference. */
typedef struct {
    char name[128];
    char models[8][256];
    int n_models;
} lmx_alias;

/* What a config reload may change while the daemon runs. */
typedef struct {
    uint64_t memory_limit;      /* bytes models may use at most; 0: what the machine gives */
    uint64_t memory_reserve;    /* bytes always left free */
    bool auto_evict;            /* unload idle models LRU-first to make room */
    bool load_on_demand;        /* a request for a known, unloaded model loads it */
    double load_wait_s;         /* a request waits this long at most for a model that is loading,
                                   then gets 503 model_loading (0: at once) */
    bool mlock;                 /* lock weights in memory */
    double default_ttl_s;       /* idle unload for models loaded without a ttl; 0: never */
    int quarantine_errors;      /* run-time failures ... */
    double quarantine_window_s; /* ... within this window quarantine a model (3, 600) */
    const lmx_alias *aliases;   /* copied; a name with '*' or '?' is a pattern (claude-*) */
    int n_aliases;
    char default_model[256]; /* for requests naming no model when not exactly one is loaded */
} lmx_mgr_policy;

lmx_mgr *lmx_mgr_create(const lmx_mgr_opts *o);
/* Applies a policy (at start and on config reload); safe while serving. */
void lmx_mgr_set_policy(lmx_mgr *m, const lmx_mgr_policy *p);
const char *lmx_mgr_models_dir(const lmx_mgr *m);
/* Adds a file that a download completed to the store, with what is known of
 * it (meta: {"repo", "revision", "file", "quant", "sha256"}); split models
 * name their first shard. The id is returned in id (e.g. "org/repo:Q4_K_M").
 * 0, or -1 with e set. */
int lmx_mgr_register(lmx_mgr *m, const char *path, const json_t *meta, char *id, size_t idlen,
                     lmx_api_err *e);
/* Unloads everything (cancel_running: cut in-flight jobs short). */
void lmx_mgr_destroy(lmx_mgr *m, bool cancel_running);

/* Loads a .gguf file and makes it routable under its file name without
 * .gguf. NULL with a one-line message in err. */
lmx_served *lmx_mgr_load_file(lmx_mgr *m, const char *path, char *err, size_t errlen);

/* The model a request named, with a reference held; NULL with e set (404
 * model_not_found naming what is loaded). A model that is loading (on demand
 * or by the admin API) is waited for up to policy.load_wait_s; past that the
 * answer is 503 model_loading with retry_after estimated from the load's
 * progress (1-59 s), and the load goes on (on demand: in its own thread). */
lmx_served *lmx_mgr_acquire(lmx_mgr *m, const char *name, lmx_api_err *e);
/* The model a request naming none gets ("" or NULL name): the one loaded model
 * when there is exactly one, else default_model; false with e set (400
 * model_required listing the choices) when neither applies. */
bool lmx_mgr_default_model(lmx_mgr *m, char *out, size_t n, lmx_api_err *e);
/* Drops a reference taken by lmx_mgr_acquire or lmx_mgr_load: the model was
 * used now (its idle TTL starts again). */
void lmx_mgr_release(lmx_served *s);

/* ---- the contract the admin, LM Studio and Ollama APIs use ----
 * Model names given by clients go through lmx_mgr_resolve's rules: aliases
 * from the config, prefixes "lmx/" and "openai/" dropped, "org/repo:QUANT"
 * ids of downloaded models, local names (a file name without .gguf). */

typedef struct {
    const char *model;    /* id, alias or local name */
    int ctx_size;         /* 0: the manager's default */
    int parallel;         /* 0: the manager's default */
    const char *alias;    /* NULL: none; else also routable under this name */
    double ttl_s;         /* unload after this long idle; 0: the model's own (the
                             default when freshly loaded); < 0: never */
    double itl_target_ms; /* the scheduler's latency target (sched.h) when it loads:
                             0: the manager's default (opts.itl_target_ms); < 0: none */
    lmx_tuning_req tune;  /* KV type, speculative decoding; unset fields: the defaults */
} lmx_load_req;

/* Loads a model from the store (memory admission, canary) and returns it
 * ready with a reference held; an already loaded one is returned as is (its
 * ttl refreshed). NULL with e set: 404 model_not_found, 507
 * insufficient_memory, 409 model_not_ready, 422 model_canary_failed, ... */
lmx_served *lmx_mgr_load(lmx_mgr *m, const lmx_load_req *q, lmx_api_err *e);
/* Unloads (waits for in-flight requests). 0, or -1 with e set (404). */
int lmx_mgr_unload(lmx_mgr *m, const char *model, lmx_api_err *e);
/* Deletes a model's files from the store; 409 while loaded. */
int lmx_mgr_delete(lmx_mgr *m, const char *model, lmx_api_err *e);
/* The models on disk: [{"id", "path", "size", "architecture", "quantization",
 * "parameters", "context_length", "loaded", ...}] (new reference). */
json_t *lmx_mgr_store_json(lmx_mgr *m);
/* The loaded models with state, memory, context, parallel, ttl, last use
 * (new reference): [{"id", "state", "memory_bytes", "context_length",
 * "parallel", "ttl_s", "expires_at", "last_used", ...}]. */
json_t *lmx_mgr_loaded_json(lmx_mgr *m);

/* A generation on s failed at run time (an engine error, non-finite logits):
 * counted towards quarantine (policy.quarantine_errors within
 * policy.quarantine_window_s), after which acquire answers 409 model_unstable
 * until the model is loaded again. */
void lmx_mgr_report_failure(lmx_served *s, const char *reason);

/* ---- observability (the admin API's bodies, new references) ---- */
/* STORE_ENTRY with "loaded": LOADED_ENTRY|null; NULL with e set (400 bad
 * name, 404 unknown). */
json_t *lmx_mgr_model_json(lmx_mgr *m, const char *id, lmx_api_err *e);
/* {"version","uptime_s","models","queue_depth","active_sequences","tokens_per_second"} */
json_t *lmx_mgr_status_json(lmx_mgr *m);
/* {"limit_bytes","available_bytes","reserve_bytes","used_by_models_bytes","source","models"} */
json_t *lmx_mgr_memory_json(lmx_mgr *m);
/* The compatibility ledger: every load outcome on this build. */
json_t *lmx_mgr_ledger_json(lmx_mgr *m);
/* No model is loading (the startup models are ready). */
bool lmx_mgr_ready(lmx_mgr *m);

/* What clients may name, for model pickers (/v1/models): {"load_on_demand":
 * bool, "aliases": {NAME: [MODEL...]}} as the policy has them now (new ref). */
json_t *lmx_mgr_catalog_json(lmx_mgr *m);

/* Every routable model, each with a reference held: fills *out (malloc'd)
 * and returns the count. Give them back with lmx_mgr_list_release. */
int lmx_mgr_list(lmx_mgr *m, lmx_served ***out);
/* Drops a listing's references (NULL entries: kept by the caller, who
 * releases them itself) and frees it. Looking at a model is not
 * using it: its idle TTL keeps running (a client polling a listing must not
 * keep every model loaded). */
void lmx_mgr_list_release(lmx_served **list, int n);

#endif
