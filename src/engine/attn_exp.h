/* exp_s (attn_tile.h) in a vector's lanes, for the ISAs whose vexp_neg
 * differs only in how it zeroes the lanes below -87 (attn_avx2.c,
 * attn_avx512.c). Written over attn_tile.h's vocabulary (vf, VSET1, VMUL,
 * VADD, VSUB, VMAX) plus VROUND(v) (to nearest, ties to even) and VPOW2(n)
 * (2^n of an integral n, built in the exponent bits), which the including
 * file defines first. Mul/add only, in exp_s's order, so each lane is exp_s's
 * float. */
#ifndef LMX_ENGINE_ATTN_EXP_H
#define LMX_ENGINE_ATTN_EXP_H

/* exp_s of each lane but for its cut-off: lanes are clamped to -87 (so that
 * 2^n stays a normal float), the caller zeroes those below it. x = n ln2 + r
 * (n: x / ln2 rounded), e^r by Cephes' coefficients (ln2 split in two for the
 * reduction), times 2^n. */
static inline vf vexp_clamped(vf x) {
    x = VMAX(x, VSET1(-87.0f));
    vf n = VROUND(VMUL(x, VSET1(1.44269504088896341f)));
    vf r = VSUB(x, VMUL(n, VSET1(0.693359375f)));
    r = VSUB(r, VMUL(n, VSET1(-2.12194440e-4f)));
    vf p = VSET1(1.9875691500e-4f);
    p = VADD(VMUL(p, r), VSET1(1.3981999507e-3f));
    p = VADD(VMUL(p, r), VSET1(8.3334519073e-3f));
    p = VADD(VMUL(p, r), VSET1(4.1665795894e-2f));
    p = VADD(VMUL(p, r), VSET1(1.6666665459e-1f));
    p = VADD(VMUL(p, r), VSET1(5.0000001201e-1f));
    vf y = VADD(VADD(VMUL(VMUL(p, r), r), r), VSET1(1.0f));
    return VMUL(y, VPOW2(n));
}

#endif
