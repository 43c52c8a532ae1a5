/* exp_s's polynomial (attn_tile.h) in a vector's lanes, for the ISAs whose
 * vexp_neg differs only in rounding and masking (attn_avx2.c, attn_avx512.c).
 * Written over attn_tile.h's vocabulary (vf, VSET1, VMUL, VADD, VSUB), which
 * the including file defines first. Mul/add only, in exp_s's order, so each
 * lane is exp_s's float. */
#ifndef LMX_ENGINE_ATTN_EXP_H
#define LMX_ENGINE_ATTN_EXP_H

/* e^r * 2^-n for x = n ln2 + r (n: x / ln2 rounded): Cephes' coefficients,
 * ln2 split in two for the reduction. */
static inline vf vexp_poly(vf x, vf n) {
    vf r = VSUB(x, VMUL(n, VSET1(0.693359375f)));
    r = VSUB(r, VMUL(n, VSET1(-2.12194440e-4f)));
    vf p = VSET1(1.9875691500e-4f);
    p = VADD(VMUL(p, r), VSET1(1.3981999507e-3f));
    p = VADD(VMUL(p, r), VSET1(8.3334519073e-3f));
    p = VADD(VMUL(p, r), VSET1(4.1665795894e-2f));
    p = VADD(VMUL(p, r), VSET1(1.6666665459e-1f));
    p = VADD(VMUL(p, r), VSET1(5.0000001201e-1f));
    return VADD(VADD(VMUL(VMUL(p, r), r), r), VSET1(1.0f));
}

#endif
