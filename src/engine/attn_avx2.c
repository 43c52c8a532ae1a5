/* AVX2 attention: the tile kernel with 8-lane vectors. */
#include <immintrin.h>
#include <math.h>

#include "engine/attn.h"

typedef __m256 vf;
#define W             8
#define QC            3
#define QV            8
#define VZERO()       _mm256_setzero_ps()
#define VSET1(x)      _mm256_set1_ps(x)
#define VLD(p)        _mm256_loadu_ps(p)
#define VST(p, v)     _mm256_storeu_ps(p, v)
#define VLD_F16(p)    _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define VLD_I8(p)     _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p))))
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VMUL          _mm256_mul_ps
#define VADD          _mm256_add_ps
#define VSUB          _mm256_sub_ps
#define VMAX          _mm256_max_ps
#define VROUND(v)     _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VPOW2(n)                                                                                   \
    _mm256_castsi256_ps(                                                                           \
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23))

static inline float vredmax(vf v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline float vredadd(vf v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline vf vmask_from(vf v, int n) {
    if (n >= 8) return v;
    __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx));
    return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), v, keep);
}

#include "engine/attn_exp.h"

/* exp_s of attn_tile.h in 8 lanes */
static inline vf vexp_neg(vf x) {
    vf live = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_GE_OQ);
    return _mm256_and_ps(live, vexp_clamped(x));
}

#include "engine/attn_tile.h"

const lmx_attn_ops lmx_attn_avx2 = {attn_run, attn_merge};
