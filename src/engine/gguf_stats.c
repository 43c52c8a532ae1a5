#include "engine/gguf_stats.h"

uint32_t lmx_gguf_main_type(const lmx_gguf *g, uint64_t *params) {
    uint64_t bytes[64] = {0}; /* per tensor type id */
    *params = 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const lmx_gguf_tensor *t = &g->tensors[i];
        uint64_t n = 1;
        for (int d = 0; d < t->n_dims; d++) n *= (uint64_t)t->ne[d];
        *params += n;
        if (t->n_dims >= 2 && t->type < 64) bytes[t->type] += t->nbytes;
    }
    uint32_t best = 0;
    for (uint32_t i = 1; i < 64; i++)
        if (bytes[i] > bytes[best]) best = i;
    return best;
}
