/* A growable byte buffer (the one every layer appends text and bytes to). */
#ifndef LMX_UTIL_BUF_H
#define LMX_UTIL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    char *p;
    size_t n, cap, off; /* off: bytes already handed out (lmx_buf_take) */
} lmx_buf;

/* Makes room for n more bytes (and the NUL after them); false when out of
 * memory. */
bool lmx_buf_reserve(lmx_buf *b, size_t n);
/* Appends n bytes (p stays NUL terminated); false when out of memory. */
bool lmx_buf_add(lmx_buf *b, const void *data, size_t n);
/* Copies up to max unread bytes out; returns how many. */
size_t lmx_buf_take(lmx_buf *b, char *out, size_t max);
size_t lmx_buf_unread(const lmx_buf *b);
void lmx_buf_free(lmx_buf *b);
/* Appends what is left of f: 0 at its end, -1 on a read error or out of
 * memory, 1 once the buffer holds limit bytes or more (limit 0: none). */
int lmx_buf_read(lmx_buf *b, FILE *f, size_t limit);

#endif
