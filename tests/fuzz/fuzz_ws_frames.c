/* libFuzzer harness for the WebSocket frame decoder (server/http/ws.c).
 *
 * Input: a byte stream as a client might send it. It is decoded frame by
 * frame, whole and then fed one byte at a time: both must yield the same
 * frames (opcode, FIN, unmasked payload) and the same end (need more, or an
 * error), every frame must lie inside the input, and a decoded payload
 * re-encoded by lmx_ws_encode must carry the same bytes.
 * Build and run: make fuzz && build-fuzz/fuzz_ws_frames -max_total_time=60 CORPUS_DIR */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/ws.h"

typedef struct {
    int op;
    bool fin;
    size_t len;
    uint64_t sum;
} seen;

static int decode_all(uint8_t *buf, size_t n, size_t step, seen *out, int cap, int *end) {
    size_t have = step ? 0 : n, at = 0;
    int k = 0;
    for (;;) {
        lmx_ws_frame f;
        const char *why = NULL;
        long r = lmx_ws_decode(buf + at, have - at, 4096, &f, &why);
        if (r < 0) {
            *end = -1;
            return k;
        }
        if (r == 0) {
            if (have == n) {
                *end = 0;
                return k;
            }
            have += step;
            if (have > n) have = n;
            continue;
        }
        if ((size_t)r > have - at || f.payload < buf + at || f.payload + f.len > buf + at + r)
            abort();
        if (k < cap) {
            uint64_t s = 0;
            for (size_t i = 0; i < f.len; i++) s = s * 31 + f.payload[i];
            out[k] = (seen){f.opcode, f.fin, f.len, s};
            lmx_buf b = {0};
            lmx_ws_encode(&b, f.opcode, f.payload, f.len);
            if (b.n < f.len || memcmp(b.p + b.n - f.len, f.payload, f.len)) abort();
            lmx_buf_free(&b);
        }
        k++;
        at += (size_t)r;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536) return 0;
    uint8_t *a = malloc(size + 1), *b = malloc(size + 1);
    if (!a || !b) abort();
    memcpy(a, data, size);
    memcpy(b, data, size);
    seen x[64], y[64];
    int ex = 0, ey = 0;
    int nx = decode_all(a, size, 0, x, 64, &ex), ny = decode_all(b, size, 1, y, 64, &ey);
    if (nx != ny || ex != ey) abort();
    for (int i = 0; i < nx && i < 64; i++)
        if (x[i].op != y[i].op || x[i].fin != y[i].fin || x[i].len != y[i].len ||
            x[i].sum != y[i].sum) /* field by field: padding bytes are not compared */
            abort();
    free(a);
    free(b);
    return 0;
}
