/* Memory-aware defaults: the parallelism and context a model is loaded with
 * when the user gave neither. A default that reserves KV for 8 × 2 sequences
 * of the full context can need more than the model itself, so the defaults
 * shrink to what fits: parallel first (down to 1), then the context (down to
 * a floor). Values the user gave are never changed. Pure arithmetic, so it
 * stays meaningful whether the KV cache is reserved up front or paged. */
#ifndef LMX_MGR_DEFAULTS_H
#define LMX_MGR_DEFAULTS_H

#include <stdbool.h>
#include <stdint.h>

#define LMX_DEFAULT_CTX_FLOOR 2048 /* the context is never shrunk below this */

typedef struct {
    uint64_t fixed;        /* bytes that do not grow with the context: weights, buffers */
    uint64_t kv_per_token; /* KV bytes one position of one parallel slot costs */
    uint64_t available;    /* what the load may take */
    int ctx_max;           /* the default context: the trained one, capped */
    int parallel_max;      /* the default parallelism */
    int ctx_given;         /* > 0: the user's, kept */
    int parallel_given;    /* > 0: the user's, kept */
} lmx_defaults_in;

typedef struct {
    int n_ctx, n_parallel;
    uint64_t needed; /* fixed + KV at the chosen values */
    bool reduced;    /* smaller than the defaults: memory was short */
    bool fits;       /* needed <= available */
} lmx_defaults_out;

void lmx_defaults_choose(const lmx_defaults_in *in, lmx_defaults_out *out);

#endif
