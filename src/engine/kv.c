/* The paged KV cache: a block pool, per-sequence block tables and the index
 * of registered (full, content-addressed) blocks. See kv.h. */
#include "engine/kv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels.h"

typedef struct {
    uint8_t *data; /* NULL while on the free list: memory follows the blocks in use */
    int ref;       /* sequences' table entries */
    int kids;      /* registered blocks whose predecessor it is */
    int parent;    /* registered: the block before it (-1: first of a sequence) */
    int hnext;     /* index chain */
    bool reg;
    uint64_t hash, stamp;
    int32_t tok[LMX_KV_BLOCK];
} block;

struct lmx_kv {
    int n_layer, n_kv, hd;
    lmx_kv_type type;
    size_t es, tile, bbytes;
    int n_seq, per_seq, n_blocks;
    block *b;
    int *free_ids, n_free;
    int *tab;      /* [n_seq][per_seq] block ids */
    uint8_t **ptr; /* [n_seq][per_seq] their data */
    int *len, *nb; /* positions and blocks per sequence */
    int *bucket;   /* index: hash → first block of its chain */
    uint64_t mask, clock, evictions;
};

lmx_kv *lmx_kv_new(int n_layer, int n_head_kv, int head_dim, lmx_kv_type type, int n_seq,
                   int n_ctx) {
    lmx_kv *kv = calloc(1, sizeof *kv);
    if (!kv) return NULL;
    kv->n_layer = n_layer;
    kv->n_kv = n_head_kv;
    kv->hd = head_dim;
    kv->type = type;
    kv->es = type == LMX_KV_F32 ? 4 : type == LMX_KV_Q8_0 ? 1 : 2;
    kv->tile = (size_t)LMX_KV_BLOCK * head_dim * kv->es;
    if (type == LMX_KV_Q8_0) kv->tile += (size_t)LMX_KV_BLOCK * (head_dim / 32) * 2;
    kv->bbytes = kv->tile * 2 * (size_t)n_head_kv * n_layer;
    kv->n_seq = n_seq;
    kv->per_seq = (n_ctx + LMX_KV_BLOCK - 1) / LMX_KV_BLOCK;
    kv->n_blocks = n_seq * kv->per_seq;
    size_t nbk = 1;
    while (nbk < 2 * (size_t)kv->n_blocks) nbk <<= 1;
    kv->mask = nbk - 1;
    kv->b = calloc((size_t)kv->n_blocks, sizeof *kv->b);
    kv->free_ids = malloc(sizeof(int) * (size_t)kv->n_blocks);
    kv->tab = malloc(sizeof(int) * (size_t)kv->n_blocks);
    kv->ptr = calloc((size_t)kv->n_blocks, sizeof(uint8_t *));
    kv->len = calloc((size_t)n_seq, sizeof(int));
    kv->nb = calloc((size_t)n_seq, sizeof(int));
    kv->bucket = malloc(sizeof(int) * nbk);
    if (!kv->b || !kv->free_ids || !kv->tab || !kv->ptr || !kv->len || !kv->nb || !kv->bucket) {
        lmx_kv_free(kv);
        return NULL;
    }
    for (size_t i = 0; i < nbk; i++) kv->bucket[i] = -1;
    /* lowest ids first off the free list */
    for (int i = 0; i < kv->n_blocks; i++) kv->free_ids[i] = kv->n_blocks - 1 - i;
    kv->n_free = kv->n_blocks;
    return kv;
}

void lmx_kv_free(lmx_kv *kv) {
    if (!kv) return;
    for (int i = 0; kv->b && i < kv->n_blocks; i++) free(kv->b[i].data);
    free(kv->b), free(kv->free_ids), free(kv->tab), free(kv->ptr);
    free(kv->len), free(kv->nb), free(kv->bucket);
    free(kv);
}

size_t lmx_kv_tile_bytes(const lmx_kv *kv) {
    return kv->tile;
}
uint8_t *const *lmx_kv_blocks(const lmx_kv *kv, int seq) {
    return kv->ptr + (size_t)seq * kv->per_seq;
}
size_t lmx_kv_tile_off(const lmx_kv *kv, int layer, int head) {
    return ((size_t)layer * kv->n_kv + head) * 2 * kv->tile;
}
int lmx_kv_seq_len(const lmx_kv *kv, int seq) {
    return kv->len[seq];
}

/* ---- the index ---- */

static uint64_t block_hash(int parent, const int32_t *tok) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)(int64_t)parent;
    for (int i = 0; i < LMX_KV_BLOCK; i++) {
        h ^= (uint32_t)tok[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    return h;
}

static int find(const lmx_kv *kv, int parent, const int32_t *tok) {
    uint64_t h = block_hash(parent, tok);
    for (int id = kv->bucket[h & kv->mask]; id >= 0; id = kv->b[id].hnext) {
        const block *b = &kv->b[id];
        if (b->hash == h && b->parent == parent && !memcmp(b->tok, tok, sizeof b->tok)) return id;
    }
    return -1;
}

/* A block nobody holds any more: registered, it stays as cache (evictable
 * once no registered block follows it, least recently released first);
 * else its memory goes back. */
static void settle(lmx_kv *kv, int id) {
    block *b = &kv->b[id];
    if (b->ref > 0 || b->kids > 0) return;
    if (b->reg) {
        b->stamp = ++kv->clock;
        return;
    }
    free(b->data);
    b->data = NULL;
    kv->free_ids[kv->n_free++] = id;
}

static void release(lmx_kv *kv, int id) {
    kv->b[id].ref--;
    settle(kv, id);
}

static void unregister(lmx_kv *kv, int id) {
    block *b = &kv->b[id];
    int *p = &kv->bucket[b->hash & kv->mask];
    while (*p != id) p = &kv->b[*p].hnext;
    *p = b->hnext;
    b->reg = false;
    if (b->parent >= 0) {
        kv->b[b->parent].kids--;
        settle(kv, b->parent);
    }
}

/* ---- blocks ---- */

/* A block for writing (ref 1, unregistered): a free one, else the least
 * recently released registered block nobody holds. -1: none. */
static int take(lmx_kv *kv) {
    int id = -1;
    if (kv->n_free) {
        id = kv->free_ids[kv->n_free - 1];
        if (!kv->b[id].data && !(kv->b[id].data = calloc(1, kv->bbytes))) return -1;
        kv->n_free--;
    } else {
        for (int i = 0; i < kv->n_blocks; i++) {
            const block *b = &kv->b[i];
            if (b->reg && !b->ref && !b->kids && (id < 0 || b->stamp < kv->b[id].stamp)) id = i;
        }
        if (id < 0) return -1;
        unregister(kv, id);
        kv->evictions++;
    }
    kv->b[id].ref = 1;
    return id;
}

static void set_entry(lmx_kv *kv, int seq, int j, int id) {
    kv->tab[(size_t)seq * kv->per_seq + j] = id;
    kv->ptr[(size_t)seq * kv->per_seq + j] = kv->b[id].data;
}

static int entry(const lmx_kv *kv, int seq, int j) {
    return kv->tab[(size_t)seq * kv->per_seq + j];
}

int lmx_kv_reserve(lmx_kv *kv, int seq, int len) {
    int need = (len + LMX_KV_BLOCK - 1) / LMX_KV_BLOCK;
    if (need > kv->per_seq) return -1;
    while (kv->nb[seq] < need) {
        int id = take(kv);
        if (id < 0) return -1;
        set_entry(kv, seq, kv->nb[seq]++, id);
    }
    return 0;
}

static void put(const lmx_kv *kv, uint8_t *dst, float x) {
    if (kv->type == LMX_KV_F32)
        memcpy(dst, &x, 4);
    else {
        uint16_t h = lmx_f32_to_f16(x);
        memcpy(dst, &h, 2);
    }
}

/* 32 values → int8 at dst[i * stride] and their F16 scale (llama.cpp's Q8_0). */
static void q8_group(const float *x, int8_t *dst, size_t stride, uint16_t *scale) {
    float amax = 0;
    for (int i = 0; i < 32; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
    for (int i = 0; i < 32; i++) dst[(size_t)i * stride] = (int8_t)roundf(x[i] * id);
    *scale = lmx_f32_to_f16(d);
}

void lmx_kv_store(lmx_kv *kv, int seq, int layer, int pos, const float *k, const float *v) {
    uint8_t *base = kv->ptr[(size_t)seq * kv->per_seq + pos / LMX_KV_BLOCK];
    int r = pos % LMX_KV_BLOCK, hd = kv->hd;
    if (kv->type == LMX_KV_Q8_0) {
        size_t rows = (size_t)LMX_KV_BLOCK * hd;
        for (int h = 0; h < kv->n_kv; h++) {
            uint8_t *kt = base + lmx_kv_tile_off(kv, layer, h), *vt = kt + kv->tile;
            uint16_t *ks = (uint16_t *)(kt + rows), *vs = (uint16_t *)(vt + rows);
            for (int g = 0; g < hd / 32; g++) {
                q8_group(k + h * hd + g * 32, (int8_t *)kt + (size_t)g * 32 * LMX_KV_BLOCK + r,
                         LMX_KV_BLOCK, &ks[g * LMX_KV_BLOCK + r]);
                q8_group(v + h * hd + g * 32, (int8_t *)vt + (size_t)r * hd + g * 32, 1,
                         &vs[r * (hd / 32) + g]);
            }
        }
        return;
    }
    for (int h = 0; h < kv->n_kv; h++) {
        uint8_t *kt = base + lmx_kv_tile_off(kv, layer, h), *vt = kt + kv->tile;
        for (int d = 0; d < hd; d++) {
            put(kv, kt + ((size_t)d * LMX_KV_BLOCK + r) * kv->es, k[h * hd + d]);
            put(kv, vt + ((size_t)r * hd + d) * kv->es, v[h * hd + d]);
        }
    }
}

/* Block j of seq is full: register it under (block before, tokens), or, when
 * an equal block is registered already, share that one instead. */
static void register_block(lmx_kv *kv, int seq, int j) {
    int id = entry(kv, seq, j), parent = j ? entry(kv, seq, j - 1) : -1;
    block *b = &kv->b[id];
    if (b->reg || (parent >= 0 && !kv->b[parent].reg)) return;
    int same = find(kv, parent, b->tok);
    if (same >= 0) {
        kv->b[same].ref++;
        set_entry(kv, seq, j, same);
        release(kv, id);
        return;
    }
    b->hash = block_hash(parent, b->tok);
    b->parent = parent;
    b->reg = true;
    b->hnext = kv->bucket[b->hash & kv->mask];
    kv->bucket[b->hash & kv->mask] = id;
    if (parent >= 0) kv->b[parent].kids++;
}

void lmx_kv_commit(lmx_kv *kv, int seq, int from, const int32_t *tok, int n) {
    for (int i = 0; i < n; i++) {
        int pos = from + i;
        kv->b[entry(kv, seq, pos / LMX_KV_BLOCK)].tok[pos % LMX_KV_BLOCK] = tok[i];
        if (pos % LMX_KV_BLOCK == LMX_KV_BLOCK - 1) register_block(kv, seq, pos / LMX_KV_BLOCK);
    }
    if (from + n > kv->len[seq]) kv->len[seq] = from + n;
}

/* A private, unregistered copy of block j of seq (to write into). */
static int make_private(lmx_kv *kv, int seq, int j) {
    int id = entry(kv, seq, j);
    block *b = &kv->b[id];
    if (!b->reg) return 0;
    if (b->ref == 1 && !b->kids) { /* only this table holds it, nothing registered follows */
        unregister(kv, id);
        return 0;
    }
    int c = take(kv);
    if (c < 0) return -1;
    memcpy(kv->b[c].data, b->data, kv->bbytes);
    memcpy(kv->b[c].tok, b->tok, sizeof b->tok);
    set_entry(kv, seq, j, c);
    release(kv, id);
    return 0;
}

void lmx_kv_truncate_seq(lmx_kv *kv, int seq, int n_keep) {
    if (n_keep >= kv->len[seq] && n_keep >= kv->nb[seq] * LMX_KV_BLOCK) return;
    if (n_keep > kv->len[seq]) n_keep = kv->len[seq];
    int keep = (n_keep + LMX_KV_BLOCK - 1) / LMX_KV_BLOCK;
    while (kv->nb[seq] > keep) release(kv, entry(kv, seq, --kv->nb[seq]));
    if (n_keep % LMX_KV_BLOCK && make_private(kv, seq, keep - 1)) {
        release(kv, entry(kv, seq, --kv->nb[seq])); /* no block to copy into: drop it */
        n_keep = kv->nb[seq] * LMX_KV_BLOCK;
    }
    kv->len[seq] = n_keep;
}

int lmx_kv_share(lmx_kv *kv, int src, int dst, int n) {
    if (n > kv->len[src]) return -1;
    if (src == dst) {
        lmx_kv_truncate_seq(kv, dst, n);
        return 0;
    }
    lmx_kv_truncate_seq(kv, dst, 0);
    int full = n / LMX_KV_BLOCK;
    for (int j = 0; j < full; j++) {
        int id = entry(kv, src, j);
        kv->b[id].ref++;
        set_entry(kv, dst, j, id);
    }
    kv->nb[dst] = full;
    if (n % LMX_KV_BLOCK) {
        int c = take(kv);
        if (c < 0) {
            kv->len[dst] = full * LMX_KV_BLOCK;
            return -1;
        }
        const block *s = &kv->b[entry(kv, src, full)];
        memcpy(kv->b[c].data, s->data, kv->bbytes);
        memcpy(kv->b[c].tok, s->tok, sizeof s->tok);
        set_entry(kv, dst, kv->nb[dst]++, c);
    }
    kv->len[dst] = n;
    return 0;
}

int lmx_kv_lookup(const lmx_kv *kv, const int32_t *tok, int n) {
    int parent = -1, j = 0;
    for (; (j + 1) * LMX_KV_BLOCK <= n; j++)
        if ((parent = find(kv, parent, tok + (size_t)j * LMX_KV_BLOCK)) < 0) break;
    return j * LMX_KV_BLOCK;
}

int lmx_kv_attach(lmx_kv *kv, int seq, const int32_t *tok, int n) {
    int len = kv->len[seq], j = kv->nb[seq];
    if (len != j * LMX_KV_BLOCK) return len;
    int parent = j ? entry(kv, seq, j - 1) : -1;
    if (parent >= 0 && !kv->b[parent].reg) return len;
    for (; (j + 1) * LMX_KV_BLOCK <= n && j < kv->per_seq; j++) {
        int id = find(kv, parent, tok + (size_t)j * LMX_KV_BLOCK);
        if (id < 0) break;
        kv->b[id].ref++;
        set_entry(kv, seq, j, id);
        parent = id;
    }
    kv->nb[seq] = j;
    return kv->len[seq] = j * LMX_KV_BLOCK;
}

void lmx_kv_get_stats(const lmx_kv *kv, lmx_kv_stats *out) {
    memset(out, 0, sizeof *out);
    out->blocks_total = kv->n_blocks;
    out->block_bytes = kv->bbytes;
    out->evictions = kv->evictions;
    for (int i = 0; i < kv->n_blocks; i++) {
        const block *b = &kv->b[i];
        out->blocks_used += b->ref > 0;
        out->blocks_cached += b->reg && b->ref == 0;
        out->bytes += b->data ? kv->bbytes : 0;
    }
}
