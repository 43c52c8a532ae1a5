/* The daemon's configuration: every setting of `lmx serve` in one struct,
 * filled in layers — built-in defaults, then one YAML file (--config FILE,
 * default ~/.lmx/config.yaml), then LMX_<KEY> environment variables, then
 * command-line flags. A reload runs the same layers again (the flags and the
 * environment are those the daemon started with), so a flag always wins.
 *
 * Every key is described once, in config.c's table: its type and range, its
 * environment variable and flag, and whether a running daemon can apply it
 * (LMX_CFG_RELOAD) or needs a restart (LMX_CFG_RESTART). Everything else —
 * parsing, error messages, the diff a reload reports — is driven by it. */
#ifndef LMX_SRV_CONFIG_H
#define LMX_SRV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "manager/manager.h"

/* Where lmx serve listens, and the lmx admin commands look, by default. */
#define LMX_DEFAULT_HOST "127.0.0.1"
#define LMX_DEFAULT_PORT 1234

#define LMX_CFG_MAX_ALIASES 64
#define LMX_CFG_MAX_MODELS 32

/* A model to load at start: an id, alias or local name from the store, or a
 * path to a .gguf file. */
typedef struct {
    char model[1024];
    long ctx_size, parallel; /* 0: the daemon's defaults */
    char kv_type[8], speculative[8]; /* "": the daemon's defaults */
    char draft_model[1024];
    long draft_max;          /* 0: the daemon's default */
    char alias[128];         /* "": none */
    double ttl_s;            /* 0: the default_ttl */
    long itl_target_ms;      /* -1: the global itl_target_ms; 0: none */
} lmx_cfg_model;

typedef struct {
    /* listening (restart) */
    char host[256];
    long port;
    long ollama_port; /* -1: off */
    long idle_timeout;
    long threads;
    /* connections (restart): conn_guard.h */
    long http_max_connections, http_reserved_connections, http_per_peer;
    double http_header_timeout;
    long http_body_min_rate, http_threads, http_workers;
    char models_dir[1024];
    char model[1024]; /* -m FILE: a .gguf loaded at start */
    char responses_db[1024]; /* stored /v1/responses: a SQLite file, or ":memory:" */
    /* defaults for loaded models (restart: the manager takes them at creation) */
    long ctx_size, parallel, queue;
    char kv_type[8], speculative[8], draft_model[1024]; /* "": f16, off, none */
    long draft_max;
    /* access (reload) */
    char api_key[256], admin_key[256];
    char state_dir[1024]; /* "": $LMX_STATE_DIR or ~/.lmx (restart) */
    bool admin_token;     /* admin_key came from <state_dir>/admin.token (lmx_config_admin_key) */
    /* the fleet: tenants, keys, limits (tenancy.h; reload unless noted) */
    char profile[32];         /* lan | trusted-gateway | internet (restart) */
    char tenancy_db[1024];    /* keys and quota usage (restart) */
    char tenants[2048];       /* NAME:weight=W,rpm=N,tpm=N,tpd=N,inflight=N;... */
    char api_keys[4096];      /* TENANT:SHA256HEX;... */
    char trusted_proxies[1024];
    long client_max_inflight, client_prompt_tpm, max_prompt_tokens, queue_max_wait;
    long itl_target_ms;       /* restart: schedulers take it when a model loads */
    long client_labels;       /* restart: client ids with their own metric label */
    /* TLS: PEM files, re-read on reload (new connections get the new pair);
     * tls_ca: verify client certificates against it (mTLS) */
    char tls_cert[1024], tls_key[1024], tls_ca[1024];
    char otlp_endpoint[512]; /* OTLP/HTTP traces URL; "" off (restart) */
    /* requests (reload) */
    long drain_timeout;
    uint64_t max_body;
    long sse_keepalive_ms;
    char log_level[16];
    char log_format[8];      /* text | json | auto */
    char default_model[256]; /* for requests that name no model ("": none) */
    /* the manager's policy (reload) */
    uint64_t memory_limit, memory_reserve;
    bool auto_evict, load_on_demand, mlock;
    double default_ttl;
    double load_wait; /* seconds a request waits for a loading model before 503 */
    long quarantine_errors;
    double quarantine_window;
    lmx_alias aliases[LMX_CFG_MAX_ALIASES];
    int n_aliases;
    /* agent runs: roles (reload), the store and the executors (restart) */
    char agents[65536]; /* {name: definition} as JSON text; "": none */
    char agents_store[16], agents_db[1024], redis_url[512];
    long agents_workers, agents_queue, agents_queue_per_tenant;
    double agents_retention;
    long agents_debug_fail_steps, agents_debug_step_delay_ms; /* testing only */
    long models_debug_load_delay_ms;                          /* testing only */
    /* skills (reload; docs/skills.md) */
    char skills_dir[1024];
    bool skills_allow_unsandboxed;
    long skills_queue, skills_max_steps;
    /* loaded at start (restart) */
    lmx_cfg_model models[LMX_CFG_MAX_MODELS];
    int n_models;
} lmx_config;

void lmx_config_defaults(lmx_config *c);

/* Settles admin_key after the sources were read: unset → the token in
 * <state_dir>/admin.token, created (0600) when missing, so the admin API is
 * never open by default; "none" → no key (loopback clients only, as before
 * tokens). 0, or -1 with err set. */
int lmx_config_admin_key(lmx_config *c, char *err, size_t errlen);

/* Layers a YAML document over c. `name` is what messages call the source
 * (the file's path). 0, or -1 with "NAME:LINE:COLUMN: reason" in err. */
int lmx_config_parse_yaml(lmx_config *c, const char *name, const char *text, size_t len, char *err,
                          size_t errlen);
/* Reads and layers a file. A missing file is an error unless missing_ok. */
int lmx_config_load_file(lmx_config *c, const char *path, bool missing_ok, char *err,
                         size_t errlen);
/* Layers the LMX_* variables of the environment. 0, or -1 with
 * "LMX_PORT: reason" in err. */
int lmx_config_load_env(lmx_config *c, char *err, size_t errlen);

/* If argv[*i] is a flag of `lmx serve` (--port, -c, --alias, ...), takes it
 * (and its value, advancing *i) into c and returns 1; 0 when argv[*i] is no
 * such flag; -1 with err set when its value is missing or invalid. */
int lmx_config_flag(lmx_config *c, int argc, char **argv, int *i, char *err, size_t errlen);

/* The default file: $HOME/.lmx/config.yaml (into buf; "" without HOME). */
void lmx_config_default_path(char *buf, size_t n);

/* Defaults, file, environment, flags (argv[1..]; --config FILE is
 * skipped: the caller passes it as path). `path` NULL: the default file,
 * which may be missing. 0; -1 with err set for a bad file or variable; -2
 * for a bad flag (a usage error). */
int lmx_config_build(lmx_config *c, const char *path, int argc, char **argv, char *err,
                     size_t errlen);

/* Keys whose value differs between a and b, in table order. Writes up to
 * `cap` key names (static strings) to keys; returns how many differ. restart
 * (may be NULL) gets, per key, whether it needs a restart. */
int lmx_config_diff(const lmx_config *a, const lmx_config *b, const char **keys, bool *restart,
                    int cap);
/* Copies every restart-only setting of `from` into `to` (what a reload keeps). */
void lmx_config_keep_restart(lmx_config *to, const lmx_config *from);

/* The manager policy the config describes (points into c). */
void lmx_config_policy(const lmx_config *c, lmx_mgr_policy *p);

/* Parses "2G", "512M", "1.5GiB", "4096" (binary multiples). */
bool lmx_config_parse_size(const char *s, uint64_t *out);

/* Writes the key table as a Markdown table (docs/configuration.md is checked
 * against it by a test). */
void lmx_config_doc(FILE *f);

#endif
