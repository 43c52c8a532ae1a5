/* Portable reference kernels: one output at a time, in the plainest order.
 * These define what every ISA computes (see kernels.h); the SIMD paths differ
 * from them only in the order of float additions. */
#include "engine/kernels_impl.h"

size_t lmx_xs_float(int64_t cols) {
    return (size_t)cols * sizeof(float);
}
size_t lmx_xs_xq8(int64_t cols) {
    return (size_t)(cols / QK) * sizeof(lmx_xq8);
}
size_t lmx_xs_xq8k(int64_t cols) {
    return (size_t)(cols / QKK) * sizeof(lmx_xq8k);
}

void lmx_prep_xq8(const float *x, int64_t cols, void *dst) {
    lmx_xq8 *b = dst;
    for (int64_t i = 0; i < cols / QK; i++)
        b[i].d = lmx_quant_i8(x + i * QK, QK, b[i].qs, &b[i].sum);
}

void lmx_prep_xq8k(const float *x, int64_t cols, void *dst) {
    lmx_xq8k *b = dst;
    for (int64_t i = 0; i < cols / QKK; i++) lmx_quant_xq8k(x + i * QKK, &b[i]);
}

/* One row (GGUF bytes) dotted with one token's prepared activations. */
typedef float (*row_dot_fn)(const uint8_t *w, const void *xa, int64_t cols);

static float dot_f32(const uint8_t *w, const void *xa, int64_t cols) {
    const float *x = xa;
    float s = 0;
    for (int64_t i = 0; i < cols; i++) {
        float v;
        memcpy(&v, w + 4 * i, 4);
        s += v * x[i];
    }
    return s;
}

static float dot_f16(const uint8_t *w, const void *xa, int64_t cols) {
    const float *x = xa;
    float s = 0;
    for (int64_t i = 0; i < cols; i++) s += lmx_f16_to_f32(lmx_rd16(w + 2 * i)) * x[i];
    return s;
}

static float dot_bf16(const uint8_t *w, const void *xa, int64_t cols) {
    const float *x = xa;
    float s = 0;
    for (int64_t i = 0; i < cols; i++) s += lmx_bf16_to_f32(lmx_rd16(w + 2 * i)) * x[i];
    return s;
}

/* Q4_0 / Q8_0: per block of 32, the integer dot of the codes (Q4_0: nibble
 * i % 16, low nibbles first, less 8; Q8_0: int8) with x, times d * dx. */
static float dot_q_0(const uint8_t *w, const void *xa, int64_t cols, int four) {
    const lmx_xq8 *x = xa;
    float s = 0;
    for (int64_t b = 0; b < cols / QK; b++, w += four ? Q4_0_BYTES : Q8_0_BYTES) {
        int is = 0;
        for (int i = 0; i < QK; i++) {
            int q = four ? ((w[2 + i % 16] >> (4 * (i / 16))) & 0xF) - 8 : (int8_t)w[2 + i];
            is += q * x[b].qs[i];
        }
        s += lmx_f16_to_f32(lmx_rd16(w)) * x[b].d * (float)is;
    }
    return s;
}
static float dot_q4_0(const uint8_t *w, const void *xa, int64_t cols) {
    return dot_q_0(w, xa, cols, 1);
}
static float dot_q8_0(const uint8_t *w, const void *xa, int64_t cols) {
    return dot_q_0(w, xa, cols, 0);
}

/* Q4_K / Q5_K: per superblock, isum = sum_j sc_j * dot_j and msum = sum_j m_j
 * * xsum_j (integers), then s += dx*d*isum - dx*dmin*msum. */
static float dot_qk45(const uint8_t *w, const void *xa, int64_t cols, int five, int bytes) {
    const lmx_xq8k *x = xa;
    float s = 0;
    for (int64_t b = 0; b < cols / QKK; b++, w += bytes) {
        const uint8_t *qh = w + 16, *qs = w + (five ? 48 : 16);
        int isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m, dot = 0;
            lmx_kscale(w + 4, j, &sc, &m);
            for (int l = 0; l < 32; l++) {
                int q = (qs[32 * (j / 2) + l] >> (4 * (j & 1))) & 0xF;
                if (five) q |= ((qh[l] >> j) & 1) << 4;
                dot += q * x[b].qs[32 * j + l];
            }
            isum += sc * dot;
            msum += m * (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]);
        }
        float d = lmx_f16_to_f32(lmx_rd16(w)), dmin = lmx_f16_to_f32(lmx_rd16(w + 2));
        s += x[b].d * d * (float)isum - x[b].d * dmin * (float)msum;
    }
    return s;
}

/* Q6_K: isum = sum_j sc_j * sum_i (q_i - 32) x_i over 16 sub-blocks of 16. */
static float dot_q6_k(const uint8_t *w, const void *xa, int64_t cols) {
    const lmx_xq8k *x = xa;
    float s = 0;
    for (int64_t b = 0; b < cols / QKK; b++, w += Q6_K_BYTES) {
        const uint8_t *ql = w, *qh = w + 128;
        const int8_t *sc = (const int8_t *)(w + 192);
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int dot = 0;
            for (int l = 0; l < 16; l++) {
                int i = 16 * j + l, h = i / 128, k = i % 128;
                int lo = (ql[64 * h + k % 64] >> (4 * (k / 64))) & 0xF;
                int hi = (qh[32 * h + k % 32] >> (2 * (k / 32))) & 3;
                dot += ((lo | hi << 4) - 32) * x[b].qs[i];
            }
            isum += sc[j] * dot;
        }
        s += x[b].d * lmx_f16_to_f32(lmx_rd16(w + 208)) * (float)isum;
    }
    return s;
}

LMX_ROWDOT_KERN(kern_f16, dot_f16)
static const lmx_kern_entry e_f16 = {kern_f16, NULL, lmx_xs_float, 0, NULL};

LMX_ROWDOT_ISA(lmx_kern_scalar, e_f16)
