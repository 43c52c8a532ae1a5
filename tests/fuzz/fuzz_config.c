/* libFuzzer harness for the config file parser (server/config.c, libyaml).
 *
 * Input: a YAML document. It is layered over the defaults; whatever happens
 * nothing may crash, leak or read out of bounds, a refusal must carry a
 * "NAME:LINE:COLUMN: reason" message, and an accepted config must hold only
 * values within the ranges the parser promises.
 * Build and run: make fuzz && build-fuzz/fuzz_config -max_total_time=60 CORPUS_DIR
 * (.ci/run seeds it with tests/fuzz/config-seeds). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"

static lmx_config cfg, base;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[1024];
    lmx_config_defaults(&cfg);
    if (lmx_config_parse_yaml(&cfg, "f.yaml", (const char *)data, size, err, sizeof err)) {
        if (strncmp(err, "f.yaml:", 7)) abort(); /* every refusal names the file */
        return 0;
    }
    /* parallel 0: not given, the manager chooses it from memory (manager/defaults.c) */
    if (cfg.port < 0 || cfg.port > 65535 || cfg.parallel < 0 || cfg.parallel > 256) abort();
    if (cfg.n_aliases < 0 || cfg.n_aliases > LMX_CFG_MAX_ALIASES) abort();
    if (cfg.n_models < 0 || cfg.n_models > LMX_CFG_MAX_MODELS) abort();
    for (int i = 0; i < cfg.n_aliases; i++)
        if (cfg.aliases[i].n_models < 1 || cfg.aliases[i].n_models > 8 || !cfg.aliases[i].name[0])
            abort();
    if (!memchr(cfg.host, 0, sizeof cfg.host) || !memchr(cfg.api_key, 0, sizeof cfg.api_key))
        abort();
    /* the reload path: a diff against the defaults, then keeping restart keys */
    lmx_config_defaults(&base);
    const char *keys[64];
    bool restart[64];
    int n = lmx_config_diff(&base, &cfg, keys, restart, 64);
    lmx_config_keep_restart(&cfg, &base);
    for (int i = 0; i < n && i < 64; i++) (void)keys[i];
    lmx_mgr_policy p;
    lmx_config_policy(&cfg, &p);
    /* sizes: the same bytes as one value */
    char s[64];
    size_t k = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, k);
    s[k] = 0;
    uint64_t v;
    lmx_config_parse_size(s, &v);
    return 0;
}
