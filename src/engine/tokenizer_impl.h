/* Internals shared by the tokenizer files (not for other modules).
 *
 * lmx_strmap interns byte strings to dense indices (open addressing over one
 * character buffer); lmx_pairmap maps a pair of such indices to a value. Both
 * only grow. The lmx_tok struct holds the vocabulary copied out of the GGUF. */
#ifndef LMX_TOKENIZER_IMPL_H
#define LMX_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"

/* ---- string interning ---- */
typedef struct {
    char *buf;
    size_t len, cap;
    uint32_t *off, *slen; /* per index */
    int n, ncap;
    uint32_t *ht; /* index + 1, 0 = empty */
    size_t ht_mask;
} lmx_strmap;

uint64_t lmx_hash_bytes(const void *p, size_t n);
int lmx_strmap_find(const lmx_strmap *m, const char *s, size_t n);
int lmx_strmap_add(lmx_strmap *m, const char *s, size_t n); /* -1 on OOM */
void lmx_strmap_free(lmx_strmap *m);

typedef struct {
    uint64_t *keys; /* (a << 32 | b) + 1, 0 = empty */
    int32_t *vals;
    size_t n, mask;
} lmx_pairmap;

int32_t lmx_pairmap_get(const lmx_pairmap *m, uint32_t a, uint32_t b); /* -1 if absent */
int lmx_pairmap_put(lmx_pairmap *m, uint32_t a, uint32_t b,
                    int32_t v); /* keeps the first; -1 OOM */
void lmx_pairmap_free(lmx_pairmap *m);

/* ---- growable id output ---- */
typedef struct {
    int32_t *v;
    int n, cap;
    bool oom;
} lmx_ids;

void lmx_ids_push(lmx_ids *o, int32_t id);

/* ---- UTF-8 as llama.cpp reads and writes it ---- */
int lmx_utf8_len(uint8_t lead);                             /* from the lead byte alone: 1..4 */
uint32_t lmx_utf8_next(const char *s, size_t n, size_t *i); /* invalid byte: U+FFFD, 1 byte */
int lmx_utf8_put(uint32_t cp, char *out);                   /* 1..4 bytes */

/* ---- pre-tokenizer (pretokenize.c) ---- */
typedef struct lmx_pretok lmx_pretok;
typedef void (*lmx_word_fn)(void *ctx, const char *word, size_t n);
/* NULL (with err) for an unknown name. Sets the pre-type's flags. */
lmx_pretok *lmx_pretok_new(const char *name, size_t name_len, bool *ignore_merges,
                           bool *clean_spaces, char *err, size_t errlen);
void lmx_pretok_free(lmx_pretok *p);
/* Splits text into words (UTF-8 as llama.cpp re-encodes it), calling fn for each in order. */
int lmx_pretok_split(const lmx_pretok *p, const char *text, size_t len, lmx_word_fn fn, void *ctx);

/* ---- the merge queue of BPE and SentencePiece ---- */

/* Defines static heap_push / heap_pop, a binary heap of T ordered by
 * before(const T *, const T *) (the element that pops first), written once
 * for the files' different candidate types (BPE's ranked pairs,
 * SentencePiece's scored bigrams). The caller owns the array and its count. */
#define LMX_MERGE_HEAP(T, before)                                                                  \
    static void heap_push(T *h, size_t *n, T p) {                                                  \
        size_t i = (*n)++;                                                                         \
        while (i) {                                                                                \
            size_t up = (i - 1) / 2;                                                               \
            if (!before(&p, &h[up])) break;                                                        \
            h[i] = h[up];                                                                          \
            i = up;                                                                                \
        }                                                                                          \
        h[i] = p;                                                                                  \
    }                                                                                              \
    static T heap_pop(T *h, size_t *n) {                                                           \
        T top = h[0], last = h[--*n];                                                              \
        size_t i = 0;                                                                              \
        for (;;) {                                                                                 \
            size_t c = 2 * i + 1;                                                                  \
            if (c >= *n) break;                                                                    \
            if (c + 1 < *n && before(&h[c + 1], &h[c])) c++;                                       \
            if (!before(&h[c], &last)) break;                                                      \
            h[i] = h[c];                                                                           \
            i = c;                                                                                 \
        }                                                                                          \
        if (*n) h[i] = last;                                                                       \
        return top;                                                                                \
    }

/* ---- the tokenizer ---- */
enum { LMX_TOK_SPM = 1, LMX_TOK_BPE, LMX_TOK_WPM };

enum { /* llama.cpp's token attributes */
       LMX_ATTR_UNDEFINED = 0,
       LMX_ATTR_UNKNOWN = 1 << 0,
       LMX_ATTR_UNUSED = 1 << 1,
       LMX_ATTR_NORMAL = 1 << 2,
       LMX_ATTR_CONTROL = 1 << 3,
       LMX_ATTR_USER_DEFINED = 1 << 4,
       LMX_ATTR_BYTE = 1 << 5,
       LMX_ATTR_LSTRIP = 1 << 7,
       LMX_ATTR_RSTRIP = 1 << 8,
};

typedef struct {
    uint32_t off, len; /* text in lmx_tok.text */
    float score;
    uint16_t attr;
} lmx_tok_entry;

struct lmx_tok {
    int kind;
    int n_vocab;
    char *text;
    lmx_tok_entry *tok;
    lmx_strmap vmap; /* token text -> index; vmap_id: index -> token id (the last with that text) */
    int32_t *vmap_id;

    int32_t bos, eos, unk, sep, pad, eot, eom;
    bool add_bos, add_eos, add_sep, add_space_prefix, clean_spaces, ignore_merges;

    int32_t *special; /* CONTROL/USER_DEFINED/UNKNOWN ids, longest text first */
    int n_special;
    uint8_t *eog; /* per id */

    /* rendered pieces (as with special = true) */
    char *piece;
    uint32_t *piece_off, *piece_len;
    size_t max_piece;

    /* SPM */
    int32_t byte_tok[256]; /* <0xNN> ids, -1 if absent */

    /* BPE: everything keyed by raw bytes (the vocab's byte-level text decoded) */
    lmx_strmap raw;   /* raw strings: tokens, merge parts and results */
    int32_t *raw_tok; /* raw index -> token id, -1 if not a token */
    int raw_tok_cap;
    lmx_pairmap merge;     /* (left raw idx, right raw idx) -> merge number */
    int32_t *merge_res;    /* merge number -> raw idx of the merged string */
    int32_t byte_raw[256]; /* raw index of each single byte, -1 if never seen */
    lmx_pretok *pre;

    /* WPM */
    int max_tok_len;
};

void lmx_spm_encode(const lmx_tok *t, const char *text, size_t len, lmx_ids *out);
void lmx_bpe_encode(const lmx_tok *t, const char *text, size_t len, lmx_ids *out);
void lmx_wpm_encode(const lmx_tok *t, const char *text, size_t len, lmx_ids *out);

/* token id of a text, -1 if none */
static inline int32_t lmx_tok_lookup(const lmx_tok *t, const char *s, size_t n) {
    int i = lmx_strmap_find(&t->vmap, s, n);
    return i < 0 ? -1 : t->vmap_id[i];
}

#endif
