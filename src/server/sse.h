/* A growable byte buffer and the Server-Sent Events framing on top of it. */
#ifndef LMX_SRV_SSE_H
#define LMX_SRV_SSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *p;
    size_t n, cap, off; /* off: bytes already handed out (lmx_buf_take) */
} lmx_buf;

bool lmx_buf_add(lmx_buf *b, const void *data, size_t n);
/* Copies up to max unread bytes out; returns how many. */
size_t lmx_buf_take(lmx_buf *b, char *out, size_t max);
size_t lmx_buf_unread(const lmx_buf *b);
void lmx_buf_free(lmx_buf *b);

/* "data: <compact json>\n\n" (does not steal obj). */
bool lmx_sse_json(lmx_buf *b, const json_t *obj);
/* "data: [DONE]\n\n" */
bool lmx_sse_done(lmx_buf *b);
/* ": keep-alive\n\n", a comment clients ignore, sent while nothing else is. */
bool lmx_sse_keepalive(lmx_buf *b);

#endif
