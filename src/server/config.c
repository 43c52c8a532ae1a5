/* The configuration's keys, and the three sources that fill them: a YAML
 * file (libyaml's document API, so every node keeps its line and column for
 * messages), LMX_* environment variables and `lmx serve` flags.
 *
 * One table describes each key once; a key "a.b" is the YAML mapping a: {b:},
 * the variable LMX_A_B and (when it has one) a flag. Values are checked the
 * same way whatever their source, so "port: 70000", LMX_PORT=70000 and
 * --port 70000 are refused with the same reason. */
#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <yaml.h>

#include "sched/sched.h"
#include "util/buf.h"
#include "util/errat.h"
#include "util/secret_file.h"
#include "util/size.h"
#include "util/yaml_doc.h"

typedef enum { T_STR, T_INT, T_SIZE, T_BOOL, T_SECS, T_ALIASES, T_MODELS, T_AGENTS } key_type;

typedef struct {
    const char *key;
    key_type type;
    size_t off, size;
    double lo, hi;
    bool reload;            /* a running daemon applies it */
    const char *flag, *alt; /* NULL: no flag; bools also get --no-FLAG */
    bool env;               /* LMX_<KEY> */
    const char *def;        /* the default, as docs show it */
    const char *doc;
} cfg_key;

#define F(field) offsetof(lmx_config, field), sizeof(((lmx_config *)0)->field)
/* a default's text for the table, from its one definition */
#define STR_(x) #x
#define STR(x)  STR_(x)

static const cfg_key keys[] = {
    {"host", T_STR, F(host), 0, 0, false, "--host", NULL, true, LMX_DEFAULT_HOST,
     "address to listen on (LMX_HOST may be HOST:PORT, as the CLI reads it)"},
    {"port", T_INT, F(port), 0, 65535, false, "--port", NULL, true, STR(LMX_DEFAULT_PORT),
     "port to listen on"},
    {"ollama_port", T_INT, F(ollama_port), -1, 65535, false, "--ollama-port", NULL, true, "off",
     "also listen on this port (Ollama's is 11434) for clients that only know Ollama's address; "
     "every API answers on both (-1: off)"},
    {"api_key", T_STR, F(api_key), 0, 0, true, "--api-key", NULL, true, "none",
     "require 'Authorization: Bearer KEY' on the API"},
    {"admin_key", T_STR, F(admin_key), 0, 0, true, "--admin-key", NULL, true,
     "a token in state_dir/admin.token",
     "admin API key; unset: a token generated at first start in state_dir/admin.token (0600), "
     "which the lmx CLI reads; 'none': no key, the admin API answers loopback clients only"},
    {"state_dir", T_STR, F(state_dir), 0, 0, false, "--state-dir", NULL, true, "~/.lmx",
     "where the daemon keeps its own files (admin.token)"},
    {"profile", T_STR, F(profile), 0, 0, false, "--profile", NULL, true, "lan",
     "lan (keys optional), trusted-gateway (keys and trusted_proxies required) or internet (keys "
     "and TLS required, admin API on loopback only); lmx serve refuses to start a profile whose "
     "requirements are unmet"},
    {"tenancy_db", T_STR, F(tenancy_db), 0, 0, false, "--tenancy-db", NULL, true,
     "~/.lmx/tenancy.db", "keys made by `lmx keys add` and tenants' quota usage (SQLite)"},
    {"tenants", T_STR, F(tenants), 0, 0, true, "--tenants", NULL, true, "none",
     "tenants' fair-queueing weights and quotas: 'NAME:weight=3,rpm=60,tpm=20000,tpd=1000000,"
     "inflight=8;NAME2:weight=1' (docs/fleet.md)"},
    {"api_keys", T_STR, F(api_keys), 0, 0, true, "--api-keys", NULL, true, "none",
     "inference keys as 'TENANT:SHA256HEX;...' (the SHA-256 of each key, never the key)"},
    {"trusted_proxies", T_STR, F(trusted_proxies), 0, 0, true, "--trusted-proxies", NULL, true,
     "none",
     "CIDRs whose X-Forwarded-For / Forwarded headers are believed and whose connections the "
     "per-peer cap spares (read at start)"},
    {"client_max_inflight", T_INT, F(client_max_inflight), 0, 1 << 20, true,
     "--client-max-inflight", NULL, true, "0",
     "requests one client may have in flight (0: no cap)"},
    {"client_prompt_tpm", T_INT, F(client_prompt_tpm), 0, 1L << 40, true, "--client-prompt-tpm",
     NULL, true, "0", "prompt tokens one client may send per minute (0: no limit)"},
    {"max_prompt_tokens", T_INT, F(max_prompt_tokens), 0, 1 << 24, true, "--max-prompt-tokens",
     NULL, true, "0", "prompt tokens one request may have (0: the context is the limit)"},
    {"queue_max_wait", T_INT, F(queue_max_wait), 0, 3600, true, "--queue-max-wait", NULL, true, "0",
     "seconds of estimated queue wait beyond which a request gets 429 model_busy (0: off)"},
    {"client_labels", T_INT, F(client_labels), 1, 1024, false, "--client-labels", NULL, true, "32",
     "client ids with their own label in lmx_client_requests_total: the most active lately (the "
     "rest as \"other\")"},
    {"itl_target_ms", T_INT, F(itl_target_ms), 0, 60000, false, "--itl-target-ms", NULL, true, "0",
     "inter-token latency p95 target per model: the running batch is capped to meet it (0: off); "
     "the default for models without their own (models: entries, the admin load body)"},
    {"tls_cert", T_STR, F(tls_cert), 0, 0, true, "--tls-cert", NULL, true, "none",
     "serve HTTPS with this PEM certificate (chain); re-read on reload"},
    {"tls_key", T_STR, F(tls_key), 0, 0, true, "--tls-key", NULL, true, "none",
     "the PEM private key of tls_cert"},
    {"tls_ca", T_STR, F(tls_ca), 0, 0, false, "--tls-ca", NULL, true, "none",
     "require client certificates signed by this PEM CA (mTLS); the subject's CN is the tenant"},
    {"otlp_endpoint", T_STR, F(otlp_endpoint), 0, 0, false, "--otlp-endpoint", NULL, true, "none",
     "export trace spans (request, queue, prefill, decode, model load, download) as OTLP/HTTP "
     "JSON to this URL, e.g. http://127.0.0.1:4318/v1/traces"},
    {"models_dir", T_STR, F(models_dir), 0, 0, false, "--models-dir", NULL, true, "~/.lmx/models",
     "the model store"},
    {"responses_db", T_STR, F(responses_db), 0, 0, false, "--responses-db", NULL, true,
     "~/.lmx/responses.db", "stored /v1/responses (SQLite; ':memory:' keeps them in memory)"},
    {"model", T_STR, F(model), 0, 0, false, "-m", "--model", true, "none",
     "a .gguf file loaded at start, served as its file name without .gguf"},
    {"ctx_size", T_INT, F(ctx_size), 0, 1 << 24, false, "-c", "--ctx-size", true,
     "the model's, at most " STR(LMX_DEFAULT_CTX_MAX) ", less when memory is short",
     "context length per sequence (0: the default)"},
    {"parallel", T_INT, F(parallel), 1, 256, false, "--parallel", "-np", true,
     "at most " STR(LMX_DEFAULT_PARALLEL) ", fewer when memory is short",
     "sequences decoded at once per model"},
    {"kv_type", T_STR, F(kv_type), 0, 0, false, "--kv-type", NULL, true, "f16",
     "KV cache type of loaded models: f16, f32 (twice f16's memory) or q8_0 (about half)"},
    {"speculative", T_STR, F(speculative), 0, 0, false, "--spec", "--speculative", true, "off",
     "speculative decoding of loaded models: off, lookup (n-grams of the prompt and output) or "
     "draft (a small model of the same vocabulary, draft_model) (docs/speculative.md)"},
    {"draft_model", T_STR, F(draft_model), 0, 0, false, "--draft-model", NULL, true, "none",
     "speculative: draft's model: a name of the store or a .gguf path"},
    {"draft_max", T_INT, F(draft_max), 0, 32, false, "--draft-max", NULL, true,
     "8 (lookup), 4 (draft)", "tokens drafted per step at most (0: the default)"},
    {"queue", T_INT, F(queue), 0, 1 << 20, false, "--queue", NULL, true, STR(LMX_DEFAULT_QUEUE),
     "requests waiting per model beyond those before 429 (0: none, 429 at once)"},
    {"threads", T_INT, F(threads), 0, 1024, false, "-t", "--threads", true, "all cores",
     "compute threads (0: one per core)"},
    {"drain_timeout", T_INT, F(drain_timeout), 0, 86400, true, "--drain-timeout", NULL, true, "30",
     "seconds in-flight requests get to finish on SIGTERM"},
    {"idle_timeout", T_INT, F(idle_timeout), 1, 86400, false, "--idle-timeout", NULL, true, "120",
     "seconds before an idle keep-alive connection is closed"},
    {"http.max_connections", T_INT, F(http_max_connections), 16, 1000000, false,
     "--max-connections", NULL, true, "4096",
     "open connections at most (idle keep-alive ones included; each costs one descriptor, "
     "and the daemon raises its descriptor limit to the hard limit at start)"},
    {"http.reserved_connections", T_INT, F(http_reserved_connections), 0, 100000, false, NULL, NULL,
     true, "32",
     "connections beyond max_connections kept for /health, /healthz, /readyz and the admin API"},
    {"http.max_connections_per_peer", T_INT, F(http_per_peer), 0, 1000000, false,
     "--max-connections-per-peer", NULL, true, "256",
     "open connections per client address (IPv6: per /64) at most (0: no cap)"},
    {"http.header_timeout", T_SECS, F(http_header_timeout), 1, 3600, false, "--header-timeout",
     NULL, true, "10",
     "seconds a request head may take in all, from the connection (or its request line) on; "
     "not reset by each byte"},
    {"http.body_min_rate", T_INT, F(http_body_min_rate), 0, 1000000000, false, NULL, NULL, true,
     "1024", "bytes/s a request body must keep to after header_timeout seconds (0: no minimum)"},
    {"http.threads", T_INT, F(http_threads), 1, 256, false, NULL, NULL, true, "4",
     "event-loop threads (epoll) serving every connection"},
    {"http.workers", T_INT, F(http_workers), 1, 100000, false, NULL, NULL, true, "512",
     "requests handled at once (handler threads, started on demand; 16 more for the admin API)"},
    {"max_body", T_SIZE, F(max_body), 1024, 4294967296.0, true, "--max-body", NULL, true, "32M",
     "larger request bodies get 413"},
    {"sse_keepalive_ms", T_INT, F(sse_keepalive_ms), 10, 600000, true, "--sse-keepalive-ms", NULL,
     true, "2000", "interval of ': keep-alive' comments in waiting streams"},
    {"log_level", T_STR, F(log_level), 0, 0, true, "--log-level", NULL, true, "info",
     "debug, info, warn or error"},
    {"log_format", T_STR, F(log_format), 0, 0, true, "--log-format", NULL, true, "auto",
     "text (one readable line per event), json (one JSON object per line) or auto: text on a "
     "terminal, else json"},
    {"memory_limit", T_SIZE, F(memory_limit), 0, 1e19, true, "--memory-limit", NULL, true, "none",
     "bytes models may use at most (0: what the machine or cgroup gives)"},
    {"memory_reserve", T_SIZE, F(memory_reserve), 0, 1e19, true, "--memory-reserve", NULL, true,
     "256M", "bytes always left free for the rest of the system"},
    {"auto_evict", T_BOOL, F(auto_evict), 0, 0, true, "--auto-evict", NULL, true, "true",
     "unload idle models least-recently-used first to make room for a load"},
    {"load_on_demand", T_BOOL, F(load_on_demand), 0, 0, true, "--load-on-demand", NULL, true,
     "true", "a request for a known model that is not loaded loads it"},
    {"load_wait", T_SECS, F(load_wait), 0, 3600, true, "--load-wait", NULL, true, "30",
     "seconds a request waits for its model to load before 503 model_loading with Retry-After "
     "(the load goes on; 0: answer at once)"},
    {"mlock", T_BOOL, F(mlock), 0, 0, true, "--mlock", NULL, true, "false",
     "lock model weights in memory"},
    {"default_model", T_STR, F(default_model), 0, 0, true, "--default-model", NULL, true, "none",
     "the model a request naming none gets when not exactly one model is loaded (a name, alias "
     "or store id)"},
    {"default_ttl", T_SECS, F(default_ttl), 0, 1e9, true, "--default-ttl", NULL, true, "0",
     "seconds idle before a model loaded without a ttl is unloaded (0: never)"},
    {"quarantine.errors", T_INT, F(quarantine_errors), 1, 1000000, true, "--quarantine-errors",
     NULL, true, "3", "run-time failures that quarantine a model ..."},
    {"quarantine.window", T_SECS, F(quarantine_window), 1, 1e9, true, "--quarantine-window", NULL,
     true, "600", "... within this many seconds"},
    {"aliases", T_ALIASES, F(aliases), 0, 0, true, "--alias", NULL, true, "none",
     "names mapped to models in order of preference: {NAME: [MODEL, ...]}; "
     "flag --alias NAME=M1,M2 (repeatable), LMX_ALIASES='NAME=M1,M2;NAME2=M3'"},
    {"skills_dir", T_STR, F(skills_dir), 0, 0, true, "--skills-dir", NULL, true, "none",
     "directory of skill manifests and MCP server definitions (docs/skills.md)"},
    {"skills_allow_unsandboxed", T_BOOL, F(skills_allow_unsandboxed), 0, 0, true, NULL, NULL, true,
     "false", "allow skills with 'sandbox: none' (they run as the daemon's user)"},
    {"skills_queue", T_INT, F(skills_queue), 0, 100000, true, NULL, NULL, true, "32",
     "skill invocations that may wait for a free slot, in all, before 429 skill_busy"},
    {"skills_max_steps", T_INT, F(skills_max_steps), 1, 64, true, NULL, NULL, true, "4",
     "model turns of a chat request's server-side skill loop"},
    {"models", T_MODELS, F(models), 0, 0, false, NULL, NULL, false, "none",
     "models loaded at start: a list of MODEL or {model, ctx_size, parallel, alias, ttl, "
     "itl_target_ms, kv_type, speculative, draft_model, draft_max}"},
    {"agents", T_AGENTS, F(agents), 0, 0, true, NULL, NULL, true, "none",
     "agent roles: {NAME: {model, instructions, tools, tool_choice, limits, sampling, retry, "
     "output_schema}} (docs/agents.md); LMX_AGENTS takes the same as JSON"},
    {"agents_store", T_STR, F(agents_store), 0, 0, false, "--agents-store", NULL, true, "sqlite",
     "where agent runs and their events live: sqlite or redis"},
    {"agents_db", T_STR, F(agents_db), 0, 0, false, "--agents-db", NULL, true, "~/.lmx/agents.db",
     "the agent store's SQLite file (WAL; ':memory:' keeps runs in memory)"},
    {"redis_url", T_STR, F(redis_url), 0, 0, false, "--redis-url", NULL, true,
     "redis://127.0.0.1:6379", "the Redis server of agents_store: redis (redis://HOST:PORT[/DB])"},
    {"agents_workers", T_INT, F(agents_workers), 1, 64, false, "--agents-workers", NULL, true, "2",
     "agent runs driven at once"},
    {"agents_queue", T_INT, F(agents_queue), 1, 1 << 20, false, "--agents-queue", NULL, true, "256",
     "agent runs waiting in all before run creation gets 429 agents_queue_full"},
    {"agents_queue_per_tenant", T_INT, F(agents_queue_per_tenant), 1, 1 << 20, false,
     "--agents-queue-per-tenant", NULL, true, "64", "... and per API key"},
    {"agents_retention", T_SECS, F(agents_retention), 0, 1e10, false, "--agents-retention", NULL,
     true, "604800", "seconds finished agent runs and their events are kept (0: forever)"},
    {"models_debug.load_delay_ms", T_INT, F(models_debug_load_delay_ms), 0, 600000, false, NULL,
     NULL, true, "0",
     "TESTING ONLY: every model load through the store is slowed by this long in all"},
    {"agents_debug.fail_steps", T_INT, F(agents_debug_fail_steps), 0, 100, false, NULL, NULL, true,
     "0", "TESTING ONLY: the first N attempts of every agent model step fail (transient)"},
    {"agents_debug.step_delay_ms", T_INT, F(agents_debug_step_delay_ms), 0, 600000, false, NULL,
     NULL, true, "0", "TESTING ONLY: every agent model step first waits this long"},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

void lmx_config_defaults(lmx_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->host, sizeof c->host, "%s", LMX_DEFAULT_HOST);
    c->port = LMX_DEFAULT_PORT;
    c->ollama_port = -1;
    c->idle_timeout = 120;
    c->http_max_connections = 4096;
    c->http_reserved_connections = 32;
    c->http_per_peer = 256;
    c->http_header_timeout = 10;
    c->http_body_min_rate = 1024;
    c->http_threads = 4;
    c->http_workers = 512;
    c->queue = LMX_DEFAULT_QUEUE;
    c->client_labels = 32;
    c->drain_timeout = 30;
    c->max_body = 32u << 20;
    c->sse_keepalive_ms = 2000;
    snprintf(c->log_level, sizeof c->log_level, "info");
    snprintf(c->profile, sizeof c->profile, "lan");
    snprintf(c->log_format, sizeof c->log_format, "auto");
    c->memory_reserve = 256u << 20;
    c->auto_evict = true;
    c->load_on_demand = true;
    c->load_wait = 30;
    c->quarantine_errors = 3;
    c->quarantine_window = 600;
    snprintf(c->agents_store, sizeof c->agents_store, "sqlite");
    snprintf(c->redis_url, sizeof c->redis_url, "redis://127.0.0.1:6379");
    c->agents_workers = 2;
    c->agents_queue = 256;
    c->agents_queue_per_tenant = 64;
    c->agents_retention = 604800;
    c->skills_queue = 32;
    c->skills_max_steps = 4;
}

/* ---- values: one checker per type, whatever the source ---- */

bool lmx_config_parse_size(const char *s, uint64_t *out) {
    return lmx_size_parse(s, out);
}

static bool parse_bool(const char *s, bool *out) {
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) return *out = true, true;
        if (!strcasecmp(s, no[i])) return *out = false, true;
    }
    return false;
}

static void put_err(char *err, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

/* Adds or replaces alias `name` with the comma-separated list `models`. */
static int add_alias(lmx_config *c, const char *name, size_t name_len, const char *models,
                     char *err, size_t errlen) {
    if (!name_len || name_len >= sizeof c->aliases[0].name)
        return put_err(err, errlen, "an alias name must have 1 to 127 characters"), -1;
    lmx_alias a = {0};
    memcpy(a.name, name, name_len);
    for (const char *p = models; *p;) {
        const char *q = strchr(p, ',');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        while (n && isspace((unsigned char)*p)) p++, n--;
        while (n && isspace((unsigned char)p[n - 1])) n--;
        if (n) {
            if (a.n_models == 8)
                return put_err(err, errlen, "alias '%s': at most 8 models", a.name), -1;
            if (n >= sizeof a.models[0])
                return put_err(err, errlen, "alias '%s': model name too long", a.name), -1;
            memcpy(a.models[a.n_models++], p, n);
        }
        p = q ? q + 1 : p + strlen(p);
    }
    if (!a.n_models) return put_err(err, errlen, "alias '%s' names no model", a.name), -1;
    for (int i = 0; i < c->n_aliases; i++)
        if (!strcmp(c->aliases[i].name, a.name)) return c->aliases[i] = a, 0;
    if (c->n_aliases == LMX_CFG_MAX_ALIASES)
        return put_err(err, errlen, "at most %d aliases", LMX_CFG_MAX_ALIASES), -1;
    c->aliases[c->n_aliases++] = a;
    return 0;
}

/* Sets a scalar key from text (file scalars, env values and flag values all
 * come here). quoted: the YAML scalar was quoted, so it is a string. */
static int set_scalar(lmx_config *c, const cfg_key *k, const char *v, bool quoted, char *err,
                      size_t errlen) {
    void *p = (char *)c + k->off;
    switch (k->type) {
    case T_STR:
        if (strlen(v) >= k->size)
            return put_err(err, errlen, "value longer than %zu bytes", k->size - 1), -1;
        if (!strcmp(k->key, "log_level") && strcmp(v, "debug") && strcmp(v, "info") &&
            strcmp(v, "warn") && strcmp(v, "error"))
            return put_err(err, errlen, "expected debug, info, warn or error, got '%s'", v), -1;
        if (!strcmp(k->key, "kv_type") && strcmp(v, "f16") && strcmp(v, "f32") && strcmp(v, "q8_0"))
            return put_err(err, errlen, "expected f16, f32 or q8_0, got '%s'", v), -1;
        if (!strcmp(k->key, "speculative") && strcmp(v, "off") && strcmp(v, "lookup") &&
            strcmp(v, "draft"))
            return put_err(err, errlen, "expected off, lookup or draft, got '%s'", v), -1;
        if (!strcmp(k->key, "agents_store") && strcmp(v, "sqlite") && strcmp(v, "redis"))
            return put_err(err, errlen, "expected sqlite or redis, got '%s'", v), -1;
        if (!strcmp(k->key, "log_format") && strcmp(v, "text") && strcmp(v, "json") &&
            strcmp(v, "auto"))
            return put_err(err, errlen, "expected text, json or auto, got '%s'", v), -1;
        snprintf(p, k->size, "%s", v);
        return 0;
    case T_AGENTS: {
        json_error_t je;
        json_t *o = json_loads(v, 0, &je);
        bool ok = json_is_object(o);
        char *text = ok ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(o);
        if (!ok) return put_err(err, errlen, "expected a JSON object of roles: %s", je.text), -1;
        if (!text || strlen(text) >= k->size) {
            free(text);
            return put_err(err, errlen, "agent roles longer than %zu bytes", k->size - 1), -1;
        }
        snprintf(p, k->size, "%s", text);
        free(text);
        return 0;
    }
    case T_INT: {
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (quoted || !*v || *end || errno || x < (long)k->lo || x > (long)k->hi)
            return put_err(err, errlen, "expected an integer from %ld to %ld, got %s%s%s",
                           (long)k->lo, (long)k->hi, quoted ? "the string '" : "'", v, "'"),
                   -1;
        *(long *)p = x;
        return 0;
    }
    case T_SIZE: {
        uint64_t x;
        if (!lmx_config_parse_size(v, &x) || (double)x < k->lo || (double)x > k->hi)
            return put_err(err, errlen,
                           "expected a size in bytes (e.g. 4096, 512M, 2G)%s, got '%s'",
                           k->lo > 0 ? " of at least 1K" : "", v),
                   -1;
        *(uint64_t *)p = x;
        return 0;
    }
    case T_SECS: {
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        if (quoted || !*v || *end || errno || !(x >= k->lo && x <= k->hi))
            return put_err(err, errlen, "expected seconds from %g to %g, got '%s'", k->lo, k->hi,
                           v),
                   -1;
        *(double *)p = x;
        return 0;
    }
    case T_BOOL:
        if (quoted || !parse_bool(v, p))
            return put_err(err, errlen, "expected true or false, got '%s'", v), -1;
        return 0;
    case T_ALIASES: {
        /* NAME=M1,M2[;NAME2=M3] */
        for (const char *s = v; *s;) {
            const char *semi = strchr(s, ';');
            size_t n = semi ? (size_t)(semi - s) : strlen(s);
            char one[2400];
            if (n >= sizeof one) return put_err(err, errlen, "alias list too long"), -1;
            memcpy(one, s, n);
            one[n] = 0;
            char *eq = strchr(one, '=');
            if (n && !eq)
                return put_err(err, errlen, "expected NAME=MODEL[,MODEL...], got '%s'", one), -1;
            if (n && add_alias(c, one, (size_t)(eq - one), eq + 1, err, errlen)) return -1;
            s = semi ? semi + 1 : s + n;
        }
        return 0;
    }
    case T_MODELS:
        break;
    }
    return put_err(err, errlen, "this setting cannot be given as one value"), -1;
}

static const cfg_key *find_key(const char *name) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].key, name)) return &keys[i];
    return NULL;
}

/* ---- YAML ---- */

typedef struct {
    yaml_document_t *doc;
    const char *name;
    char *err;
    size_t errlen;
} yctx;

/* The error at node n of the file; -1. (A macro: it hands the message's
 * arguments on to lmx_errat.) */
#define yerr(y, n, ...)                                                                            \
    lmx_errat((y)->err, (y)->errlen, (y)->name, (int)(n)->start_mark.line + 1,                     \
              (int)(n)->start_mark.column + 1, __VA_ARGS__)

static const char *scalar(const yaml_node_t *n) {
    return (const char *)n->data.scalar.value;
}
static bool is_quoted(const yaml_node_t *n) {
    return n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
}
/* "~", "null" or nothing at all. */
static bool is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || is_quoted(n)) return false;
    const char *s = scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}
static const char *type_name(const yaml_node_t *n) {
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a single value";
}

/* The key of a mapping pair, which must be a plain string. */
static const char *pair_key(yctx *y, const yaml_node_pair_t *pr, const yaml_node_t **kn) {
    *kn = yaml_document_get_node(y->doc, pr->key);
    if (!*kn || (*kn)->type != YAML_SCALAR_NODE) {
        if (*kn) yerr(y, *kn, "a key must be a plain name");
        return NULL;
    }
    return scalar(*kn);
}

/* Refuses a key that appears twice in one mapping: YAML forbids it, and a
 * silent "last one wins" hides typos. */
static int check_dups(yctx *y, const yaml_node_t *map) {
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++)
        for (yaml_node_pair_t *b = a + 1; b < map->data.mapping.pairs.top; b++) {
            yaml_node_t *ka = yaml_document_get_node(y->doc, a->key),
                        *kb = yaml_document_get_node(y->doc, b->key);
            if (ka && kb && ka->type == YAML_SCALAR_NODE && kb->type == YAML_SCALAR_NODE &&
                !strcmp(scalar(ka), scalar(kb)))
                return yerr(y, kb, "duplicate key '%s' (first at line %zu)", scalar(kb),
                            ka->start_mark.line + 1);
        }
    return 0;
}

static int yaml_aliases(yctx *y, lmx_config *c, const yaml_node_t *v) {
    if (v->type != YAML_MAPPING_NODE)
        return yerr(y, v, "aliases: expected a mapping of NAME: [MODEL, ...], got %s",
                    type_name(v));
    if (check_dups(y, v)) return -1;
    char msg[512];
    for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
        const yaml_node_t *kn, *mv = yaml_document_get_node(y->doc, pr->value);
        const char *name = pair_key(y, pr, &kn);
        if (!name || !mv) return -1;
        char list[2200] = "";
        size_t len = 0;
        if (mv->type == YAML_SCALAR_NODE && !is_null(mv)) {
            len = (size_t)snprintf(list, sizeof list, "%s", scalar(mv));
        } else if (mv->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = mv->data.sequence.items.start;
                 it < mv->data.sequence.items.top; it++) {
                const yaml_node_t *e = yaml_document_get_node(y->doc, *it);
                if (!e || e->type != YAML_SCALAR_NODE || is_null(e))
                    return yerr(y, e ? e : mv, "aliases: %s: expected a model name", name);
                if (strchr(scalar(e), ','))
                    return yerr(y, e, "aliases: %s: a model name cannot contain ','", name);
                len += (size_t)snprintf(list + len, sizeof list - len, "%s,", scalar(e));
                if (len >= sizeof list) return yerr(y, e, "aliases: %s: list too long", name);
            }
        } else {
            return yerr(y, mv, "aliases: %s: expected a model name or a list of them", name);
        }
        if (strlen(name) != kn->data.scalar.length)
            return yerr(y, kn, "aliases: a name cannot contain a NUL byte");
        if (add_alias(c, name, strlen(name), list, msg, sizeof msg))
            return yerr(y, kn, "aliases: %s", msg);
    }
    return 0;
}

static int yaml_model(yctx *y, lmx_cfg_model *m, const yaml_node_t *v) {
    memset(m, 0, sizeof *m);
    m->itl_target_ms = -1;
    if (v->type == YAML_SCALAR_NODE && !is_null(v)) {
        if (strlen(scalar(v)) >= sizeof m->model) return yerr(y, v, "models: name too long");
        snprintf(m->model, sizeof m->model, "%s", scalar(v));
        return 0;
    }
    if (v->type != YAML_MAPPING_NODE)
        return yerr(y, v,
                    "models: expected a model name or {model, ctx_size, parallel, alias, "
                    "ttl, itl_target_ms, kv_type, speculative, draft_model, draft_max}, got %s",
                    type_name(v));
    if (check_dups(y, v)) return -1;
    for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
        const yaml_node_t *kn, *fv = yaml_document_get_node(y->doc, pr->value);
        const char *k = pair_key(y, pr, &kn);
        if (!k || !fv) return -1;
        if (fv->type != YAML_SCALAR_NODE)
            return yerr(y, fv, "models: %s: expected a single value, got %s", k, type_name(fv));
        const char *s = scalar(fv);
        char *end;
        errno = 0;
        if (!strcmp(k, "kv_type") || !strcmp(k, "speculative")) {
            bool kv = k[0] == 'k';
            if (kv ? strcmp(s, "f16") && strcmp(s, "f32") && strcmp(s, "q8_0")
                   : strcmp(s, "off") && strcmp(s, "lookup") && strcmp(s, "draft"))
                return yerr(y, fv, "models: %s: expected %s, got '%s'", k,
                            kv ? "f16, f32 or q8_0" : "off, lookup or draft", s);
            snprintf(kv ? m->kv_type : m->speculative, sizeof m->kv_type, "%s", s);
        } else if (!strcmp(k, "draft_max")) {
            long x = strtol(s, &end, 10);
            if (is_quoted(fv) || !*s || *end || errno || x < 0 || x > 32)
                return yerr(y, fv, "models: draft_max: expected an integer from 0 to 32, got '%s'",
                            s);
            m->draft_max = x;
        } else if (!strcmp(k, "model") || !strcmp(k, "alias") || !strcmp(k, "draft_model")) {
            char *dst = k[0] == 'm' ? m->model : k[0] == 'a' ? m->alias : m->draft_model;
            size_t cap = k[0] == 'm'   ? sizeof m->model
                         : k[0] == 'a' ? sizeof m->alias
                                       : sizeof m->draft_model;
            if (strlen(s) >= cap) return yerr(y, fv, "models: %s: too long", k);
            snprintf(dst, cap, "%s", s);
        } else if (!strcmp(k, "ctx_size") || !strcmp(k, "parallel")) {
            long x = strtol(s, &end, 10), hi = k[0] == 'c' ? 1 << 24 : 256;
            if (is_quoted(fv) || !*s || *end || errno || x < 0 || x > hi)
                return yerr(y, fv, "models: %s: expected an integer from 0 to %ld, got '%s'", k, hi,
                            s);
            *(k[0] == 'c' ? &m->ctx_size : &m->parallel) = x;
        } else if (!strcmp(k, "itl_target_ms")) {
            long x = strtol(s, &end, 10);
            if (is_quoted(fv) || !*s || *end || errno || x < 0 || x > 60000)
                return yerr(y, fv,
                            "models: itl_target_ms: expected milliseconds from 0 (none) to 60000, "
                            "got '%s'",
                            s);
            m->itl_target_ms = x;
        } else if (!strcmp(k, "ttl")) {
            double x = strtod(s, &end);
            if (is_quoted(fv) || !*s || *end || errno || !(x >= 0 && x <= 1e9))
                return yerr(y, fv, "models: ttl: expected seconds, got '%s'", s);
            m->ttl_s = x;
        } else {
            return yerr(y, kn,
                        "models: unknown key '%s' (known: model, ctx_size, parallel, alias, ttl, "
                        "itl_target_ms, kv_type, speculative, draft_model, draft_max)",
                        k);
        }
    }
    if (!m->model[0]) return yerr(y, v, "models: an entry needs 'model'");
    return 0;
}

/* A YAML node as JSON (new reference): plain scalars that read as numbers,
 * booleans or null become those; quoted ones stay strings. NULL with the
 * error set. */
static json_t *yaml_json(yctx *y, const yaml_node_t *v, int depth) {
    if (depth > 32) return yerr(y, v, "agents: nested too deeply"), NULL;
    if (v->type == YAML_SCALAR_NODE) {
        const char *s = scalar(v);
        if (is_quoted(v)) return json_string(s);
        if (is_null(v)) return json_null();
        bool b;
        if (parse_bool(s, &b) && (!strcasecmp(s, "true") || !strcasecmp(s, "false")))
            return json_boolean(b);
        char *end;
        errno = 0;
        long long i = strtoll(s, &end, 10);
        if (*s && !*end && !errno) return json_integer(i);
        double d = strtod(s, &end);
        if (*s && !*end && isfinite(d)) return json_real(d);
        json_t *j = json_string(s);
        if (!j) yerr(y, v, "agents: a value is not UTF-8");
        return j;
    }
    if (v->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            const yaml_node_t *e = yaml_document_get_node(y->doc, *it);
            json_t *x = e ? yaml_json(y, e, depth + 1) : NULL;
            if (!x) return json_decref(a), NULL;
            json_array_append_new(a, x);
        }
        return a;
    }
    if (check_dups(y, v)) return NULL;
    json_t *o = json_object();
    for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
        const yaml_node_t *kn, *fv = yaml_document_get_node(y->doc, pr->value);
        const char *k = pair_key(y, pr, &kn);
        json_t *x = k && fv ? yaml_json(y, fv, depth + 1) : NULL;
        if (!x) return json_decref(o), NULL;
        json_object_set_new(o, k, x);
    }
    return o;
}

/* agents: {NAME: definition}, kept as JSON text; the agent runtime checks
 * each definition when the config is applied. */
static int yaml_agents(yctx *y, lmx_config *c, const yaml_node_t *v) {
    if (is_null(v)) {
        c->agents[0] = 0;
        return 0;
    }
    if (v->type != YAML_MAPPING_NODE)
        return yerr(y, v, "agents: expected a mapping of role name to definition, got %s",
                    type_name(v));
    json_t *o = yaml_json(y, v, 0);
    if (!o) return -1;
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!text || strlen(text) >= sizeof c->agents) {
        free(text);
        return yerr(y, v, "agents: the roles take more than %zu bytes", sizeof c->agents - 1);
    }
    snprintf(c->agents, sizeof c->agents, "%s", text);
    free(text);
    return 0;
}

static int yaml_models(yctx *y, lmx_config *c, const yaml_node_t *v) {
    if (v->type != YAML_SEQUENCE_NODE)
        return yerr(y, v, "models: expected a list, got %s", type_name(v));
    c->n_models = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        const yaml_node_t *e = yaml_document_get_node(y->doc, *it);
        if (!e) return -1;
        if (c->n_models == LMX_CFG_MAX_MODELS)
            return yerr(y, e, "models: at most %d entries", LMX_CFG_MAX_MODELS);
        if (yaml_model(y, &c->models[c->n_models], e)) return -1;
        c->n_models++;
    }
    return 0;
}

/* Edit distance, to suggest the key a typo meant. */
static int distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) return 99;
    int d[41][41];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

/* A mapping at `prefix` ("" for the top, "quarantine." for a section). */
static int yaml_map(yctx *y, lmx_config *c, const yaml_node_t *map, const char *prefix) {
    if (check_dups(y, map)) return -1;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        const yaml_node_t *kn, *v = yaml_document_get_node(y->doc, pr->value);
        const char *k = pair_key(y, pr, &kn);
        if (!k || !v) return -1;
        char full[128];
        snprintf(full, sizeof full, "%s%s", prefix, k);
        const cfg_key *ck = strlen(k) < 64 ? find_key(full) : NULL;
        if (!ck) {
            /* a section: some key starts with "full." */
            size_t fl = strlen(full);
            bool section = false;
            for (size_t i = 0; i < N_KEYS && !section; i++)
                section = !strncmp(keys[i].key, full, fl) && keys[i].key[fl] == '.';
            if (section) {
                if (v->type != YAML_MAPPING_NODE)
                    return yerr(y, v, "%s: expected a mapping, got %s", full, type_name(v));
                char sub[130];
                snprintf(sub, sizeof sub, "%s.", full);
                if (yaml_map(y, c, v, sub)) return -1;
                continue;
            }
            const char *best = NULL;
            int bd = 3;
            for (size_t i = 0; i < N_KEYS; i++) {
                int d = distance(full, keys[i].key);
                if (d < bd) bd = d, best = keys[i].key;
            }
            return best ? yerr(y, kn, "unknown key '%s' (did you mean '%s'?)", full, best)
                        : yerr(y, kn, "unknown key '%s'", full);
        }
        if (ck->type == T_ALIASES) {
            c->n_aliases = 0; /* the file's list replaces the defaults */
            if (is_null(v)) continue;
            if (yaml_aliases(y, c, v)) return -1;
            continue;
        }
        if (ck->type == T_AGENTS) {
            if (yaml_agents(y, c, v)) return -1;
            continue;
        }
        if (ck->type == T_MODELS) {
            if (is_null(v)) {
                c->n_models = 0;
                continue;
            }
            if (yaml_models(y, c, v)) return -1;
            continue;
        }
        if (v->type != YAML_SCALAR_NODE)
            return yerr(y, v, "%s: expected a single value, got %s", full, type_name(v));
        if (is_null(v)) {
            if (ck->type != T_STR) return yerr(y, v, "%s: no value", full);
            memset((char *)c + ck->off, 0, ck->size);
            continue;
        }
        if (strlen(scalar(v)) != v->data.scalar.length)
            return yerr(y, v, "%s: a value cannot contain a NUL byte", full);
        char msg[512];
        if (set_scalar(c, ck, scalar(v), is_quoted(v), msg, sizeof msg))
            return yerr(y, v, "%s: %s", full, msg);
    }
    return 0;
}

int lmx_config_parse_yaml(lmx_config *c, const char *name, const char *text, size_t len, char *err,
                          size_t errlen) {
    yaml_parser_t p;
    yaml_document_t doc;
    if (lmx_yaml_first(&p, &doc, text, len, name, true, "invalid YAML: ", err, errlen)) return -1;
    int rc = 0;
    yctx y = {&doc, name, err, errlen};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !is_null(root)) {
        if (root->type != YAML_MAPPING_NODE)
            rc = yerr(&y, root, "expected a mapping of settings (key: value), got %s",
                      type_name(root));
        else
            rc = yaml_map(&y, c, root, "");
    }
    yaml_document_delete(&doc);
    /* a second document would be ignored silently: refuse it */
    if (!rc && root) {
        yaml_document_t more;
        if (yaml_parser_load(&p, &more)) {
            yaml_node_t *r2 = yaml_document_get_root_node(&more);
            if (r2) rc = yerr(&y, r2, "only one YAML document is allowed");
            yaml_document_delete(&more);
        }
    }
    yaml_parser_delete(&p);
    return rc;
}

int lmx_config_load_file(lmx_config *c, const char *path, bool missing_ok, char *err,
                         size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (missing_ok && errno == ENOENT) return 0;
        return put_err(err, errlen, "%s: cannot open config file: %s", path, strerror(errno)), -1;
    }
    lmx_buf buf = {0};
    int got = lmx_buf_read(&buf, f, 16u << 20);
    fclose(f);
    if (got) {
        lmx_buf_free(&buf);
        if (got > 0) return put_err(err, errlen, "%s: config file larger than 16 MiB", path), -1;
        return put_err(err, errlen, "%s: cannot read config file", path), -1;
    }
    int rc = lmx_config_parse_yaml(c, path, buf.p ? buf.p : "", buf.n, err, errlen);
    lmx_buf_free(&buf);
    return rc;
}

/* LMX_ + the key upper-cased, '.' as '_'. */
static void env_name(const cfg_key *k, char *buf, size_t n) {
    size_t j = (size_t)snprintf(buf, n, "LMX_");
    for (const char *s = k->key; *s && j + 1 < n; s++)
        buf[j++] = *s == '.' ? '_' : (char)toupper((unsigned char)*s);
    buf[j] = 0;
}

int lmx_config_load_env(lmx_config *c, char *err, size_t errlen) {
    for (size_t i = 0; i < N_KEYS; i++) {
        if (!keys[i].env) continue;
        char name[64], msg[512];
        env_name(&keys[i], name, sizeof name);
        const char *v = getenv(name);
        if (!v) continue;
        char host[256];
        const char *colon = strchr(v, ':');
        /* LMX_HOST=HOST:PORT, the form the CLI reads (one ':' only: not IPv6) */
        if (!strcmp(keys[i].key, "host") && colon && !strchr(colon + 1, ':')) {
            snprintf(host, sizeof host, "%.*s", (int)(colon - v), v);
            if (!getenv("LMX_PORT") &&
                set_scalar(c, find_key("port"), colon + 1, false, msg, sizeof msg))
                return put_err(err, errlen, "%s: %s", name, msg), -1;
            v = host;
        }
        if (set_scalar(c, &keys[i], v, false, msg, sizeof msg))
            return put_err(err, errlen, "%s: %s", name, msg), -1;
    }
    return 0;
}

int lmx_config_flag(lmx_config *c, int argc, char **argv, int *i, char *err, size_t errlen) {
    const char *a = argv[*i];
    for (size_t k = 0; k < N_KEYS; k++) {
        const cfg_key *ck = &keys[k];
        if (!ck->flag) continue;
        if (ck->type == T_BOOL) {
            if (!strcmp(a, ck->flag)) return *(bool *)((char *)c + ck->off) = true, 1;
            if (!strncmp(a, "--no-", 5) && !strcmp(a + 5, ck->flag + 2))
                return *(bool *)((char *)c + ck->off) = false, 1;
            continue;
        }
        if (strcmp(a, ck->flag) && (!ck->alt || strcmp(a, ck->alt))) continue;
        if (*i + 1 >= argc) return put_err(err, errlen, "option %s needs a value", a), -1;
        const char *v = argv[++*i];
        char msg[512];
        if (set_scalar(c, ck, v, false, msg, sizeof msg))
            return put_err(err, errlen, "bad value for %s: %s", a, msg), -1;
        return 1;
    }
    return 0;
}

void lmx_config_default_path(char *buf, size_t n) {
    const char *home = getenv("HOME");
    if (home && *home)
        snprintf(buf, n, "%s/.lmx/config.yaml", home);
    else if (n)
        buf[0] = 0;
}

int lmx_config_build(lmx_config *c, const char *path, int argc, char **argv, char *err,
                     size_t errlen) {
    lmx_config_defaults(c);
    char def[1024];
    if (!path) lmx_config_default_path(def, sizeof def);
    if (path ? lmx_config_load_file(c, path, false, err, errlen)
             : def[0] && lmx_config_load_file(c, def, true, err, errlen))
        return -1;
    if (lmx_config_load_env(c, err, errlen)) return -1;
    /* flags given on the command line replace the aliases of lower layers
     * only name by name (add_alias replaces a same-named one) */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            i++;
            continue;
        }
        int r = lmx_config_flag(c, argc, argv, &i, err, errlen);
        if (r < 0) return -2;
        if (r == 0) return put_err(err, errlen, "unknown option '%s'", argv[i]), -2;
    }
    return 0;
}

/* ---- reload support ---- */

static bool key_equal(const cfg_key *k, const lmx_config *a, const lmx_config *b) {
    const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;
    switch (k->type) {
    case T_STR:
    case T_AGENTS:
        return !strcmp(pa, pb);
    case T_ALIASES:
        if (a->n_aliases != b->n_aliases) return false;
        for (int i = 0; i < a->n_aliases; i++) {
            const lmx_alias *x = &a->aliases[i], *y = &b->aliases[i];
            if (strcmp(x->name, y->name) || x->n_models != y->n_models) return false;
            for (int j = 0; j < x->n_models; j++)
                if (strcmp(x->models[j], y->models[j])) return false;
        }
        return true;
    case T_MODELS:
        if (a->n_models != b->n_models) return false;
        for (int i = 0; i < a->n_models; i++) {
            const lmx_cfg_model *x = &a->models[i], *y = &b->models[i];
            if (strcmp(x->model, y->model) || strcmp(x->alias, y->alias) ||
                x->ctx_size != y->ctx_size || x->parallel != y->parallel || x->ttl_s != y->ttl_s ||
                x->itl_target_ms != y->itl_target_ms || strcmp(x->kv_type, y->kv_type) ||
                strcmp(x->speculative, y->speculative) || strcmp(x->draft_model, y->draft_model) ||
                x->draft_max != y->draft_max)
                return false;
        }
        return true;
    default:
        return !memcmp(pa, pb, k->size);
    }
}

int lmx_config_diff(const lmx_config *a, const lmx_config *b, const char **out, bool *restart,
                    int cap) {
    int n = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (key_equal(&keys[i], a, b)) continue;
        if (n < cap) {
            out[n] = keys[i].key;
            if (restart) restart[n] = !keys[i].reload;
        }
        n++;
    }
    return n;
}

void lmx_config_keep_restart(lmx_config *to, const lmx_config *from) {
    for (size_t i = 0; i < N_KEYS; i++) {
        const cfg_key *k = &keys[i];
        if (k->reload) continue;
        if (k->type == T_MODELS) to->n_models = from->n_models;
        memcpy((char *)to + k->off, (const char *)from + k->off, k->size);
    }
}

void lmx_config_policy(const lmx_config *c, lmx_mgr_policy *p) {
    memset(p, 0, sizeof *p);
    p->memory_limit = c->memory_limit;
    p->memory_reserve = c->memory_reserve;
    p->auto_evict = c->auto_evict;
    p->load_on_demand = c->load_on_demand;
    p->mlock = c->mlock;
    p->default_ttl_s = c->default_ttl;
    p->load_wait_s = c->load_wait;
    p->quarantine_errors = (int)c->quarantine_errors;
    p->quarantine_window_s = c->quarantine_window;
    p->aliases = c->aliases;
    p->n_aliases = c->n_aliases;
    snprintf(p->default_model, sizeof p->default_model, "%s", c->default_model);
}

void lmx_config_doc(FILE *f) {
    fprintf(f, "| key | environment | flag | default | on reload | meaning |\n"
               "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        const cfg_key *k = &keys[i];
        char env[64] = "—", flag[64] = "—";
        if (k->env) env_name(k, env, sizeof env);
        if (k->flag && k->type == T_BOOL)
            snprintf(flag, sizeof flag, "`%s`, `--no-%s`", k->flag, k->flag + 2);
        else if (k->flag && k->alt)
            snprintf(flag, sizeof flag, "`%s`, `%s`", k->flag, k->alt);
        else if (k->flag)
            snprintf(flag, sizeof flag, "`%s`", k->flag);
        fprintf(f, "| `%s` | %s%s%s | %s | %s | %s | %s |\n", k->key, k->env ? "`" : "", env,
                k->env ? "`" : "", flag, k->def, k->reload ? "applied" : "restart required",
                k->doc);
    }
}

int lmx_config_admin_key(lmx_config *c, char *err, size_t errlen) {
    c->admin_token = false;
    if (!strcmp(c->admin_key, "none")) {
        c->admin_key[0] = 0;
        return 0;
    }
    if (c->admin_key[0]) return 0;
    char path[1200];
    lmx_state_path(c->state_dir, "admin.token", path, sizeof path);
    if (lmx_secret_file(path, true, c->admin_key, sizeof c->admin_key, err, errlen)) return -1;
    c->admin_token = true;
    return 0;
}
