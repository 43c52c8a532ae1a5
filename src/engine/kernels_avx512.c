/* AVX-512 kernels (placeholder). */
#include "engine/kernels_impl.h"

const lmx_kern_entry *lmx_kern_avx512(lmx_dtype t) {
    (void)t;
    return NULL;
}
void lmx_avx512_unpack_row(const lmx_wmat *w, int64_t r, void *dst) {
    (void)w;
    (void)r;
    (void)dst;
}
