/* The paged KV cache: fixed-size blocks of LMX_KV_BLOCK positions, taken
 * from a pool when a sequence grows into them, so memory follows the tokens
 * held rather than sequences × context.
 *
 * A full block is registered under its content: its tokens and the block
 * before it (so a block stands for its whole prefix). A sequence that starts
 * with the same tokens attaches the registered blocks instead of computing
 * them — copy-free, reference-counted. A registered block nobody holds stays
 * as cache until blocks run out, then the least recently released goes
 * first — only a block no registered block follows, so a cached chain is
 * evicted from its end and a block's predecessor id never goes stale.
 *
 * Inside a block, per layer and KV head: a K tile stored transposed,
 * [head_dim][LMX_KV_BLOCK] (one load = one dimension of consecutive keys: the
 * attention kernel's SIMD lanes are keys), then a V tile [LMX_KV_BLOCK][head_dim].
 * Only the engine's scheduler thread touches it. */
#ifndef LMX_KV_H
#define LMX_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LMX_KV_BLOCK 32

/* Q8_0: int8 with one F16 scale per 32 values of a key's or value's head
 * (llama.cpp's Q8_0 rounding); its tiles keep the int8 rows as above, then
 * the scales — K: [head_dim / 32][LMX_KV_BLOCK], V: [LMX_KV_BLOCK][head_dim / 32].
 * It needs head_dim % 32 == 0. */
typedef enum { LMX_KV_F16 = 0, LMX_KV_F32 = 1, LMX_KV_Q8_0 = 2 } lmx_kv_type;

typedef struct lmx_kv lmx_kv;

lmx_kv *lmx_kv_new(int n_layer, int n_head_kv, int head_dim, lmx_kv_type type, int n_seq,
                   int n_ctx);
void lmx_kv_free(lmx_kv *kv);

size_t lmx_kv_tile_bytes(const lmx_kv *kv); /* one K (or V) tile of one layer and head */
/* Block base pointers of a sequence, in position order (valid until the next edit). */
uint8_t *const *lmx_kv_blocks(const lmx_kv *kv, int seq);
/* Byte offset of the K tile of (layer, head) inside a block; its V tile follows. */
size_t lmx_kv_tile_off(const lmx_kv *kv, int layer, int head);

int lmx_kv_seq_len(const lmx_kv *kv, int seq);
/* Makes room for positions [0, len): takes blocks as needed. -1: none left. */
int lmx_kv_reserve(lmx_kv *kv, int seq, int len);
/* Writes the K and V rows (n_head_kv × head_dim floats) of one position. */
void lmx_kv_store(lmx_kv *kv, int seq, int layer, int pos, const float *k, const float *v);
/* Positions [old len, len) now hold tokens tok[...] (tok[i] is position
 * from + i): records them and registers every block they complete. */
void lmx_kv_commit(lmx_kv *kv, int seq, int from, const int32_t *tok, int n);

void lmx_kv_truncate_seq(lmx_kv *kv, int seq, int n_keep);
/* dst := the first n positions of src (full blocks shared, the rest copied). */
int lmx_kv_share(lmx_kv *kv, int src, int dst, int n);
/* How many leading tokens of tok[0, n) registered blocks hold (whole blocks). */
int lmx_kv_lookup(const lmx_kv *kv, const int32_t *tok, int n);
/* Extends seq (whose length is a whole number of blocks and which holds
 * tok[0, len)) with registered blocks matching tok[len, n). New length. */
int lmx_kv_attach(lmx_kv *kv, int seq, const int32_t *tok, int n);

typedef struct {
    int blocks_total;   /* the pool's size */
    int blocks_used;    /* held by a sequence */
    int blocks_cached;  /* registered, held by nobody: reusable, evictable */
    size_t block_bytes; /* one block, every layer */
    size_t bytes;       /* memory the blocks take now */
    uint64_t evictions;
} lmx_kv_stats;
void lmx_kv_get_stats(const lmx_kv *kv, lmx_kv_stats *out);

#endif
