/* The daemon-wide state every handler can reach: the model manager and the
 * server's settings. Built by `lmx serve`, read by the endpoint modules. */
#ifndef LMX_SRV_APP_H
#define LMX_SRV_APP_H

#include <stdbool.h>
#include <stddef.h>

#include "manager/download.h"
#include "manager/manager.h"
#include "server/response_store.h"

typedef struct {
    lmx_mgr *mgr;
    lmx_dl *downloads;
    const char *api_key;   /* NULL: the API needs no key */
    const char *admin_key; /* NULL: the admin API answers loopback clients only */
    int keepalive_ms;      /* SSE comment interval while a stream waits */
    size_t max_body;
    lmx_rstore *responses; /* the Responses API's stored responses */
} lmx_app;

#endif
