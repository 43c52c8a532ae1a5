/* Token sampling: penalties, logit bias, top-k / top-p / min-p filters,
 * temperature, and a seeded RNG per sequence (xoshiro256**), so the same seed
 * and logits give the same token whatever else shares the batch. */
#ifndef LMX_SAMPLE_H
#define LMX_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    float temperature;       /* <= 0: greedy (lowest id wins a tie) */
    int top_k;               /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off; llama.cpp's: positive logits divided, negative multiplied */
    int repeat_last_n;       /* history window for all penalties; <0: whole history */
    float presence_penalty;  /* OpenAI's: minus this once if the token occurred */
    float frequency_penalty; /* OpenAI's: minus this per occurrence */
    uint64_t seed;
} lmx_sample_params;

/* Defaults as llama.cpp's CLI: temp 0.8, top-k 40, top-p 0.95, min-p 0.05. */
lmx_sample_params lmx_sample_defaults(void);

typedef struct {
    int32_t id;
    float bias;
} lmx_logit_bias;

typedef struct lmx_sampler lmx_sampler;

lmx_sampler *lmx_sampler_create(int n_vocab, const lmx_sample_params *p);
void lmx_sampler_free(lmx_sampler *s);
void lmx_sampler_set_bias(lmx_sampler *s, const lmx_logit_bias *bias, int n);

/* Picks the next token. `logits` is modified (penalties, bias); `history`
 * holds the tokens so far (prompt and output) that penalties look at. */
int32_t lmx_sampler_next(lmx_sampler *s, float *logits, const int32_t *history, int n_history);

/* xoshiro256** seeded through splitmix64 */
typedef struct {
    uint64_t s[4];
} lmx_rng;

/* The distribution lmx_sampler_next would draw from, without drawing: the
 * candidates the filters keep (ids) and their tempered probabilities (summing
 * to 1); returns how many (>= 1; greedy: the argmax with 1). ids and probs
 * hold n_vocab entries. Speculative decoding verifies drafts against it. */
int lmx_sampler_dist(lmx_sampler *s, float *logits, const int32_t *history, int n_history,
                     int32_t *ids, float *probs);
/* The sampler's own generator (draws made with it keep a seed's sequence). */
lmx_rng *lmx_sampler_rng(lmx_sampler *s);
void lmx_rng_seed(lmx_rng *r, uint64_t seed);
uint64_t lmx_rng_next(lmx_rng *r);
double lmx_rng_uniform(lmx_rng *r); /* [0, 1) */

#endif
