/* A growable byte buffer: appended to at the end, read from the front.
 * Always NUL terminated after its bytes, so text built in it is a C string. */
#include "util/buf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"

bool lmx_buf_reserve(lmx_buf *b, size_t n) {
    if (b->off && b->off == b->n) b->off = b->n = 0; /* all consumed: start over */
    return lmx_grow(&b->p, &b->cap, b->n + n + 1, 1, 1024);
}

bool lmx_buf_add(lmx_buf *b, const void *data, size_t n) {
    if (!lmx_buf_reserve(b, n)) return false;
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

bool lmx_buf_printf(lmx_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || !lmx_buf_reserve(b, (size_t)k)) return false;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
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

int lmx_buf_read(lmx_buf *b, FILE *f, size_t limit) {
    for (;;) {
        if (!lmx_buf_reserve(b, 65536)) return -1;
        size_t got = fread(b->p + b->n, 1, b->cap - b->n - 1, f);
        b->n += got;
        b->p[b->n] = 0;
        if (limit && b->n >= limit) return 1;
        if (!got) return ferror(f) ? -1 : 0;
    }
}

bool lmx_str_append(char **s, size_t *len, const void *data, size_t n) {
    if (!n) return true;
    char *t = realloc(*s, *len + n + 1);
    if (!t) return false;
    memcpy(t + *len, data, n);
    *len += n;
    t[*len] = 0;
    *s = t;
    return true;
}
