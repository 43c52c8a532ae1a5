/* The admin API of the fleet (keys_api.c): inference keys (POST/GET
 * /admin/keys, DELETE /admin/keys/{id}) and the tenants' state
 * (GET /admin/tenants). */
#ifndef LMX_SRV_API_KEYS_API_H
#define LMX_SRV_API_KEYS_API_H

#include "server/http/http.h"

int lmx_h_keys_add(lmx_req *r, const char *rest);
int lmx_h_keys_list(lmx_req *r, const char *rest);
int lmx_h_keys_revoke(lmx_req *r, const char *id);
int lmx_h_tenants(lmx_req *r, const char *rest);

#endif
