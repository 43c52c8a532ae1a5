/* Speculative decoding: proposers of draft tokens for a decoding sequence,
 * the rules that accept them, and the per-sequence switch that turns
 * proposing off when it does not pay.
 *
 * The scheduler (sched.c) asks for drafts for each decoding sequence that may
 * use them, appends [last token, d1..dK] of that sequence to its batch with
 * logits for every row, and verifies the rows in order: a greedy job keeps a
 * draft while the target's own choice equals it (so its output is exactly
 * plain decoding's), a sampled job runs rejection sampling (lmx_spec_reject)
 * so its tokens follow the target's distribution. Both proposers draft
 * greedily: q is one-hot on the draft. Rejected positions are rolled back in
 * the target's KV by the scheduler and in the draft's KV here.
 *
 * Proposers: LOOKUP finds the longest recent n-gram that ends the sequence
 * earlier in its own prompt + output and proposes what followed it (agents
 * and editors repeat text); DRAFT runs a second, small model of the same
 * vocabulary on its own context, one sequence per scheduler slot.
 *
 * Only the scheduler thread calls these (lmx_spec_stats excepted). */
#ifndef LMX_SPEC_H
#define LMX_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"
#include "engine/sample.h"

typedef enum { LMX_SPEC_OFF = 0, LMX_SPEC_LOOKUP, LMX_SPEC_DRAFT } lmx_spec_mode;

/* Drafted tokens per verify step when nothing says otherwise. */
#define LMX_SPEC_LOOKUP_MAX 8
#define LMX_SPEC_DRAFT_MAX  4
#define LMX_SPEC_MAX        32 /* the most draft_max may be */

/* "off", "lookup", "draft" → the mode; -1 for anything else. */
int lmx_spec_mode_parse(const char *s);
const char *lmx_spec_mode_name(int mode);

typedef struct {
    int mode;          /* lmx_spec_mode */
    int draft_max;     /* K (0: the mode's default) */
    lmx_model *draft;  /* DRAFT: the draft model (not owned) */
    double min_accept; /* auto-off below this many accepted tokens per verify (0: the
                          default; < 0: never off) */
} lmx_spec_opts;

typedef struct lmx_spec lmx_spec;

/* A speculator for n_seq sequences of n_ctx positions of target `m`. DRAFT:
 * the draft's vocabulary must be the target's (refused with a message naming
 * both otherwise). NULL with err set. */
lmx_spec *lmx_spec_create(const lmx_spec_opts *o, const lmx_model *m, int n_seq, int n_ctx,
                          bool kv_f32, bool kv_q8_0, lmx_pool *pool, char *err, size_t errlen);
void lmx_spec_free(lmx_spec *sp);
int lmx_spec_max(const lmx_spec *sp); /* K */

/* A new job starts on seq: its acceptance history starts over. */
void lmx_spec_reset(lmx_spec *sp, int seq);
/* Asks for up to k drafts for seq, whose tokens are hist[0, n) (the last one
 * not yet evaluated by the target). false: its auto-off holds it back now. */
bool lmx_spec_want(lmx_spec *sp, int seq, const int32_t *hist, int n, int k);
/* Makes the drafts of every sequence that asked since the last call (runs
 * the draft model once per draft position for all of them together). -1 with
 * err on an engine error (then no sequence has drafts). */
int lmx_spec_propose(lmx_spec *sp, char *err, size_t errlen);
/* The drafts made for seq by the last propose (0: none). */
int lmx_spec_drafts(const lmx_spec *sp, int seq, const int32_t **d);
/* Verification of seq's drafts kept `accepted` of `drafted`; true when
 * that switched its proposing off (auto-off). */
bool lmx_spec_result(lmx_spec *sp, int seq, int drafted, int accepted);

/* ---- the rules (pure; unit-tested) ---- */

/* Prompt lookup: the longest n-gram (max_ngram down to 1 tokens) that ends
 * hist[0, n) and occurs earlier in it — the latest occurrence — and up to k
 * tokens that followed that occurrence, written to out. Returns how many. */
int lmx_spec_lookup(const int32_t *hist, int n, int max_ngram, int k, int32_t *out);

/* Greedy acceptance: how many leading drafts equal the target's choices
 * (target[i]: its choice after draft i-1; target[0]: after the last token). */
int lmx_spec_accept_greedy(const int32_t *draft, const int32_t *target, int k);

/* One rejection-sampling step over n tokens: the draft d was drawn from q
 * (NULL: q is one-hot on d). Accepts d with probability min(1, p(d)/q(d));
 * else draws from norm(max(p - q, 0)). Returns the token; its law is p. */
int32_t lmx_spec_reject(const float *p, const float *q, int n, int32_t d, lmx_rng *r);

/* A draw from p over n tokens (the bonus token after every draft was kept). */
int32_t lmx_spec_draw(const float *p, int n, lmx_rng *r);

#endif
