/* Tenants, their keys and quotas, and the per-client limits: who may call,
 * how much, and what a refusal says (the overload contract,
 * docs/overload.md).
 *
 * A tenant is named by an inference API key. Keys are stored as SHA-256
 * hashes only: those the config lists (`api_keys`), and those made through
 * the admin API / `lmx keys add`, kept in SQLite (`tenancy_db`) with each
 * tenant's quota usage, so a quota spent before a restart stays spent.
 * Tenants' weights (fair queueing), quotas (requests and tokens per minute,
 * tokens per UTC day) and in-flight caps come from the config's `tenants`.
 * Within a tenant a client is the x-openclaw-agent-id / x-openclaw-session-key
 * header, else the body's user / safety_identifier / prompt_cache_key, else
 * its address (ident.h).
 *
 * Thread-safe: one lock guards the tables and the database handle. */
#ifndef LMX_SRV_TENANCY_H
#define LMX_SRV_TENANCY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/api_err.h"

typedef struct lmx_tenancy lmx_tenancy;

/* The settings a config gives (copied; reload calls lmx_tenancy_configure again). */
typedef struct {
    const char *tenants;         /* "NAME:weight=3,rpm=60,tpm=0,tpd=0,inflight=0;NAME2:..." */
    const char *api_keys;        /* "TENANT:SHA256HEX;..." */
    const char *legacy_key;      /* the single `api_key` (tenant "default"), "" none */
    const char *trusted_proxies; /* CIDR list */
    long client_max_inflight;    /* per client; 0: no cap */
    long client_prompt_tpm;      /* prompt tokens per client per minute; 0: no limit */
    long max_prompt_tokens;      /* per request; 0: the context is the limit */
    long queue_max_wait;         /* seconds of estimated queue wait before model_busy; 0: off */
    long client_labels;          /* client ids with their own metric label (util/topn.h);
                                    taken at the first configure only; 0: 32 */
} lmx_tenancy_cfg;

/* One request's identity and admission, kept by the HTTP layer. */
typedef struct {
    char tenant[64];
    char client[128];
    char addr[64];
    double weight;       /* the tenant's */
    int prio;            /* 0 interactive, 1 batch */
    bool counted;        /* holds an in-flight slot and counts against quotas */
    const char *refused; /* a code the generation start refused with (queue_full, ...) */
    /* x-ratelimit-* values; limit < 0: the tenant has no such quota */
    long rl_req_limit, rl_req_left, rl_req_reset;
    long rl_tok_limit, rl_tok_left, rl_tok_reset;
} lmx_caller;

/* The request the current thread is handling (set by the HTTP layer around a
 * handler; NULL outside one). Generation start reads it synchronously. */
extern _Thread_local lmx_caller *lmx_caller_current;
extern _Thread_local lmx_tenancy *lmx_tenancy_current;

/* Opens (creating) the database at path (NULL or ":memory:": in memory). */
lmx_tenancy *lmx_tenancy_open(const char *path, char *err, size_t errlen);
void lmx_tenancy_close(lmx_tenancy *t);
/* Applies settings; -1 with err naming the bad part (nothing applied). */
int lmx_tenancy_configure(lmx_tenancy *t, const lmx_tenancy_cfg *c, char *err, size_t errlen);

/* Whether any inference key exists (config, database or the legacy key). */
bool lmx_tenancy_keys_required(lmx_tenancy *t);
/* The tenant of a presented key; false when unknown or revoked. */
bool lmx_tenancy_key_tenant(lmx_tenancy *t, const char *key, char *tenant, size_t cap);

/* Fills c's client (from the headers and the body, else addr behind the
 * trusted proxies) and weight. body may be NULL. */
void lmx_tenancy_identify(lmx_tenancy *t, lmx_caller *c, const char *peer, const char *xff,
                          const char *fwd, const char *agent_id, const char *session_key,
                          json_t *body);
/* Quotas and the client's in-flight cap: true and c->counted, or false
 * with e set (429 quota_exceeded / rate_limited, Retry-After). */
bool lmx_tenancy_admit(lmx_tenancy *t, lmx_caller *c, lmx_api_err *e);
/* A prompt of n tokens: the per-request cap (400) and the client's prompt
 * tokens per minute (429 rate_limited). */
bool lmx_tenancy_prompt(lmx_tenancy *t, lmx_caller *c, int n, lmx_api_err *e);
/* The request ended: frees its in-flight slot, counts its tokens. */
void lmx_tenancy_finish(lmx_tenancy *t, lmx_caller *c, int prompt_tokens, int completion_tokens,
                        int status);
/* The model's queue estimate: 429 model_busy when waiting would exceed the
 * configured maximum (queue_max_wait). */
bool lmx_tenancy_queue_ok(lmx_tenancy *t, int queued, double drain_per_s, lmx_api_err *e);

/* Seconds to wait before retrying behind `queued` jobs draining at rate
 * drain_per_s: honest, at least 1, under 60 (SDKs ignore more). */
int lmx_retry_after(int queued, double drain_per_s);

/* Keys: {id, key, tenant} (the key is shown only here), the list without
 * secrets, and revocation by id. NULL / false with err set. */
json_t *lmx_tenancy_key_add(lmx_tenancy *t, const char *tenant, char *err, size_t errlen);
json_t *lmx_tenancy_key_list(lmx_tenancy *t);
bool lmx_tenancy_key_revoke(lmx_tenancy *t, const char *id);

/* {tenants: [{name, weight, inflight, requests_this_minute, tokens_this_minute,
 *  tokens_today, quotas...}]} for the admin status. */
json_t *lmx_tenancy_status(lmx_tenancy *t);
/* Per-tenant and per-client series in the Prometheus text format. */
void lmx_tenancy_metrics(lmx_tenancy *t, FILE *f);

#endif
