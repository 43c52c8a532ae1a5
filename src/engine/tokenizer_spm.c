/* SentencePiece BPE (tokenizer.ggml.model = "llama"), as llama.cpp runs it.
 *
 * Spaces become '▁' (U+2581); the text starts as one symbol per UTF-8
 * character; repeatedly the adjacent pair whose concatenation is the
 * highest-scoring vocabulary token (leftmost on ties) is merged. A final
 * symbol that is no token is spelled out with byte tokens <0xNN>. */
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer_impl.h"

typedef struct {
    uint32_t start, len;
    int prev, next;
} sym;

typedef struct {
    float score;
    int left, right;
    uint32_t size;
} bigram;

static bool bigram_before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

LMX_MERGE_HEAP(bigram, bigram_before)

static void try_bigram(const lmx_tok *t, const char *s, const sym *y, int l, int r, bigram *h,
                       size_t *n) {
    if (l < 0 || r < 0) return;
    uint32_t size = y[l].len + y[r].len;
    int32_t id = lmx_tok_lookup(t, s + y[l].start, size);
    if (id < 0) return;
    bigram b = {t->tok[id].score, l, r, size};
    heap_push(h, n, b);
}

void lmx_spm_encode(const lmx_tok *t, const char *text, size_t len, lmx_ids *out) {
    /* escape: ' ' -> "\xe2\x96\x81" */
    size_t nsp = 0;
    for (size_t i = 0; i < len; i++) nsp += text[i] == ' ';
    size_t n = len + nsp * 2;
    if (!n) return;
    char *s = malloc(n);
    sym *y = malloc(n * sizeof *y);
    bigram *h = malloc(n * 3 * sizeof *h);
    if (!s || !y || !h) {
        out->oom = true;
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(s + k, "\xe2\x96\x81", 3);
            k += 3;
        } else {
            s[k++] = text[i];
        }
    }
    int ns = 0;
    for (size_t off = 0; off < n; ns++) {
        size_t cl = (size_t)lmx_utf8_len((uint8_t)s[off]);
        if (cl > n - off) cl = n - off;
        y[ns].start = (uint32_t)off;
        y[ns].len = (uint32_t)cl;
        off += cl;
        y[ns].prev = ns - 1;
        y[ns].next = off == n ? -1 : ns + 1;
    }
    size_t hn = 0;
    for (int i = 1; i < ns; i++) try_bigram(t, s, y, i - 1, i, h, &hn);
    while (hn) {
        bigram b = heap_pop(h, &hn);
        sym *l = &y[b.left], *r = &y[b.right];
        if (!l->len || !r->len || l->len + r->len != b.size) continue; /* stale */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) y[r->next].prev = b.left;
        try_bigram(t, s, y, l->prev, b.left, h, &hn);
        try_bigram(t, s, y, b.left, l->next, h, &hn);
    }
    for (int i = 0; i >= 0; i = y[i].next) {
        int32_t id = lmx_tok_lookup(t, s + y[i].start, y[i].len);
        if (id >= 0) {
            lmx_ids_push(out, id);
            continue;
        }
        for (uint32_t j = 0; j < y[i].len; j++) {
            uint8_t c = (uint8_t)s[y[i].start + j];
            int32_t bid = t->byte_tok[c];
            if (bid < 0) bid = lmx_tok_lookup(t, (const char *)&c, 1);
            if (bid < 0) bid = t->unk;
            if (bid >= 0) lmx_ids_push(out, bid);
        }
    }
done:
    free(s);
    free(y);
    free(h);
}
