/* Deployment profiles (see profile.h). */
#include "server/core/profile.h"

#include <stdio.h>
#include <string.h>

int lmx_profile_check(lmx_config *c, bool keys_in_db, char *err, size_t errlen) {
    bool keys = c->api_key[0] || c->api_keys[0] || keys_in_db;
    if (!strcmp(c->profile, "lan")) return 0;
    if (!strcmp(c->profile, "trusted-gateway")) {
        if (!keys)
            return snprintf(err, errlen,
                            "profile trusted-gateway requires inference keys: set api_key or "
                            "api_keys, or make one with `lmx keys add`"),
                   -1;
        if (!c->trusted_proxies[0])
            return snprintf(err, errlen,
                            "profile trusted-gateway requires trusted_proxies (the gateway's "
                            "addresses, e.g. 10.0.0.5/32)"),
                   -1;
        return 0;
    }
    if (!strcmp(c->profile, "internet")) {
        if (!keys)
            return snprintf(err, errlen,
                            "profile internet requires inference keys: set api_key or api_keys, "
                            "or make one with `lmx keys add`"),
                   -1;
        if (!c->tls_cert[0] || !c->tls_key[0])
            return snprintf(err, errlen,
                            "profile internet requires TLS: set tls_cert and tls_key (PEM files)"),
                   -1;
        if (!c->client_max_inflight) c->client_max_inflight = 4;
        return 0;
    }
    return snprintf(err, errlen,
                    "profile: '%s' is not a profile (lan, trusted-gateway or internet)",
                    c->profile),
           -1;
}

bool lmx_profile_admin_loopback_only(const lmx_config *c) {
    return !strcmp(c->profile, "internet");
}
