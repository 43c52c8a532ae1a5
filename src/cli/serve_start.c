/* lmx serve's start-up checks and line (see serve_start.h). */
#include "cli/serve_start.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "manager/store.h"
#include "util/log.h"

bool lmx_serve_port_free(const char *host, int port, char *why, size_t n) {
    if (port <= 0) return true;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res = NULL;
    int rc = getaddrinfo(host && *host ? host : NULL, ps, &hints, &res);
    if (rc) {
        snprintf(why, n, "cannot resolve --host '%s': %s", host, gai_strerror(rc));
        return false;
    }
    bool ok = false;
    int err = 0;
    for (struct addrinfo *ai = res; ai && !ok; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        int one = 1; /* as the HTTP server will: a port in TIME_WAIT is free */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (!bind(fd, ai->ai_addr, ai->ai_addrlen))
            ok = true;
        else
            err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (!ok && err == EADDRINUSE)
        snprintf(why, n,
                 "port %d on %s is already in use (another lmx serve, LM Studio or llama-server?); "
                 "stop it or pick another with --port",
                 port, host);
    else if (!ok)
        snprintf(why, n, "cannot listen on %s:%d: %s", host, port, strerror(err ? err : EINVAL));
    return ok;
}

static bool is_loopback(const char *host) {
    if (!strcmp(host, "localhost")) return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

void lmx_serve_announce(lmx_mgr *mgr, const lmx_config *cfg, int port, int threads,
                        const char *cfg_path) {
    lmx_store_entry *store;
    int n_store = lmx_mgr_store_list(mgr, &store);
    lmx_store_entries_free(store, n_store);
    size_t n = (size_t)n_store;
    const char *dir = lmx_mgr_models_dir(mgr);
    char msg[2048];
    int k =
        snprintf(msg, sizeof msg, "lmx %s serving http://%s:%d/v1; models dir %s holds %zu model%s",
                 LMX_ENGINE_VERSION, cfg->host, port, dir ? dir : "-", n, n == 1 ? "" : "s");
    if (!n && k > 0 && (size_t)k < sizeof msg)
        snprintf(msg + k, sizeof msg - (size_t)k,
                 " (add one: lmx pull ORG/REPO:QUANT, lmx import FILE.gguf, or a .gguf file "
                 "copied there)");
    lmx_log("info", msg,
            json_pack("{s:s,s:s,s:i,s:s?,s:I,s:i,s:s}", "version", LMX_ENGINE_VERSION, "host",
                      cfg->host, "port", port, "models_dir", dir, "models", (json_int_t)n,
                      "threads", threads, "config", cfg_path ? cfg_path : "default"));
    if (!is_loopback(cfg->host) && !cfg->api_key[0])
        lmx_log("warn",
                "listening beyond loopback without an API key: anyone who can reach this "
                "address can use the models (set --api-key or LMX_API_KEY)",
                json_pack("{s:s,s:i}", "host", cfg->host, "port", port));
}
