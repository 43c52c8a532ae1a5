/* AVX-512 kernels (F/BW/VL/DQ + VNNI).
 *
 * F32 and BF16 (without AVX512_BF16) read the GGUF layout directly; each
 * output keeps one 16-lane FMA accumulator walked over the row in 16-column
 * steps (masked tail), then one fixed horizontal sum. F16 is repacked at init
 * into column-interleaved groups of 16 rows (T16, below).
 *
 * Quantized types are repacked at init ("X16" layout) so that one 32-bit lane
 * of a VNNI accumulator owns one block (Q4_0/Q8_0), or one sub-block (K
 * types): a group of 16 blocks is stored as 8 (Q6_K: 4) vectors, vector k
 * holding values 4k..4k+3 of every block side by side. vpdpbusd then sums
 * each block in its own lane with no shuffles, and the 16 per-block scales of
 * a group are one vector. Weights are the unsigned operand: Q4_0/Q4_K/Q5_K/
 * Q6_K codes are already unsigned (Q6_K and Q4_0 are corrected with the
 * activation block sums, preloaded into the accumulator), Q8_0 is stored
 * xor 0x80 (offset by 128) and corrected the same way. Activations are
 * quantized into the same interleave (values identical to the scalar path).
 *
 * Tiles of R rows x T tokens share each unpacked weight vector across the T
 * tokens. Every output's float operations are the same whatever R and T (one
 * accumulator, group order, one final reduction), so results are batch
 * invariant. */
#include "engine/kernels_impl.h"
#include "engine/kernels_tile.h"

#include <immintrin.h>
#include <stdlib.h>

#define INLINE static inline __attribute__((always_inline))

/* ================= float types ================= */

enum { F_R = 4, F_T = 6 };

/* Up to this many tokens (decode: one token per sequence of a batch) the
 * weights stream from memory once per call, so the first token tile of each
 * row tile prefetches the next one's rows (below). Longer batches dwell on
 * each row tile long enough for the hardware prefetcher. */
enum { X16_PF_TOK = 16 };

/* 16 (or the `m`-masked tail of) weights of the given float type as floats. */
INLINE __m512 load_wf(lmx_dtype type, const uint8_t *p, __mmask16 m) {
    switch (type) {
    case LMX_F32:
        return _mm512_maskz_loadu_ps(m, p);
    case LMX_F16:
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
    default:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
    }
}

/* Decode streams each weight once: with `pf`, each row prefetches the row R
 * further on (the next tile's), since short rows give the hardware prefetcher
 * too little time to lock on. Into L2 (prefetcht1): far more misses can be in
 * flight than with t0, about twice the bandwidth measured. Address arithmetic
 * is done on integers: the prefetched row may lie past the matrix (harmless). */
INLINE void prefetch(uintptr_t a) {
    _mm_prefetch((const char *)a, _MM_HINT_T1);
}

INLINE void tile_float(lmx_dtype type, int esz, const lmx_wmat *w, const float *x, size_t xs,
                       int64_t r, const int R, const int T, float *y, int64_t ldy, int pf) {
    __m512 acc[F_R][F_T];
    const uint8_t *wr[F_R];
    const float *xt[F_T];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) wr[i] = (const uint8_t *)w->data + (size_t)(r + i) * w->row_bytes;
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) xt[t] = (const float *)((const uint8_t *)x + t * xs);
    LMX_FOR_TILE(i, R, t, T) acc[i][t] = _mm512_setzero_ps();
    int64_t c = 0, n = w->cols;
    for (; c + 16 <= n; c += 16) {
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            if (pf && ((c * esz) & 63) == 0)
                prefetch((uintptr_t)wr[i] + (uintptr_t)(R * w->row_bytes) + (uintptr_t)(c * esz));
            __m512 wv = load_wf(type, wr[i] + c * esz, 0xFFFF);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                acc[i][t] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xt[t] + c), acc[i][t]);
        }
    }
    if (c < n) {
        __mmask16 m = (__mmask16)((1u << (n - c)) - 1);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m512 wv = load_wf(type, wr[i] + c * esz, m);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                acc[i][t] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, xt[t] + c), acc[i][t]);
        }
    }
    LMX_FOR_TILE(i, R, t, T) y[t * ldy + r + i] = _mm512_reduce_add_ps(acc[i][t]);
}

/* Rows [r0, r1) of a kernel in tiles of RR rows (then single rows) by tokens
 * in tiles of TT (kernels_tile.h); prefetching the next row tile when decoding
 * (the first token tile of a row tile does it for all, `pf && t == 0` in each
 * TILE). The float, BF16-dot and X16 kernels below are all this walk. */
#define ROW_TILES(RR, TT, TAILS, TILE)                                                             \
    do {                                                                                           \
        int pf = n_tok <= X16_PF_TOK;                                                              \
        int64_t r = r0;                                                                            \
        for (; r + (RR) <= r1; r += (RR)) LMX_TOK_TILES(n_tok, TT, TAILS, TILE, RR);               \
        pf = 0;                                                                                    \
        for (; r < r1; r++) LMX_TOK_TILES(n_tok, TT, TAILS, TILE, 1);                              \
    } while (0)

#define FLOAT_TILE(R, T)                                                                           \
    tile_float(ty, es, w, (const float *)(x + t * xs), xs, r, R, T, y + t * ldy, ldy, pf && t == 0)
#define FLOAT_KERN(name, type, esz)                                                                \
    static void name(const lmx_wmat *w, const void *xa, size_t xs, int n_tok, int64_t r0,          \
                     int64_t r1, float *y, int64_t ldy) {                                          \
        const uint8_t *x = xa;                                                                     \
        const lmx_dtype ty = type;                                                                 \
        const int es = esz;                                                                        \
        ROW_TILES(F_R, F_T, LMX_TAILS_5, FLOAT_TILE);                                              \
    }

FLOAT_KERN(kern_f32, LMX_F32, 4)
FLOAT_KERN(kern_bf16, LMX_BF16, 2)

static size_t xs_float(int64_t cols) {
    return (size_t)cols * sizeof(float);
}

/* ================= BF16 weights: the AVX512_BF16 dot product =================
 *
 * On CPUs with AVX512_BF16, BF16 weights multiply activations rounded to bf16
 * (round to nearest even, as llama.cpp does for BF16 weights) with vdpbf16ps:
 * 32 products per instruction instead of 16 FMAs, and half the activation
 * bytes. Each output keeps one accumulator walked over the row in 32-column
 * steps (masked tail), then one fixed horizontal sum, so results are batch
 * invariant as for the float tiles. Activations are prepared once per token:
 * cols bf16 values, zero-padded to a multiple of 32. */

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

static size_t xs_bf16(int64_t cols) {
    return (size_t)((cols + 31) / 32) * 64;
}

BF16_TARGET static void prep_bf16(const float *x, int64_t cols, void *dst) {
    uint8_t *d = dst;
    int64_t c = 0;
    for (; c + 32 <= cols; c += 32)
        _mm512_storeu_si512(
            (void *)(d + 2 * c),
            (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + c + 16), _mm512_loadu_ps(x + c)));
    if (c < cols) {
        int64_t n = cols - c;
        __mmask16 lo = (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1);
        __mmask16 hi = (__mmask16)(n > 16 ? (1u << (n - 16)) - 1 : 0);
        _mm512_storeu_si512((void *)(d + 2 * c),
                            (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + c + 16),
                                                         _mm512_maskz_loadu_ps(lo, x + c)));
    }
}

enum { B_R = 4, B_T = 6 };

BF16_TARGET INLINE void tile_bf16(const lmx_wmat *w, const uint8_t *x, size_t xs, int64_t r,
                                  const int R, const int T, float *y, int64_t ldy, int pf) {
    __m512 acc[B_R][B_T];
    const uint8_t *wr[B_R];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) wr[i] = (const uint8_t *)w->data + (size_t)(r + i) * w->row_bytes;
    LMX_FOR_TILE(i, R, t, T) acc[i][t] = _mm512_setzero_ps();
    int64_t c = 0, n = w->cols;
    for (; c + 32 <= n; c += 32) {
        __m512i xv[B_T];
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) xv[t] = _mm512_loadu_si512((const void *)(x + t * xs + 2 * c));
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            if (pf) prefetch((uintptr_t)wr[i] + (uintptr_t)(R * w->row_bytes) + (uintptr_t)(2 * c));
            __m512i wv = _mm512_loadu_si512((const void *)(wr[i] + 2 * c));
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                acc[i][t] = _mm512_dpbf16_ps(acc[i][t], (__m512bh)wv, (__m512bh)xv[t]);
        }
    }
    if (c < n) { /* the activations' padding is zero; mask the weights past the row */
        __mmask32 m = (__mmask32)(n - c >= 32 ? 0xFFFFFFFFu : (1u << (n - c)) - 1);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m512i wv = _mm512_maskz_loadu_epi16(m, wr[i] + 2 * c);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                acc[i][t] = _mm512_dpbf16_ps(
                    acc[i][t], (__m512bh)wv,
                    (__m512bh)_mm512_loadu_si512((const void *)(x + t * xs + 2 * c)));
        }
    }
    LMX_FOR_TILE(i, R, t, T) y[t * ldy + r + i] = _mm512_reduce_add_ps(acc[i][t]);
}

#define BF16_TILE(R, T) tile_bf16(w, x + t * xs, xs, r, R, T, y + t * ldy, ldy, pf && t == 0)
BF16_TARGET static void kern_bf16_dot(const lmx_wmat *w, const void *xa, size_t xs, int n_tok,
                                      int64_t r0, int64_t r1, float *y, int64_t ldy) {
    const uint8_t *x = xa;
    ROW_TILES(B_R, B_T, LMX_TAILS_5, BF16_TILE);
}

/* ================= F16 weights: column-interleaved tiles =================
 *
 * Prefill is bound by FMA throughput, and a dot-product tile (above) needs a
 * fresh activation vector for every 16 products, more than the caches feed.
 * F16 matrices are therefore repacked at init (the T16 layout, kernels_impl.h:
 * a group of 16 rows column by column, a column's 16 values side by side).
 * One vcvtph2ps gives a column of 16 outputs'
 * weights, multiplied by each token's activation broadcast from memory: a
 * tile of T16_G groups x T16_T tokens holds 16 * T16_G * T16_T outputs in
 * 24 zmm accumulators, and reads 2 bytes of weights per 12 products.
 *
 * Each output is lane r % 16 of one accumulator, summed by FMAs over the
 * columns in order from zero: the same bits whatever the tile shape, the
 * number of tokens or the rows' position (batch invariant), and the order of
 * the scalar reference (which rounds the product apart from the sum). */

enum { T16_G = 2, T16_T = 12, T16_GD = 4 /* groups per tile when decoding */ };

/* Rows [16g0, 16g0 + 16G) by T tokens; lanes outside [r0, r1) are not stored.
 * When decoding (`pf`), each group's stream is prefetched a few KiB ahead. */
INLINE void tile_t16(const lmx_wmat *w, const float *x, size_t xs, int64_t g0, const int G,
                     const int T, float *y, int64_t ldy, int64_t r0, int64_t r1, int pf) {
    __m512 acc[T16_GD][T16_T];
    const uint16_t *wg[T16_GD];
    const float *xt[T16_T];
    const int64_t n = w->cols;
#pragma GCC unroll 8
    for (int g = 0; g < G; g++) wg[g] = lmx_t16_group(w, g0 + g);
#pragma GCC unroll 16
    for (int t = 0; t < T; t++) xt[t] = (const float *)((const uint8_t *)x + t * xs);
    LMX_FOR_TILE(g, G, t, T) acc[g][t] = _mm512_setzero_ps();
    for (int64_t c = 0; c < n; c++) {
        __m512 wv[T16_GD];
#pragma GCC unroll 8
        for (int g = 0; g < G; g++) {
            if (pf && (c & 1) == 0) prefetch((uintptr_t)(wg[g] + c * 16) + 4096);
            wv[g] = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(wg[g] + c * 16)));
        }
#pragma GCC unroll 16
        for (int t = 0; t < T; t++) {
            __m512 xb = _mm512_set1_ps(xt[t][c]);
#pragma GCC unroll 8
            for (int g = 0; g < G; g++) acc[g][t] = _mm512_fmadd_ps(wv[g], xb, acc[g][t]);
        }
    }
#pragma GCC unroll 8
    for (int g = 0; g < G; g++) {
        int64_t rb = (g0 + g) * 16, lo = r0 > rb ? r0 - rb : 0, hi = r1 < rb + 16 ? r1 - rb : 16;
        __mmask16 m = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
#pragma GCC unroll 16
        for (int t = 0; t < T; t++) _mm512_mask_storeu_ps(y + t * ldy + rb, m, acc[g][t]);
    }
}

#define T16_TILE(G, T)                                                                             \
    tile_t16(w, (const float *)(x + t * xs), xs, g, G, T, y + t * ldy, ldy, r0, r1, pf)
#define T16_GROUPS(G, TT) LMX_TOK_TILES(n_tok, TT, LMX_TAILS_11, T16_TILE, G)

static void kern_f16_t16(const lmx_wmat *w, const void *xa, size_t xs, int n_tok, int64_t r0,
                         int64_t r1, float *y, int64_t ldy) {
    const uint8_t *x = xa;
    int64_t g = r0 / 16, g1 = (r1 + 15) / 16;
    if (n_tok <= T16_T * T16_G / T16_GD) { /* decoding: more groups per tile, prefetched */
        const int pf = 1;
        for (; g + T16_GD <= g1; g += T16_GD) T16_GROUPS(T16_GD, 6);
        for (; g < g1; g++) T16_GROUPS(1, 6);
        return;
    }
    const int pf = 0;
    for (; g + T16_G <= g1; g += T16_G) T16_GROUPS(T16_G, T16_T);
    for (; g < g1; g++) T16_GROUPS(1, T16_T);
}

/* ================= X16 layout (quantized types) ================= */

/* Per kind: values per sub-block ("block" of a lane), groups of 16 of them,
 * weight bytes and metadata bytes per group. A row is all its groups' weight
 * bytes, then all their metadata, padded to 64 bytes. */
typedef struct {
    int sub;    /* values per lane-block: 32, or 16 for Q6_K */
    int wbytes; /* packed weight bytes per group */
    int mbytes; /* metadata bytes per group */
    int gbk;    /* GGUF blocks per group */
} x16_kind;

static const x16_kind *kind_of(lmx_dtype t) {
    static const x16_kind q4_0 = {32, 256, 32, 16}, q8_0 = {32, 512, 32, 16},
                          q4_k = {32, 256, 40, 2}, q5_k = {32, 320, 40, 2}, q6_k = {16, 192, 18, 1};
    switch (t) {
    case LMX_Q4_0:
        return &q4_0;
    case LMX_Q8_0:
        return &q8_0;
    case LMX_Q4_K:
        return &q4_k;
    case LMX_Q5_K:
        return &q5_k;
    case LMX_Q6_K:
        return &q6_k;
    default:
        return NULL;
    }
}

static int64_t x16_groups(const lmx_wmat *w) {
    return (w->cols + 16 * kind_of(w->type)->sub - 1) / (16 * kind_of(w->type)->sub);
}
static size_t x16_stride(const lmx_wmat *w) {
    const x16_kind *k = kind_of(w->type);
    return ((size_t)x16_groups(w) * (size_t)(k->wbytes + k->mbytes) + 63) & ~(size_t)63;
}

/* Raw code of value i of a GGUF block (unsigned: nibble, 5 or 6 bits; Q8_0's
 * int8 as its byte), and its inverse. */
static int gguf_q(lmx_dtype t, const uint8_t *b, int i) {
    switch (t) {
    case LMX_Q4_0:
        return (b[2 + i % 16] >> (4 * (i / 16))) & 0xF;
    case LMX_Q8_0:
        return b[2 + i];
    case LMX_Q4_K:
    case LMX_Q5_K: {
        int j = i / 32, l = i % 32, five = t == LMX_Q5_K;
        int q = (b[(five ? 48 : 16) + 32 * (j / 2) + l] >> (4 * (j & 1))) & 0xF;
        return five ? q | ((b[16 + l] >> j) & 1) << 4 : q;
    }
    default: { /* Q6_K */
        int h = i / 128, k = i % 128;
        int lo = (b[64 * h + k % 64] >> (4 * (k / 64))) & 0xF;
        int hi = (b[128 + 32 * h + k % 32] >> (2 * (k / 32))) & 3;
        return lo | hi << 4;
    }
    }
}

static void gguf_set_q(lmx_dtype t, uint8_t *b, int i, int q) {
    switch (t) {
    case LMX_Q4_0:
        b[2 + i % 16] |= (uint8_t)(q << (4 * (i / 16)));
        break;
    case LMX_Q8_0:
        b[2 + i] = (uint8_t)q;
        break;
    case LMX_Q4_K:
    case LMX_Q5_K: {
        int j = i / 32, l = i % 32, five = t == LMX_Q5_K;
        b[(five ? 48 : 16) + 32 * (j / 2) + l] |= (uint8_t)((q & 0xF) << (4 * (j & 1)));
        if (five) b[16 + l] |= (uint8_t)(((q >> 4) & 1) << j);
        break;
    }
    default: {
        int h = i / 128, k = i % 128;
        b[64 * h + k % 64] |= (uint8_t)((q & 0xF) << (4 * (k / 64)));
        b[128 + 32 * h + k % 32] |= (uint8_t)((q >> 4) << (2 * (k / 32)));
        break;
    }
    }
}

/* Where code l of lane-block j lives in a group's packed weights, as
 * (byte, shift) of its low 4 bits (all 8 bits for Q8_0), plus (byte, bit)
 * of the high bit(s) for Q5_K/Q6_K. */
static void x16_pos(lmx_dtype t, int j, int l, int *byte, int *shift, int *hbyte, int *hshift) {
    int k = l / 4, e = l % 4, lane = j * 4 + e;
    *hbyte = *hshift = -1;
    switch (t) {
    case LMX_Q8_0:
        *byte = k * 64 + lane;
        *shift = 0;
        break;
    case LMX_Q6_K:
        *byte = (k % 2) * 64 + lane;
        *shift = 4 * (k / 2);
        *hbyte = 128 + lane;
        *hshift = 2 * k;
        break;
    default:
        *byte = (k % 4) * 64 + lane;
        *shift = 4 * (k / 4);
        if (t == LMX_Q5_K) {
            *hbyte = 256 + k * 8 + lane / 8;
            *hshift = lane % 8;
        }
        break;
    }
}

static void pack_kscales(uint8_t *q, const uint8_t *sc, const uint8_t *m) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        q[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        q[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | (m[j + 4] & 0xF) << 4);
    }
}

/* Metadata per group: Q4_0/Q8_0: f16 d[16]. Q4_K/Q5_K: u8 sc[16], u8 m[16],
 * f16 d[2], f16 dmin[2]. Q6_K: i8 sc[16], f16 d. */
static int repack_x16(lmx_wmat *w) {
    const x16_kind *k = kind_of(w->type);
    const lmx_dtype_info *in = lmx_dtype_get(w->type);
    int64_t ng = x16_groups(w), nb = w->cols / in->block_elems;
    size_t stride = x16_stride(w);
    uint8_t *dst = aligned_alloc(64, stride * (size_t)w->rows);
    if (!dst) return -1;
    memset(dst, 0, stride * (size_t)w->rows);
    /* where each (lane-block, code) goes: the same for every group, so look it up once */
    int npos = 16 * k->sub;
    int *pos = malloc(sizeof(int) * 4 * (size_t)npos);
    if (!pos) {
        free(dst);
        return -1;
    }
    for (int j = 0; j < 16; j++)
        for (int l = 0; l < k->sub; l++) {
            int *e = pos + 4 * (j * k->sub + l);
            x16_pos(w->type, j, l, &e[0], &e[1], &e[2], &e[3]);
        }
    for (int64_t r = 0; r < w->rows; r++) {
        const uint8_t *src = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
        uint8_t *row = dst + (size_t)r * stride, *meta = row + (size_t)ng * k->wbytes;
        for (int64_t g = 0; g < ng; g++) {
            uint8_t *gw = row + g * k->wbytes, *gm = meta + g * k->mbytes;
            for (int bi = 0; bi < k->gbk; bi++) {
                int64_t b = g * k->gbk + bi;
                if (b >= nb) break;
                const uint8_t *blk = src + b * in->block_bytes;
                int lanes = in->block_elems / k->sub; /* lane-blocks per GGUF block */
                for (int jj = 0; jj < lanes; jj++) {
                    int j = bi * lanes + jj;
                    for (int l = 0; l < k->sub; l++) {
                        int q = gguf_q(w->type, blk, jj * k->sub + l);
                        const int *e = pos + 4 * (j * k->sub + l);
                        int by = e[0], sh = e[1], hb = e[2], hs = e[3];
                        if (w->type == LMX_Q8_0) q ^= 0x80;
                        gw[by] |= (uint8_t)((q & (w->type == LMX_Q8_0 ? 0xFF : 0xF)) << sh);
                        if (hb >= 0) gw[hb] |= (uint8_t)((q >> 4) << hs);
                    }
                }
                switch (w->type) {
                case LMX_Q4_0:
                case LMX_Q8_0:
                    memcpy(gm + 2 * bi, blk, 2);
                    break;
                case LMX_Q4_K:
                case LMX_Q5_K:
                    for (int j = 0; j < 8; j++) {
                        int sc, m;
                        lmx_kscale(blk + 4, j, &sc, &m);
                        gm[8 * bi + j] = (uint8_t)sc;
                        gm[16 + 8 * bi + j] = (uint8_t)m;
                    }
                    memcpy(gm + 32 + 2 * bi, blk, 2);
                    memcpy(gm + 36 + 2 * bi, blk + 2, 2);
                    break;
                default:
                    memcpy(gm, blk + 192, 16);
                    memcpy(gm + 16, blk + 208, 2);
                    break;
                }
            }
        }
    }
    free(pos);
    w->owned = dst;
    w->data = dst;
    w->layout = LMX_LAYOUT_X16;
    return 0;
}

void lmx_avx512_unpack_row(const lmx_wmat *w, int64_t r, void *dstv) {
    const x16_kind *k = kind_of(w->type);
    const lmx_dtype_info *in = lmx_dtype_get(w->type);
    int64_t ng = x16_groups(w), nb = w->cols / in->block_elems;
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * x16_stride(w);
    const uint8_t *meta = row + (size_t)ng * k->wbytes;
    uint8_t *dst = dstv;
    memset(dst, 0, w->row_bytes);
    for (int64_t b = 0; b < nb; b++) {
        int64_t g = b / k->gbk;
        int bi = (int)(b % k->gbk), lanes = in->block_elems / k->sub;
        const uint8_t *gw = row + g * k->wbytes, *gm = meta + g * k->mbytes;
        uint8_t *blk = dst + b * in->block_bytes;
        for (int jj = 0; jj < lanes; jj++)
            for (int l = 0; l < k->sub; l++) {
                int by, sh, hb, hs, j = bi * lanes + jj;
                x16_pos(w->type, j, l, &by, &sh, &hb, &hs);
                int q = (gw[by] >> sh) & (w->type == LMX_Q8_0 ? 0xFF : 0xF);
                if (w->type == LMX_Q8_0) q ^= 0x80;
                if (hb >= 0) q |= ((gw[hb] >> hs) & (w->type == LMX_Q6_K ? 3 : 1)) << 4;
                gguf_set_q(w->type, blk, jj * k->sub + l, q);
            }
        switch (w->type) {
        case LMX_Q4_0:
        case LMX_Q8_0:
            memcpy(blk, gm + 2 * bi, 2);
            break;
        case LMX_Q4_K:
        case LMX_Q5_K:
            memcpy(blk, gm + 32 + 2 * bi, 2);
            memcpy(blk + 2, gm + 36 + 2 * bi, 2);
            pack_kscales(blk + 4, gm + 8 * bi, gm + 16 + 8 * bi);
            break;
        default:
            memcpy(blk + 192, gm, 16);
            memcpy(blk + 208, gm + 16, 2);
            break;
        }
    }
}

/* ---- activations in the X16 interleave ----
 * Per group: int8 qs[16 * sub] (vector k, byte 4j+e = value 4k+e of lane-block
 * j), float dx[16] (lane j's activation scale), then 16 lanes of either int32
 * corrections preloaded into the accumulator (Q4_0: -8*sum, Q8_0: -128*sum,
 * Q6_K: -32*sum) or floats dx*sum (Q4_K/Q5_K, for the min term). */
static size_t xs_x16_32(int64_t cols) {
    return (size_t)((cols + 511) / 512) * (512 + 128);
}
static size_t xs_x16_16(int64_t cols) {
    return (size_t)((cols + 255) / 256) * (256 + 128);
}

/* lmx_quant_i8 for n (a multiple of 16) values, vectorized: the same exact
 * max, the same scale arithmetic, and vcvtps2dq rounds to nearest even like
 * lrintf, so the integers and scale are bit-identical to the scalar path's. */
static float quant_i8(const float *x, int n, int8_t *q) {
    __m512 m = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
    float amax = _mm512_reduce_max_ps(m);
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    __m512 v = _mm512_set1_ps(id);
    for (int i = 0; i < n; i += 16)
        _mm_storeu_si128(
            (__m128i *)(void *)(q + i),
            _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), v))));
    return d;
}

static int sum_i8(const int8_t *q, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += q[i];
    return s;
}

/* Lane-block j's values go 4 at a time to dword k*16 + j of the group. */
static void scatter(int8_t *gq, int j, int sub, const int8_t *q) {
    for (int k = 0; k < sub / 4; k++) memcpy(gq + k * 64 + j * 4, q + 4 * k, 4);
}

static void prep_q8_x16(const float *x, int64_t cols, void *dst, int corr) {
    int64_t nb = cols / 32;
    uint8_t *p = dst;
    for (int64_t g = 0; g < (nb + 15) / 16; g++, p += 640) {
        int8_t *gq = (int8_t *)p;
        float *dx = (float *)(p + 512);
        int32_t *cv = (int32_t *)(p + 576);
        if (g * 16 + 16 > nb) memset(p, 0, 640);
        for (int j = 0; j < 16 && g * 16 + j < nb; j++) {
            int8_t q[32];
            dx[j] = quant_i8(x + (g * 16 + j) * 32, 32, q);
            cv[j] = corr * sum_i8(q, 32);
            scatter(gq, j, 32, q);
        }
    }
}
static void prep_q4_0_x16(const float *x, int64_t cols, void *dst) {
    prep_q8_x16(x, cols, dst, -8);
}
static void prep_q8_0_x16(const float *x, int64_t cols, void *dst) {
    prep_q8_x16(x, cols, dst, -128);
}

static void prep_k45_x16(const float *x, int64_t cols, void *dst) {
    int64_t ns = cols / 256;
    uint8_t *p = dst;
    for (int64_t g = 0; g < (ns + 1) / 2; g++, p += 640) {
        int8_t *gq = (int8_t *)p;
        float *dx = (float *)(p + 512), *xb = (float *)(p + 576);
        if (g * 2 + 2 > ns) memset(p, 0, 640);
        for (int s = 0; s < 2 && g * 2 + s < ns; s++) {
            int8_t q[256];
            float d = quant_i8(x + (g * 2 + s) * 256, 256, q);
            for (int jj = 0; jj < 8; jj++) {
                int j = 8 * s + jj;
                dx[j] = d;
                xb[j] = d * (float)sum_i8(q + 32 * jj, 32);
                scatter(gq, j, 32, q + 32 * jj);
            }
        }
    }
}

static void prep_q6_k_x16(const float *x, int64_t cols, void *dst) {
    uint8_t *p = dst;
    for (int64_t g = 0; g < cols / 256; g++, p += 384) {
        int8_t *gq = (int8_t *)p, q[256];
        float *dx = (float *)(p + 256);
        int32_t *cv = (int32_t *)(p + 320);
        float d = quant_i8(x + g * 256, 256, q);
        for (int j = 0; j < 16; j++) {
            dx[j] = d;
            cv[j] = -32 * sum_i8(q + 16 * j, 16);
            scatter(gq, j, 16, q + 16 * j);
        }
    }
}

/* ---- the X16 tile ---- */

enum { Q_R = 4, Q_T = 3 };

/* Row i's T token accumulators += a pair of unpacked weight vectors (the low
 * and the high nibbles' codes) times activation vectors klo and khi of each
 * token's group at xg0. */
INLINE void dot_lo_hi(__m512i I[][Q_T], int i, const int T, __m512i lo, __m512i hi,
                      const uint8_t *xg0, size_t xs, int klo, int khi) {
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        I[i][t] = _mm512_dpbusd_epi32(I[i][t], lo, _mm512_load_si512(xg0 + t * xs + 64 * klo));
        I[i][t] = _mm512_dpbusd_epi32(I[i][t], hi, _mm512_load_si512(xg0 + t * xs + 64 * khi));
    }
}

INLINE void tile_x16(lmx_dtype type, const lmx_wmat *w, const uint8_t *xa, size_t xs, int64_t r,
                     const int R, const int T, float *y, int64_t ldy, int pf) {
    const x16_kind *kd = kind_of(type);
    const int q6 = type == LMX_Q6_K, kq = type == LMX_Q4_K || type == LMX_Q5_K;
    const int xg = q6 ? 384 : 640, xqb = q6 ? 256 : 512; /* activation bytes per group */
    int64_t ng = x16_groups(w);
    size_t stride = x16_stride(w);
    const uint8_t *wr[Q_R];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) wr[i] = (const uint8_t *)w->data + (size_t)(r + i) * stride;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30),
                  b16 = _mm512_set1_epi8(16);
    __m512 acc[Q_R][Q_T];
    LMX_FOR_TILE(i, R, t, T) acc[i][t] = _mm512_setzero_ps();

    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *xg0 = xa + g * xg;
        if (pf) {
#pragma GCC unroll 8
            for (int i = 0; i < R; i++) {
                uintptr_t nx = (uintptr_t)wr[i] + (uintptr_t)R * stride;
                for (int o = 0; o < kd->wbytes; o += 64)
                    prefetch(nx + (uintptr_t)(g * kd->wbytes + o));
                prefetch(nx + (uintptr_t)(ng * kd->wbytes + g * kd->mbytes));
            }
        }
        __m512i I[Q_R][Q_T];
        LMX_FOR_TILE(i, R, t, T) {
            I[i][t] = kq ? _mm512_setzero_si512() : _mm512_load_si512(xg0 + t * xs + xqb + 64);
        }
        if (type == LMX_Q8_0) {
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++)
#pragma GCC unroll 8
                for (int i = 0; i < R; i++) {
                    __m512i wv = _mm512_load_si512(wr[i] + g * 512 + 64 * k);
#pragma GCC unroll 8
                    for (int t = 0; t < T; t++)
                        I[i][t] = _mm512_dpbusd_epi32(I[i][t], wv,
                                                      _mm512_load_si512(xg0 + t * xs + 64 * k));
                }
        } else if (q6) {
#pragma GCC unroll 8
            for (int k = 0; k < 2; k++)
#pragma GCC unroll 8
                for (int i = 0; i < R; i++) {
                    const uint8_t *gw = wr[i] + g * 192;
                    __m512i p = _mm512_load_si512(gw + 64 * k), h = _mm512_load_si512(gw + 128);
                    /* value = low nibble | 2 high bits << 4 */
                    __m512i lo = _mm512_ternarylogic_epi32(
                        _mm512_and_si512(p, m4), _mm512_slli_epi16(h, 4 - 2 * k), m30, 0xF8);
                    __m512i hi =
                        _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(p, 4), m4),
                                                  k ? _mm512_srli_epi16(h, 2) : h, m30, 0xF8);
                    dot_lo_hi(I, i, T, lo, hi, xg0, xs, k, k + 2);
                }
        } else {
#pragma GCC unroll 8
            for (int k = 0; k < 4; k++)
#pragma GCC unroll 8
                for (int i = 0; i < R; i++) {
                    const uint8_t *gw = wr[i] + g * kd->wbytes;
                    __m512i p = _mm512_load_si512(gw + 64 * k);
                    __m512i lo = _mm512_and_si512(p, m4);
                    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(p, 4), m4);
                    if (type == LMX_Q5_K) {
                        uint64_t hl, hh;
                        memcpy(&hl, gw + 256 + 8 * k, 8);
                        memcpy(&hh, gw + 256 + 8 * (k + 4), 8);
                        lo = _mm512_mask_add_epi8(lo, (__mmask64)hl, lo, b16);
                        hi = _mm512_mask_add_epi8(hi, (__mmask64)hh, hi, b16);
                    }
                    dot_lo_hi(I, i, T, lo, hi, xg0, xs, k, k + 4);
                }
        }
        /* Scale: per lane, weight scale (times sub-block scale) x activation
         * scale; K types subtract dmin*m x (dx*sum). */
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            const uint8_t *gm = wr[i] + ng * kd->wbytes + g * kd->mbytes;
            __m512 ws, wm = _mm512_setzero_ps();
            if (kq) {
                __m128i dd = _mm_cvtsi64_si128(0);
                memcpy(&dd, gm + 32, 8);
                __m512 d4 = _mm512_castps128_ps512(_mm_cvtph_ps(dd));
                const __m512i i0 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
                const __m512i i2 = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
                ws = _mm512_mul_ps(
                    _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)gm))),
                    _mm512_permutexvar_ps(i0, d4));
                wm = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                                       _mm_loadu_si128((const void *)(gm + 16)))),
                                   _mm512_permutexvar_ps(i2, d4));
            } else if (q6) {
                uint16_t dh;
                memcpy(&dh, gm + 16, 2);
                ws = _mm512_mul_ps(
                    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const void *)gm))),
                    _mm512_set1_ps(_cvtsh_ss(dh)));
            } else {
                ws = _mm512_cvtph_ps(_mm256_loadu_si256((const void *)gm));
            }
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const float *dx = (const float *)(xg0 + t * xs + xqb);
                acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(I[i][t]),
                                            _mm512_mul_ps(ws, _mm512_load_ps(dx)), acc[i][t]);
                if (kq) acc[i][t] = _mm512_fnmadd_ps(wm, _mm512_load_ps(dx + 16), acc[i][t]);
            }
        }
    }
    LMX_FOR_TILE(i, R, t, T) y[t * ldy + r + i] = _mm512_reduce_add_ps(acc[i][t]);
}

#define X16_TILE(R, T) tile_x16(ty, w, x + t * xs, xs, r, R, T, y + t * ldy, ldy, pf && t == 0)
#define X16_KERN(name, type)                                                                       \
    static void name(const lmx_wmat *w, const void *xa, size_t xs, int n_tok, int64_t r0,          \
                     int64_t r1, float *y, int64_t ldy) {                                          \
        const uint8_t *x = xa;                                                                     \
        const lmx_dtype ty = type;                                                                 \
        ROW_TILES(Q_R, Q_T, LMX_TAILS_2, X16_TILE);                                                \
    }

X16_KERN(kern_q4_0, LMX_Q4_0)
X16_KERN(kern_q8_0, LMX_Q8_0)
X16_KERN(kern_q4_k, LMX_Q4_K)
X16_KERN(kern_q5_k, LMX_Q5_K)
X16_KERN(kern_q6_k, LMX_Q6_K)

static const lmx_kern_entry e_f32 = {kern_f32, NULL, xs_float, LMX_LAYOUT_GGUF, NULL};
static const lmx_kern_entry e_f16 = {kern_f16_t16, NULL, xs_float, LMX_LAYOUT_T16, lmx_repack_t16};
static const lmx_kern_entry e_bf16 = {kern_bf16, NULL, xs_float, LMX_LAYOUT_GGUF, NULL};
static const lmx_kern_entry e_q4_0 = {kern_q4_0, prep_q4_0_x16, xs_x16_32, LMX_LAYOUT_X16,
                                      repack_x16};
static const lmx_kern_entry e_q8_0 = {kern_q8_0, prep_q8_0_x16, xs_x16_32, LMX_LAYOUT_X16,
                                      repack_x16};
static const lmx_kern_entry e_q4_k = {kern_q4_k, prep_k45_x16, xs_x16_32, LMX_LAYOUT_X16,
                                      repack_x16};
static const lmx_kern_entry e_q5_k = {kern_q5_k, prep_k45_x16, xs_x16_32, LMX_LAYOUT_X16,
                                      repack_x16};
static const lmx_kern_entry e_q6_k = {kern_q6_k, prep_q6_k_x16, xs_x16_16, LMX_LAYOUT_X16,
                                      repack_x16};

static const lmx_kern_entry *const table[LMX_DTYPE_MAX] = {
    [LMX_F32] = &e_f32,   [LMX_F16] = &e_f16,   [LMX_BF16] = &e_bf16, [LMX_Q4_0] = &e_q4_0,
    [LMX_Q8_0] = &e_q8_0, [LMX_Q4_K] = &e_q4_k, [LMX_Q5_K] = &e_q5_k, [LMX_Q6_K] = &e_q6_k,
};

static const lmx_kern_entry e_bf16_dot = {kern_bf16_dot, prep_bf16, xs_bf16, LMX_LAYOUT_GGUF, NULL};

int lmx_avx512_bf16_dot(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

const lmx_kern_entry *lmx_kern_avx512(lmx_dtype t) {
    if (t == LMX_BF16 && lmx_avx512_bf16_dot()) return &e_bf16_dot;
    return lmx_kern_lookup(table, t);
}
