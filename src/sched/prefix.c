/* Prefix sharing across slots: see prefix.h. */
#include "sched/prefix.h"

#include <string.h>

int lmx_prefix_admit(lmx_ctx *c, int seq, const int32_t *prompt, int n, int reuse) {
    if (lmx_kv_cached(c, prompt, n) <= reuse) return reuse;
    int blk = lmx_kv_block_size(c);
    lmx_kv_truncate(c, seq, reuse / blk * blk); /* whole blocks, then the registered ones */
    return lmx_kv_attach_prefix(c, seq, prompt, n);
}

int lmx_prefix_catch_up(lmx_ctx *c, int seq, const int32_t *prompt, int n_kv, int n) {
    if (n_kv % lmx_kv_block_size(c) || n_kv + lmx_kv_block_size(c) > n) return n_kv;
    return lmx_kv_attach_prefix(c, seq, prompt, n);
}

bool lmx_prefix_pending(const lmx_ctx *c, const int32_t *mine, int n_kv, int n,
                        const int32_t *theirs, int their_kv, int their_n) {
    int end = n_kv + lmx_kv_block_size(c); /* the block mine needs next */
    if (n_kv % lmx_kv_block_size(c) || end > n || end > their_n || their_kv >= end) return false;
    return !memcmp(mine, theirs, sizeof(int32_t) * (size_t)end);
}
