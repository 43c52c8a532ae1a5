/* Generation through the scheduler, for the CLI's speculative decoding: lmx
 * run and lmx bench with --spec run one job on a one-slot scheduler (the
 * same code path lmx serve uses), so what they print and measure is what the
 * daemon does. */
#ifndef LMX_CLI_SPEC_GEN_H
#define LMX_CLI_SPEC_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"
#include "engine/sample.h"

typedef struct {
    int spec;          /* lmx_spec_mode (sched/spec.h) */
    const char *draft; /* DRAFT: a .gguf path or a name of the store */
    int draft_max;     /* 0: the mode's default */
    bool force;        /* never switch itself off (benchmarks of the overhead) */
    bool kv_f32, kv_q8_0;
    int n_ctx; /* 0: the model's, at most LMX_DEFAULT_CTX_MAX */
    lmx_pool *pool;
} lmx_spec_gen_opts;

typedef struct {
    int n_gen;                  /* tokens generated */
    double prefill_s, decode_s; /* submit → first token; first token → done */
    uint64_t drafted, accepted, auto_off;
} lmx_spec_gen_result;

/* Parses --spec's value into o->spec; false for anything but off, lookup, draft. */
bool lmx_spec_gen_parse(const char *v, lmx_spec_gen_opts *o);

/* Generates up to max_tokens after prompt; on_text (may be NULL) gets each
 * piece of text as it comes, tokens (may be NULL, max_tokens entries) the
 * ids. 0, or -1 with a message in err. */
int lmx_spec_gen_run(lmx_model *m, const lmx_spec_gen_opts *o, const int32_t *prompt, int n_prompt,
                     int max_tokens, const lmx_sample_params *sp, bool ignore_eos,
                     void (*on_text)(void *ctx, const char *text, size_t n), void *ctx,
                     int32_t *tokens, lmx_spec_gen_result *out, char *err, size_t errlen);

#endif
