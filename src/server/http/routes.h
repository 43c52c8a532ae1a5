/* The routing table (routes.c): every URL the daemon answers, with its
 * handler, error shape and access. Each API module's header declares its
 * handlers; a new route is one line in routes.c. */
#ifndef LMX_SRV_HTTP_ROUTES_H
#define LMX_SRV_HTTP_ROUTES_H

#include "server/core/error.h"
#include "server/http/http.h"

typedef enum {
    LMX_ACCESS_PUBLIC = 0, /* health checks, answered on the event loop: keep them cheap */
    LMX_ACCESS_API,        /* the API key, when one is configured */
    LMX_ACCESS_ADMIN,      /* the admin key; without one, loopback clients only */
} lmx_access;

typedef struct {
    const char *method; /* "GET" (also answers HEAD), "POST", "DELETE", ... */
    const char *path;   /* exact, or a prefix when it ends in '/' */
    lmx_handler fn;
    lmx_err_style style;
    lmx_access access;
} lmx_route;

/* The table, ended by a zeroed entry. */
extern const lmx_route lmx_routes[];

#endif
