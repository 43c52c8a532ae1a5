/* SSE framing for streamed completions. Each event is one "data:" line holding
 * compact JSON (JSON never contains a raw newline, so one line is enough),
 * ended by a blank line; comments (": ...") keep idle proxies and clients from
 * timing out while a long prompt is prefilled. */
#include "server/sse.h"

#include <stdlib.h>
#include <string.h>

bool lmx_buf_add(lmx_buf *b, const void *data, size_t n) {
    if (b->off && b->off == b->n) b->off = b->n = 0; /* all consumed: start over */
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

size_t lmx_buf_take(lmx_buf *b, char *out, size_t max) {
    size_t k = b->n - b->off;
    if (k > max) k = max;
    memcpy(out, b->p + b->off, k);
    b->off += k;
    return k;
}

size_t lmx_buf_unread(const lmx_buf *b) {
    return b->n - b->off;
}

void lmx_buf_free(lmx_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

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
