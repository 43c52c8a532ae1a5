/* Agent runs: the engine that takes a task for a role and runs the loop of
 * model calls and (client-side) tool calls to the end, durable across
 * restarts, observable as a stream of events.
 *
 * A run is a state machine (queued → running → requires_action ⇄ queued ...
 * → completed | failed | cancelled | expired) whose whole state is one JSON
 * document rewritten in the store after every transition; every transition
 * also appends an event (numbered per run) to the store. A small pool of
 * executor threads takes queued runs and drives them step by step; a model
 * step goes through `lmx_amodel` (the server's chat generation path, so runs
 * share the scheduler with every other request), a tool call stops the run in
 * requires_action until the client posts the outputs. The queue is in memory,
 * or the store's own when it has one (Redis: shared by the daemons on it). On
 * start, runs left queued or running by a killed daemon are queued again: they
 * continue from their last completed step (a cut-off model step is redone; an
 * answered tool call is not asked again, since its output is already in the
 * document).
 *
 * This layer does not speak HTTP: errors come back as lmx_api_err values,
 * which the server's handlers (server/api/agents_api.c) render.
 *
 * Threads: every function may be called from any thread. One lock (mu in
 * runtime.c) serialises each read-modify-write of a run document and the
 * queue; model steps run outside it. */
#ifndef LMX_AGENTS_RUNTIME_H
#define LMX_AGENTS_RUNTIME_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "agents/store.h"
#include "util/api_err.h"

/* Why a model step failed, as the step runner saw it. */
typedef struct {
    bool transient; /* worth retrying (busy, overloaded, 5xx, timeout) */
    char code[64];  /* machine-readable: "queue_full", "context_length_exceeded" ... */
    char message[512];
    double retry_after_s; /* the scheduler's Retry-After (0: none) */
} lmx_astep_fail;

/* How a model step runs: one Chat Completions request body in, the
 * chat.completion object out (new reference), or NULL with f set. It must
 * give up when *cancel becomes true or timeout_s passes (a transient
 * failure). */
typedef struct {
    json_t *(*chat)(void *ctx, json_t *body, const atomic_bool *cancel, double timeout_s,
                    lmx_astep_fail *f);
    void *ctx;
} lmx_amodel;

typedef struct {
    lmx_astore *store; /* taken over: closed by lmx_agents_stop */
    lmx_amodel model;
    int workers;          /* run executors (default 2) */
    int queue_max;        /* queued runs in all before 429 (default 256) */
    int queue_per_tenant; /* queued runs per tenant before 429 (default 64) */
    double retention_s;   /* finished runs are dropped after this (0: kept) */
    /* Testing only (agents_debug_* in the config): the first N attempts of
     * every model step fail with a transient error, and every model step
     * first sleeps this long (so a test can kill the daemon mid-step). */
    int fault_transient;
    int fault_delay_ms;
} lmx_agents_opts;

typedef struct lmx_agents lmx_agents;

/* Opens the runtime: queues unfinished runs again and starts the executors.
 * NULL with err set. */
lmx_agents *lmx_agents_start(const lmx_agents_opts *o, char *err, size_t n);
/* Stops the executors (a running step is cancelled and redone at the next
 * start) and closes the store. */
void lmx_agents_stop(lmx_agents *a);
const char *lmx_agents_backend(const lmx_agents *a);

/* ---- roles ---- */
/* The roles of the config file ({name: definition}); replaces the previous
 * config roles. 0, or -1 with e set naming the bad role (nothing replaced). */
int lmx_agents_set_config_roles(lmx_agents *a, const json_t *roles, lmx_api_err *e);
/* Every role: [{name, source: "config"|"admin", definition}]. */
json_t *lmx_agents_roles(lmx_agents *a);
/* A role defined through the admin API (persisted; wins over a config role
 * of the same name). 0, or -1 with e set. */
int lmx_agents_put_role(lmx_agents *a, const char *name, const json_t *def, lmx_api_err *e);
int lmx_agents_del_role(lmx_agents *a, const char *name, lmx_api_err *e);
/* A definition checked and normalised (new reference), or NULL with e set
 * (param names the field). Exposed for the unit tests and the fuzz harness. */
json_t *lmx_agents_check_definition(const json_t *def, lmx_api_err *e);

/* ---- runs (tenant: who asks; runs and idempotency keys are scoped to it) ---- */
typedef struct {
    int status;    /* 201 created, 200 replayed */
    bool replayed; /* an earlier run with the same key and body */
} lmx_acreate;

/* POST /v1/agents/runs. The run object (new reference) or NULL with e set
 * (400 bad request, 404 no such role, 409 idempotency_key_reused,
 * 429 agents_queue_full with retry_after). */
json_t *lmx_agents_create(lmx_agents *a, const char *tenant, const json_t *req,
                          const char *idem_key, lmx_acreate *out, lmx_api_err *e);
json_t *lmx_agents_get(lmx_agents *a, const char *tenant, const char *id, lmx_api_err *e);
/* {object: "list", data, has_more, last_id}; status/role filters may be NULL. */
json_t *lmx_agents_list(lmx_agents *a, const char *tenant, const char *status, const char *role,
                        const char *after, int limit, lmx_api_err *e);
json_t *lmx_agents_cancel(lmx_agents *a, const char *tenant, const char *id, lmx_api_err *e);
json_t *lmx_agents_tool_outputs(lmx_agents *a, const char *tenant, const char *id,
                                const json_t *req, lmx_api_err *e);

/* ---- events ---- */
/* Events with id > after (at most limit), or NULL with e set (404). *ended:
 * the run is in a final state (so no event follows the last one returned
 * when fewer than limit came back). */
json_t *lmx_agents_events(lmx_agents *a, const char *tenant, const char *id, long long after,
                          int limit, bool *ended, lmx_api_err *e);
/* Waits until some run gets a new event or timeout_ms passes. */
void lmx_agents_wait(lmx_agents *a, int timeout_ms);

/* ---- observability ---- */
/* Success rate by role, model and tool over the last window_s seconds. */
json_t *lmx_agents_analytics(lmx_agents *a, double window_s);
/* Prometheus exposition text of the agent metrics (malloc'd). */
char *lmx_agents_metrics(lmx_agents *a);

#endif
