/* Deployment profiles: what `lmx serve` demands of its config before it
 * starts. `lan` (the default) asks nothing more; `trusted-gateway` needs
 * inference keys and the proxies whose forwarding headers are believed;
 * `internet` needs keys and TLS, caps each client's requests in flight when
 * the config does not, and keeps the admin API off the public listener
 * (loopback clients only, even with an admin key). */
#ifndef LMX_SRV_PROFILE_H
#define LMX_SRV_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "server/config.h"

/* 0, or -1 with err saying which requirement is unmet. keys_in_db: the
 * tenancy database holds keys made by `lmx keys add`. May tighten c
 * (internet: client_max_inflight 4 when unset). */
int lmx_profile_check(lmx_config *c, bool keys_in_db, char *err, size_t errlen);
/* Whether the admin API answers only loopback clients under c's profile. */
bool lmx_profile_admin_loopback_only(const lmx_config *c);

#endif
