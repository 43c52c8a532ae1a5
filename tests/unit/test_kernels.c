/* Tests of the matrix kernels: block layouts (hand-built blocks), half
 * conversions, every ISA against the scalar reference, and batch invariance
 * (same bits whatever the batch size, tiling or thread split). */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels.h"

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rndf(void) {
    return (float)(rnd() % 20001) / 10000.0f - 1.0f;
} /* [-1, 1] */

static void put16(uint8_t *p, uint16_t v) {
    memcpy(p, &v, 2);
}

static const lmx_dtype all_types[] = {LMX_F32,  LMX_F16,  LMX_BF16, LMX_Q4_0,
                                      LMX_Q8_0, LMX_Q4_K, LMX_Q5_K, LMX_Q6_K};
#define N_TYPES ((int)(sizeof all_types / sizeof all_types[0]))

/* Random but valid weights: random quant bits, sane scales. */
static uint8_t *rand_weights(lmx_dtype t, int64_t rows, int64_t cols) {
    size_t rb = lmx_dtype_row_bytes(t, cols), n = rb * (size_t)rows;
    uint8_t *w = malloc(n);
    for (size_t i = 0; i < n; i++) w[i] = (uint8_t)rnd();
    if (t == LMX_F32)
        for (size_t i = 0; i < n / 4; i++) {
            float f = rndf();
            memcpy(w + 4 * i, &f, 4);
        }
    if (t == LMX_F16)
        for (size_t i = 0; i < n / 2; i++) put16(w + 2 * i, lmx_f32_to_f16(rndf()));
    if (t == LMX_BF16)
        for (size_t i = 0; i < n / 2; i++) {
            float f = rndf();
            uint32_t u;
            memcpy(&u, &f, 4);
            put16(w + 2 * i, (uint16_t)(u >> 16));
        }
    const lmx_dtype_info *in = lmx_dtype_get(t);
    size_t nb = n / (size_t)in->block_bytes;
    for (size_t b = 0; b < nb; b++) {
        uint8_t *p = w + b * (size_t)in->block_bytes;
        switch (t) {
        case LMX_Q4_0:
        case LMX_Q8_0:
            put16(p, lmx_f32_to_f16(rndf() * 0.1f));
            break;
        case LMX_Q4_K:
        case LMX_Q5_K:
            put16(p, lmx_f32_to_f16(rndf() * 0.01f));
            put16(p + 2, lmx_f32_to_f16(rndf() * 0.01f));
            break;
        case LMX_Q6_K:
            put16(p + 208, lmx_f32_to_f16(rndf() * 0.01f));
            break;
        default:
            break;
        }
    }
    return w;
}

/* ---- half conversions ---- */

TEST(kernels_f16_conversions_exact_and_round_to_nearest_even) {
    CHECK_EQ_INT(lmx_f32_to_f16(1.0f), 0x3C00);
    CHECK_EQ_INT(lmx_f32_to_f16(-2.0f), 0xC000);
    CHECK_EQ_INT(lmx_f32_to_f16(65504.0f), 0x7BFF);
    CHECK_EQ_INT(lmx_f32_to_f16(1e6f), 0x7C00);
    CHECK_EQ_INT(lmx_f32_to_f16(5.9604645e-8f), 0x0001);      /* 2^-24 */
    CHECK_EQ_INT(lmx_f32_to_f16(2.9802322e-8f), 0x0000);      /* 2^-25: tie to even 0 */
    CHECK_EQ_INT(lmx_f32_to_f16(1.0f + 1.0f / 2048), 0x3C00); /* tie -> even */
    CHECK_EQ_INT(lmx_f32_to_f16(1.0f + 3.0f / 2048), 0x3C02); /* tie -> even (up) */
    CHECK(lmx_f16_to_f32(0x7C00) == INFINITY);
    CHECK(isnan(lmx_f16_to_f32(0x7E00)));
    CHECK(lmx_f16_to_f32(0x0001) == 5.9604645e-8f);
    CHECK(lmx_bf16_to_f32(0x3F80) == 1.0f);
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue; /* NaN */
        if (lmx_f32_to_f16(lmx_f16_to_f32((uint16_t)h)) != h) FAILF("round trip of %#x", h);
    }
}

/* ---- hand-built blocks ---- */

TEST(kernels_dequant_q4_0_and_q8_0_hand_built_blocks) {
    uint8_t b[34];
    float y[32];
    put16(b, 0x3800); /* 0.5 */
    for (int i = 0; i < 16; i++) b[2 + i] = (uint8_t)(i | (15 - i) << 4);
    lmx_dequant(LMX_Q4_0, b, y, 32);
    for (int i = 0; i < 16; i++) {
        CHECK(y[i] == (float)(i - 8) * 0.5f);
        CHECK(y[16 + i] == (float)(7 - i) * 0.5f);
    }
    put16(b, 0x4000); /* 2 */
    for (int i = 0; i < 32; i++) b[2 + i] = (uint8_t)(int8_t)(i - 16);
    lmx_dequant(LMX_Q8_0, b, y, 32);
    for (int i = 0; i < 32; i++) CHECK(y[i] == (float)(i - 16) * 2.0f);
}

/* Packs 6-bit scales and mins the Q4_K/Q5_K way: sub-blocks 0..3 in the low
 * 6 bits of bytes 0..3 (scales) and 4..7 (mins); sub-blocks 4..7 as low
 * nibbles in bytes 8..11 plus their top 2 bits in the top bits of 0..7. */
static void pack_k_scales(uint8_t *q, const int *sc, const int *m) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        q[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        q[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | (m[j + 4] & 0xF) << 4);
    }
}

TEST(kernels_dequant_q4_k_and_q5_k_hand_built_blocks) {
    uint8_t b[176];
    float y[256];
    int sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = 10 + 7 * j; /* crosses 16 and 32: uses the high bits */
        m[j] = 63 - 8 * j;
    }
    for (int five = 0; five < 2; five++) {
        put16(b, 0x3C00);     /* d = 1 */
        put16(b + 2, 0x3800); /* dmin = 0.5 */
        pack_k_scales(b + 4, sc, m);
        uint8_t *qh = b + 16, *qs = b + (five ? 48 : 16);
        if (five)
            for (int l = 0; l < 32; l++) qh[l] = (uint8_t)(l * 37 + 5);
        for (int k = 0; k < 128; k++) qs[k] = (uint8_t)(k * 7 + 3);
        lmx_dequant(five ? LMX_Q5_K : LMX_Q4_K, b, y, 256);
        /* Value e: 64-chunk c = e/64 holds sub-block 2c in the low nibbles of
         * qs[32c..] and sub-block 2c+1 in the high nibbles. */
        for (int e = 0; e < 256; e++) {
            int c = e / 64, l = e % 32, j = e / 32;
            int q = (e % 64 < 32) ? qs[32 * c + l] & 0xF : qs[32 * c + l] >> 4;
            if (five && (qh[l] & (1 << j))) q += 16;
            float want = 1.0f * (float)sc[j] * (float)q - 0.5f * (float)m[j];
            if (y[e] != want) FAILF("q%d_K value %d: %g, want %g", five ? 5 : 4, e, y[e], want);
        }
    }
}

TEST(kernels_dequant_q6_k_hand_built_block) {
    uint8_t b[210];
    float y[256];
    uint8_t *ql = b, *qh = b + 128;
    for (int k = 0; k < 128; k++) ql[k] = (uint8_t)(k * 5 + 1);
    for (int k = 0; k < 64; k++) qh[k] = (uint8_t)(k * 11 + 2);
    for (int j = 0; j < 16; j++) b[192 + j] = (uint8_t)(int8_t)(j * 9 - 70);
    put16(b + 208, 0x3400); /* 0.25 */
    lmx_dequant(LMX_Q6_K, b, y, 256);
    /* Per half of 128: y[l], y[l+32], y[l+64], y[l+96] (l < 32) take the low
     * nibble of ql[l], low of ql[l+32], high of ql[l], high of ql[l+32], and
     * bits 0-1, 2-3, 4-5, 6-7 of qh[l]; scale index = position / 16. */
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *L = ql + 64 * h, *H = qh + 32 * h;
            int q[4] = {(L[l] & 0xF) | (H[l] & 3) << 4, (L[l + 32] & 0xF) | ((H[l] >> 2) & 3) << 4,
                        (L[l] >> 4) | ((H[l] >> 4) & 3) << 4, (L[l + 32] >> 4) | (H[l] >> 6) << 4};
            for (int g = 0; g < 4; g++) {
                int e = 128 * h + 32 * g + l;
                float want = 0.25f * (float)(int8_t)b[192 + e / 16] * (float)(q[g] - 32);
                if (y[e] != want) FAILF("q6_K value %d: %g, want %g", e, y[e], want);
            }
        }
}

TEST(kernels_wmat_init_rejects_partial_blocks) {
    float dummy[1024] = {0};
    lmx_wmat w;
    CHECK_EQ_INT(lmx_wmat_init(&w, LMX_Q4_0, 2, 48, dummy), -1);
    CHECK_EQ_INT(lmx_wmat_init(&w, LMX_Q4_K, 1, 544, dummy), -1);
    CHECK_EQ_INT(lmx_wmat_init(&w, LMX_Q4_1, 1, 32, dummy), -1);
    CHECK_EQ_INT(lmx_wmat_init(&w, LMX_F16, 2, 7, dummy), 0);
    lmx_wmat_free(&w);
}

/* ---- matmul ---- */

static const int shapes[][2] = {{37, 768}, {19, 1280}, {5, 512}, {6, 1000}};

static float *rand_x(int64_t n) {
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = rndf() * (i % 7 == 0 ? 4.0f : 1.0f);
    return x;
}

/* y for n_tok tokens with the current ISA (ldy = rows + 3). */
static float *run_mm(const lmx_wmat *w, const float *x, int n_tok, lmx_pool *pool) {
    int64_t ldy = w->rows + 3;
    float *y = calloc((size_t)(ldy * n_tok), sizeof *y);
    void *scr = malloc(lmx_matmul_scratch(w->type, w->cols, n_tok) + 1);
    lmx_matmul(w, x, n_tok, y, ldy, (char *)scr + 1, pool); /* misaligned on purpose */
    free(scr);
    return y;
}

/* x rounded to the nearest bf16 (ties to even), as float. */
static float bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

/* sum_c |W[r][c]| |x[t][c]|: the scale errors are measured against. */
static double mag(const float *wrow, const float *x, int64_t cols) {
    double s = 0;
    for (int64_t c = 0; c < cols; c++) s += fabs((double)wrow[c] * x[c]);
    return s;
}

TEST(kernels_scalar_matmul_matches_dequantized_reference) {
    lmx_isa saved = lmx_isa_current();
    lmx_isa_set(LMX_ISA_SCALAR);
    for (int ti = 0; ti < N_TYPES; ti++) {
        lmx_dtype t = all_types[ti];
        int64_t rows = 9, cols = 512;
        uint8_t *wd = rand_weights(t, rows, cols);
        float *x = rand_x(cols * 2), *row = malloc(cols * sizeof *row);
        lmx_wmat w;
        CHECK(lmx_wmat_init(&w, t, rows, cols, wd) == 0);
        float *y = run_mm(&w, x, 2, NULL);
        for (int tok = 0; tok < 2; tok++)
            for (int64_t r = 0; r < rows; r++) {
                lmx_wmat_get_row(&w, r, row);
                double ref = 0;
                for (int64_t c = 0; c < cols; c++) ref += (double)row[c] * x[tok * cols + c];
                double m = mag(row, x + tok * cols, cols);
                /* Quantizing x to 8 bits costs up to ~1/254 of each |x|. */
                double tol = (t == LMX_F32 || t == LMX_F16 || t == LMX_BF16) ? 1e-5 * m : 8e-3 * m;
                if (fabs(y[tok * (rows + 3) + r] - ref) > tol + 1e-6)
                    FAILF("%s row %lld: %g vs %g", lmx_dtype_name(t), (long long)r,
                          y[tok * (rows + 3) + r], ref);
            }
        free(y), free(x), free(row), free(wd);
        lmx_wmat_free(&w);
    }
    lmx_isa_set(saved);
}

TEST(kernels_every_isa_matches_scalar_tightly) {
    lmx_isa saved = lmx_isa_current();
    for (int si = 0; si < 4; si++)
        for (int ti = 0; ti < N_TYPES; ti++) {
            lmx_dtype t = all_types[ti];
            int64_t rows = shapes[si][0], cols = shapes[si][1];
            if (!lmx_dtype_row_bytes(t, cols)) continue; /* 1000: float types only */
            int n_tok = 5;
            uint8_t *wd = rand_weights(t, rows, cols);
            float *x = rand_x(cols * n_tok), *row = malloc(cols * sizeof *row);
            lmx_wmat w0;
            lmx_isa_set(LMX_ISA_SCALAR);
            CHECK(lmx_wmat_init(&w0, t, rows, cols, wd) == 0);
            float *y0 = run_mm(&w0, x, n_tok, NULL);
            /* the scalar result on activations rounded to bf16: what the
             * AVX512_BF16 dot product of BF16 weights must match as tightly */
            float *xb = malloc(sizeof(float) * (size_t)(cols * n_tok));
            for (int64_t i = 0; i < cols * n_tok; i++) xb[i] = bf16_round(x[i]);
            float *y0b = run_mm(&w0, xb, n_tok, NULL);
            for (int isa = 1; isa <= 2; isa++) {
                if (lmx_isa_set((lmx_isa)isa) != 0) continue;
                lmx_wmat w;
                CHECK(lmx_wmat_init(&w, t, rows, cols, wd) == 0);
                float *y = run_mm(&w, x, n_tok, NULL);
                const float *ref = t == LMX_BF16 && lmx_kern_bf16_dot() ? y0b : y0;
                for (int tok = 0; tok < n_tok; tok++)
                    for (int64_t r = 0; r < rows; r++) {
                        lmx_wmat_get_row(&w0, r, row);
                        double m = mag(row, x + tok * cols, cols);
                        if (t == LMX_Q4_K || t == LMX_Q5_K) m *= 4; /* scale and min terms */
                        int64_t i = tok * (rows + 3) + r;
                        if (!(fabs(y[i] - ref[i]) <= 1e-5 * m + 1e-7))
                            FAILF("%s %s %lldx%lld tok %d row %lld: %.9g vs scalar %.9g",
                                  lmx_isa_name((lmx_isa)isa), lmx_dtype_name(t), (long long)rows,
                                  (long long)cols, tok, (long long)r, y[i], ref[i]);
                    }
                free(y);
                lmx_wmat_free(&w);
            }
            free(y0), free(y0b), free(xb), free(x), free(row), free(wd);
            lmx_wmat_free(&w0);
        }
    lmx_isa_set(saved);
}

TEST(kernels_get_row_matches_dequant_for_every_isa_layout) {
    lmx_isa saved = lmx_isa_current();
    for (int isa = 0; isa <= 2; isa++) {
        if (lmx_isa_set((lmx_isa)isa) != 0) continue;
        for (int ti = 0; ti < N_TYPES; ti++) {
            lmx_dtype t = all_types[ti];
            int64_t rows = 19, cols = 1280;
            size_t rb = lmx_dtype_row_bytes(t, cols);
            uint8_t *wd = rand_weights(t, rows, cols);
            float *a = malloc(cols * sizeof *a), *b = malloc(cols * sizeof *b);
            lmx_wmat w;
            CHECK(lmx_wmat_init(&w, t, rows, cols, wd) == 0);
            for (int64_t r = 0; r < rows; r++) {
                lmx_wmat_get_row(&w, r, a);
                lmx_dequant(t, wd + r * rb, b, cols);
                if (memcmp(a, b, cols * sizeof *a))
                    FAILF("%s %s row %lld", lmx_isa_name((lmx_isa)isa), lmx_dtype_name(t),
                          (long long)r);
            }
            lmx_wmat_free(&w);
            free(a), free(b), free(wd);
        }
    }
    lmx_isa_set(saved);
}

TEST(kernels_batch_invariant_bits_any_ntok_tile_or_threads) {
    lmx_isa saved = lmx_isa_current();
    lmx_pool *p2 = lmx_pool_create(2);
    static const int ntoks[] = {2, 7, 8, 16, 33, 70};
    for (int isa = 0; isa <= 2; isa++) {
        if (lmx_isa_set((lmx_isa)isa) != 0) continue;
        for (int ti = 0; ti < N_TYPES; ti++) {
            lmx_dtype t = all_types[ti];
            int fl = t == LMX_F32 || t == LMX_F16 || t == LMX_BF16;
            int64_t rows = 37, cols = fl ? 1000 : 768, ldy = rows + 3; /* 1000: ragged tail */
            uint8_t *wd = rand_weights(t, rows, cols);
            float *x = rand_x(cols * 70);
            lmx_wmat w;
            CHECK(lmx_wmat_init(&w, t, rows, cols, wd) == 0);
            float *one = malloc(70 * ldy * sizeof *one);
            for (int tok = 0; tok < 70; tok++) {
                float *y = run_mm(&w, x + tok * cols, 1, NULL);
                memcpy(one + tok * ldy, y, rows * sizeof *y);
                free(y);
            }
            for (int ni = 0; ni < 4; ni++)
                for (int pi = 0; pi < 2; pi++) {
                    float *y = run_mm(&w, x, ntoks[ni], pi ? p2 : NULL);
                    for (int tok = 0; tok < ntoks[ni]; tok++)
                        if (memcmp(y + tok * ldy, one + tok * ldy, rows * sizeof *y))
                            FAILF("%s %s n_tok %d threads %d: token %d differs",
                                  lmx_isa_name((lmx_isa)isa), lmx_dtype_name(t), ntoks[ni], pi + 1,
                                  tok);
                    free(y);
                }
            /* The same rows shifted by one (so every row lands in a different
             * tile position, some in full tiles and some in edge tiles). */
            lmx_wmat w1;
            CHECK(lmx_wmat_init(&w1, t, rows - 1, cols, wd + lmx_dtype_row_bytes(t, cols)) == 0);
            float *y1 = run_mm(&w1, x, 33, p2);
            for (int tok = 0; tok < 33; tok++)
                if (memcmp(y1 + tok * (ldy - 1), one + tok * ldy + 1, (rows - 1) * sizeof *y1))
                    FAILF("%s %s: rows shifted by one differ, token %d", lmx_isa_name((lmx_isa)isa),
                          lmx_dtype_name(t), tok);
            free(y1);
            lmx_wmat_free(&w1);
            free(one), free(x), free(wd);
            lmx_wmat_free(&w);
        }
    }
    lmx_pool_destroy(p2);
    lmx_isa_set(saved);
}

/* F16 weights: the AVX2 and AVX-512 tiles sum each output in the same order
 * (FMAs over the columns in order), so they agree to the bit, across a ragged
 * row group, decode (one token) and prefill tile widths. */
TEST(kernels_f16_tiles_same_bits_avx2_and_avx512) {
    lmx_isa saved = lmx_isa_current();
    if (!lmx_isa_supported(LMX_ISA_AVX512)) {
        fprintf(stderr, "  (avx512 not supported on this CPU: skipped)\n");
        return;
    }
    int64_t rows = 53, cols = 600;
    uint8_t *wd = rand_weights(LMX_F16, rows, cols);
    float *x = rand_x(cols * 29);
    static const int ntoks[] = {1, 5, 29};
    for (int ni = 0; ni < 3; ni++) {
        float *y[2];
        for (int k = 0; k < 2; k++) {
            lmx_isa_set(k ? LMX_ISA_AVX512 : LMX_ISA_AVX2);
            lmx_wmat w;
            CHECK(lmx_wmat_init(&w, LMX_F16, rows, cols, wd) == 0);
            y[k] = run_mm(&w, x, ntoks[ni], NULL);
            lmx_wmat_free(&w);
        }
        for (int tok = 0; tok < ntoks[ni]; tok++)
            if (memcmp(y[0] + tok * (rows + 3), y[1] + tok * (rows + 3), rows * sizeof(float)))
                FAILF("n_tok %d token %d: avx2 and avx512 differ", ntoks[ni], tok);
        free(y[0]), free(y[1]);
    }
    free(x), free(wd);
    lmx_isa_set(saved);
}
