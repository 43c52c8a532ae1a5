/* WebSocket framing (see ws.h). */
#include "server/http/ws.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

void lmx_ws_accept_key(const char *key, char *out, size_t cap) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char cat[256];
    int n = snprintf(cat, sizeof cat, "%s%s", key, guid);
    if (n < 0 || (size_t)n >= sizeof cat) n = (int)sizeof cat - 1;
    unsigned char d[20];
    unsigned int dn = 0;
    EVP_Digest(cat, (size_t)n, d, &dn, EVP_sha1(), NULL);
    unsigned char b64[32];
    EVP_EncodeBlock(b64, d, 20); /* 28 characters and a NUL */
    snprintf(out, cap, "%s", (const char *)b64);
}

long lmx_ws_decode(uint8_t *buf, size_t n, size_t max_len, lmx_ws_frame *f, const char **why) {
    if (n < 2) return 0;
    bool fin = buf[0] & 0x80;
    int rsv = buf[0] & 0x70, op = buf[0] & 0x0f;
    bool masked = buf[1] & 0x80;
    uint64_t len = buf[1] & 0x7f;
    size_t at = 2;
    if (rsv) return *why = "reserved bits set (no extension was negotiated)", -1;
    if (op != LMX_WS_CONT && op != LMX_WS_TEXT && op != LMX_WS_BINARY && op != LMX_WS_CLOSE &&
        op != LMX_WS_PING && op != LMX_WS_PONG)
        return *why = "unknown opcode", -1;
    if (!masked) return *why = "client frames must be masked", -1;
    if (len == 126) {
        if (n < 4) return 0;
        len = (uint64_t)buf[2] << 8 | buf[3];
        if (len < 126) return *why = "length not minimally encoded", -1;
        at = 4;
    } else if (len == 127) {
        if (n < 10) return 0;
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | buf[2 + i];
        if (len >> 63) return *why = "length with the top bit set", -1;
        if (len < 65536) return *why = "length not minimally encoded", -1;
        at = 10;
    }
    if (op >= LMX_WS_CLOSE && (!fin || len > 125))
        return *why = "control frames must be final and at most 125 bytes", -1;
    if (len > max_len) return *why = "message too big", -1;
    if (n - at < 4 + len) return 0;
    const uint8_t *mask = buf + at;
    uint8_t *p = buf + at + 4;
    for (uint64_t i = 0; i < len; i++) p[i] ^= mask[i & 3];
    f->fin = fin;
    f->opcode = op;
    f->payload = p;
    f->len = (size_t)len;
    return (long)(at + 4 + len);
}

void lmx_ws_encode(lmx_buf *out, int opcode, const void *payload, size_t len) {
    uint8_t h[10];
    size_t hn = 2;
    h[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        h[1] = (uint8_t)len;
    } else if (len < 65536) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        hn = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        hn = 10;
    }
    lmx_buf_add(out, h, hn);
    if (len) lmx_buf_add(out, payload, len);
}
