/* AVX-512 attention: the tile kernel with 16-lane vectors. */
#include <immintrin.h>
#include <math.h>

#include "engine/attn.h"

typedef __m512 vf;
#define W             16
#define QC            8
#define QV            8
#define VZERO()       _mm512_setzero_ps()
#define VSET1(x)      _mm512_set1_ps(x)
#define VLD(p)        _mm512_loadu_ps(p)
#define VST(p, v)     _mm512_storeu_ps(p, v)
#define VLD_F16(p)    _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define VLD_I8(p)     _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p))))
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VMUL          _mm512_mul_ps
#define VADD          _mm512_add_ps
#define VSUB          _mm512_sub_ps
#define VMAX          _mm512_max_ps
#define VROUND(v)     _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vredmax       _mm512_reduce_max_ps
#define vredadd       _mm512_reduce_add_ps
#define VPOW2(n)                                                                                   \
    _mm512_castsi512_ps(                                                                           \
        _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23))

static inline vf vmask_from(vf v, int n) {
    if (n >= 16) return v;
    __mmask16 m = n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
    return _mm512_mask_blend_ps(m, _mm512_set1_ps(-INFINITY), v);
}

#include "engine/attn_exp.h"

/* exp_s of attn_tile.h in 16 lanes */
static inline vf vexp_neg(vf x) {
    __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_GE_OQ);
    return _mm512_maskz_mov_ps(live, vexp_clamped(x));
}

#include "engine/attn_tile.h"

const lmx_attn_ops lmx_attn_avx512 = {attn_run, attn_merge};
