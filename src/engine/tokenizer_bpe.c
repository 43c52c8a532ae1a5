/* Byte-level BPE (tokenizer.ggml.model = "gpt2"), as llama.cpp runs it.
 *
 * The vocabulary stores tokens in GPT-2's byte-to-unicode alphabet ('Ġ' for a
 * space); at load every token and merge is decoded back to raw bytes, so here
 * a word is plain bytes and every string is an index into one interning table
 * (t->raw). Merge ranks are keyed by the pair of indices.
 *
 * Per word: start from single bytes, keep a min-heap of adjacent pairs that
 * have a merge (lowest rank first, then leftmost), pop, skip entries made
 * stale by an earlier merge, merge, push the two new neighbour pairs. A
 * finished piece that is no token falls back to its single-byte tokens,
 * dropping bytes whose one-character form is not ASCII, as llama.cpp does. */
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer_impl.h"

typedef struct {
    int32_t sid; /* raw index of the symbol's text, -1 if not interned */
    uint32_t start, len;
    int prev, next;
} sym;

typedef struct {
    int32_t rank;
    int left, right;
    int32_t lsid, rsid;
} pair;

typedef struct {
    const lmx_tok *t;
    lmx_ids *out;
    sym *syms;
    pair *heap;
    size_t cap;
} bpe_ctx;

static bool pair_before(const pair *a, const pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

LMX_MERGE_HEAP(pair, pair_before)

static void try_pair(const lmx_tok *t, const sym *s, int l, int r, pair *h, size_t *n) {
    if (l < 0 || r < 0 || s[l].sid < 0 || s[r].sid < 0) return;
    int32_t m = lmx_pairmap_get(&t->merge, (uint32_t)s[l].sid, (uint32_t)s[r].sid);
    if (m < 0) return;
    pair p = {m, l, r, s[l].sid, s[r].sid};
    heap_push(h, n, p);
}

static void emit(const lmx_tok *t, const char *w, const sym *s, lmx_ids *out) {
    int32_t id = s->sid >= 0 ? t->raw_tok[s->sid] : -1;
    if (id >= 0) {
        lmx_ids_push(out, id);
        return;
    }
    /* llama.cpp looks up each byte of the byte-level text alone: only the
     * printable ASCII ones (which stand for themselves) can be tokens */
    for (uint32_t i = 0; i < s->len; i++) {
        uint8_t b = (uint8_t)w[s->start + i];
        if (b < 33 || b > 126 || t->byte_raw[b] < 0) continue;
        int32_t bid = t->raw_tok[t->byte_raw[b]];
        if (bid >= 0) lmx_ids_push(out, bid);
    }
}

static void bpe_word(void *vctx, const char *w, size_t n) {
    bpe_ctx *c = vctx;
    const lmx_tok *t = c->t;
    if (!n) return;
    if (t->ignore_merges) {
        int i = lmx_strmap_find(&t->raw, w, n);
        if (i >= 0 && t->raw_tok[i] >= 0) {
            lmx_ids_push(c->out, t->raw_tok[i]);
            return;
        }
    }
    if (n > c->cap) {
        size_t nc = n * 2;
        sym *s = realloc(c->syms, nc * sizeof *s);
        if (!s) {
            c->out->oom = true;
            return;
        }
        c->syms = s;
        /* each merge pushes at most two pairs: n - 1 seeds + 2 per merge */
        pair *h = realloc(c->heap, nc * 3 * sizeof *h);
        if (!h) {
            c->out->oom = true;
            return;
        }
        c->heap = h;
        c->cap = nc;
    }
    sym *s = c->syms;
    for (size_t i = 0; i < n; i++) {
        s[i].sid = t->byte_raw[(uint8_t)w[i]];
        s[i].start = (uint32_t)i;
        s[i].len = 1;
        s[i].prev = (int)i - 1;
        s[i].next = i + 1 < n ? (int)i + 1 : -1;
    }
    size_t hn = 0;
    for (size_t i = 1; i < n; i++) try_pair(t, s, (int)i - 1, (int)i, c->heap, &hn);
    while (hn) {
        pair p = heap_pop(c->heap, &hn);
        sym *l = &s[p.left], *r = &s[p.right];
        if (!l->len || !r->len || l->sid != p.lsid || r->sid != p.rsid) continue; /* stale */
        l->sid = t->merge_res[p.rank];
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = p.left;
        try_pair(t, s, l->prev, p.left, c->heap, &hn);
        try_pair(t, s, p.left, l->next, c->heap, &hn);
    }
    for (int i = 0; i >= 0; i = s[i].next) emit(t, w, &s[i], c->out);
}

void lmx_bpe_encode(const lmx_tok *t, const char *text, size_t len, lmx_ids *out) {
    bpe_ctx c = {t, out, NULL, NULL, 0};
    if (lmx_pretok_split(t->pre, text, len, bpe_word, &c)) out->oom = true;
    free(c.syms);
    free(c.heap);
}
