/* The running configuration and its reload (POST /admin/config/reload and
 * SIGHUP): the file and environment are read again, the flags given at start
 * applied over them, and what a running daemon can change is applied —
 * keys and limits (atomically, between requests), log level, the manager's
 * policy. Settings that need a restart are reported, not applied. */
#ifndef LMX_SRV_API_CONFIG_API_H
#define LMX_SRV_API_CONFIG_API_H

#include <jansson.h>

#include "server/config.h"
#include "server/core/app.h"
#include "server/http/http.h"

typedef struct lmx_cfg_live lmx_cfg_live;

/* Takes a copy of the config the daemon started with and applies it to app
 * (keys, limits, log level, manager policy). path: the --config file (NULL:
 * the default one); argv is kept (not copied) for reloads. Sets
 * app->config. NULL when out of memory. */
/* Applies the config's tenants, keys and client limits to app->tenancy
 * (none: 0). -1 with err naming the bad setting; nothing is applied then. */
int lmx_cfg_apply_fleet(lmx_app *app, const lmx_config *c, char *err, size_t errlen);
lmx_cfg_live *lmx_cfg_live_create(lmx_app *app, const lmx_config *c, const char *path, int argc,
                                  char **argv);
void lmx_cfg_live_free(lmx_cfg_live *l);

/* Rebuilds and applies the config. On success {"reloaded": true, "changed":
 * [keys applied], "restart_required": [keys not applied]} (new reference);
 * NULL with the reason in err ("FILE:LINE:COLUMN: ..."), the running config
 * unchanged. Serialised: concurrent reloads run one after the other. */
json_t *lmx_cfg_live_reload(lmx_cfg_live *l, char *err, size_t errlen);

/* The running drain_timeout (seconds). */
/* The running config's TLS certificate and key paths. */
void lmx_cfg_live_tls(lmx_cfg_live *l, char *cert, char *key, size_t cap);
long lmx_cfg_live_drain_timeout(lmx_cfg_live *l);
/* Hands c's agent roles to app->agents (when running): 0, or -1 with err
 * naming the bad role (the running roles are then unchanged). */
int lmx_cfg_apply_agents(lmx_app *app, const lmx_config *c, char *err, size_t errlen);

/* POST /admin/config/reload */
lmx_handler_fn lmx_h_config_reload;

#endif
