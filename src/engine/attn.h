/* Attention's inner loops over the KV cache (F16 or F32 rows): q·k dot
 * products and the weighted sum of v rows. A scalar version and AVX2 /
 * AVX-512 versions, picked once per forward pass from lmx_isa_current(). The
 * reduction order of each is fixed, so a (sequence, position) gets the same
 * bits in any batch. */
#ifndef LMX_ATTN_H
#define LMX_ATTN_H

#include <stdint.h>

typedef struct {
    float (*dot_f16)(const float *q, const uint16_t *k, int n);
    void (*axpy_f16)(float *out, float w, const uint16_t *v, int n);
} lmx_attn_ops;

const lmx_attn_ops *lmx_attn_ops_get(void);

/* per-ISA tables (attn_avx2.c, attn_avx512.c) */
extern const lmx_attn_ops lmx_attn_avx2, lmx_attn_avx512;

#endif
