/* Grammar automaton and vocabulary masks (see grammar.h).
 *
 * Representation. Alternatives are stored flat in g->el, each ended by
 * EL_END; an element is a byte class (negative: -1 - class index) or a rule
 * reference (>= 0). A parse stack is a linked list of positions in g->el: the
 * top is the next element to match, each parent the position to return to.
 * Stacks are interned (node = (pos, parent)), so equal stacks are equal ids;
 * node 0 is the empty stack, which means "the text is complete". A state is
 * a set of stacks whose tops are all byte classes (expanded), also interned:
 * set 0 is the dead set. Stepping a set by a byte is cached per set, so after
 * a few tokens the trie walk is mostly table lookups.
 *
 * A reference that is the last element of its alternative does not push a
 * return frame (tail call), so repetition written as right recursion
 * (R := x R | empty) runs in constant stack depth. A closure visits each node
 * once, so left recursion cannot loop; stacks deeper than MAX_DEPTH are
 * dropped (a recursive schema nested that deep).
 *
 * Masks. The trie is walked depth first, stepping the set by each edge's
 * byte; a dead set prunes the subtree. Two shortcuts keep the common case
 * cheap: a big subtree whose bytes all step the current set back to itself
 * (plain characters inside a string) is allowed whole without descending, and
 * the allowed list of a set with many allowed tokens is cached (inside a
 * string the set repeats token after token), with, per token, the bytes it
 * would leave to close, so the budget rule filters the cached list. */
#include "text/grammar.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/free_each.h"
#include "util/grow.h"

#define EL_END    INT32_MIN
#define INF_LEN   (1 << 24)
#define MAX_DEPTH 512
#define MAX_ELEMS (1 << 24)
/* sets whose masks are kept, and the fewest allowed tokens worth keeping */
#define MASK_CACHE     4
#define MASK_CACHE_MIN 1024
/* tokens kept in reserve beyond the bytes still to close: the end token */
#define CLOSE_MARGIN 1

struct lmx_gram {
    atomic_int refs;
    int32_t *el;
    int n_el, cap_el;
    uint8_t (*cls)[32];
    int n_cls, cap_cls;
    int32_t single[256]; /* class index of a one-byte class, or -1 */
    int32_t *alt_rule, *alt_start;
    int n_alt, cap_alt;
    int n_rules;
    int32_t *rule_first, *rule_n, *alts; /* after finish: rule r's alternatives */
    int32_t *minlen;                     /* per rule: fewest bytes it derives */
    int32_t *minrest;                    /* per position: fewest bytes to its alternative's end */
    int root;
    bool oom, finished;
};

/* Arrays of the grammar: at most 2^30 elements. */
static bool grow(void *p, int *cap, int need, size_t elem) {
    return need <= (1 << 30) && lmx_grow_int(p, cap, need, elem, 16);
}

/* Parallel arrays (arrs[i]: a T ** of elems[i]-byte elements) sharing one
 * capacity, grown together; a failure leaves *cap as it was, so arrays that
 * did grow are only larger than needed. */
static bool grow_parallel(int *cap, int need, void *const arrs[], const size_t elems[], int n) {
    int c = *cap;
    for (int i = 0; i < n; i++) {
        c = *cap;
        if (!grow(arrs[i], &c, need, elems[i])) return false;
    }
    *cap = c;
    return true;
}

lmx_gram *lmx_gram_new(void) {
    lmx_gram *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    atomic_init(&g->refs, 1);
    for (int i = 0; i < 256; i++) g->single[i] = -1;
    return g;
}

lmx_gram *lmx_gram_retain(lmx_gram *g) {
    if (g) atomic_fetch_add(&g->refs, 1);
    return g;
}

void lmx_gram_release(lmx_gram *g) {
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1) return;
    LMX_FREE_EACH(g->el, g->cls, g->alt_rule, g->alt_start, g->rule_first, g->rule_n, g->alts,
                  g->minlen, g->minrest, g);
}

int lmx_gram_rule(lmx_gram *g) {
    return g->n_rules++;
}
int lmx_gram_n_rules(const lmx_gram *g) {
    return g->n_rules;
}

static void seq_push(lmx_gram_seq *s, int32_t e) {
    if (!grow(&s->el, &s->cap, s->n + 1, sizeof *s->el)) {
        s->oom = true;
        return;
    }
    s->el[s->n++] = e;
}

static int32_t class_index(lmx_gram *g, const uint8_t set[32]) {
    int count = 0, last = -1;
    for (int b = 0; b < 256; b++)
        if (set[b >> 3] >> (b & 7) & 1) count++, last = b;
    if (count == 1 && g->single[last] >= 0) return g->single[last];
    if (!grow(&g->cls, &g->cap_cls, g->n_cls + 1, sizeof *g->cls)) {
        g->oom = true;
        return -1;
    }
    memcpy(g->cls[g->n_cls], set, 32);
    if (count == 1) g->single[last] = g->n_cls;
    return g->n_cls++;
}

void lmx_gram_seq_class(lmx_gram *g, lmx_gram_seq *s, const uint8_t set[32]) {
    int32_t c = class_index(g, set);
    if (c < 0)
        s->oom = true;
    else
        seq_push(s, -1 - c);
}

void lmx_gram_seq_range(lmx_gram *g, lmx_gram_seq *s, uint8_t lo, uint8_t hi) {
    uint8_t set[32] = {0};
    for (int b = lo; b <= hi; b++) set[b >> 3] |= (uint8_t)(1u << (b & 7));
    lmx_gram_seq_class(g, s, set);
}

void lmx_gram_seq_byte(lmx_gram *g, lmx_gram_seq *s, uint8_t b) {
    lmx_gram_seq_range(g, s, b, b);
}

void lmx_gram_seq_lit(lmx_gram *g, lmx_gram_seq *s, const char *text, size_t n) {
    for (size_t i = 0; i < n; i++) lmx_gram_seq_byte(g, s, (uint8_t)text[i]);
}

void lmx_gram_seq_ref(lmx_gram_seq *s, int rule) {
    seq_push(s, rule);
}

void lmx_gram_seq_free(lmx_gram_seq *s) {
    free(s->el);
    memset(s, 0, sizeof *s);
}

void lmx_gram_add_alt(lmx_gram *g, int rule, lmx_gram_seq *s) {
    if (s->oom || g->n_el + s->n + 1 > MAX_ELEMS ||
        !grow(&g->el, &g->cap_el, g->n_el + s->n + 1, sizeof *g->el) ||
        !grow(&g->alt_rule, &g->cap_alt, g->n_alt + 1, sizeof *g->alt_rule) ||
        !(g->alt_start = realloc(g->alt_start, sizeof *g->alt_start * (size_t)g->cap_alt))) {
        g->oom = true;
        s->n = 0;
        s->oom = false;
        return;
    }
    g->alt_rule[g->n_alt] = rule;
    g->alt_start[g->n_alt++] = g->n_el;
    if (s->n) memcpy(g->el + g->n_el, s->el, sizeof *s->el * (size_t)s->n);
    g->n_el += s->n;
    g->el[g->n_el++] = EL_END;
    s->n = 0;
}

int lmx_gram_lit_rule(lmx_gram *g, const char *text, size_t n) {
    int r = lmx_gram_rule(g);
    lmx_gram_seq s = {0};
    lmx_gram_seq_lit(g, &s, text, n);
    lmx_gram_add_alt(g, r, &s);
    lmx_gram_seq_free(&s);
    return r;
}

static int32_t sat_add(int32_t a, int32_t b) {
    return a + b >= INF_LEN ? INF_LEN : a + b;
}

int lmx_gram_finish(lmx_gram *g, int root, char *err, size_t errlen) {
    if (g->oom) {
        snprintf(err, errlen, "the grammar is too large (out of memory)");
        return -1;
    }
    if (root < 0 || root >= g->n_rules) {
        snprintf(err, errlen, "the grammar has no start rule");
        return -1;
    }
    int nr = g->n_rules;
    g->rule_first = calloc((size_t)nr + 1, sizeof(int32_t));
    g->rule_n = calloc((size_t)nr + 1, sizeof(int32_t));
    g->alts = malloc(sizeof(int32_t) * ((size_t)g->n_alt + 1));
    g->minlen = malloc(sizeof(int32_t) * ((size_t)nr + 1));
    g->minrest = malloc(sizeof(int32_t) * ((size_t)g->n_el + 1));
    if (!g->rule_first || !g->rule_n || !g->alts || !g->minlen || !g->minrest) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < g->n_el; i++)
        if (g->el[i] >= nr) {
            snprintf(err, errlen, "the grammar refers to an undefined rule");
            return -1;
        }
    /* alternatives grouped by rule (counting sort, stable) */
    for (int a = 0; a < g->n_alt; a++) g->rule_n[g->alt_rule[a]]++;
    for (int r = 1; r < nr; r++) g->rule_first[r] = g->rule_first[r - 1] + g->rule_n[r - 1];
    int32_t *fill = calloc((size_t)nr + 1, sizeof(int32_t));
    if (!fill) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int a = 0; a < g->n_alt; a++) {
        int r = g->alt_rule[a];
        g->alts[g->rule_first[r] + fill[r]++] = g->alt_start[a];
    }
    free(fill);
    /* fewest bytes per rule: a fixpoint (each pass finalizes at least one rule) */
    for (int r = 0; r < nr; r++) g->minlen[r] = INF_LEN;
    for (bool changed = true; changed;) {
        changed = false;
        for (int r = 0; r < nr; r++)
            for (int k = 0; k < g->rule_n[r]; k++) {
                int32_t len = 0;
                for (int p = g->alts[g->rule_first[r] + k]; g->el[p] != EL_END; p++)
                    len = sat_add(len, g->el[p] < 0 ? 1 : g->minlen[g->el[p]]);
                if (len < g->minlen[r]) {
                    g->minlen[r] = len;
                    changed = true;
                }
            }
    }
    for (int p = g->n_el - 1; p >= 0; p--)
        g->minrest[p] = g->el[p] == EL_END
                            ? 0
                            : sat_add(g->el[p] < 0 ? 1 : g->minlen[g->el[p]], g->minrest[p + 1]);
    g->root = root;
    g->finished = true;
    return 0;
}

/* ---- vocabulary trie ---- */

typedef struct {
    int32_t first_child, n_child; /* children are contiguous in v->nodes */
    int32_t end_lo, end_n;        /* tokens (in v->order) whose bytes end here */
    int32_t sub_hi;               /* the subtree's tokens are order[end_lo, sub_hi) */
    int32_t bytes;                /* big subtrees: index in v->bytesets of the bytes below; -1 */
    uint8_t byte;
} tnode;

/* A subtree with at least this many tokens below its root keeps the set of
 * bytes used below it: when all of them loop the automaton back to the same
 * state (plain characters inside a string), the whole subtree is allowed at
 * once instead of walked. */
#define BYTESET_MIN_TOKENS 16

struct lmx_gram_vocab {
    int n_vocab;
    char *bytes;
    size_t *off;
    uint32_t *len;
    int32_t *eog;
    int n_eog;
    int32_t *order; /* ids with a non-empty piece, sorted by bytes */
    int n_order;
    tnode *nodes;
    int n_nodes;
    uint8_t (*bytesets)[32];
    bool *whole_utf8; /* per byteset: every token below continues with whole UTF-8 characters */
    int n_bytesets, cap_bytesets;
};

static int cmp_piece(const void *a, const void *b, void *ctx) {
    const lmx_gram_vocab *sort_v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = sort_v->len[x], ly = sort_v->len[y];
    int c =
        memcmp(sort_v->bytes + sort_v->off[x], sort_v->bytes + sort_v->off[y], lx < ly ? lx : ly);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* p[0, n) is whole, well-formed UTF-8 characters (no surrogates, no overlongs). */
static bool utf8_whole(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i], lo = 0x80, hi = 0xBF;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            k = 1;
        else if (c == 0xE0)
            k = 2, lo = 0xA0;
        else if (c >= 0xE1 && c <= 0xEF)
            k = 2, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c == 0xF0)
            k = 3, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3)
            k = 3;
        else if (c == 0xF4)
            k = 3, hi = 0x8F;
        else
            return false;
        if (n - i <= k || p[i + 1] < lo || p[i + 1] > hi) return false;
        for (size_t j = 2; j <= k; j++)
            if (p[i + j] < 0x80 || p[i + j] > 0xBF) return false;
        i += k + 1;
    }
    return true;
}

static uint8_t piece_byte(const lmx_gram_vocab *v, int i, int d) {
    return (uint8_t)v->bytes[v->off[v->order[i]] + (size_t)d];
}

/* Fills node k for the tokens order[lo, hi) sharing their first d bytes;
 * or's the bytes used below it into `below`. */
static void build_node(lmx_gram_vocab *v, int k, int d, int lo, int hi, uint8_t below[32]) {
    tnode *t = &v->nodes[k];
    t->end_lo = lo;
    t->sub_hi = hi;
    t->bytes = -1;
    while (lo < hi && (int)v->len[v->order[lo]] == d) lo++;
    t->end_n = lo - t->end_lo;
    int n = 0;
    for (int i = lo; i < hi; n++) {
        uint8_t b = piece_byte(v, i, d);
        while (i < hi && piece_byte(v, i, d) == b) i++;
    }
    t->first_child = v->n_nodes;
    t->n_child = n;
    v->n_nodes += n;
    int c = t->first_child;
    uint8_t mine[32] = {0};
    for (int i = lo; i < hi; c++) {
        int j = i;
        uint8_t b = piece_byte(v, i, d);
        while (j < hi && piece_byte(v, j, d) == b) j++;
        v->nodes[c].byte = b;
        mine[b >> 3] |= (uint8_t)(1u << (b & 7));
        build_node(v, c, d + 1, i, j, mine);
        i = j;
    }
    if (hi - lo >= BYTESET_MIN_TOKENS &&
        grow(&v->bytesets, &v->cap_bytesets, v->n_bytesets + 1, 32)) {
        bool *w = realloc(v->whole_utf8, (size_t)v->cap_bytesets * sizeof *w);
        if (w) {
            v->whole_utf8 = w;
            bool whole = true;
            for (int i = lo; i < hi && whole; i++) {
                int32_t id = v->order[i];
                whole =
                    utf8_whole((const uint8_t *)v->bytes + v->off[id] + d, v->len[id] - (size_t)d);
            }
            memcpy(v->bytesets[v->n_bytesets], mine, 32);
            v->whole_utf8[v->n_bytesets] = whole;
            v->nodes[k].bytes = v->n_bytesets++;
        }
    }
    for (int i = 0; i < 32; i++) below[i] |= mine[i];
}

lmx_gram_vocab *lmx_gram_vocab_new(int n_vocab, lmx_gram_piece_fn piece, void *ctx,
                                   const bool *eog) {
    lmx_gram_vocab *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->n_vocab = n_vocab;
    v->off = malloc(sizeof *v->off * ((size_t)n_vocab + 1));
    v->len = malloc(sizeof *v->len * ((size_t)n_vocab + 1));
    v->eog = malloc(sizeof *v->eog * ((size_t)n_vocab + 1));
    v->order = malloc(sizeof *v->order * ((size_t)n_vocab + 1));
    size_t cap = 4096, used = 0;
    v->bytes = malloc(cap);
    if (!v->off || !v->len || !v->eog || !v->order || !v->bytes) goto fail;
    char buf[1024];
    for (int32_t id = 0; id < n_vocab; id++) {
        size_t n = piece(ctx, id, buf, sizeof buf);
        if (n > sizeof buf) n = 0; /* a piece that long is never wanted in structured output */
        if (!lmx_grow(&v->bytes, &cap, used + n, 1, 4096)) goto fail;
        memcpy(v->bytes + used, buf, n);
        v->off[id] = used;
        v->len[id] = (uint32_t)n;
        used += n;
        if (eog && eog[id])
            v->eog[v->n_eog++] = id;
        else if (n)
            v->order[v->n_order++] = id;
    }
    /* qsort_r: schedulers of different models may build their tries at once */
    qsort_r(v->order, (size_t)v->n_order, sizeof *v->order, cmp_piece, v);
    v->nodes = calloc(used + 1, sizeof *v->nodes);
    if (!v->nodes) goto fail;
    v->n_nodes = 1;
    uint8_t all[32] = {0};
    build_node(v, 0, 0, 0, v->n_order, all);
    return v;
fail:
    lmx_gram_vocab_free(v);
    return NULL;
}

void lmx_gram_vocab_free(lmx_gram_vocab *v) {
    if (!v) return;
    LMX_FREE_EACH(v->bytes, v->off, v->len, v->eog, v->order, v->nodes, v->bytesets, v->whole_utf8,
                  v);
}

int lmx_gram_vocab_size(const lmx_gram_vocab *v) {
    return v->n_vocab;
}

/* ---- per-sequence state ---- */

struct lmx_gram_state {
    lmx_gram *g;
    const lmx_gram_vocab *v;
    /* interned stacks; node 0 is the empty stack */
    int32_t *nd_pos, *nd_par, *nd_close, *nd_depth;
    uint32_t *nd_mark, *nd_seen;
    int n_nd, cap_nd;
    int32_t *nh;
    int nh_cap;
    /* interned sets; set 0 is dead */
    int32_t *set_off, *set_len, *set_close;
    int32_t **set_trans;
    /* bytes known to step the set to itself ([0, 32)), known not to ([32, 64)) */
    uint8_t (*set_loop)[64];
    int8_t
        *set_u8; /* every whole multi-byte UTF-8 character steps it to itself: 0 ?, 1 yes, 2 no */
    int n_sets, cap_sets;
    int32_t *items;
    int n_items, cap_items;
    int32_t *sh;
    int sh_cap;
    uint32_t stamp;
    bool out_complete;
    int32_t *tmp;
    int n_tmp, cap_tmp;
    int cur;
    bool ended, oom;
    /* the last walk's tokens and the bytes each leaves to close */
    int32_t *wtok, *wclose;
    /* masks of recent sets with many allowed tokens (inside a string the set
     * repeats token after token): the walk is done once per set */
    struct {
        int32_t set, n;
        int32_t *tok, *close;
        uint64_t used;
    } cache[MASK_CACHE];
    uint64_t clock;
};

static uint32_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (uint32_t)x;
}

static uint32_t node_hash(int32_t pos, int32_t par) {
    return mix(((uint64_t)(uint32_t)pos << 32) | (uint32_t)par);
}
static uint32_t node_key(const lmx_gram_state *st, int n) {
    return node_hash(st->nd_pos[n], st->nd_par[n]);
}

/* Rebuilds an open-addressing index (*tab of *tab_cap slots, 0 empty) with
 * cap slots for entries 1 .. n-1 hashed by key: nodes' and sets' indexes. */
static bool rehash(lmx_gram_state *st, int32_t **tab, int *tab_cap, int cap, int n,
                   uint32_t (*key)(const lmx_gram_state *st, int e)) {
    int32_t *h = calloc((size_t)cap, sizeof *h);
    if (!h) return false;
    for (int e = 1; e < n; e++) {
        uint32_t i = key(st, e) & (uint32_t)(cap - 1);
        while (h[i]) i = (i + 1) & (uint32_t)(cap - 1);
        h[i] = e;
    }
    free(*tab);
    *tab = h;
    *tab_cap = cap;
    return true;
}

/* The node (pos, par); -1 when out of memory or too deep. */
static int32_t intern(lmx_gram_state *st, int32_t pos, int32_t par) {
    if (par < 0) return -1;
    uint32_t i = node_hash(pos, par) & (uint32_t)(st->nh_cap - 1);
    for (int32_t n; (n = st->nh[i]); i = (i + 1) & (uint32_t)(st->nh_cap - 1))
        if (st->nd_pos[n] == pos && st->nd_par[n] == par) return n;
    int depth = st->nd_depth[par] + 1;
    if (depth > MAX_DEPTH) return -1;
    int n = st->n_nd;
    if (n + 1 > st->cap_nd) {
        void *const arrs[] = {&st->nd_pos,   &st->nd_par,  &st->nd_close,
                              &st->nd_depth, &st->nd_mark, &st->nd_seen};
        const size_t elems[] = {sizeof *st->nd_pos,   sizeof *st->nd_par,  sizeof *st->nd_close,
                                sizeof *st->nd_depth, sizeof *st->nd_mark, sizeof *st->nd_seen};
        int old = st->cap_nd;
        if (!grow_parallel(&st->cap_nd, n + 1, arrs, elems, 6)) {
            st->oom = true;
            return -1;
        }
        memset(st->nd_mark + old, 0, sizeof *st->nd_mark * (size_t)(st->cap_nd - old));
        memset(st->nd_seen + old, 0, sizeof *st->nd_seen * (size_t)(st->cap_nd - old));
    }
    st->nd_pos[n] = pos;
    st->nd_par[n] = par;
    st->nd_depth[n] = depth;
    st->nd_close[n] = sat_add(st->g->minrest[pos], st->nd_close[par]);
    st->n_nd++;
    if (2 * st->n_nd > st->nh_cap) {
        if (!rehash(st, &st->nh, &st->nh_cap, st->nh_cap * 2, st->n_nd, node_key)) {
            st->oom = true;
            st->n_nd--;
            return -1;
        }
        return n;
    }
    st->nh[i] = n;
    return n;
}

static void out_add(lmx_gram_state *st, int32_t n) {
    if (n == 0) {
        st->out_complete = true;
        return;
    }
    if (st->nd_mark[n] == st->stamp) return;
    st->nd_mark[n] = st->stamp;
    if (!grow(&st->tmp, &st->cap_tmp, st->n_tmp + 1, sizeof *st->tmp)) {
        st->oom = true;
        return;
    }
    st->tmp[st->n_tmp++] = n;
}

/* Adds to the output the expanded stacks (tops are byte classes) of node n. */
static void expand(lmx_gram_state *st, int32_t n) {
    const lmx_gram *g = st->g;
    while (n > 0) {
        if (st->nd_seen[n] == st->stamp) return;
        st->nd_seen[n] = st->stamp;
        int32_t pos = st->nd_pos[n], e = g->el[pos];
        if (e == EL_END) {
            n = st->nd_par[n];
            continue;
        }
        if (e < 0) {
            out_add(st, n);
            return;
        }
        int32_t ret = g->el[pos + 1] == EL_END ? st->nd_par[n] : intern(st, pos + 1, st->nd_par[n]);
        if (ret < 0) return;
        for (int k = 0; k < g->rule_n[e]; k++) {
            int32_t m = intern(st, g->alts[g->rule_first[e] + k], ret);
            if (m >= 0) expand(st, m);
        }
        return;
    }
    if (n == 0) out_add(st, 0);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t hash_items(const int32_t *p, int n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) h = (h ^ (uint32_t)p[i]) * 0x100000001B3ull;
    return mix(h);
}

static uint32_t set_key(const lmx_gram_state *st, int s) {
    return hash_items(st->items + st->set_off[s], st->set_len[s]);
}

/* Interns st->tmp (plus the empty stack if out_complete) as a set. */
static int32_t intern_set(lmx_gram_state *st) {
    if (st->oom) return 0;
    int n = st->n_tmp + (st->out_complete ? 1 : 0);
    if (n == 0) return 0;
    if (!grow(&st->tmp, &st->cap_tmp, n, sizeof *st->tmp)) return 0;
    if (st->out_complete) st->tmp[st->n_tmp] = 0;
    qsort(st->tmp, (size_t)n, sizeof *st->tmp, cmp_i32);
    uint32_t i = hash_items(st->tmp, n) & (uint32_t)(st->sh_cap - 1);
    for (int32_t s; (s = st->sh[i]); i = (i + 1) & (uint32_t)(st->sh_cap - 1))
        if (st->set_len[s] == n &&
            !memcmp(st->items + st->set_off[s], st->tmp, sizeof *st->tmp * (size_t)n))
            return s;
    int s = st->n_sets;
    if (!grow(&st->items, &st->cap_items, st->n_items + n, sizeof *st->items))
        return st->oom = true, 0;
    if (s + 1 > st->cap_sets) {
        void *const arrs[] = {&st->set_off,   &st->set_len,  &st->set_close,
                              &st->set_trans, &st->set_loop, &st->set_u8};
        const size_t elems[] = {sizeof *st->set_off,   sizeof *st->set_len,  sizeof *st->set_close,
                                sizeof *st->set_trans, sizeof *st->set_loop, sizeof *st->set_u8};
        if (!grow_parallel(&st->cap_sets, s + 1, arrs, elems, 6)) return st->oom = true, 0;
    }
    memcpy(st->items + st->n_items, st->tmp, sizeof *st->tmp * (size_t)n);
    st->set_off[s] = st->n_items;
    st->set_len[s] = n;
    st->n_items += n;
    int32_t close = INF_LEN;
    for (int k = 0; k < n; k++)
        if (st->nd_close[st->tmp[k]] < close) close = st->nd_close[st->tmp[k]];
    st->set_close[s] = close;
    st->set_trans[s] = NULL;
    memset(st->set_loop[s], 0, 64);
    st->set_u8[s] = 0;
    st->n_sets++;
    if (2 * st->n_sets > st->sh_cap) {
        if (!rehash(st, &st->sh, &st->sh_cap, st->sh_cap * 2, st->n_sets, set_key)) {
            st->n_sets--;
            st->n_items -= n;
            return st->oom = true, 0;
        }
    } else
        st->sh[i] = s;
    return s;
}

static bool set_complete(const lmx_gram_state *st, int s) {
    return s > 0 && st->items[st->set_off[s]] == 0; /* sorted: node 0 first */
}

static int32_t step(lmx_gram_state *st, int32_t s, uint8_t b) {
    if (s <= 0) return 0;
    if (st->set_trans[s] && st->set_trans[s][b] >= 0) return st->set_trans[s][b];
    const lmx_gram *g = st->g;
    st->stamp++;
    st->n_tmp = 0;
    st->out_complete = false;
    for (int k = 0; k < st->set_len[s]; k++) {
        int32_t n = st->items[st->set_off[s] + k];
        if (n == 0) continue;
        int32_t pos = st->nd_pos[n];
        const uint8_t *c = g->cls[-1 - g->el[pos]];
        if (!(c[b >> 3] >> (b & 7) & 1)) continue;
        int32_t next =
            g->el[pos + 1] == EL_END ? st->nd_par[n] : intern(st, pos + 1, st->nd_par[n]);
        if (next >= 0) expand(st, next);
    }
    int32_t r = intern_set(st);
    if (!st->set_trans[s]) {
        st->set_trans[s] = malloc(256 * sizeof(int32_t));
        if (st->set_trans[s])
            for (int i = 0; i < 256; i++) st->set_trans[s][i] = -1;
    }
    if (st->set_trans[s] && !st->oom) st->set_trans[s][b] = r;
    return r;
}

static void cache_clear(lmx_gram_state *st) {
    for (int i = 0; i < MASK_CACHE; i++) {
        free(st->cache[i].tok);
        free(st->cache[i].close);
        st->cache[i].tok = st->cache[i].close = NULL;
        st->cache[i].set = -1;
    }
}

static void state_clear(lmx_gram_state *st) {
    cache_clear(st);
    for (int s = 0; s < st->n_sets; s++) free(st->set_trans[s]);
    st->n_sets = 1;
    st->n_items = 0;
    st->n_nd = 1;
    memset(st->nh, 0, sizeof *st->nh * (size_t)st->nh_cap);
    memset(st->sh, 0, sizeof *st->sh * (size_t)st->sh_cap);
    st->set_trans[0] = NULL;
}

static int32_t initial_set(lmx_gram_state *st) {
    const lmx_gram *g = st->g;
    st->stamp++;
    st->n_tmp = 0;
    st->out_complete = false;
    for (int k = 0; k < g->rule_n[g->root]; k++) {
        int32_t m = intern(st, g->alts[g->rule_first[g->root] + k], 0);
        if (m >= 0) expand(st, m);
    }
    return intern_set(st);
}

lmx_gram_state *lmx_gram_state_new(lmx_gram *g, const lmx_gram_vocab *v) {
    if (!g || !g->finished) return NULL;
    lmx_gram_state *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->g = lmx_gram_retain(g);
    st->v = v;
    st->cap_nd = 1024;
    st->nd_pos = malloc(sizeof(int32_t) * 1024);
    st->nd_par = malloc(sizeof(int32_t) * 1024);
    st->nd_close = malloc(sizeof(int32_t) * 1024);
    st->nd_depth = malloc(sizeof(int32_t) * 1024);
    st->nd_mark = calloc(1024, sizeof(uint32_t));
    st->nd_seen = calloc(1024, sizeof(uint32_t));
    st->nh_cap = 2048;
    st->nh = calloc(2048, sizeof(int32_t));
    st->cap_sets = 256;
    st->set_off = malloc(sizeof(int32_t) * 256);
    st->set_len = malloc(sizeof(int32_t) * 256);
    st->set_close = malloc(sizeof(int32_t) * 256);
    st->set_trans = calloc(256, sizeof(int32_t *));
    st->set_loop = malloc(64 * 256);
    st->set_u8 = calloc(256, sizeof(int8_t));
    st->sh_cap = 512;
    st->sh = calloc(512, sizeof(int32_t));
    if (!st->nd_pos || !st->nd_par || !st->nd_close || !st->nd_depth || !st->nd_mark ||
        !st->nd_seen || !st->nh || !st->set_off || !st->set_len || !st->set_close ||
        !st->set_trans || !st->set_loop || !st->set_u8 || !st->sh) {
        lmx_gram_state_free(st);
        return NULL;
    }
    for (int i = 0; i < MASK_CACHE; i++) st->cache[i].set = -1;
    st->nd_pos[0] = st->nd_par[0] = -1;
    st->nd_close[0] = st->nd_depth[0] = 0;
    st->n_nd = 1;
    st->set_off[0] = st->set_len[0] = 0;
    st->set_close[0] = INF_LEN;
    st->n_sets = 1;
    st->cur = initial_set(st);
    if (st->oom) {
        lmx_gram_state_free(st);
        return NULL;
    }
    return st;
}

void lmx_gram_state_free(lmx_gram_state *st) {
    if (!st) return;
    if (st->set_trans)
        for (int s = 0; s < st->n_sets; s++) free(st->set_trans[s]);
    cache_clear(st);
    LMX_FREE_EACH(st->wtok, st->wclose, st->set_trans, st->set_loop, st->set_u8, st->nd_pos,
                  st->nd_par, st->nd_close, st->nd_depth, st->nd_mark, st->nd_seen, st->nh,
                  st->set_off, st->set_len, st->set_close, st->items, st->sh, st->tmp);
    lmx_gram_release(st->g);
    free(st);
}

/* The caches grow with every set met; past a bound, keep only the current
 * set's stacks (re-interned) and start the caches afresh. */
static void compact(lmx_gram_state *st) {
    if (st->cur <= 0) return;
    int s = st->cur, total = 0;
    for (int k = 0; k < st->set_len[s]; k++)
        total += st->nd_depth[st->items[st->set_off[s] + k]] + 1;
    int32_t *save = malloc(sizeof(int32_t) * (size_t)(total + 1));
    if (!save) return;
    int w = 0;
    for (int k = 0; k < st->set_len[s]; k++) {
        int32_t n = st->items[st->set_off[s] + k];
        save[w++] = st->nd_depth[n];
        for (int32_t m = n; m > 0; m = st->nd_par[m]) save[w++] = st->nd_pos[m];
    }
    int n_stacks = st->set_len[s];
    state_clear(st);
    st->stamp++;
    st->n_tmp = 0;
    st->out_complete = false;
    for (int k = 0, r = 0; k < n_stacks; k++) {
        int d = save[r++];
        int32_t n = 0;
        for (int i = d - 1; i >= 0 && n >= 0; i--) n = intern(st, save[r + i], n);
        r += d;
        if (n >= 0) out_add(st, n);
    }
    free(save);
    st->cur = intern_set(st);
}

bool lmx_gram_complete(const lmx_gram_state *st) {
    return set_complete(st, st->cur);
}

int lmx_gram_min_close(const lmx_gram_state *st) {
    return st->cur > 0 ? st->set_close[st->cur] : INF_LEN;
}

typedef struct {
    lmx_gram_state *st;
    int n;
} walk_ctx;

/* Whether every byte of `bytes` steps s to itself; each answer is kept per
 * set, and the test stops at the first byte that does not (inside a string
 * with maxLength, the first byte tried). */
static bool loops_on(lmx_gram_state *st, int32_t s, const uint8_t bytes[32]) {
    for (int b = 0; b < 256; b++) {
        uint8_t bit = (uint8_t)(1u << (b & 7));
        if (!(bytes[b >> 3] & bit) || (st->set_loop[s][b >> 3] & bit)) continue;
        if (st->set_loop[s][32 + (b >> 3)] & bit) return false;
        bool yes = step(st, s, (uint8_t)b) == s; /* may move set_loop */
        if (st->oom) return false;
        st->set_loop[s][(yes ? 0 : 32) + (b >> 3)] |= bit;
        if (!yes) return false;
    }
    return true;
}

/* Every continuation of `left` bytes (80-BF) from x ends in home. */
static bool cont_home(lmx_gram_state *st, int32_t x, int left, int32_t home) {
    if (left == 0) return x == home;
    int32_t prev = -1;
    for (int b = 0x80; b <= 0xBF; b++) {
        int32_t y = step(st, x, (uint8_t)b);
        if (y <= 0) return false;
        if (y != prev && !cont_home(st, y, left - 1, home)) return false;
        prev = y; /* a class of bytes usually leads to one set: checked once */
    }
    return true;
}

/* Every whole, well-formed multi-byte UTF-8 character steps s to itself. */
static bool utf8_loops(lmx_gram_state *st, int32_t s) {
    static const uint8_t lead[][5] = {/* lead lo, hi, second lo, hi, length */
                                      {0xC2, 0xDF, 0x80, 0xBF, 2}, {0xE0, 0xE0, 0xA0, 0xBF, 3},
                                      {0xE1, 0xEC, 0x80, 0xBF, 3}, {0xED, 0xED, 0x80, 0x9F, 3},
                                      {0xEE, 0xEF, 0x80, 0xBF, 3}, {0xF0, 0xF0, 0x90, 0xBF, 4},
                                      {0xF1, 0xF3, 0x80, 0xBF, 4}, {0xF4, 0xF4, 0x80, 0x8F, 4}};
    if (st->set_u8[s]) return st->set_u8[s] == 1;
    bool ok = true;
    for (int c = 0; c < 8 && ok; c++)
        for (int b = lead[c][0]; b <= lead[c][1] && ok; b++) {
            int32_t x = step(st, s, (uint8_t)b), prev = -1;
            ok = x > 0;
            for (int b2 = lead[c][2]; b2 <= lead[c][3] && ok; b2++) {
                int32_t y = step(st, x, (uint8_t)b2);
                ok = y > 0 && (y == prev || cont_home(st, y, lead[c][4] - 2, s));
                prev = y;
            }
        }
    if (st->oom) return false;
    st->set_u8[s] = ok ? 1 : 2;
    return ok;
}

static void walk(walk_ctx *w, const tnode *t, int32_t s) {
    const lmx_gram_vocab *v = w->st->v;
    if (t->bytes >= 0) {
        /* every token below ends in s again if each of its bytes loops on s,
         * or its ASCII bytes do and the rest is whole characters that do */
        const uint8_t *below = v->bytesets[t->bytes];
        uint8_t ascii[32] = {0};
        memcpy(ascii, below, 16);
        bool multi = false;
        for (int i = 16; i < 32; i++) multi = multi || below[i];
        bool inside = v->whole_utf8[t->bytes] && loops_on(w->st, s, ascii) &&
                      (!multi || utf8_loops(w->st, s));
        if (!inside && multi) inside = loops_on(w->st, s, below);
        if (inside) {
            int32_t close = w->st->set_close[s];
            for (int k = t->end_lo + t->end_n; k < t->sub_hi; k++) {
                w->st->wtok[w->n] = v->order[k];
                w->st->wclose[w->n++] = close;
            }
            return;
        }
    }
    for (int c = 0; c < t->n_child; c++) {
        const tnode *ch = &v->nodes[t->first_child + c];
        int32_t s2 = step(w->st, s, ch->byte);
        if (s2 <= 0) continue; /* dead prefix: the whole subtree goes */
        for (int k = 0; k < ch->end_n; k++) {
            w->st->wtok[w->n] = v->order[ch->end_lo + k];
            w->st->wclose[w->n++] = w->st->set_close[s2];
        }
        if (ch->n_child) walk(w, ch, s2);
    }
}

int lmx_gram_mask(lmx_gram_state *st, int remaining, int32_t *allowed) {
    if (st->ended || st->cur <= 0) return 0;
    /* With a budget, a token may leave at most as many bytes to close as
     * tokens remain after it, less one for the end token: then the one-byte
     * token on a shortest way to the end always qualifies, by induction. If
     * the budget was short from the start, every token must still make
     * progress. */
    int32_t close = st->set_close[st->cur], limit = INF_LEN;
    if (remaining > 0) {
        limit = remaining - 1 - CLOSE_MARGIN;
        if (limit < close - 1) limit = close - 1;
    }
    int n = 0;
    if (set_complete(st, st->cur))
        for (int k = 0; k < st->v->n_eog; k++) allowed[n++] = st->v->eog[k];
    if (limit < 0) return n;
    /* the tokens allowed from this set, and what each leaves to close */
    const int32_t *tok, *left;
    int m;
    int c = 0;
    while (c < MASK_CACHE && st->cache[c].set != st->cur) c++;
    if (c < MASK_CACHE) {
        st->cache[c].used = ++st->clock;
        tok = st->cache[c].tok, left = st->cache[c].close, m = st->cache[c].n;
    } else {
        if (!st->wtok) {
            st->wtok = malloc(sizeof(int32_t) * (size_t)st->v->n_vocab);
            st->wclose = malloc(sizeof(int32_t) * (size_t)st->v->n_vocab);
            if (!st->wtok || !st->wclose) return n;
        }
        int32_t cur = st->cur;
        walk_ctx w = {.st = st};
        walk(&w, &st->v->nodes[0], cur);
        tok = st->wtok, left = st->wclose, m = w.n;
        if (m >= MASK_CACHE_MIN ||
            4 * m >= st->v->n_vocab) { /* keep it, in place of the least recently used */
            int lru = 0;
            for (int i = 1; i < MASK_CACHE; i++)
                if (st->cache[i].used < st->cache[lru].used) lru = i;
            int32_t *kt = malloc(sizeof(int32_t) * (size_t)m),
                    *kc = malloc(sizeof(int32_t) * (size_t)m);
            if (kt && kc) {
                free(st->cache[lru].tok);
                free(st->cache[lru].close);
                memcpy(kt, tok, sizeof(int32_t) * (size_t)m);
                memcpy(kc, left, sizeof(int32_t) * (size_t)m);
                st->cache[lru].tok = kt, st->cache[lru].close = kc;
                st->cache[lru].set = cur, st->cache[lru].n = m, st->cache[lru].used = ++st->clock;
            } else {
                free(kt);
                free(kc);
            }
        }
    }
    for (int k = 0; k < m; k++)
        if (left[k] <= limit) allowed[n++] = tok[k];
    return n;
}

int lmx_gram_accept_bytes(lmx_gram_state *st, const char *p, size_t n) {
    if (st->ended) return n ? -1 : 0;
    int32_t s = st->cur;
    for (size_t i = 0; i < n && s > 0; i++) s = step(st, s, (uint8_t)p[i]);
    if (s <= 0) return -1;
    st->cur = s;
    if (st->n_nd >= (1 << 20) || st->n_sets >= (1 << 16) || st->n_items >= (1 << 22)) compact(st);
    return 0;
}

int lmx_gram_accept(lmx_gram_state *st, int32_t tok) {
    const lmx_gram_vocab *v = st->v;
    if (tok < 0 || tok >= v->n_vocab || st->ended) return -1;
    for (int k = 0; k < v->n_eog; k++)
        if (v->eog[k] == tok) {
            if (!set_complete(st, st->cur)) return -1;
            st->ended = true;
            return 0;
        }
    if (!v->len[tok]) return -1;
    return lmx_gram_accept_bytes(st, v->bytes + v->off[tok], v->len[tok]);
}

void lmx_gram_compact(lmx_gram_state *st) {
    if (!st->ended) compact(st);
}
