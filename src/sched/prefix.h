/* Prefix sharing across slots, on top of the engine's content-addressed KV
 * blocks (engine/kv.h): what a new prompt can take from blocks any sequence
 * computed, and whether a prefilling prompt should wait for a block another
 * prefill is computing right now rather than compute it a second time (eight
 * bots arriving together with one system prompt compute it once). */
#ifndef LMX_PREFIX_H
#define LMX_PREFIX_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/model.h"

/* Slot seq holds the first `reuse` tokens of prompt[0, n) (its own cache).
 * When registered blocks hold more of it, it takes those instead. Returns
 * how many tokens of the prompt seq now holds. */
int lmx_prefix_admit(lmx_ctx *c, int seq, const int32_t *prompt, int n, int reuse);

/* A prefilling seq holding prompt[0, n_kv): takes on whatever registered
 * blocks now continue it, up to n tokens. Returns its new length. */
int lmx_prefix_catch_up(lmx_ctx *c, int seq, const int32_t *prompt, int n_kv, int n);

/* Whether a prefill at n_kv of `mine` (it may attach up to n tokens) should
 * wait for the prefill of `theirs` (at their_kv of their_n prompt tokens):
 * true when theirs is yet to compute the very block mine needs next. */
bool lmx_prefix_pending(const lmx_ctx *c, const int32_t *mine, int n_kv, int n,
                        const int32_t *theirs, int their_kv, int their_n);

#endif
