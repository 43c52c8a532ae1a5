/* The admin API's model-manager routes (admin_api.c): the store listing,
 * load / unload / delete, the ledger, status, memory, and the health probes. */
#ifndef LMX_SRV_API_ADMIN_API_H
#define LMX_SRV_API_ADMIN_API_H

#include "server/http/http.h"

int lmx_h_admin_models(lmx_req *r, const char *id);
int lmx_h_admin_delete(lmx_req *r, const char *id);
int lmx_h_admin_load(lmx_req *r, const char *rest);
int lmx_h_admin_unload(lmx_req *r, const char *rest);
int lmx_h_admin_ledger(lmx_req *r, const char *rest);
int lmx_h_admin_status(lmx_req *r, const char *rest);
int lmx_h_admin_memory(lmx_req *r, const char *rest);
int lmx_h_healthz(lmx_req *r, const char *rest);
int lmx_h_readyz(lmx_req *r, const char *rest);

#endif
