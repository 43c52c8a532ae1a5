/* The tiled attention kernel, written once over a small vector vocabulary
 * and compiled per ISA: attn.c (W = 1), attn_avx2.c (W = 8) and
 * attn_avx512.c (W = 16) define, before including it:
 *   vf, W, QC (queries per score pass), QV (queries per value pass),
 *   VZERO(), VSET1(x), VLD(p), VST(p, v), VLD_F16(p), VLD_I8(p), VFMA(a, b, c) = a*b+c,
 *   VMUL, VADD, VSUB, VMAX, vredmax(v), vredadd(v),
 *   vmask_from(v, n): lanes >= n become -inf,
 *   vexp_neg(v): exp of each lane (lanes below -87, -inf included, give 0).
 * The per-thread scratch is lmx_attn_scratch_floats(n_q, hd) (attn.c).
 * Every reduction runs in a fixed order (see attn.h), so the result of a
 * query depends only on its position and its sequence's KV. */
#include <math.h>
#include <string.h>

#include "engine/attn.h"
#include "engine/kernels.h"

#define NV (LMX_KV_BLOCK / W)

/* exp(x) for x <= 0 (0 below -87): Cephes' polynomial, mul/add only, so it
 * is the same function in every ISA's lanes. */
static inline float exp_s(float x) {
    if (!(x >= -87.0f)) return 0.0f;
    float n = nearbyintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float sc;
    memcpy(&sc, &bits, 4);
    return y * sc;
}

/* Keys v*W .. v*W + W-1 of a K^T tile at dimension d, as floats. */
static inline __attribute__((always_inline)) vf load_k(const uint8_t *kt, int d, int v, int hd,
                                                       lmx_kv_type ty) {
    size_t i = (size_t)d * LMX_KV_BLOCK + (size_t)v * W;
    if (ty == LMX_KV_F32) return VLD((const float *)kt + i);
    if (ty == LMX_KV_F16) return VLD_F16((const uint16_t *)kt + i);
    const uint16_t *sc = (const uint16_t *)(kt + (size_t)LMX_KV_BLOCK * hd);
    return VMUL(VLD_I8((const int8_t *)kt + i),
                VLD_F16(sc + (size_t)(d / 32) * LMX_KV_BLOCK + v * W));
}

/* Dimensions u .. u + W-1 of row k of a V tile, as floats. */
static inline __attribute__((always_inline)) vf load_v(const uint8_t *vt, int k, int u, int hd,
                                                       lmx_kv_type ty) {
    size_t i = (size_t)k * hd + u;
    if (ty == LMX_KV_F32) return VLD((const float *)vt + i);
    if (ty == LMX_KV_F16) return VLD_F16((const uint16_t *)vt + i);
    const uint16_t *sc = (const uint16_t *)(vt + (size_t)LMX_KV_BLOCK * hd);
    return VMUL(VLD_I8((const int8_t *)vt + i), VSET1(lmx_f16_to_f32(sc[i / 32])));
}

/* acc (hd floats) := acc * a + x * b */
static inline void fold_row(float *acc, float a, const float *x, float b, int hd) {
    vf va = VSET1(a), vb = VSET1(b);
    for (int u = 0; u < hd; u += W)
        VST(acc + u, VADD(VMUL(VLD(acc + u), va), VMUL(VLD(x + u), vb)));
}

/* Folds one segment's state (m, l, acc) of a query into the running total. */
static inline void merge_one(float *fm, float *fl, float *facc, float m, float l, const float *acc,
                             int hd) {
    float mn = *fm > m ? *fm : m;
    float a = exp_s(*fm - mn), b = exp_s(m - mn);
    *fl = *fl * a + l * b;
    fold_row(facc, a, acc, b, hd);
    *fm = mn;
}

/* The chunk loops below take their query count as a constant (N_, one
 * case per count) so the accumulators live in registers. */
#define CHUNK_CASE(n, max, call)                                                                   \
    case n:                                                                                        \
        if (n <= max) {                                                                            \
            enum { N_ = n <= max ? n : 1 };                                                        \
            call;                                                                                  \
        }                                                                                          \
        break;
#define CHUNK_SWITCH(nc, max, call)                                                                \
    switch (nc) {                                                                                  \
        CHUNK_CASE(1, max, call)                                                                   \
        CHUNK_CASE(2, max, call)                                                                   \
        CHUNK_CASE(3, max, call)                                                                   \
        CHUNK_CASE(4, max, call)                                                                   \
        CHUNK_CASE(5, max, call)                                                                   \
        CHUNK_CASE(6, max, call)                                                                   \
        CHUNK_CASE(7, max, call)                                                                   \
        CHUNK_CASE(8, max, call)                                                                   \
    default:                                                                                       \
        break;                                                                                     \
    }

/* Scores of queries c0 .. c0 + nc - 1 against one K tile: scaled, keys past
 * each query's position -inf, into their rows of P. */
static inline __attribute__((always_inline)) void scores(const lmx_attn_args *a, const uint8_t *kt,
                                                         float *P, int c0, const int nc, int kb,
                                                         lmx_kv_type ty) {
    const int G = a->group, hd = a->hd, B = LMX_KV_BLOCK;
    vf S[8][NV];
    const float *qp[8];
#pragma GCC unroll 8
    for (int c = 0; c < nc; c++) {
        int i = c0 + c;
        qp[c] = a->q + (size_t)(i / G) * a->q_stride + (size_t)(i % G) * hd;
#pragma GCC unroll 32
        for (int v = 0; v < NV; v++) S[c][v] = VZERO();
    }
    for (int d = 0; d < hd; d++) {
        vf kv[NV];
#pragma GCC unroll 32
        for (int v = 0; v < NV; v++) kv[v] = load_k(kt, d, v, hd, ty);
#pragma GCC unroll 8
        for (int c = 0; c < nc; c++) {
            vf qd = VSET1(qp[c][d]);
#pragma GCC unroll 32
            for (int v = 0; v < NV; v++) S[c][v] = VFMA(qd, kv[v], S[c][v]);
        }
    }
    vf vs = VSET1(a->scale);
#pragma GCC unroll 8
    for (int c = 0; c < nc; c++) {
        int i = c0 + c, nk = a->pos0 + i / G - kb + 1;
#pragma GCC unroll 32
        for (int v = 0; v < NV; v++)
            VST(P + (size_t)i * B + v * W, vmask_from(VMUL(S[c][v], vs), nk - v * W));
    }
}

/* acc rows of queries c0 .. c0 + nc - 1 += their weights × the V tile's
 * first nk rows. */
static inline __attribute__((always_inline)) void values(const uint8_t *vt, const float *P,
                                                         float *sacc, int c0, const int nc, int nk,
                                                         int hd, lmx_kv_type ty) {
    const int B = LMX_KV_BLOCK;
    for (int u = 0; u < hd; u += W) {
        vf acc[8];
#pragma GCC unroll 8
        for (int c = 0; c < nc; c++) acc[c] = VLD(sacc + (size_t)(c0 + c) * hd + u);
        for (int k = 0; k < nk; k++) {
            vf vv = load_v(vt, k, u, hd, ty);
#pragma GCC unroll 8
            for (int c = 0; c < nc; c++)
                acc[c] = VFMA(VSET1(P[(size_t)(c0 + c) * B + k]), vv, acc[c]);
        }
#pragma GCC unroll 8
        for (int c = 0; c < nc; c++) VST(sacc + (size_t)(c0 + c) * hd + u, acc[c]);
    }
}

static inline __attribute__((always_inline)) void run_t(const lmx_attn_args *a, float *scr,
                                                        lmx_kv_type ty) {
    const int G = a->group, hd = a->hd, nq = a->n_tok * G, B = LMX_KV_BLOCK;
    const int last = a->pos0 + a->n_tok - 1;
    float *P = scr, *sm = P + (size_t)nq * B, *sl = sm + nq, *fm = sl + nq, *fl = fm + nq;
    float *sacc = fl + nq, *facc = sacc + (size_t)nq * hd;
    for (int i = 0; i < nq; i++) {
        fm[i] = -INFINITY;
        fl[i] = 0;
    }
    memset(facc, 0, sizeof(float) * (size_t)nq * hd);
    const int per_seg = LMX_ATTN_SEG / B;
    int seg_end = last / LMX_ATTN_SEG + 1;
    if (a->seg1 < seg_end) seg_end = a->seg1;
    for (int s = a->seg0; s < seg_end; s++) {
        int sbase = s * LMX_ATTN_SEG;
        int is = sbase > a->pos0 ? (sbase - a->pos0) * G : 0; /* first query that sees it */
        for (int i = is; i < nq; i++) {
            sm[i] = -INFINITY;
            sl[i] = 0;
        }
        memset(sacc + (size_t)is * hd, 0, sizeof(float) * (size_t)(nq - is) * hd);
        int j1 = (s + 1) * per_seg, jl = last / B + 1;
        for (int j = s * per_seg; j < (j1 < jl ? j1 : jl); j++) {
            int kb = j * B;
            int i0 = kb > a->pos0 ? (kb - a->pos0) * G : 0;
            const uint8_t *kt = a->blk[j] + a->off, *vt = kt + a->tile;
            /* scores: QC queries at a time, each K^T row loaded once for them */
            for (int c0 = i0; c0 < nq; c0 += QC) {
                int nc = nq - c0 < QC ? nq - c0 : QC;
                CHUNK_SWITCH(nc, QC, scores(a, kt, P, c0, N_, kb, ty));
            }
            /* online softmax per query */
            for (int i = i0; i < nq; i++) {
                float *p = P + (size_t)i * B;
                vf mx = VLD(p);
                for (int v = 1; v < NV; v++) mx = VMAX(mx, VLD(p + v * W));
                float tmax = vredmax(mx), mn = sm[i] > tmax ? sm[i] : tmax;
                vf vm = VSET1(mn), sum = VZERO();
                for (int v = 0; v < NV; v++) {
                    vf e = vexp_neg(VSUB(VLD(p + v * W), vm));
                    VST(p + v * W, e);
                    sum = VADD(sum, e);
                }
                float alpha = exp_s(sm[i] - mn);
                sl[i] = sl[i] * alpha + vredadd(sum);
                if (alpha != 1.0f) {
                    vf va = VSET1(alpha);
                    float *acc = sacc + (size_t)i * hd;
                    for (int u = 0; u < hd; u += W) VST(acc + u, VMUL(VLD(acc + u), va));
                }
                sm[i] = mn;
            }
            /* values: QV queries at a time, each V row slice loaded once for them */
            for (int c0 = i0; c0 < nq; c0 += QV) {
                int nc = nq - c0 < QV ? nq - c0 : QV;
                int nk = a->pos0 + (c0 + nc - 1) / G - kb + 1;
                if (nk > B) nk = B;
                CHUNK_SWITCH(nc, QV, values(vt, P, sacc, c0, N_, nk, hd, ty));
            }
        }
        if (a->part) {
            float *pt = a->part + (size_t)(s - a->seg0) * lmx_attn_part_floats(nq, hd);
            for (int i = 0; i < nq; i++) {
                pt[2 * i] = sm[i];
                pt[2 * i + 1] = sl[i];
            }
            memcpy(pt + 2 * nq, sacc, sizeof(float) * (size_t)nq * hd);
        } else {
            for (int i = is; i < nq; i++)
                merge_one(fm + i, fl + i, facc + (size_t)i * hd, sm[i], sl[i],
                          sacc + (size_t)i * hd, hd);
        }
    }
    if (a->part) return;
    for (int i = 0; i < nq; i++) {
        float inv = 1.0f / fl[i];
        float *o = a->out + (size_t)(i / G) * a->out_stride + (size_t)(i % G) * hd;
        for (int u = 0; u < hd; u += W)
            VST(o + u, VMUL(VLD(facc + (size_t)i * hd + u), VSET1(inv)));
    }
}

static void attn_run(const lmx_attn_args *a, float *scratch) {
    if (a->type == LMX_KV_F32)
        run_t(a, scratch, LMX_KV_F32);
    else if (a->type == LMX_KV_Q8_0)
        run_t(a, scratch, LMX_KV_Q8_0);
    else
        run_t(a, scratch, LMX_KV_F16);
}

static void attn_merge(const float *part, int n_seg, int n_q, int hd, float *out) {
    for (int i = 0; i < n_q; i++) {
        float m = -INFINITY, l = 0, *acc = out + (size_t)i * hd;
        memset(acc, 0, sizeof(float) * (size_t)hd);
        for (int s = 0; s < n_seg; s++) {
            const float *pt = part + (size_t)s * lmx_attn_part_floats(n_q, hd);
            merge_one(&m, &l, acc, pt[2 * i], pt[2 * i + 1], pt + 2 * n_q + (size_t)i * hd, hd);
        }
        float inv = 1.0f / l;
        for (int u = 0; u < hd; u += W) VST(acc + u, VMUL(VLD(acc + u), VSET1(inv)));
    }
}
