/* SSE framing for streamed completions. Each event is one "data:" line holding
 * compact JSON (JSON never contains a raw newline, so one line is enough),
 * ended by a blank line; comments (": ...") keep idle proxies and clients from
 * timing out while a long prompt is prefilled. */
#include "server/http/sse.h"

#include <stdlib.h>
#include <string.h>

bool lmx_sse_json(lmx_buf *b, const json_t *obj) {
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s) return false;
    bool ok =
        lmx_buf_add(b, "data: ", 6) && lmx_buf_add(b, s, strlen(s)) && lmx_buf_add(b, "\n\n", 2);
    free(s);
    return ok;
}

bool lmx_sse_done(lmx_buf *b) {
    return lmx_buf_add(b, "data: [DONE]\n\n", 14);
}

bool lmx_sse_keepalive(lmx_buf *b) {
    return lmx_buf_add(b, ": keep-alive\n\n", 14);
}
