/* TEMPORARY stand-ins until the kernels and tokenizer branches merge. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "engine/model.h"

float lmx_f16_to_f32(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, u;
    if (e == 0) {
        float f = (float)m / 1024.0f / 16384.0f;
        return s ? -f : f;
    }
    if (e == 31) u = s | 0x7f800000u | (m << 13);
    else u = s | ((e + 112) << 23) | (m << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
uint16_t lmx_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, mant = x & 0x7fffff;
    int32_t e = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        mant |= 0x800000;
        int shift = 14 - e;
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}
float lmx_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
int lmx_wmat_init(lmx_wmat *w, lmx_dtype type, int64_t rows, int64_t cols, const void *data) {
    memset(w, 0, sizeof *w);
    w->type = type, w->rows = rows, w->cols = cols, w->data = data;
    w->row_bytes = lmx_dtype_row_bytes(type, cols);
    return 0;
}
void lmx_wmat_free(lmx_wmat *w) { (void)w; }
void lmx_dequant(lmx_dtype type, const void *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (type == LMX_F32) dst[i] = ((const float *)src)[i];
        else if (type == LMX_F16) dst[i] = lmx_f16_to_f32(((const uint16_t *)src)[i]);
        else if (type == LMX_BF16) dst[i] = lmx_bf16_to_f32(((const uint16_t *)src)[i]);
        else dst[i] = 0;
    }
}
void lmx_wmat_get_row(const lmx_wmat *w, int64_t r, float *dst) {
    lmx_dequant(w->type, (const char *)w->data + r * w->row_bytes, dst, w->cols);
}
size_t lmx_matmul_scratch(lmx_dtype type, int64_t cols, int n_tok) {
    (void)type, (void)cols, (void)n_tok;
    return 0;
}
void lmx_matmul(const lmx_wmat *w, const float *x, int n_tok, float *y, int64_t ldy, void *scratch,
                lmx_pool *pool) {
    (void)scratch, (void)pool;
    float *row = malloc(sizeof(float) * (size_t)w->cols);
    for (int64_t r = 0; r < w->rows; r++) {
        lmx_wmat_get_row(w, r, row);
        for (int t = 0; t < n_tok; t++) {
            float s = 0;
            for (int64_t c = 0; c < w->cols; c++) s += row[c] * x[t * w->cols + c];
            y[t * ldy + r] = s;
        }
    }
    free(row);
}
lmx_isa lmx_isa_current(void) { return LMX_ISA_SCALAR; }
const char *lmx_isa_name(lmx_isa isa) { return isa == 0 ? "scalar" : isa == 1 ? "avx2" : "avx512"; }
int lmx_isa_set(lmx_isa isa) { return isa == 0 ? 0 : -1; }
int lmx_isa_supported(lmx_isa isa) { return isa == 0; }
