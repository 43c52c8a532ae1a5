/* A growable byte buffer (the one every layer appends text and bytes to). */
#ifndef LMX_UTIL_BUF_H
#define LMX_UTIL_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *p;
    size_t n, cap, off; /* off: bytes already handed out (lmx_buf_take) */
} lmx_buf;

/* Appends n bytes (p stays NUL terminated); false when out of memory. */
bool lmx_buf_add(lmx_buf *b, const void *data, size_t n);
/* Copies up to max unread bytes out; returns how many. */
size_t lmx_buf_take(lmx_buf *b, char *out, size_t max);
size_t lmx_buf_unread(const lmx_buf *b);
void lmx_buf_free(lmx_buf *b);

#endif
