/* Log-probabilities of tokens under the model's raw distribution: the
 * chosen token's and the top n alternatives. Decoding uses it for each
 * generated token, prompt scoring (a job's `score`: /v1/completions with echo
 * and logprobs, as evaluation harnesses ask) for each prompt token — one
 * function, so a token scores the same whichever way it reached the model.
 *
 * Prompt scoring needs a row of logits per prompt position; a row is n_vocab
 * floats, so a scoring prefill runs at most lmx_score_rows() positions per
 * step and the rows are reduced to log-probabilities as they come: a 4k-token
 * prompt never holds 4k rows. */
#ifndef LMX_SCORE_H
#define LMX_SCORE_H

#include <stdint.h>

#include "sched/sched.h"

/* Fills ev->logprob (of `chosen`), ev->n_top, ev->top_id / top_logprob from
 * one row of raw logits (n_top <= LMX_MAX_TOP_LOGPROBS). */
void lmx_logprobs(const float *raw, int n_vocab, int32_t chosen, int n_top, lmx_event *ev);

/* Positions a scoring prefill evaluates per step: the prefill chunk, capped
 * so their rows of logits take about LMX_SCORE_ROW_BYTES (at least 8 rows). */
#define LMX_SCORE_ROW_BYTES (16u << 20)
int lmx_score_rows(int n_vocab, int prefill_chunk);

/* The LMX_EV_PROMPT event of prompt token pos of `prompt`: for pos 0 no
 * log-probability (NAN, no alternatives: nothing precedes it); else the
 * token's under `row`, the logits of position pos - 1. */
void lmx_score_event(const int32_t *prompt, int pos, const float *row, int n_vocab, int n_top,
                     lmx_event *ev);

#endif
