/* The admin API's model-manager routes (admin_api.c): the store listing,
 * load / unload / delete, the ledger, status, memory, and the health probes. */
#ifndef LMX_SRV_API_ADMIN_API_H
#define LMX_SRV_API_ADMIN_API_H

#include "server/http/http.h"

lmx_handler_fn lmx_h_admin_models, lmx_h_admin_delete, lmx_h_admin_load, lmx_h_admin_unload,
    lmx_h_admin_ledger, lmx_h_admin_status, lmx_h_admin_memory, lmx_h_healthz, lmx_h_readyz;

#endif
