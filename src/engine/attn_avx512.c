/* AVX-512 attention loops: 16 lanes, one accumulator, fixed order. */
#include <immintrin.h>

#include "engine/attn.h"

static float dot_f16(const float *q, const uint16_t *k, int n) {
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 kv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k + i)));
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), kv, acc);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 kv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, k + i));
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), kv, acc);
    }
    return _mm512_reduce_add_ps(acc);
}

static void axpy_f16(float *out, float w, const uint16_t *v, int n) {
    __m512 wv = _mm512_set1_ps(w);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(v + i)));
        _mm512_storeu_ps(out + i, _mm512_fmadd_ps(wv, x, _mm512_loadu_ps(out + i)));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 x = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, v + i));
        _mm512_mask_storeu_ps(out + i, m, _mm512_fmadd_ps(wv, x, _mm512_maskz_loadu_ps(m, out + i)));
    }
}

const lmx_attn_ops lmx_attn_avx512 = {dot_f16, axpy_f16};
