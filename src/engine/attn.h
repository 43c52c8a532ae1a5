/* Tiled attention over the paged KV cache (kv.h): a block of queries — up
 * to a few consecutive tokens of one sequence times the query heads that
 * share one KV head — against the sequence's key tiles, with an online
 * softmax, so each K/V tile is read (and converted from F16 in registers)
 * once per query block. Scores are computed with SIMD lanes across keys
 * (the K tiles are stored transposed).
 *
 * Batch invariance: the keys are reduced in a fixed structure that depends
 * on positions only — tiles of LMX_KV_BLOCK keys, folded with an online
 * softmax into segments of LMX_ATTN_SEG keys, and the segments' partial
 * results merged in order — so a query gets the same bits whichever block it
 * is in, and whether its segments ran on one thread or were split across
 * threads (a lone decode query at depth). Scalar, AVX2 and AVX-512 versions
 * (same structure, per-ISA vectors), picked from lmx_isa_current(). */
#ifndef LMX_ATTN_H
#define LMX_ATTN_H

#include <stddef.h>
#include <stdint.h>

#include "engine/kv.h"

#define LMX_ATTN_SEG 256 /* keys per segment (a multiple of LMX_KV_BLOCK) */

typedef struct {
    int n_tok, pos0; /* tokens pos0 .. pos0 + n_tok - 1 of one sequence */
    int group, hd;   /* query heads per KV head (query head = kv head * group + g), head dim */
    float scale;     /* 1/sqrt(hd) */
    const float *q;  /* query of token t, head g: q + t * q_stride + g * hd */
    size_t q_stride;
    float *out; /* same layout as q, out_stride */
    size_t out_stride;
    uint8_t *const *blk; /* the sequence's block base pointers */
    size_t off;          /* K tile offset of this layer and KV head in a block (V follows) */
    size_t tile;         /* bytes of one tile */
    lmx_kv_type type;
    /* Segments [seg0, seg1) only. part == NULL: all segments, result to out.
     * Else each segment's partial state goes to part (one per segment, in
     * order, lmx_attn_part_floats(...) floats each) for lmx_attn_ops.merge. */
    int seg0, seg1;
    float *part;
} lmx_attn_args;

/* Floats of one segment's partial state for n queries of head dim hd. */
static inline size_t lmx_attn_part_floats(int n_q, int hd) {
    return (size_t)n_q * (size_t)(hd + 2);
}

/* Per-thread scratch floats the kernel needs for n_q queries. */
size_t lmx_attn_scratch_floats(int n_q, int hd);

typedef struct {
    void (*run)(const lmx_attn_args *a, float *scratch);
    /* Folds n_seg partial states (in order) of n_q queries into out (n_q × hd). */
    void (*merge)(const float *part, int n_seg, int n_q, int hd, float *out);
} lmx_attn_ops;

/* The version for the current ISA that handles head dim hd. */
const lmx_attn_ops *lmx_attn_ops_get(int hd);

/* per-ISA tables (attn_avx2.c, attn_avx512.c): they need hd % 8, hd % 16 == 0 */
extern const lmx_attn_ops lmx_attn_avx2, lmx_attn_avx512;

#endif
