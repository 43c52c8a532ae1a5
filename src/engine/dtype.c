/* The table of GGUF tensor types: block sizes for validation, and which ones
 * the engine computes with. */
#include "engine/dtype.h"

#include <stdio.h>

static const lmx_dtype_info infos[LMX_DTYPE_MAX] = {
    [LMX_F32] = {"f32", 1, 4, true},
    [LMX_F16] = {"f16", 1, 2, true},
    [LMX_Q4_0] = {"q4_0", 32, 18, true},
    [LMX_Q4_1] = {"q4_1", 32, 20, false},
    [LMX_Q5_0] = {"q5_0", 32, 22, false},
    [LMX_Q5_1] = {"q5_1", 32, 24, false},
    [LMX_Q8_0] = {"q8_0", 32, 34, true},
    [LMX_Q8_1] = {"q8_1", 32, 36, false},
    [LMX_Q2_K] = {"q2_K", 256, 84, false},
    [LMX_Q3_K] = {"q3_K", 256, 110, false},
    [LMX_Q4_K] = {"q4_K", 256, 144, true},
    [LMX_Q5_K] = {"q5_K", 256, 176, true},
    [LMX_Q6_K] = {"q6_K", 256, 210, true},
    [LMX_Q8_K] = {"q8_K", 256, 292, false},
    [16] = {"iq2_xxs", 256, 66, false},
    [17] = {"iq2_xs", 256, 74, false},
    [18] = {"iq3_xxs", 256, 98, false},
    [19] = {"iq1_s", 256, 50, false},
    [20] = {"iq4_nl", 32, 18, false},
    [21] = {"iq3_s", 256, 110, false},
    [22] = {"iq2_s", 256, 82, false},
    [23] = {"iq4_xs", 256, 136, false},
    [LMX_I8] = {"i8", 1, 1, false},
    [LMX_I16] = {"i16", 1, 2, false},
    [LMX_I32] = {"i32", 1, 4, false},
    [LMX_I64] = {"i64", 1, 8, false},
    [LMX_F64] = {"f64", 1, 8, false},
    [29] = {"iq1_m", 256, 56, false},
    [LMX_BF16] = {"bf16", 1, 2, true},
    [34] = {"tq1_0", 256, 54, false},
    [35] = {"tq2_0", 256, 66, false},
    [39] = {"mxfp4", 32, 17, false},
};

const lmx_dtype_info *lmx_dtype_get(uint32_t type) {
    if (type >= LMX_DTYPE_MAX || !infos[type].name) return NULL;
    return &infos[type];
}

const char *lmx_dtype_name(uint32_t type) {
    static _Thread_local char buf[32];
    const lmx_dtype_info *in = lmx_dtype_get(type);
    if (in) return in->name;
    snprintf(buf, sizeof buf, "type %u", type);
    return buf;
}

size_t lmx_dtype_row_bytes(uint32_t type, int64_t n) {
    const lmx_dtype_info *in = lmx_dtype_get(type);
    if (!in || n < 0 || n % in->block_elems) return 0;
    return (size_t)(n / in->block_elems) * (size_t)in->block_bytes;
}
