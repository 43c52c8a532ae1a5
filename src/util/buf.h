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
/* Appends printf-formatted text; false when out of memory (or a bad format). */
bool lmx_buf_printf(lmx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copies up to max unread bytes out; returns how many. */
size_t lmx_buf_take(lmx_buf *b, char *out, size_t max);
size_t lmx_buf_unread(const lmx_buf *b);
void lmx_buf_free(lmx_buf *b);
/* Appends what is left of f: 0 at its end, -1 on a read error or out of
 * memory, 1 once the buffer holds limit bytes or more (limit 0: none). */
int lmx_buf_read(lmx_buf *b, FILE *f, size_t limit);

/* Appends n bytes to *s, a malloc'd NUL-terminated string of *len bytes
 * (NULL while empty) kept as a plain char * by the type that hands it out
 * (an event's text, a parsed item's): its size is exact, no capacity kept.
 * n 0 leaves it as it is. false when out of memory (*s unchanged). */
bool lmx_str_append(char **s, size_t *len, const void *data, size_t n);

#endif
