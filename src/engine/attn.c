/* Scalar attention (the tile kernel with one-lane "vectors") and the choice
 * of ISA. */
#include <math.h>

#include "engine/kernels.h"

typedef float vf;
#define W                1
#define QC               4
#define QV               4
#define VZERO()          0.0f
#define VSET1(x)         (x)
#define VLD(p)           (*(p))
#define VST(p, v)        (*(p) = (v))
#define VLD_F16(p)       lmx_f16_to_f32(*(p))
#define VLD_I8(p)        ((float)*(p))
#define VFMA(a, b, c)    ((a) * (b) + (c))
#define VMUL(a, b)       ((a) * (b))
#define VADD(a, b)       ((a) + (b))
#define VSUB(a, b)       ((a) - (b))
#define VMAX(a, b)       ((a) > (b) ? (a) : (b))
#define vredmax(v)       (v)
#define vredadd(v)       (v)
#define vmask_from(v, n) ((n) > 0 ? (v) : -INFINITY)
#define vexp_neg(v)      exp_s(v)

#include "engine/attn_tile.h"

static const lmx_attn_ops scalar_ops = {attn_run, attn_merge};

size_t lmx_attn_scratch_floats(int n_q, int hd) {
    /* scores [n_q][block], segment and total m and l, segment and total acc */
    return (size_t)n_q * (LMX_KV_BLOCK + 4 + 2 * (size_t)hd);
}

const lmx_attn_ops *lmx_attn_ops_get(int hd) {
    switch (lmx_isa_current()) {
    case LMX_ISA_AVX512:
        if (hd % 16 == 0) return &lmx_attn_avx512;
        /* fall through */
    case LMX_ISA_AVX2:
        if (hd % 8 == 0) return &lmx_attn_avx2;
        /* fall through */
    default:
        return &scalar_ops;
    }
}
