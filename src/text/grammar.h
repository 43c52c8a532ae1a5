/* Grammar-constrained decoding: a context-free grammar over bytes, run as a
 * pushdown automaton, and the set of vocabulary tokens it allows next.
 *
 * A grammar is built once per request (json_schema.c compiles JSON Schemas
 * into one) and is immutable afterwards; each generated sequence gets its own
 * lmx_gram_state. The state is a set of parse stacks (alternatives still
 * open: anyOf, optional members); stacks and stack sets are interned, so a set
 * is a small integer and stepping a set by a byte is memoized: the automaton
 * becomes, lazily, a DFA over the sets it actually meets.
 *
 * The allowed tokens are found by walking a trie of the vocabulary's token
 * bytes (lmx_gram_vocab, built once per model) with the state: a subtree is
 * pruned as soon as its prefix is dead, so no token is checked against the
 * grammar from scratch. End-of-generation tokens are allowed only when the
 * grammar is complete. When a token budget is given and it gets close to the
 * fewest bytes that close every open structure, only tokens that make
 * progress towards the end are allowed, so a bounded output still parses.
 *
 * Nothing here knows about JSON or about the engine: the scheduler hands the
 * token bytes in, and takes allowed token ids out. */
#ifndef LMX_GRAMMAR_H
#define LMX_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lmx_gram lmx_gram;

/* ---- building ---- */

/* An alternative under construction: a sequence of byte classes and rule
 * references. Caller-owned; lmx_gram_add_alt copies it and resets it. */
typedef struct {
    int32_t *el;
    int n, cap;
    bool oom;
} lmx_gram_seq;

lmx_gram *lmx_gram_new(void);
/* A new rule with no alternatives yet (define it later: recursion). */
int lmx_gram_rule(lmx_gram *g);
void lmx_gram_seq_class(lmx_gram *g, lmx_gram_seq *s, const uint8_t set[32]); /* bit b: byte b */
void lmx_gram_seq_byte(lmx_gram *g, lmx_gram_seq *s, uint8_t b);
void lmx_gram_seq_range(lmx_gram *g, lmx_gram_seq *s, uint8_t lo, uint8_t hi);
void lmx_gram_seq_lit(lmx_gram *g, lmx_gram_seq *s, const char *text, size_t n);
void lmx_gram_seq_ref(lmx_gram_seq *s, int rule);
void lmx_gram_add_alt(lmx_gram *g, int rule, lmx_gram_seq *s);
void lmx_gram_seq_free(lmx_gram_seq *s);
/* Convenience: a rule with one alternative, the literal text. */
int lmx_gram_lit_rule(lmx_gram *g, const char *text, size_t n);
/* Ends building with `root` as the start rule. 0, or -1 (out of memory, or
 * the grammar is too large) with a message. */
int lmx_gram_finish(lmx_gram *g, int root, char *err, size_t errlen);
int lmx_gram_n_rules(const lmx_gram *g);

/* Reference counted: a job and each of its choices may hold one. */
lmx_gram *lmx_gram_retain(lmx_gram *g);
void lmx_gram_release(lmx_gram *g);

/* ---- the vocabulary trie (once per model; immutable, shareable) ---- */

typedef struct lmx_gram_vocab lmx_gram_vocab;

/* piece(id) gives the bytes a token adds to the output text (empty for
 * control tokens: those are never allowed); eog marks end-of-generation ids. */
typedef size_t (*lmx_gram_piece_fn)(void *ctx, int32_t id, char *buf, size_t cap);
lmx_gram_vocab *lmx_gram_vocab_new(int n_vocab, lmx_gram_piece_fn piece, void *ctx,
                                   const bool *eog);
void lmx_gram_vocab_free(lmx_gram_vocab *v);
int lmx_gram_vocab_size(const lmx_gram_vocab *v);

/* ---- one sequence's state ---- */

typedef struct lmx_gram_state lmx_gram_state;

lmx_gram_state *lmx_gram_state_new(lmx_gram *g, const lmx_gram_vocab *v);
void lmx_gram_state_free(lmx_gram_state *st);

/* The tokens allowed next, written to allowed[0..n) (capacity: the vocab's
 * size); returns n (0: nothing can follow: the sequence must end).
 * remaining: tokens the sequence may still produce, this one included (<= 0:
 * no budget). */
int lmx_gram_mask(lmx_gram_state *st, int remaining, int32_t *allowed);
/* Advances by a token (EOG: marks the end). 0, or -1 if the grammar does not
 * allow it (the state is then unchanged). */
int lmx_gram_accept(lmx_gram_state *st, int32_t tok);
/* Advances by raw bytes (forced text, tests). 0 or -1 as above. */
int lmx_gram_accept_bytes(lmx_gram_state *st, const char *p, size_t n);
/* The text so far is a whole sentence of the grammar. */
bool lmx_gram_complete(const lmx_gram_state *st);
/* Fewest bytes that would complete the text so far (0 when complete). */
int lmx_gram_min_close(const lmx_gram_state *st);
/* Drops the caches, keeping only the current stacks. Done automatically when
 * they grow past a bound; public so tests can run the path. */
void lmx_gram_compact(lmx_gram_state *st);

#endif
