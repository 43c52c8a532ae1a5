/* WebSocket framing (RFC 6455): the handshake's accept key, and frames
 * decoded from a byte stream and encoded into one. Pure functions, no I/O.
 *
 * The decoder takes client frames, which must be masked; it unmasks the
 * payload in place. Control frames (close, ping, pong) must be final and at
 * most 125 bytes; reserved bits and opcodes are errors, as the RFC says. */
#ifndef LMX_SRV_WS_H
#define LMX_SRV_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum {
    LMX_WS_CONT = 0x0,
    LMX_WS_TEXT = 0x1,
    LMX_WS_BINARY = 0x2,
    LMX_WS_CLOSE = 0x8,
    LMX_WS_PING = 0x9,
    LMX_WS_PONG = 0xA,
};

typedef struct {
    bool fin;
    int opcode;
    uint8_t *payload; /* points into the caller's buffer (unmasked) */
    size_t len;
} lmx_ws_frame;

/* base64(SHA-1(key + the RFC's GUID)) into out (cap >= 29). */
void lmx_ws_accept_key(const char *key, char *out, size_t cap);

/* Decodes the frame at the start of buf[0, n): returns the bytes it spans
 * (> 0) with f set, 0 when more bytes are needed, or -1 with why set (a
 * protocol error: the connection must be closed with code 1002, or 1009 for
 * a payload over max_len). */
long lmx_ws_decode(uint8_t *buf, size_t n, size_t max_len, lmx_ws_frame *f, const char **why);

/* Appends one unmasked server frame (FIN set). */
void lmx_ws_encode(lmx_buf *out, int opcode, const void *payload, size_t len);

#endif
