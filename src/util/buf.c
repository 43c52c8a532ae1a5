/* A growable byte buffer: appended to at the end, read from the front.
 * Always NUL terminated after its bytes, so text built in it is a C string. */
#include "util/buf.h"

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
