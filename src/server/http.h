/* The HTTP daemon (libmicrohttpd): routing to the endpoint modules
 * (route.h), limits, CORS, auth, request logging, streamed bodies. */
#ifndef LMX_SRV_HTTP_H
#define LMX_SRV_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "server/app.h"

typedef struct {
    const char *host;   /* numeric address or "localhost" */
    int port;           /* 0: any free port */
    int idle_timeout_s; /* idle keep-alive connections are closed after this */
    /* connections (conn_guard.h); 0: the defaults */
    int max_connections, reserved_connections, max_per_peer;
    const char *trusted_proxies;
    double header_timeout_s;
    long body_min_rate;
    int threads, workers; /* event-loop threads; handler threads at most */
    lmx_app *app; /* not owned: models, keys, body limit */
} lmx_http_opts;

typedef struct lmx_http lmx_http;

lmx_http *lmx_http_start(const lmx_http_opts *o, char *err, size_t errlen);
int lmx_http_port(const lmx_http *h);
/* Stops accepting connections; requests arriving on open ones get 503. */
void lmx_http_quiesce(lmx_http *h);
/* Waits until no request is in flight; false on timeout. */
bool lmx_http_wait_idle(lmx_http *h, double timeout_s);
/* Cuts every in-flight generation short. */
void lmx_http_abort(lmx_http *h);
void lmx_http_stop(lmx_http *h);

#endif
