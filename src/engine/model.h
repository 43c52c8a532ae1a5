/* A loaded model: hyper-parameters, weights and tokenizer of one GGUF file,
 * and the evaluation context (KV cache, scratch) that runs batches on it.
 *
 * One lmx_ctx evaluates batches of tokens from several sequences in one
 * forward pass (lmx_forward); the scheduler owns it and is the only thread
 * that calls into it. The engine knows nothing of HTTP or JSON. */
#ifndef LMX_MODEL_H
#define LMX_MODEL_H

/* A context of 0 means the model's trained context, at most this. */
#define LMX_DEFAULT_CTX_MAX 4096

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"
#include "engine/kernels.h"
#include "engine/threads.h"
#include "engine/tokenizer.h"

typedef enum { LMX_ROPE_NORM = 0, LMX_ROPE_NEOX = 2 } lmx_rope_type;

typedef struct {
    char arch[32];
    int n_vocab, n_embd, n_layer, n_ff;
    int n_head, n_head_kv, head_dim; /* head_dim of Q and K (and V) */
    int n_ctx_train;
    float norm_eps;
    float rope_base, rope_freq_scale;
    int rope_dims;
    lmx_rope_type rope_type;
    bool tied_output;
    int pooling_type; /* {arch}.pooling_type: LMX_POOL_* (LMX_POOL_UNSET when absent) */
} lmx_hparams;

/* How a sequence's hidden states become one embedding (llama.cpp's numbering
 * of {arch}.pooling_type; UNSET: the GGUF does not say). */
enum { LMX_POOL_UNSET = -1, LMX_POOL_NONE = 0, LMX_POOL_MEAN = 1, LMX_POOL_CLS = 2, LMX_POOL_LAST = 3 };

typedef struct {
    lmx_wmat wq, wk, wv, wo, w_gate, w_up, w_down;
    float *attn_norm, *ffn_norm;   /* n_embd */
    float *bq, *bk, *bv;           /* biases, or NULL */
    float *q_norm, *k_norm;        /* per-head RMS norm weights (qwen3), or NULL */
} lmx_layer;

typedef struct lmx_model {
    lmx_hparams hp;
    lmx_gguf *gguf;
    lmx_tok *tok;
    lmx_wmat tok_embd, output;
    float *output_norm;
    float *rope_freqs;             /* per rope pair divisor of the frequency, or NULL */
    lmx_layer *layers;
    size_t weight_bytes;           /* bytes of weights read per token */
    char name[256];
} lmx_model;

typedef struct {
    bool no_repack; /* keep weights in their GGUF layout (no repacked copy) */
    /* Called after each tensor is prepared, from the opening thread: bytes of
     * tensors done so far and in all (what a loading model's ETA is made of). */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
} lmx_model_opts;

lmx_model *lmx_model_open(const char *path, const lmx_model_opts *opts, char *err, size_t errlen);
void lmx_model_free(lmx_model *m);

/* Memory a model needs, from its metadata alone (nothing is loaded). */
typedef struct {
    size_t weights;   /* tensor bytes (mapped) */
    size_t kv;        /* KV cache for n_ctx × n_seq positions */
    size_t compute;   /* activations and scratch for a batch */
    size_t total;
    int n_ctx; /* the context it assumed (n_ctx 0: the trained one, capped) */
} lmx_mem_estimate;
/* kv_type: an lmx_kv_type of engine/kv.h (LMX_KV_F16 0, LMX_KV_F32 1, LMX_KV_Q8_0 2). */
int lmx_model_estimate(const char *path, int n_ctx, int n_seq, int n_batch, int kv_type,
                       lmx_mem_estimate *out, char *err, size_t errlen);

/* Bytes of KV cache one token of one sequence needs (kv_type as above). */
size_t lmx_model_kv_bytes_per_token(const lmx_model *m, int kv_type);

/* ---- evaluation context ---- */

typedef struct {
    int n_ctx;       /* positions per sequence; 0 = min(trained context, LMX_DEFAULT_CTX_MAX) */
    int n_seq;       /* sequences that can hold KV at once (slots); default 1 */
    int n_batch;     /* tokens per forward pass at most (larger batches are split); default 512 */
    bool kv_f32;     /* KV cache in F32 instead of F16 */
    bool kv_q8_0;    /* KV cache in Q8_0 (about half of F16's memory; head_dim % 32 == 0) */
    lmx_pool *pool;  /* compute threads (not owned); NULL = single-threaded */
} lmx_ctx_opts;

typedef struct lmx_ctx lmx_ctx;

lmx_ctx *lmx_ctx_create(lmx_model *m, const lmx_ctx_opts *opts, char *err, size_t errlen);
void lmx_ctx_free(lmx_ctx *c);
int lmx_ctx_n_ctx(const lmx_ctx *c);
int lmx_ctx_n_seq(const lmx_ctx *c);
size_t lmx_ctx_kv_bytes(const lmx_ctx *c); /* the most the KV can take (all blocks) */

/* One forward pass over tokens of any sequences. For token i: tok[i] at
 * position pos[i] of sequence seq[i]; its logits are written (in order of the
 * tokens that want them) to `logits`, n_vocab floats each. Positions of one
 * sequence must follow on from what its KV holds (pos = its length, then
 * consecutive within the batch). Returns 0, or -1 with a message. */
typedef struct {
    int n;
    const int32_t *tok, *pos, *seq;
    const bool *logits; /* NULL: only the last token's */
} lmx_batch;

int lmx_forward(lmx_ctx *c, const lmx_batch *b, float *logits, char *err, size_t errlen);

/* lmx_forward that also writes, for each token i with want_hidden[i] (in
 * batch order), its final hidden state — after the output norm: the vector
 * the output matrix turns into logits — n_embd floats each, to `hidden`.
 * Embeddings are pooled from these. Same batch invariance as the logits. */
int lmx_forward_ex(lmx_ctx *c, const lmx_batch *b, float *logits, const bool *want_hidden,
                   float *hidden, char *err, size_t errlen);

/* KV cache of a sequence: its length, and edits on it. */
int lmx_kv_len(const lmx_ctx *c, int seq);
void lmx_kv_truncate(lmx_ctx *c, int seq, int n_keep); /* keep positions [0, n_keep) */
void lmx_kv_clear(lmx_ctx *c, int seq);
int lmx_kv_copy_prefix(lmx_ctx *c, int src, int dst, int n); /* dst := first n of src */

/* Prefix sharing (engine/kv.h): the KV is paged in blocks of
 * block_tokens positions, and every full block is registered under its
 * tokens and everything before them. lmx_kv_cached: how many leading tokens
 * of tok[0, n) registered blocks hold. lmx_kv_attach_prefix: seq (which holds
 * tok[0, len), len a whole number of blocks) takes on the registered blocks
 * for tok[len, n), copy-free; returns its new length. */
int lmx_kv_block_size(const lmx_ctx *c); /* positions per block */
int lmx_kv_cached(const lmx_ctx *c, const int32_t *tok, int n);
int lmx_kv_attach_prefix(lmx_ctx *c, int seq, const int32_t *tok, int n);

typedef struct {
    int block_tokens;
    int blocks_total, blocks_used, blocks_cached; /* pool; held; registered, held by none */
    size_t block_bytes, bytes;                    /* one block; memory taken now */
    uint64_t evictions;
} lmx_ctx_kv_info;
void lmx_ctx_kv_stats(const lmx_ctx *c, lmx_ctx_kv_info *out);

#endif
