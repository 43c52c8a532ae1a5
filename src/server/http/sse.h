/* Server-Sent Events framing on top of a growable buffer. */
#ifndef LMX_SRV_HTTP_SSE_H
#define LMX_SRV_HTTP_SSE_H

#include <jansson.h>
#include <stdbool.h>

#include "util/buf.h"

/* "data: <compact json>\n\n" (does not steal obj). */
bool lmx_sse_json(lmx_buf *b, const json_t *obj);
/* "data: [DONE]\n\n" */
bool lmx_sse_done(lmx_buf *b);
/* ": keep-alive\n\n", a comment clients ignore, sent while nothing else is. */
bool lmx_sse_keepalive(lmx_buf *b);

#endif
