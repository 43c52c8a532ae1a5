/* AVX2 kernels (placeholder: none yet; the dispatcher falls back to scalar). */
#include "engine/kernels_impl.h"

const lmx_kern_entry *lmx_kern_avx2(lmx_dtype t) {
    (void)t;
    return NULL;
}
