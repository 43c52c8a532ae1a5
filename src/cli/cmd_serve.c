/* lmx serve: the OpenAI-compatible HTTP daemon.
 *
 * Settings come from one struct (server/config.h) that defaults, the YAML
 * file, LMX_* variables and the flags below fill in that order. Startup
 * loads the models asked for and starts the HTTP threads, then tells systemd
 * it is ready (sd_notify); the main thread then only waits for signals
 * (blocked in every thread and taken with sigwait, so no handler runs in an
 * arbitrary thread). SIGHUP reloads the config; SIGTERM/SIGINT stop
 * accepting, let in-flight requests finish within drain_timeout, cut the
 * rest short, and exit 0. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agents/runtime.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/serve_start.h"
#include "manager/download.h"
#include "manager/manager.h"
#include "server/api/agents_api.h"
#include "server/api/config_api.h"
#include "server/api/response_store.h"
#include "server/config.h"
#include "util/secret_file.h"
#include "server/http/http.h"
#include "server/http/metrics.h"
#include "server/http/sd_notify.h"
#include "server/api/ws_api.h"
#include "server/core/profile.h"
#include "server/core/tenancy.h"
#include "server/http/tls.h"
#include "trace/trace.h"
#include "util/log.h"
#include "skills/registry.h"

#define STR_(x) #x
#define STR(x) STR_(x)

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: lmx serve [-m MODEL] [--host H] [--port P] [-c CTX] [--parallel N] [--queue N]\n"
        "                 [-t THREADS] [--drain-timeout S] [--idle-timeout S] [--max-body BYTES]\n"
        "                 [--api-key KEY] [--admin-key KEY] [--sse-keepalive-ms MS]\n"
        "                 [--config FILE] [--models-dir DIR] [--memory-limit SIZE] ...\n"
        "                 [--responses-db PATH]\n"
        "  -m MODEL          a .gguf file, served as its file name without .gguf\n"
        "  --host, --port    where to listen (default " LMX_DEFAULT_HOST ":" STR(LMX_DEFAULT_PORT) ")\n"
        "  --ollama-port P   also listen on P (Ollama's is 11434); every API answers on both\n"
        "  -c CTX            context length per sequence (default: the model's, at most "
        STR(LMX_DEFAULT_CTX_MAX) ")\n"
        "  --parallel N      sequences decoded at once (default " STR(LMX_DEFAULT_PARALLEL) ")\n"
        "                    without -c / --parallel, both shrink until the model fits memory\n"
        "  --queue N         requests waiting beyond those before 429 (default " STR(LMX_DEFAULT_QUEUE) "; 0: none)\n"
        "  --kv-type T       KV cache type: f16 (default), f32 or q8_0 (about half of f16's memory)\n"
        "  --spec MODE       speculative decoding: off (default), lookup, or draft with\n"
        "                    --draft-model MODEL (same vocabulary); --draft-max K drafts per step\n"
        "  --drain-timeout S on SIGTERM, wait this long for in-flight requests (default 30)\n"
        "  --idle-timeout S  close idle keep-alive connections after S seconds (default 120)\n"
        "  --max-body BYTES  larger request bodies get 413 (default 32 MiB; 512K, 64M accepted)\n"
        "  --sse-keepalive-ms MS  ': keep-alive' comment interval of waiting streams (2000)\n"
        "  --api-key KEY     require 'Authorization: Bearer KEY' (also LMX_API_KEY)\n"
        "  --admin-key KEY   admin API key (also LMX_ADMIN_KEY); without one the admin API\n"
        "                    answers loopback clients only\n"
        "  --config FILE     YAML settings (default ~/.lmx/config.yaml, if present); every\n"
        "                    setting also reads LMX_<KEY>; flags win over both\n"
        "  --models-dir DIR  the model store (default ~/.lmx/models)\n"
        "  --responses-db PATH  stored /v1/responses (default ~/.lmx/responses.db;\n"
        "                    ':memory:' keeps them in memory)\n"
        "  --memory-limit SIZE, --memory-reserve SIZE  memory models may use / leave free\n"
        "  --[no-]auto-evict, --[no-]load-on-demand, --[no-]mlock, --default-ttl S\n"
        "  --quarantine-errors N, --quarantine-window S, --alias NAME=MODEL[,MODEL...]\n"
        "  --log-level L     debug, info, warn or error (default info)\n"
        "  --log-format F    text, json, or auto: text on a terminal, else json (default)\n"
        "  SIGHUP or POST /admin/config/reload re-reads the file (docs/configuration.md)\n");
}

/* A database's path: the one configured, else FILE in ~/.lmx; out is left
 * as it is without either (no HOME). */
static void state_db(const char *configured, const char *file, char *out, size_t n) {
    const char *home = getenv("HOME");
    if (configured[0])
        snprintf(out, n, "%s", configured);
    else if (home && *home)
        snprintf(out, n, "%s/.lmx/%s", home, file);
}

/* The tenancy database (keys, quota usage), the profile's requirements and
 * the tenants' settings, checked before anything starts. */
static lmx_tenancy *open_tenancy(lmx_config *cfg, char *err, size_t errlen) {
    char path[1100] = "";
    const char *home = getenv("HOME");
    if (cfg->tenancy_db[0]) snprintf(path, sizeof path, "%s", cfg->tenancy_db);
    else if (home && *home) {
        snprintf(path, sizeof path, "%s/.lmx", home);
        mkdir(path, 0700);
        snprintf(path, sizeof path, "%s/.lmx/tenancy.db", home);
    }
    char msg[768];
    lmx_tenancy *t =
        lmx_tenancy_open(path[0] && strcmp(path, ":memory:") ? path : NULL, msg, sizeof msg);
    if (!t) {
        snprintf(err, errlen, "tenancy_db: %s", msg);
        return NULL;
    }
    lmx_app probe = {.tenancy = t};
    if (lmx_profile_check(cfg, lmx_tenancy_keys_required(t), msg, sizeof msg) ||
        lmx_cfg_apply_fleet(&probe, cfg, msg, sizeof msg)) {
        snprintf(err, errlen, "%s", msg);
        lmx_tenancy_close(t);
        return NULL;
    }
    return t;
}

/* The models the config asks for at start: -m FILE, then `models:` (a
 * path to a .gguf file, or a name the manager's store knows). */
static int load_startup_models(lmx_mgr *mgr, const lmx_config *c) {
    for (int i = -1; i < c->n_models; i++) {
        const char *name = i < 0 ? c->model : c->models[i].model;
        if (!*name) continue;
        size_t n = strlen(name);
        lmx_served *sm;
        if (i < 0 || (n > 5 && !strcmp(name + n - 5, ".gguf"))) {
            char err[1024];
            sm = lmx_mgr_load_file(mgr, name, err, sizeof err); /* no reference taken */
            if (!sm) {
                fprintf(stderr, "lmx serve: %s\n", err);
                return -1;
            }
        } else {
            const lmx_cfg_model *m = &c->models[i];
            lmx_load_req q = {.model = m->model,
                              .ctx_size = (int)m->ctx_size,
                              .parallel = (int)m->parallel,
                              .alias = m->alias[0] ? m->alias : NULL,
                              .ttl_s = m->ttl_s,
                              .tune = {.kv_type = m->kv_type,
                                       .spec = m->speculative,
                                       .draft_model = m->draft_model,
                                       .draft_max = (int)m->draft_max},
                              /* -1: the global one (the manager's default); 0: none */
                              .itl_target_ms = m->itl_target_ms < 0    ? 0
                                               : m->itl_target_ms == 0 ? -1
                                                                       : (double)m->itl_target_ms};
            lmx_mgr_err e = {0};
            sm = lmx_mgr_load(mgr, &q, &e);
            if (!sm) {
                fprintf(stderr, "lmx serve: model '%s': %s\n", name, e.message);
                return -1;
            }
            lmx_mgr_release(sm); /* still loaded: the manager keeps it */
        }
        lmx_log("info", "model loaded",
                json_pack("{s:s,s:s,s:i,s:i,s:b}", "model", sm->name, "path", name, "n_ctx",
                          sm->n_ctx, "parallel", sm->n_parallel, "default_template",
                          sm->tmpl_is_default));
        lmx_metrics_know_model(sm->name);
    }
    return 0;
}

/* Every open connection is a descriptor: the soft limit (often 1024) goes up
 * to the hard one, and a max_connections the limit cannot hold is said. */
static void raise_fd_limit(const lmx_config *c) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t want = (rlim_t)(c->http_max_connections + c->http_reserved_connections + 256);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        lmx_log("warn", "the descriptor limit is below what max_connections needs",
                json_pack("{s:I,s:I,s:s}", "limit", (json_int_t)rl.rlim_cur, "needed",
                          (json_int_t)want, "hint",
                          "raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower "
                          "http.max_connections; connections beyond it are refused at accept"));
}

/* The agent runtime over the configured store (SQLite by default, Redis
 * when asked), with the config's roles. NULL with err set. */
static lmx_agents *start_agents(lmx_app *app, const lmx_config *c, char *err, size_t n) {
    lmx_astore *st;
    if (!strcmp(c->agents_store, "redis")) {
        st = lmx_astore_redis(c->redis_url, err, n);
    } else {
        char path[1100] = ":memory:";
        state_db(c->agents_db, "agents.db", path, sizeof path);
        st = lmx_astore_sqlite(path, err, n);
    }
    if (!st) return NULL;
    lmx_agents_opts o = {.store = st,
                         .model = lmx_agents_step_runner(app),
                         .workers = (int)c->agents_workers,
                         .queue_max = (int)c->agents_queue,
                         .queue_per_tenant = (int)c->agents_queue_per_tenant,
                         .retention_s = c->agents_retention,
                         .fault_transient = (int)c->agents_debug_fail_steps,
                         .fault_delay_ms = (int)c->agents_debug_step_delay_ms};
    lmx_agents *a = lmx_agents_start(&o, err, n);
    if (!a) return NULL;
    app->agents = a;
    if (lmx_cfg_apply_agents(app, c, err, n)) {
        app->agents = NULL;
        lmx_agents_stop(a);
        return NULL;
    }
    if (c->agents_debug_fail_steps || c->agents_debug_step_delay_ms)
        lmx_log("warn", "agents fault injection is on (testing only)",
                json_pack("{s:i,s:i}", "fail_steps", (int)c->agents_debug_fail_steps,
                          "step_delay_ms", (int)c->agents_debug_step_delay_ms));
    lmx_log("info", "agents ready",
            json_pack("{s:s,s:i}", "store", st->backend, "workers", (int)c->agents_workers));
    return a;
}

int cmd_serve(int argc, char **argv) {
    const char *cfg_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "lmx serve: option --config needs a value\n");
                usage(stderr);
                return 2;
            }
            cfg_path = argv[++i];
        }
    }
    char err[1024];
    /* ~180 KB (aliases, models): not on the stack */
    lmx_config *cfg = malloc(sizeof *cfg);
    if (!cfg) {
        fprintf(stderr, "lmx serve: out of memory\n");
        return 1;
    }
    int crc = lmx_config_build(cfg, cfg_path, argc, argv, err, sizeof err);
    if (crc) {
        fprintf(stderr, "lmx serve: %s\n", err);
        if (crc == -2) usage(stderr);
        free(cfg);
        return 2;
    }
    if (lmx_config_admin_key(cfg, err, sizeof err)) {
        fprintf(stderr, "lmx serve: admin token: %s (or set admin_key)\n", err);
        free(cfg);
        return 1;
    }
    /* signals: taken by sigwait in this thread only; threads created below inherit the mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    lmx_tenancy *tenancy = open_tenancy(cfg, err, sizeof err);
    if (!tenancy) {
        fprintf(stderr, "lmx serve: %s\n", err);
        free(cfg);
        return 2;
    }
    lmx_pool *pool = lmx_pool_create((int)cfg->threads);
    lmx_mgr_opts mo = {.n_ctx = (int)cfg->ctx_size,
                       .itl_target_ms = (double)cfg->itl_target_ms,
                       .n_parallel = (int)cfg->parallel,
                       .n_queue = (int)cfg->queue,
                       .pool = pool,
                       .models_dir = cfg->models_dir[0] ? cfg->models_dir : NULL,
                       .proc_root = getenv("LMX_PROC_ROOT"),
                       .tune = {.kv_type = cfg->kv_type,
                                .spec = cfg->speculative,
                                .draft_model = cfg->draft_model,
                                .draft_max = (int)cfg->draft_max},
                       .debug_load_delay_ms = (int)cfg->models_debug_load_delay_ms};
    lmx_mgr *mgr = lmx_mgr_create(&mo);
    if (cfg->models_debug_load_delay_ms)
        lmx_log("warn", "TESTING ONLY: model loads are slowed (models_debug.load_delay_ms)",
                json_pack("{s:i}", "load_delay_ms", (int)cfg->models_debug_load_delay_ms));
    /* stored responses: the newest 1000, for 7 days (the file is opened on first use) */
    char db_path[1100] = "";
    state_db(cfg->responses_db, "responses.db", db_path, sizeof db_path);
    lmx_rstore *rstore =
        lmx_rstore_new(db_path[0] && strcmp(db_path, ":memory:") ? db_path : NULL, 1000, 7 * 86400);
    /* skills: the registry is filled by the config's first apply below */
    lmx_skills_opts so = {.queue = (int)cfg->skills_queue};
    lmx_skills *skills = lmx_skills_new(&so);
    lmx_app app = {.mgr = mgr,
                   .responses = rstore,
                   .tenancy = tenancy,
                   .skills = skills,
                   .admin_local_only = lmx_profile_admin_loopback_only(cfg)};
    /* the tenants' settings were applied by open_tenancy; reloads apply them again */
    /* applies keys, limits, log level and the manager's policy */
    lmx_cfg_live *live = lmx_cfg_live_create(&app, cfg, cfg_path, argc, argv);
    lmx_dl *dl = NULL;
    lmx_http *h = NULL, *oh = NULL;
    int rc = 1;
    if (!mgr || !live || !skills) {
        fprintf(stderr, "lmx serve: out of memory\n");
        goto out;
    }
    if (!lmx_serve_port_free(cfg->host, (int)cfg->port, err, sizeof err)) {
        fprintf(stderr, "lmx serve: %s\n", err); /* before any model is loaded */
        goto out;
    }
    if (lmx_trace_start(cfg->otlp_endpoint, "lmx", err, sizeof err)) {
        fprintf(stderr, "lmx serve: %s\n", err);
        goto out;
    }
    if (load_startup_models(mgr, cfg)) goto out;
    if (!(app.agents = start_agents(&app, cfg, err, sizeof err))) {
        fprintf(stderr, "lmx serve: agents: %s\n", err);
        goto out;
    }
    dl = lmx_dl_create(mgr, err, sizeof err);
    if (!dl) {
        fprintf(stderr, "lmx serve: %s\n", err);
        goto out;
    }
    app.downloads = dl;
    lmx_dl_on_bytes(dl, lmx_metrics_add_download_bytes);
    if ((cfg->tls_cert[0] || cfg->tls_key[0] || cfg->tls_ca[0]) &&
        (!cfg->tls_cert[0] || !cfg->tls_key[0])) {
        fprintf(stderr, "lmx serve: TLS needs both tls_cert and tls_key\n");
        goto out;
    }
    if (cfg->tls_cert[0] && lmx_tls_init(cfg->tls_cert, cfg->tls_key, cfg->tls_ca, err, sizeof err)) {
        fprintf(stderr, "lmx serve: %s\n", err);
        goto out;
    }
    raise_fd_limit(cfg);
    lmx_http_opts ho = {.host = cfg->host,
                        .port = (int)cfg->port,
                        .idle_timeout_s = (int)cfg->idle_timeout,
                        .max_connections = (int)cfg->http_max_connections,
                        .reserved_connections = (int)cfg->http_reserved_connections,
                        .max_per_peer = (int)cfg->http_per_peer,
                        .trusted_proxies = cfg->trusted_proxies,
                        .header_timeout_s = cfg->http_header_timeout,
                        .body_min_rate = cfg->http_body_min_rate,
                        .threads = (int)cfg->http_threads,
                        .workers = (int)cfg->http_workers,
                        .app = &app};
    h = lmx_http_start(&ho, err, sizeof err);
    if (!h) {
        fprintf(stderr, "lmx serve: %s\n", err);
        goto out;
    }
    /* a second daemon on Ollama's port, same app (routes, models, keys) */
    if (cfg->ollama_port >= 0) {
        lmx_http_opts oo = ho;
        oo.port = (int)cfg->ollama_port;
        oh = lmx_http_start(&oo, err, sizeof err);
        if (!oh) {
            fprintf(stderr, "lmx serve: --ollama-port: %s\n", err);
            goto out;
        }
        lmx_log("info", "listening for Ollama clients",
                json_pack("{s:s,s:i}", "host", cfg->host, "port", lmx_http_port(oh)));
    }
    lmx_metrics_tenancy = tenancy;
    lmx_metrics_start();
    {
        char tp[1200];
        lmx_state_path(cfg->state_dir, "admin.token", tp, sizeof tp);
        lmx_log("info", "admin API access",
                json_pack("{s:s}", "key",
                          cfg->admin_token    ? tp
                          : cfg->admin_key[0] ? "admin_key (configured)"
                                              : "none: loopback clients only"));
    }
    lmx_serve_announce(mgr, cfg, lmx_http_port(h), lmx_pool_size(pool), cfg_path);
    char ready[128];
    snprintf(ready, sizeof ready, "READY=1\nSTATUS=listening on %s:%d\nMAINPID=%ld", cfg->host,
             lmx_http_port(h), (long)getpid());
    if (lmx_sd_notify(ready)) lmx_log("warn", "sd_notify failed", NULL);
    int sig = 0;
    for (;;) {
        sigwait(&sigs, &sig);
        if (sig != SIGHUP) break;
        lmx_sd_notify("RELOADING=1");
        json_t *res = lmx_cfg_live_reload(live, err, sizeof err); /* logs either way */
        json_decref(res);
        if (lmx_tls_enabled()) { /* new connections get the files' current pair */
            char cert[1024], key[1024];
            lmx_cfg_live_tls(live, cert, key, sizeof cert);
            if (lmx_tls_reload(cert, key, err, sizeof err))
                lmx_log("warn", "TLS reload refused: the old certificate stays",
                        json_pack("{s:s}", "error", err));
            else lmx_log("info", "TLS certificate reloaded", json_pack("{s:s}", "cert", cert));
        }
        lmx_sd_notify(res ? "READY=1\nSTATUS=config reloaded" : "READY=1\nSTATUS=config reload refused");
    }
    long drain = lmx_cfg_live_drain_timeout(live);
    lmx_sd_notify("STOPPING=1");
    lmx_log("info", "draining",
            json_pack("{s:s,s:i}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", "timeout_s",
                      (int)drain));
    lmx_http_quiesce(h);
    if (oh) lmx_http_quiesce(oh);
    lmx_ws_shutdown(5); /* WebSocket sessions end with a close frame, their requests cancelled */
    bool clean = lmx_http_wait_idle(h, (double)drain) && (!oh || lmx_http_wait_idle(oh, 1));
    if (!clean) {
        lmx_log("warn", "drain timeout: cancelling in-flight requests", NULL);
        lmx_http_abort(h);
        if (oh) lmx_http_abort(oh);
        lmx_http_wait_idle(h, 5);
        if (oh) lmx_http_wait_idle(oh, 5);
    }
    rc = 0;
out:
    lmx_http_stop(oh);
    lmx_http_stop(h);
    lmx_agents_stop(app.agents); /* after HTTP: no handler still uses it */
    if (dl) lmx_dl_destroy(dl);
    lmx_mgr_destroy(mgr, true);
    lmx_rstore_free(rstore);
    lmx_cfg_live_free(live);
    lmx_metrics_tenancy = NULL;
    lmx_tls_shutdown();
    lmx_trace_stop();
    lmx_tenancy_close(tenancy);
    lmx_skills_free(skills);
    lmx_pool_destroy(pool);
    free(cfg);
    if (!rc) lmx_log("info", "stopped", NULL);
    return rc;
}
