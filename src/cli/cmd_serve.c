/* lmx serve: the OpenAI-compatible HTTP daemon.
 *
 * Startup loads the model (if any) and starts the HTTP threads; the main
 * thread then only waits for SIGTERM/SIGINT (blocked in every thread and taken
 * with sigwait, so no handler runs in an arbitrary thread). On a signal it
 * stops accepting, lets in-flight requests finish within --drain-timeout,
 * cuts the rest short, and exits 0. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "server/http.h"
#include "server/log.h"
#include "manager/download.h"
#include "manager/manager.h"
#include "manager/memory.h"

static void usage(void) {
    fprintf(
        stderr,
        "usage: lmx serve [-m MODEL] [--host H] [--port P] [-c CTX] [--parallel N] [--queue N]\n"
        "                 [-t THREADS] [--drain-timeout S] [--idle-timeout S] [--max-body BYTES]\n"
        "                 [--api-key KEY] [--admin-key KEY] [--sse-keepalive-ms MS]\n"
        "  -m MODEL          a .gguf file, served as its file name without .gguf\n"
        "  --host, --port    where to listen (default 127.0.0.1:1234)\n"
        "  -c CTX            context length per sequence (default: the model's, at most 4096)\n"
        "  --parallel N      sequences decoded at once (default 8)\n"
        "  --queue N         requests waiting beyond those before 429 (default 64)\n"
        "  --drain-timeout S on SIGTERM, wait this long for in-flight requests (default 30)\n"
        "  --idle-timeout S  close idle keep-alive connections after S seconds (default 120)\n"
        "  --max-body BYTES  larger request bodies get 413 (default 32 MiB)\n"
        "  --sse-keepalive-ms MS  ': keep-alive' comment interval of waiting streams (2000)\n"
        "  --api-key KEY     require 'Authorization: Bearer KEY' (also LMX_API_KEY)\n"
        "  --admin-key KEY   admin API key (also LMX_ADMIN_KEY); without one the admin API\n"
        "                    answers loopback clients only\n"
        "  --models-dir DIR  the model store (default ~/.lmx/models, created if missing)\n"
        "  --memory-limit SIZE  models may use at most this much (e.g. 2G); default: what\n"
        "                    the machine (MemAvailable, cgroup v2 memory.max) gives\n"
        "  --memory-reserve SIZE  always leave this much free (default 0)\n"
        "  --auto-evict      unload idle models, least recently used first, to make room\n"
        "  --no-load-on-demand  a request for a model that is not loaded gets 404\n"
        "  --mlock           lock model weights in memory\n"
        "  --model-ttl S     unload models idle this long (default: never)\n"
        "  --alias NAME=MODEL[,MODEL...]  a name resolving to the first ready (or\n"
        "                    loadable) model of the list; repeatable\n");
}

int cmd_serve(int argc, char **argv) {
    const char *model = NULL, *host = "127.0.0.1", *api_key = getenv("LMX_API_KEY"),
               *admin_key = getenv("LMX_ADMIN_KEY"), *v;
    long port = 1234, n_ctx = 0, parallel = 8, queue = 64, threads = 0, drain = 30, idle = 120;
    long max_body = 32L << 20, keepalive_ms = 2000;
    const char *models_dir = NULL;
    double model_ttl = 0;
    lmx_mgr_policy pol = {.load_on_demand = true, .quarantine_errors = 3,
                          .quarantine_window_s = 600};
    lmx_alias aliases[16];
    int n_aliases = 0;
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        const char *a = argv[i];
        if (lmx_arg_value(argc, argv, &i, "-m", "--model", &model, &bad)) continue;
        if (lmx_arg_value(argc, argv, &i, "--host", NULL, &host, &bad)) continue;
        if (lmx_arg_value(argc, argv, &i, "--api-key", NULL, &api_key, &bad)) continue;
        if (lmx_arg_value(argc, argv, &i, "--admin-key", NULL, &admin_key, &bad)) continue;
        if (lmx_arg_value(argc, argv, &i, "--port", NULL, &v, &bad)) {
            bad = bad || !lmx_arg_long(v, 0, 65535, &port);
        } else if (lmx_arg_value(argc, argv, &i, "-c", "--ctx-size", &v, &bad)) {
            bad = bad || !lmx_arg_long(v, 16, 1 << 24, &n_ctx);
        } else if (lmx_arg_value(argc, argv, &i, "--parallel", "-np", &v, &bad)) {
            bad = bad || !lmx_arg_long(v, 1, 256, &parallel);
        } else if (lmx_arg_value(argc, argv, &i, "--queue", NULL, &v, &bad)) {
            bad = bad || !lmx_arg_long(v, 0, 1 << 20, &queue);
        } else if (lmx_arg_value(argc, argv, &i, "-t", "--threads", &v, &bad)) {
            bad = bad || !lmx_arg_long(v, 1, 1024, &threads);
        } else if (lmx_arg_value(argc, argv, &i, "--drain-timeout", NULL, &v, &bad)) {
            bad = bad || !lmx_arg_long(v, 0, 86400, &drain);
        } else if (lmx_arg_value(argc, argv, &i, "--idle-timeout", NULL, &v, &bad)) {
            bad = bad || !lmx_arg_long(v, 1, 86400, &idle);
        } else if (lmx_arg_value(argc, argv, &i, "--sse-keepalive-ms", NULL, &v, &bad)) {
            bad = bad || !lmx_arg_long(v, 10, 600000, &keepalive_ms);
        } else if (lmx_arg_value(argc, argv, &i, "--max-body", NULL, &v, &bad)) {
            bad = bad || !lmx_arg_long(v, 1024, 1L << 32, &max_body);
        } else if (lmx_arg_value(argc, argv, &i, "--models-dir", NULL, &models_dir, &bad)) {
        } else if (lmx_arg_value(argc, argv, &i, "--memory-limit", NULL, &v, &bad)) {
            bad = bad || !lmx_mem_parse_size(v, &pol.memory_limit);
        } else if (lmx_arg_value(argc, argv, &i, "--memory-reserve", NULL, &v, &bad)) {
            bad = bad || !lmx_mem_parse_size(v, &pol.memory_reserve);
        } else if (lmx_arg_value(argc, argv, &i, "--model-ttl", NULL, &v, &bad)) {
            bad = bad || !lmx_arg_double(v, 0, 1e9, &model_ttl);
        } else if (lmx_arg_value(argc, argv, &i, "--alias", NULL, &v, &bad)) {
            /* NAME=MODEL[,MODEL...] */
            const char *eq = v ? strchr(v, '=') : NULL;
            if (bad || !eq || eq == v || !eq[1] || n_aliases == 16 ||
                (size_t)(eq - v) >= sizeof aliases[0].name) {
                bad = true;
            } else {
                lmx_alias *al = &aliases[n_aliases++];
                memset(al, 0, sizeof *al);
                snprintf(al->name, sizeof al->name, "%.*s", (int)(eq - v), v);
                for (const char *p = eq + 1; *p && al->n_models < 8;) {
                    size_t n = strcspn(p, ",");
                    if (n) snprintf(al->models[al->n_models++], sizeof al->models[0], "%.*s",
                                    (int)n, p);
                    p += n + (p[n] == ',');
                }
            }
        } else if (!strcmp(a, "--auto-evict")) {
            pol.auto_evict = true;
        } else if (!strcmp(a, "--no-load-on-demand")) {
            pol.load_on_demand = false;
        } else if (!strcmp(a, "--mlock")) {
            pol.mlock = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "lmx serve: unknown option '%s'\n", a);
            bad = true;
            continue;
        }
        if (bad && i < argc) fprintf(stderr, "lmx serve: bad value for %s\n", a);
    }
    if (bad) {
        usage();
        return 2;
    }
    /* signals: taken by sigwait in this thread only; threads created below inherit the mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[1024];
    lmx_pool *pool = lmx_pool_create((int)threads);
    lmx_mgr_opts mo = {.n_ctx = (int)n_ctx,
                       .n_parallel = (int)parallel,
                       .n_queue = (int)queue,
                       .pool = pool,
                       .models_dir = models_dir,
                       .proc_root = getenv("LMX_PROC_ROOT")};
    lmx_mgr *mgr = lmx_mgr_create(&mo);
    pol.default_ttl_s = model_ttl;
    pol.aliases = aliases;
    pol.n_aliases = n_aliases;
    lmx_mgr_set_policy(mgr, &pol);
    if (model) {
        lmx_served *sm = lmx_mgr_load_file(mgr, model, err, sizeof err);
        if (!sm) {
            fprintf(stderr, "lmx serve: %s\n", err);
            lmx_mgr_destroy(mgr, true);
            lmx_pool_destroy(pool);
            return 1;
        }
        lmx_log("info", "model loaded",
                json_pack("{s:s,s:s,s:i,s:i,s:b}", "model", sm->name, "path", model, "n_ctx",
                          sm->n_ctx, "parallel", sm->n_parallel, "default_template",
                          sm->tmpl_is_default));
    }
    lmx_dl *dl = lmx_dl_create(mgr, err, sizeof err);
    if (!dl) {
        fprintf(stderr, "lmx serve: %s\n", err);
        lmx_mgr_destroy(mgr, true);
        lmx_pool_destroy(pool);
        return 1;
    }
    lmx_app app = {.mgr = mgr,
                   .downloads = dl,
                   .api_key = api_key,
                   .admin_key = admin_key,
                   .keepalive_ms = (int)keepalive_ms,
                   .max_body = (size_t)max_body};
    lmx_http_opts ho = {.host = host, .port = (int)port, .idle_timeout_s = (int)idle, .app = &app};
    lmx_http *h = lmx_http_start(&ho, err, sizeof err);
    if (!h) {
        fprintf(stderr, "lmx serve: %s\n", err);
        lmx_dl_destroy(dl);
        lmx_mgr_destroy(mgr, true);
        lmx_pool_destroy(pool);
        return 1;
    }
    lmx_log("info", "listening",
            json_pack("{s:s,s:i,s:i}", "host", host, "port", lmx_http_port(h), "threads",
                      lmx_pool_size(pool)));
    int sig = 0;
    sigwait(&sigs, &sig);
    lmx_log("info", "draining",
            json_pack("{s:s,s:i}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", "timeout_s",
                      (int)drain));
    lmx_http_quiesce(h);
    bool clean = lmx_http_wait_idle(h, (double)drain);
    if (!clean) {
        lmx_log("warn", "drain timeout: cancelling in-flight requests", NULL);
        lmx_http_abort(h);
        lmx_http_wait_idle(h, 5);
    }
    lmx_http_stop(h);
    lmx_dl_destroy(dl);
    lmx_mgr_destroy(mgr, true);
    lmx_pool_destroy(pool);
    lmx_log("info", "stopped", NULL);
    return 0;
}
