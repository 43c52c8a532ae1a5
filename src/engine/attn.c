/* Scalar attention loops and the choice of ISA. */
#include "engine/attn.h"

#include <pthread.h>

#include "engine/kernels.h"

static float f16_table[65536];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void init_table(void) {
    for (int i = 0; i < 65536; i++) f16_table[i] = lmx_f16_to_f32((uint16_t)i);
}

static float dot_f16_scalar(const float *q, const uint16_t *k, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += q[i] * f16_table[k[i]];
    return s;
}

static void axpy_f16_scalar(float *out, float w, const uint16_t *v, int n) {
    for (int i = 0; i < n; i++) out[i] += w * f16_table[v[i]];
}

static const lmx_attn_ops scalar_ops = {dot_f16_scalar, axpy_f16_scalar};

const lmx_attn_ops *lmx_attn_ops_get(void) {
    pthread_once(&once, init_table);
    switch (lmx_isa_current()) {
    case LMX_ISA_AVX512: return &lmx_attn_avx512;
    case LMX_ISA_AVX2: return &lmx_attn_avx2;
    default: return &scalar_ops;
    }
}
