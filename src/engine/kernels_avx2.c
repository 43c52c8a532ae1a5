/* AVX2 + FMA + F16C kernels, for x86-64 CPUs without AVX-512.
 *
 * They read the GGUF layout directly and compute one output at a time, so
 * batch invariance is immediate: an output's operations never depend on the
 * batch (F16 weights excepted: tiles over the T16 layout, below). Integer dots use the sign trick
 * (|w| times x with w's sign moved onto x) through vpmaddubsw, exact for these value ranges; float
 * accumulators are reduced in a fixed order at the end. Activations are the scalar path's (same
 * lmx_xq8 / lmx_xq8k blocks). */
#include "engine/kernels_impl.h"
#include "engine/kernels_tile.h"

#include <immintrin.h>

/* F16C conversion: exact, so identical to lmx_f16_to_f32, and much cheaper. */
static inline float h2f(const uint8_t *p) {
    return _cvtsh_ss(lmx_rd16(p));
}

/* Fixed-order sum of the 8 lanes. */
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256 load8(lmx_dtype t, const uint8_t *p) {
    switch (t) {
    case LMX_F32:
        return _mm256_loadu_ps((const float *)(const void *)p);
    case LMX_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
    default:
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p)), 16));
    }
}

static inline float wscalar(lmx_dtype t, const uint8_t *p) {
    if (t == LMX_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    return t == LMX_F16 ? h2f(p) : lmx_bf16_to_f32(lmx_rd16(p));
}

/* Four accumulators over 32-column steps, then 8-column steps, then a scalar
 * tail added after the vector sum. */
static inline float dot_float(lmx_dtype t, int esz, const uint8_t *w, const float *x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t c = 0;
    for (; c + 32 <= n; c += 32) {
        a0 = _mm256_fmadd_ps(load8(t, w + c * esz), _mm256_loadu_ps(x + c), a0);
        a1 = _mm256_fmadd_ps(load8(t, w + (c + 8) * esz), _mm256_loadu_ps(x + c + 8), a1);
        a2 = _mm256_fmadd_ps(load8(t, w + (c + 16) * esz), _mm256_loadu_ps(x + c + 16), a2);
        a3 = _mm256_fmadd_ps(load8(t, w + (c + 24) * esz), _mm256_loadu_ps(x + c + 24), a3);
    }
    for (; c + 8 <= n; c += 8)
        a0 = _mm256_fmadd_ps(load8(t, w + c * esz), _mm256_loadu_ps(x + c), a0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; c < n; c++) s += wscalar(t, w + c * esz) * x[c];
    return s;
}

static inline __m256i load32(const void *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}

/* 8 int32 partial sums of signed w (32 int8) times signed x. */
static inline __m256i dot_i8(__m256i w, __m256i x) {
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

static float dot_q8_0(const uint8_t *w, const void *xa, int64_t cols) {
    const lmx_xq8 *x = xa;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < cols / QK; b++, w += Q8_0_BYTES) {
        __m256i p = dot_i8(load32(w + 2), load32(x[b].qs));
        float s = h2f(w) * x[b].d;
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(s), acc);
    }
    return hsum8(acc);
}

static float dot_q4_0(const uint8_t *w, const void *xa, int64_t cols) {
    const lmx_xq8 *x = xa;
    const __m128i m4 = _mm_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < cols / QK; b++, w += Q4_0_BYTES) {
        __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(w + 2));
        __m256i v = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
        v = _mm256_sub_epi8(v, _mm256_set1_epi8(8));
        __m256i p = dot_i8(v, load32(x[b].qs));
        float s = h2f(w) * x[b].d;
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(s), acc);
    }
    return hsum8(acc);
}

/* Q4_K / Q5_K: sub-block scales applied with vpmaddwd on the 16-bit
 * products; the min term is an exact integer per superblock, accumulated in
 * a separate float. */
static inline float dot_qk45(const uint8_t *w, const void *xa, int64_t cols, int five, int bytes) {
    const lmx_xq8k *x = xa;
    const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int64_t b = 0; b < cols / QKK; b++, w += bytes) {
        const uint8_t *qs = w + (five ? 48 : 16);
        __m256i qh = five ? load32(w + 16) : _mm256_setzero_si256();
        __m256i isum = _mm256_setzero_si256();
        int msum = 0;
        for (int c = 0; c < 4; c++) {
            int sc0, m0, sc1, m1;
            lmx_kscale(w + 4, 2 * c, &sc0, &m0);
            lmx_kscale(w + 4, 2 * c + 1, &sc1, &m1);
            __m256i q = load32(qs + 32 * c);
            __m256i lo = _mm256_and_si256(q, m4),
                    hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (five) {
                __m256i h0 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c)), one);
                __m256i h1 =
                    _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c + 1)), one);
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(h0, 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(h1, 4));
            }
            __m256i p0 = _mm256_maddubs_epi16(lo, load32(x[b].qs + 64 * c));
            __m256i p1 = _mm256_maddubs_epi16(hi, load32(x[b].qs + 64 * c + 32));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p0, _mm256_set1_epi16((short)sc0)));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p1, _mm256_set1_epi16((short)sc1)));
            msum += m0 * (x[b].bsums[4 * c] + x[b].bsums[4 * c + 1]) +
                    m1 * (x[b].bsums[4 * c + 2] + x[b].bsums[4 * c + 3]);
        }
        float d = h2f(w), dmin = h2f(w + 2);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(x[b].d * d), acc);
        mins += x[b].d * dmin * (float)msum;
    }
    return hsum8(acc) - mins;
}

/* Q6_K: unsigned 6-bit codes times x, scaled per 16 by vpmaddwd; the -32
 * offset is an exact integer correction folded into lane 0. */
static float dot_q6_k(const uint8_t *w, const void *xa, int64_t cols) {
    const lmx_xq8k *x = xa;
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < cols / QKK; b++, w += Q6_K_BYTES) {
        const int8_t *sc = (const int8_t *)(w + 192);
        __m256i isum = _mm256_setzero_si256();
        int corr = 0;
        for (int j = 0; j < 16; j++) corr += sc[j] * x[b].bsums[j];
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
            __m256i l0 = load32(ql), l1 = load32(ql + 32), hh = load32(qh);
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, m4),
                                _mm256_slli_epi16(_mm256_and_si256(hh, m3), 4)),
                _mm256_or_si256(
                    _mm256_and_si256(l1, m4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 2), m3), 4)),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 4), m3), 4)),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 6), m3), 4)),
            };
            for (int g = 0; g < 4; g++) {
                int s0 = sc[8 * h + 2 * g], s1 = sc[8 * h + 2 * g + 1];
                __m256i scv =
                    _mm256_set_m128i(_mm_set1_epi16((short)s1), _mm_set1_epi16((short)s0));
                __m256i p = _mm256_maddubs_epi16(q[g], load32(x[b].qs + 128 * h + 32 * g));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scv));
            }
        }
        isum = _mm256_add_epi32(isum, _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, -32 * corr));
        float d = h2f(w + 208);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(x[b].d * d), acc);
    }
    return hsum8(acc);
}

static float dot_f32(const uint8_t *w, const void *x, int64_t n) {
    return dot_float(LMX_F32, 4, w, x, n);
}
static float dot_bf16(const uint8_t *w, const void *x, int64_t n) {
    return dot_float(LMX_BF16, 2, w, x, n);
}

/* F16 weights in the T16 layout (kernels_impl.h): a tile of G groups of 16
 * rows (two 8-lane halves each) by T tokens, each activation broadcast over
 * a column's weights. An output is summed by FMAs over the columns in order
 * from zero, as in the AVX-512 tile: the same bits, whatever the tile. */
enum { T16_T = 6, T16_GD = 4 /* groups per tile when decoding */ };

static inline __attribute__((always_inline)) void tile_t16(const lmx_wmat *w, const float *x,
                                                           size_t xs, int64_t g0, const int G,
                                                           const int T, float *y, int64_t ldy,
                                                           int64_t r0, int64_t r1) {
    __m256 acc[2 * T16_GD][T16_T];
    const uint16_t *wg[T16_GD];
    const float *xt[T16_T];
#pragma GCC unroll 8
    for (int g = 0; g < G; g++) wg[g] = lmx_t16_group(w, g0 + g);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) xt[t] = (const float *)((const uint8_t *)x + t * xs);
    LMX_FOR_TILE(h, 2 * G, t, T) acc[h][t] = _mm256_setzero_ps();
    for (int64_t c = 0; c < w->cols; c++) {
        __m256 wv[2 * T16_GD];
#pragma GCC unroll 8
        for (int h = 0; h < 2 * G; h++)
            wv[h] = _mm256_cvtph_ps(
                _mm_load_si128((const __m128i *)(const void *)(wg[h / 2] + c * 16 + 8 * (h % 2))));
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            __m256 xb = _mm256_broadcast_ss(xt[t] + c);
#pragma GCC unroll 8
            for (int h = 0; h < 2 * G; h++) acc[h][t] = _mm256_fmadd_ps(wv[h], xb, acc[h][t]);
        }
    }
#pragma GCC unroll 8
    for (int h = 0; h < 2 * G; h++) {
        int64_t rb = (g0 + h / 2) * 16 + 8 * (h % 2);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            if (rb >= r0 && rb + 8 <= r1) {
                _mm256_storeu_ps(y + t * ldy + rb, acc[h][t]);
                continue;
            }
            float v[8];
            _mm256_storeu_ps(v, acc[h][t]);
            for (int l = 0; l < 8; l++)
                if (rb + l >= r0 && rb + l < r1) y[t * ldy + rb + l] = v[l];
        }
    }
}

#define T16_TILE(G, T)                                                                             \
    tile_t16(w, (const float *)(x + t * xs), xs, g, G, T, y + t * ldy, ldy, r0, r1)
#define T16_GROUPS(G) LMX_TOK_TILES(n_tok, T16_T, LMX_TAILS_5, T16_TILE, G)

static void kern_f16_t16(const lmx_wmat *w, const void *xa, size_t xs, int n_tok, int64_t r0,
                         int64_t r1, float *y, int64_t ldy) {
    const uint8_t *x = xa;
    int64_t g = r0 / 16, g1 = (r1 + 15) / 16;
    if (n_tok == 1) { /* decoding: several groups per tile, for independent FMA chains */
        const int t = 0;
        for (; g + T16_GD <= g1; g += T16_GD) T16_TILE(T16_GD, 1);
    }
    for (; g < g1; g++) T16_GROUPS(1);
}

/* F16 tiles over the T16 layout; the other types are the row-dot table. */
static const lmx_kern_entry e_f16_t16 = {kern_f16_t16, NULL, lmx_xs_float, LMX_LAYOUT_T16,
                                         lmx_repack_t16};

LMX_ROWDOT_ISA(lmx_kern_avx2, e_f16_t16)
