/* The WebSocket endpoint (ws_api.c): GET /v1/realtime upgrades to RFC 6455
 * and carries chat completions as JSON frames. lmx_ws_shutdown ends every
 * session with a close frame, cancelling its requests (waits up to
 * timeout_s). */
#ifndef LMX_SRV_API_WS_API_H
#define LMX_SRV_API_WS_API_H

#include "server/http/http.h"

int lmx_h_realtime(lmx_req *r, const char *rest);
void lmx_ws_shutdown(double timeout_s);

#endif
