/* Internal interface between the kernel dispatcher (kernels.c) and the
 * per-ISA kernel files (kernels_scalar.c, kernels_avx2.c, kernels_avx512.c).
 *
 * Each ISA offers, per weight type, an entry: how to prepare (quantize) one
 * token's activations into scratch, and a kernel that computes a block of rows
 * for a block of tokens. Matrices may be repacked at init into a layout private
 * to one ISA; the entry says which layout its kernel reads. The block-level
 * helpers below are plain C shared by every ISA, so all of them quantize
 * activations to the very same integers and scales. */
#ifndef LMX_KERNELS_IMPL_H
#define LMX_KERNELS_IMPL_H

#include <math.h>
#include <string.h>

#include "engine/kernels.h"

enum { LMX_LAYOUT_GGUF = 0, LMX_LAYOUT_X16 = 1, LMX_LAYOUT_T16 = 2 };

/* Kernels are called with at most this many tokens at once (lmx_matmul walks
 * longer batches in blocks of it, keeping their activations in L2). */
#define LMX_TOK_BLOCK 64

/* y[t*ldy + r] for r in [r0, r1), t < n_tok; token t's prepared activations
 * are at xa + t*xstride (the float activations themselves for float types). */
typedef void (*lmx_kern_fn)(const lmx_wmat *w, const void *xa, size_t xstride, int n_tok,
                            int64_t r0, int64_t r1, float *y, int64_t ldy);
/* Prepare one token of `cols` activations at dst (xstride bytes). */
typedef void (*lmx_prep_fn)(const float *x, int64_t cols, void *dst);

typedef struct {
    lmx_kern_fn kern;
    lmx_prep_fn prep;                /* NULL: activations used as floats */
    size_t (*xstride)(int64_t cols); /* bytes per prepared token */
    int layout;                      /* weight layout the kernel reads */
    int (*repack)(lmx_wmat *w);      /* GGUF -> layout; NULL if layout 0 */
} lmx_kern_entry;

/* The GGUF-layout activation preparation (kernels_scalar.c), shared by the
 * scalar and AVX2 kernels. */
void lmx_prep_xq8(const float *x, int64_t cols, void *dst);
void lmx_prep_xq8k(const float *x, int64_t cols, void *dst);
size_t lmx_xs_float(int64_t cols);
size_t lmx_xs_xq8(int64_t cols);
size_t lmx_xs_xq8k(int64_t cols);

/* A kernel that computes every output as one per-row dot product, rows outer
 * and tokens inner (the scalar and AVX2 paths; AVX-512 has its own tiles). */
#define LMX_ROWDOT_KERN(name, dotfn)                                                               \
    static void name(const lmx_wmat *w, const void *xa, size_t xstride, int n_tok, int64_t r0,     \
                     int64_t r1, float *y, int64_t ldy) {                                          \
        for (int64_t r = r0; r < r1; r++) {                                                        \
            const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_bytes;              \
            for (int t = 0; t < n_tok; t++)                                                        \
                y[t * ldy + r] = dotfn(row, (const uint8_t *)xa + t * xstride, w->cols);           \
        }                                                                                          \
    }

/* The T16 layout of F16 matrices (AVX2 and AVX-512 kernels): rows in groups
 * of 16 (the last zero-padded), each group column by column, the 16 rows'
 * values of one column side by side (32 bytes). Kernels read a column of 16
 * outputs' weights with one load and broadcast the activation. */
int lmx_repack_t16(lmx_wmat *w);
static inline const uint16_t *lmx_t16_group(const lmx_wmat *w, int64_t g) {
    return (const uint16_t *)w->data + (size_t)g * (size_t)w->cols * 16;
}

/* Each ISA keeps its kernels in a table indexed by type (NULL: none). */
static inline const lmx_kern_entry *lmx_kern_lookup(const lmx_kern_entry *const *table,
                                                    lmx_dtype t) {
    return (unsigned)t < LMX_DTYPE_MAX ? table[t] : NULL;
}

/* The whole kernel table of a row-dot ISA (scalar, AVX2): one kernel per
 * type over the file's dot_f32 ... dot_q6_k (Q4_K and Q5_K through its
 * dot_qk45(w, xa, cols, five, block bytes)), the activation preparation (the
 * scalar path's: identical integers), and `lookup`, the ISA's entry. F16 is
 * the caller's entry `e_f16` (AVX2 tiles it over its own layout). */
#define LMX_ROWDOT_ISA(lookup, e_f16)                                                              \
    static float dot_q4_k(const uint8_t *w, const void *xa, int64_t cols) {                        \
        return dot_qk45(w, xa, cols, 0, Q4_K_BYTES);                                               \
    }                                                                                              \
    static float dot_q5_k(const uint8_t *w, const void *xa, int64_t cols) {                        \
        return dot_qk45(w, xa, cols, 1, Q5_K_BYTES);                                               \
    }                                                                                              \
    LMX_ROWDOT_KERN(kern_f32, dot_f32)                                                             \
    LMX_ROWDOT_KERN(kern_bf16, dot_bf16)                                                           \
    LMX_ROWDOT_KERN(kern_q4_0, dot_q4_0)                                                           \
    LMX_ROWDOT_KERN(kern_q8_0, dot_q8_0)                                                           \
    LMX_ROWDOT_KERN(kern_q4_k, dot_q4_k)                                                           \
    LMX_ROWDOT_KERN(kern_q5_k, dot_q5_k)                                                           \
    LMX_ROWDOT_KERN(kern_q6_k, dot_q6_k)                                                           \
    static const lmx_kern_entry e_f32 = {kern_f32, NULL, lmx_xs_float, 0, NULL};                   \
    static const lmx_kern_entry e_bf16 = {kern_bf16, NULL, lmx_xs_float, 0, NULL};                 \
    static const lmx_kern_entry e_q4_0 = {kern_q4_0, lmx_prep_xq8, lmx_xs_xq8, 0, NULL};           \
    static const lmx_kern_entry e_q8_0 = {kern_q8_0, lmx_prep_xq8, lmx_xs_xq8, 0, NULL};           \
    static const lmx_kern_entry e_q4_k = {kern_q4_k, lmx_prep_xq8k, lmx_xs_xq8k, 0, NULL};         \
    static const lmx_kern_entry e_q5_k = {kern_q5_k, lmx_prep_xq8k, lmx_xs_xq8k, 0, NULL};         \
    static const lmx_kern_entry e_q6_k = {kern_q6_k, lmx_prep_xq8k, lmx_xs_xq8k, 0, NULL};         \
    static const lmx_kern_entry *const table[LMX_DTYPE_MAX] = {                                    \
        [LMX_F32] = &e_f32,   [LMX_F16] = &e_f16,   [LMX_BF16] = &e_bf16, [LMX_Q4_0] = &e_q4_0,    \
        [LMX_Q8_0] = &e_q8_0, [LMX_Q4_K] = &e_q4_k, [LMX_Q5_K] = &e_q5_k, [LMX_Q6_K] = &e_q6_k,    \
    };                                                                                             \
    const lmx_kern_entry *lookup(lmx_dtype t) {                                                    \
        return lmx_kern_lookup(table, t);                                                          \
    }

/* NULL where the ISA has no kernel for the type. */
const lmx_kern_entry *lmx_kern_scalar(lmx_dtype t);
const lmx_kern_entry *lmx_kern_avx2(lmx_dtype t);
const lmx_kern_entry *lmx_kern_avx512(lmx_dtype t);
/* Whether the AVX-512 path takes BF16 weights with the AVX512_BF16 dot
 * product (the CPU has it). */
int lmx_avx512_bf16_dot(void);
/* Row r of a matrix in the AVX-512 X16 layout, back to GGUF blocks at dst. */
void lmx_avx512_unpack_row(const lmx_wmat *w, int64_t r, void *dst);

/* ---- GGUF block layouts ---- */
enum { QK = 32, QKK = 256 };
#define Q4_0_BYTES 18  /* f16 d, 16 bytes: low nibbles elems 0..15, high 16..31 */
#define Q8_0_BYTES 34  /* f16 d, 32 int8 */
#define Q4_K_BYTES 144 /* f16 d, f16 dmin, 12 bytes 6-bit scales/mins, 128 nibbles */
#define Q5_K_BYTES 176 /* as Q4_K plus 32 bytes of 5th bits before the nibbles */
#define Q6_K_BYTES 210 /* 128 ql, 64 qh, 16 int8 scales, f16 d */

static inline uint16_t lmx_rd16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* Scale and min (6 bits each) of sub-block j < 8 from Q4_K/Q5_K packed bytes. */
static inline void lmx_kscale(const uint8_t *q, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* ---- activation quantization, shared by all ISAs ---- */

/* n values to int8 with d = amax/127, q = round-to-nearest-even(x/d).
 * Returns d; *sum = sum of q. */
static inline float lmx_quant_i8(const float *x, int n, int8_t *q, int *sum) {
    float amax = 0;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        amax = a > amax ? a : amax;
    }
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    int s = 0;
    for (int i = 0; i < n; i++) {
        q[i] = (int8_t)lrintf(x[i] * id);
        s += q[i];
    }
    *sum = s;
    return d;
}

/* GGUF-layout activations for Q4_0/Q8_0 (per 32) and the K types (per 256). */
typedef struct {
    float d;
    int32_t sum;
    int8_t qs[QK];
} lmx_xq8;
typedef struct {
    float d;
    int16_t bsums[16]; /* per 16 values */
    int8_t qs[QKK];
} lmx_xq8k;

static inline void lmx_quant_xq8k(const float *x, lmx_xq8k *b) {
    int s;
    b->d = lmx_quant_i8(x, QKK, b->qs, &s);
    for (int j = 0; j < 16; j++) {
        int t = 0;
        for (int i = 0; i < 16; i++) t += b->qs[16 * j + i];
        b->bsums[j] = (int16_t)t;
    }
}

#endif
