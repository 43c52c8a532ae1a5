/* Deployment profiles (see profile.h). */
#include "server/core/profile.h"

#include <string.h>

#include "util/fail.h"

/* What each profile demands of the config: one row a profile, so the checks
 * (and their messages) are written once. */
static const struct {
    const char *name;
    bool keys;        /* inference keys */
    bool proxies;     /* trusted_proxies */
    bool tls;         /* tls_cert and tls_key */
    int max_inflight; /* client_max_inflight when the config sets none (0: none) */
} profiles[] = {
    {"lan", false, false, false, 0},
    {"trusted-gateway", true, true, false, 0},
    {"internet", true, false, true, 4},
};

int lmx_profile_check(lmx_config *c, bool keys_in_db, char *err, size_t errlen) {
    bool keys = c->api_key[0] || c->api_keys[0] || keys_in_db;
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
        if (strcmp(c->profile, profiles[i].name)) continue;
        const char *name = profiles[i].name;
        if (profiles[i].keys && !keys)
            return lmx_fail(
                err, errlen,
                "profile %s requires inference keys: set api_key or api_keys, or make one "
                "with `lmx keys add`",
                name);
        if (profiles[i].proxies && !c->trusted_proxies[0])
            return lmx_fail(err, errlen,
                            "profile %s requires trusted_proxies (the gateway's addresses, e.g. "
                            "10.0.0.5/32)",
                            name);
        if (profiles[i].tls && (!c->tls_cert[0] || !c->tls_key[0]))
            return lmx_fail(err, errlen,
                            "profile %s requires TLS: set tls_cert and tls_key (PEM files)", name);
        if (!c->client_max_inflight) c->client_max_inflight = profiles[i].max_inflight;
        return 0;
    }
    return lmx_fail(err, errlen,
                    "profile: '%s' is not a profile (lan, trusted-gateway or internet)",
                    c->profile);
}

bool lmx_profile_admin_loopback_only(const lmx_config *c) {
    return !strcmp(c->profile, "internet");
}
