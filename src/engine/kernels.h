/* Matrix kernels: weight-matrix × activations for every supported weight type,
 * with a portable scalar reference path and AVX2 / AVX-512 paths chosen at run
 * time (LMX_ISA=scalar|avx2|avx512 forces one).
 *
 * Semantics (what every ISA computes, and what the scalar path defines):
 *  - F32 / F16 / BF16 weights: float dot products of the row (converted to
 *    float) with the float activations (BF16 with AVX512_BF16: with the
 *    activations rounded to bf16, lmx_kern_bf16_dot).
 *  - Q4_0 / Q8_0 weights: activations are first quantized per 32 values to
 *    8 bits (like ggml's q8_0), then integer block dots scaled by both scales.
 *  - Q4_K / Q5_K / Q6_K weights: activations quantized per 256 values (like
 *    ggml's q8_K, with per-16 sums), then integer sub-block dots.
 *
 * Batch invariance: y[t][r] depends only on row r and x[t], with a fixed
 * reduction order — the same bits whether n_tok is 1 or 100, whichever tile or
 * thread computes it. The server relies on this: batching never changes an
 * answer. */
#ifndef LMX_KERNELS_H
#define LMX_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"
#include "engine/threads.h"

typedef enum { LMX_ISA_SCALAR = 0, LMX_ISA_AVX2 = 1, LMX_ISA_AVX512 = 2 } lmx_isa;

/* The ISA in use. Chosen once from CPUID and LMX_ISA; lmx_isa_set overrides it
 * (tests use it to run every path). Returns -1 if the CPU lacks it. */
lmx_isa lmx_isa_current(void);
const char *lmx_isa_name(lmx_isa isa);
int lmx_isa_set(lmx_isa isa);
int lmx_isa_supported(lmx_isa isa);

/* 1 when BF16 weights, with the current ISA, go through the AVX512_BF16 dot
 * product (ISA avx512 on a CPU that has it): their activations are then
 * rounded to bf16 first (as llama.cpp does for BF16 weights), the one float
 * type whose results differ from the scalar path by more than summation order. */
int lmx_kern_bf16_dot(void);

/* A weight matrix of `rows` outputs by `cols` inputs, row-major as in GGUF
 * (ggml's ne[0] = cols). lmx_wmat_init may repack into a kernel-friendly
 * layout, in which case it owns that copy and the original may be released. */
typedef struct {
    lmx_dtype type;
    int64_t rows, cols;
    const void *data; /* rows * row_bytes, GGUF layout (or repacked) */
    size_t row_bytes;
    void *owned; /* repacked copy, freed by lmx_wmat_free */
    int layout;  /* 0: GGUF layout; others private to kernels */
} lmx_wmat;

int lmx_wmat_init(lmx_wmat *w, lmx_dtype type, int64_t rows, int64_t cols, const void *data);
void lmx_wmat_free(lmx_wmat *w);

/* y[t*ldy + r] = sum_c W[r][c] * x[t*cols + c] for t < n_tok, r < rows.
 * Parallel over the pool. Scratch for quantized activations comes from
 * `scratch` (at least lmx_matmul_scratch(W->type, W->cols, n_tok) bytes). */
size_t lmx_matmul_scratch(lmx_dtype type, int64_t cols, int n_tok);
void lmx_matmul(const lmx_wmat *w, const float *x, int n_tok, float *y, int64_t ldy, void *scratch,
                lmx_pool *pool);

/* Row r of W as floats (embedding lookup). */
void lmx_wmat_get_row(const lmx_wmat *w, int64_t r, float *dst);
/* Dequantize n values (a whole number of blocks) of `type` at src. */
void lmx_dequant(lmx_dtype type, const void *src, float *dst, int64_t n);

/* Half precision conversions (IEEE binary16 and bfloat16). */
float lmx_f16_to_f32(uint16_t h);
uint16_t lmx_f32_to_f16(float f);
float lmx_bf16_to_f32(uint16_t h);

#endif
