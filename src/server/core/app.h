/* The daemon-wide state every handler can reach: the model manager and the
 * server's settings. Built by `lmx serve`, read by the endpoint modules. */
#ifndef LMX_SRV_CORE_APP_H
#define LMX_SRV_CORE_APP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "manager/download.h"
#include "manager/manager.h"

struct lmx_cfg_live;
struct lmx_rstore;
struct lmx_agents;
struct lmx_tenancy;

/* The keys and limits are atomic because a config reload (config_api.c)
 * replaces them while requests read them; a replaced key string stays
 * allocated until exit, so a reader never holds a freed one. */
typedef struct {
    lmx_mgr *mgr;
    lmx_dl *downloads;
    _Atomic(const char *) api_key;   /* NULL: the API needs no key */
    _Atomic(const char *) admin_key; /* NULL: the admin API answers loopback clients only */
    atomic_int keepalive_ms;         /* SSE comment interval while a stream waits */
    atomic_size_t max_body;
    struct lmx_cfg_live *config;  /* the running config, for reloads (config_api.h) */
    struct lmx_rstore *responses; /* the Responses API's stored responses */
    /* agent runs (agents/runtime.h); NULL: not started */
    struct lmx_agents *agents;
    struct lmx_tenancy *tenancy;  /* tenants, keys, quotas (tenancy.h); NULL: the single api_key */
    bool admin_local_only;        /* the admin API answers loopback clients only (profile internet) */
} lmx_app;

#endif
