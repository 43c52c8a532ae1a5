/* The forward pass: a batch of tokens from any sequences through the
 * transformer, as llama2.c would write it — norm, QKV, rope, attention,
 * output, residual, norm, FFN, residual — with the heavy products done by
 * lmx_matmul over the whole batch (each weight read once per batch).
 *
 * Batch invariance: every per-token value is computed by code that looks only
 * at that token's row (norms, rope, activations) or at its own sequence's KV
 * in a fixed order (attention), and the matmul kernels promise the same for
 * their outputs. So a token's logits are the same bits alone or in any batch,
 * in one prefill chunk or several. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/attn.h"
#include "engine/kv.h"
#include "engine/model.h"

/* Up to qb_tok consecutive tokens of one sequence. A lone token deep in its
 * sequence may have its segments split over threads (nseg > 0): their
 * partial states go to part + part_off and are merged afterwards. */
struct attn_qb {
    int t0, n_tok, seq, nseg;
    size_t part_off;
};
struct attn_item {
    int qb, kvh, seg; /* seg < 0: every segment */
};

struct lmx_ctx {
    lmx_model *m;
    lmx_pool *pool;
    int n_ctx, n_seq, n_batch;
    bool kv_f32;
    lmx_kv_type kv_type;
    size_t kv_dim; /* floats per KV row */
    lmx_kv *kv;    /* paged, prefix-shared (kv.h) */
    /* scratch for one chunk of n_batch tokens */
    float *x, *xn, *q, *kc, *vc, *att, *gate, *up, *rope;
    int qb_tok;    /* tokens per attention query block */
    float *ascr;   /* attention scratch, per thread */
    size_t ascr_n; /* floats of it per thread */
    struct attn_qb *qb;
    struct attn_item *items;
    size_t cap_items;
    float *part; /* split decode queries' per-segment states */
    size_t cap_part;
    void *mm_scratch;
    int *next;         /* lmx_forward's validation: next position per sequence */
    double *rope_freq; /* per rope pair: base^(-2i/dims) / freq factor — fixed per model */
};

/* ---- the math, one row at a time ---- */

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

/* cos/sin of every rope pair at `pos`, laid out [c0, s0, c1, s1, ...]. */
static void rope_table(const lmx_ctx *c, int pos, float *cs) {
    const lmx_hparams *hp = &c->m->hp;
    int half = hp->rope_dims / 2;
    for (int i = 0; i < half; i++) {
        double theta = (double)pos * hp->rope_freq_scale * c->rope_freq[i];
        cs[2 * i] = (float)cos(theta);
        cs[2 * i + 1] = (float)sin(theta);
    }
}

static void rope_apply(const lmx_hparams *hp, float *v, const float *cs) {
    int half = hp->rope_dims / 2;
    for (int i = 0; i < half; i++) {
        int a = hp->rope_type == LMX_ROPE_NEOX ? i : 2 * i;
        int b = hp->rope_type == LMX_ROPE_NEOX ? i + half : 2 * i + 1;
        float c = cs[2 * i], s = cs[2 * i + 1], x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
    }
}

static float silu(float x) {
    return x / (1.0f + expf(-x));
}

/* ---- context ---- */

lmx_ctx *lmx_ctx_create(lmx_model *m, const lmx_ctx_opts *o, char *err, size_t errlen) {
    const lmx_hparams *hp = &m->hp;
    lmx_ctx *c = calloc(1, sizeof *c);
    if (!c) goto oom;
    c->m = m;
    c->pool = o->pool;
    c->n_ctx = o->n_ctx > 0 ? o->n_ctx : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    c->n_seq = o->n_seq > 0 ? o->n_seq : 1;
    c->n_batch = o->n_batch > 0 ? o->n_batch : 512;
    c->kv_f32 = o->kv_f32;
    c->kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    c->kv_type = o->kv_q8_0 ? LMX_KV_Q8_0 : c->kv_f32 ? LMX_KV_F32 : LMX_KV_F16;
    if (c->kv_type == LMX_KV_Q8_0 && hp->head_dim % 32) {
        snprintf(err, errlen,
                 "%s: a Q8_0 KV cache needs a head size that is a multiple of 32 (it is %d)",
                 m->name, hp->head_dim);
        lmx_ctx_free(c);
        return NULL;
    }
    c->kv = lmx_kv_new(hp->n_layer, hp->n_head_kv, hp->head_dim, c->kv_type, c->n_seq, c->n_ctx);
    size_t nb = (size_t)c->n_batch, d = (size_t)hp->n_embd, qd = (size_t)hp->n_head * hp->head_dim;
    c->x = malloc(sizeof(float) * nb * d);
    c->xn = malloc(sizeof(float) * nb * (d > qd ? d : qd));
    c->q = malloc(sizeof(float) * nb * qd);
    c->kc = malloc(sizeof(float) * nb * c->kv_dim);
    c->vc = malloc(sizeof(float) * nb * c->kv_dim);
    c->att = malloc(sizeof(float) * nb * qd);
    c->gate = malloc(sizeof(float) * nb * (size_t)hp->n_ff);
    c->up = malloc(sizeof(float) * nb * (size_t)hp->n_ff);
    c->rope = malloc(sizeof(float) * nb * (size_t)hp->rope_dims);
    int group = hp->n_head / hp->n_head_kv;
    c->qb_tok = group >= 64 ? 1 : 64 / group;
    c->ascr_n = lmx_attn_scratch_floats(c->qb_tok * group, hp->head_dim);
    c->ascr = malloc(sizeof(float) * c->ascr_n * (size_t)lmx_pool_size(c->pool));
    c->qb = malloc(sizeof *c->qb * (size_t)c->n_batch);
    c->cap_items = (size_t)c->n_batch * hp->n_head_kv;
    c->items = malloc(sizeof *c->items * c->cap_items);
    c->next = malloc(sizeof(int) * (size_t)c->n_seq);
    c->rope_freq = malloc(sizeof(double) * (size_t)(hp->rope_dims / 2));
    for (int i = 0; c->rope_freq && i < hp->rope_dims / 2; i++) {
        c->rope_freq[i] = pow((double)hp->rope_base, -2.0 * i / hp->rope_dims);
        if (m->rope_freqs) c->rope_freq[i] /= m->rope_freqs[i];
    }
    size_t mm = 0;
    const lmx_wmat *ws[] = {&m->output};
    for (size_t i = 0; i < 1; i++) {
        size_t s = lmx_matmul_scratch(ws[i]->type, ws[i]->cols, c->n_batch);
        if (s > mm) mm = s;
    }
    for (int i = 0; i < hp->n_layer; i++) {
        const lmx_layer *l = &m->layers[i];
        const lmx_wmat *lw[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
        for (size_t j = 0; j < sizeof lw / sizeof lw[0]; j++) {
            size_t s = lmx_matmul_scratch(lw[j]->type, lw[j]->cols, c->n_batch);
            if (s > mm) mm = s;
        }
    }
    c->mm_scratch = malloc(mm ? mm : 1);
    if (!c->kv || !c->x || !c->xn || !c->q || !c->kc || !c->vc || !c->att || !c->gate || !c->up ||
        !c->rope || !c->ascr || !c->qb || !c->items || !c->next || !c->rope_freq || !c->mm_scratch)
        goto oom;
    return c;
oom:
    snprintf(err, errlen, "%s: out of memory for a context of %d positions × %d sequences", m->name,
             o->n_ctx, o->n_seq);
    lmx_ctx_free(c);
    return NULL;
}

void lmx_ctx_free(lmx_ctx *c) {
    if (!c) return;
    void *ps[] = {c->x,    c->xn,   c->q,  c->kc,         c->vc,   c->att,       c->gate,  c->up,
                  c->rope, c->ascr, c->qb, c->mm_scratch, c->next, c->rope_freq, c->items, c->part};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
    lmx_kv_free(c->kv);
    free(c);
}

int lmx_ctx_n_ctx(const lmx_ctx *c) {
    return c->n_ctx;
}
int lmx_ctx_n_seq(const lmx_ctx *c) {
    return c->n_seq;
}
size_t lmx_ctx_kv_bytes(const lmx_ctx *c) {
    lmx_kv_stats st;
    lmx_kv_get_stats(c->kv, &st);
    return (size_t)st.blocks_total * st.block_bytes;
}

int lmx_kv_len(const lmx_ctx *c, int seq) {
    return seq >= 0 && seq < c->n_seq ? lmx_kv_seq_len(c->kv, seq) : 0;
}

void lmx_kv_truncate(lmx_ctx *c, int seq, int n_keep) {
    if (seq < 0 || seq >= c->n_seq || n_keep < 0) return;
    lmx_kv_truncate_seq(c->kv, seq, n_keep);
}

void lmx_kv_clear(lmx_ctx *c, int seq) {
    lmx_kv_truncate(c, seq, 0);
}

int lmx_kv_copy_prefix(lmx_ctx *c, int src, int dst, int n) {
    if (src < 0 || src >= c->n_seq || dst < 0 || dst >= c->n_seq || n < 0) return -1;
    return lmx_kv_share(c->kv, src, dst, n);
}

int lmx_kv_block_size(const lmx_ctx *c) {
    (void)c;
    return LMX_KV_BLOCK;
}

int lmx_kv_cached(const lmx_ctx *c, const int32_t *tok, int n) {
    return lmx_kv_lookup(c->kv, tok, n);
}

int lmx_kv_attach_prefix(lmx_ctx *c, int seq, const int32_t *tok, int n) {
    if (seq < 0 || seq >= c->n_seq) return 0;
    if (n > c->n_ctx) n = c->n_ctx;
    return lmx_kv_attach(c->kv, seq, tok, n);
}

void lmx_ctx_kv_stats(const lmx_ctx *c, lmx_ctx_kv_info *out) {
    lmx_kv_stats st;
    lmx_kv_get_stats(c->kv, &st);
    out->block_tokens = LMX_KV_BLOCK;
    out->blocks_total = st.blocks_total;
    out->blocks_used = st.blocks_used;
    out->blocks_cached = st.blocks_cached;
    out->block_bytes = st.block_bytes;
    out->bytes = st.bytes;
    out->evictions = st.evictions;
}

/* ---- attention: query blocks × KV heads over threads (attn.h) ---- */

typedef struct {
    lmx_ctx *c;
    int layer, n_items;
    const lmx_attn_ops *ops;
    const int32_t *pos;
    atomic_int next;
} attn_job;

static void attn_args(const attn_job *j, const struct attn_qb *b, int kvh, lmx_attn_args *a) {
    const lmx_ctx *c = j->c;
    const lmx_hparams *hp = &c->m->hp;
    int G = hp->n_head / hp->n_head_kv, hd = hp->head_dim;
    size_t qd = (size_t)hp->n_head * hd, col = (size_t)kvh * G * hd;
    *a = (lmx_attn_args){.n_tok = b->n_tok,
                         .pos0 = j->pos[b->t0],
                         .group = G,
                         .hd = hd,
                         .scale = 1.0f / sqrtf((float)hd),
                         .q = c->q + (size_t)b->t0 * qd + col,
                         .q_stride = qd,
                         .out = c->att + (size_t)b->t0 * qd + col,
                         .out_stride = qd,
                         .blk = lmx_kv_blocks(c->kv, b->seq),
                         .off = lmx_kv_tile_off(c->kv, j->layer, kvh),
                         .tile = lmx_kv_tile_bytes(c->kv),
                         .type = c->kv_type,
                         .seg0 = 0,
                         .seg1 = INT32_MAX};
}

static void attn_task(void *arg, int ith, int nth) {
    (void)nth;
    attn_job *j = arg;
    lmx_ctx *c = j->c;
    float *scr = c->ascr + (size_t)ith * c->ascr_n;
    for (int w; (w = atomic_fetch_add(&j->next, 1)) < j->n_items;) {
        const struct attn_item *it = &c->items[w];
        const struct attn_qb *b = &c->qb[it->qb];
        lmx_attn_args a;
        attn_args(j, b, it->kvh, &a);
        if (it->seg >= 0) {
            int G = a.group;
            a.seg0 = it->seg;
            a.seg1 = it->seg + 1;
            a.part = c->part + b->part_off +
                     ((size_t)it->kvh * b->nseg + it->seg) * lmx_attn_part_floats(G, a.hd);
        }
        j->ops->run(&a, scr);
    }
}

/* Split queries: fold their segments' states, in order, into the output. */
static void attn_merge_task(void *arg, int ith, int nth) {
    attn_job *j = arg;
    lmx_ctx *c = j->c;
    long b0, e0;
    lmx_split_range(j->n_items, 1, ith, nth, &b0, &e0);
    for (long w = b0; w < e0; w++) {
        const struct attn_item *it = &c->items[w];
        const struct attn_qb *b = &c->qb[it->qb];
        lmx_attn_args a;
        attn_args(j, b, it->kvh, &a);
        j->ops->merge(c->part + b->part_off +
                          (size_t)it->kvh * b->nseg * lmx_attn_part_floats(a.group, a.hd),
                      b->nseg, a.group, a.hd, a.out);
    }
}

static bool grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return true;
    void *q = realloc(*p, need * size);
    if (!q) return false;
    *p = q;
    *cap = need;
    return true;
}

/* Attention of the chunk's n tokens (their K/V already in the cache). */
static void attention(lmx_ctx *c, int layer, int n, const int32_t *pos, const int32_t *seq) {
    const lmx_hparams *hp = &c->m->hp;
    int n_kv = hp->n_head_kv, G = hp->n_head / n_kv, nth = lmx_pool_size(c->pool), nqb = 0;
    for (int t = 0; t < n; nqb++) {
        int k = 1;
        while (t + k < n && k < c->qb_tok && seq[t + k] == seq[t] && pos[t + k] == pos[t] + k) k++;
        c->qb[nqb] = (struct attn_qb){.t0 = t, .n_tok = k, .seq = seq[t]};
        t += k;
    }
    /* few query blocks for the threads: split lone deep tokens by segment
     * (the items for no split always fit: n_batch × n_kv) */
    bool split = (long)nqb * n_kv < 4L * nth;
    size_t n_items, n_part, pf = lmx_attn_part_floats(G, hp->head_dim);
    for (;;) {
        n_items = n_part = 0;
        for (int i = 0; i < nqb; i++) {
            struct attn_qb *b = &c->qb[i];
            int nseg = pos[b->t0] / LMX_ATTN_SEG + 1;
            b->nseg = split && b->n_tok == 1 && nseg > 1 ? nseg : 0;
            b->part_off = n_part;
            n_part += (size_t)b->nseg * n_kv * pf;
            n_items += (size_t)n_kv * (b->nseg ? (size_t)b->nseg : 1);
        }
        if (!split || (grow((void **)&c->items, &c->cap_items, n_items, sizeof *c->items) &&
                       grow((void **)&c->part, &c->cap_part, n_part, sizeof(float))))
            break;
        split = false;
    }
    size_t w = 0;
    for (int i = 0; i < nqb; i++)
        for (int h = 0; h < n_kv; h++)
            for (int s = 0; s < (c->qb[i].nseg ? c->qb[i].nseg : 1); s++)
                c->items[w++] = (struct attn_item){i, h, c->qb[i].nseg ? s : -1};
    attn_job j = {c, layer, (int)n_items, lmx_attn_ops_get(hp->head_dim), pos, 0};
    lmx_pool_run(c->pool, attn_task, &j);
    if (n_part) { /* one item per split (query block, KV head) */
        w = 0;
        for (int i = 0; i < nqb; i++)
            for (int h = 0; h < n_kv && c->qb[i].nseg; h++)
                c->items[w++] = (struct attn_item){i, h, -1};
        attn_job m = {c, layer, (int)w, j.ops, pos, 0};
        lmx_pool_run(c->pool, attn_merge_task, &m);
    }
}

/* ---- the FFN activation, split over threads (n × n_ff expf per layer) ---- */

typedef struct {
    float *gate;
    const float *up;
    long n;
} swiglu_job;

static void swiglu_task(void *arg, int ith, int nth) {
    swiglu_job *j = arg;
    long b, e;
    lmx_split_range(j->n, 64, ith, nth, &b, &e);
    for (long i = b; i < e; i++) j->gate[i] = silu(j->gate[i]) * j->up[i];
}

/* ---- one chunk of at most n_batch tokens ---- */

/* Whether token i of the batch wants its logits. */
static bool wants_logits(const lmx_batch *b, int i) {
    return b->logits ? b->logits[i] : i == b->n - 1;
}

/* Attention: norm, Q/K/V, rope, the new K/V rows into the cache, attention
 * over each token's sequence, output projection, residual. */
static void attention_block(lmx_ctx *c, int l, int n, const int32_t *pos, const int32_t *seq) {
    lmx_model *m = c->m;
    const lmx_hparams *hp = &m->hp;
    const lmx_layer *L = &m->layers[l];
    int d = hp->n_embd, hd = hp->head_dim, qd = hp->n_head * hd, kvd = (int)c->kv_dim;
    lmx_pool *pool = c->pool;
    for (int t = 0; t < n; t++)
        rmsnorm(c->xn + (size_t)t * d, c->x + (size_t)t * d, L->attn_norm, d, hp->norm_eps);
    lmx_matmul(&L->wq, c->xn, n, c->q, qd, c->mm_scratch, pool);
    lmx_matmul(&L->wk, c->xn, n, c->kc, kvd, c->mm_scratch, pool);
    lmx_matmul(&L->wv, c->xn, n, c->vc, kvd, c->mm_scratch, pool);
    for (int t = 0; t < n; t++) {
        float *q = c->q + (size_t)t * qd, *k = c->kc + (size_t)t * kvd,
              *v = c->vc + (size_t)t * kvd;
        if (L->bq) {
            for (int i = 0; i < qd; i++) q[i] += L->bq[i];
            for (int i = 0; i < kvd; i++) k[i] += L->bk[i];
            for (int i = 0; i < kvd; i++) v[i] += L->bv[i];
        }
        const float *cs = c->rope + (size_t)t * hp->rope_dims;
        for (int h = 0; h < hp->n_head; h++) {
            if (L->q_norm) rmsnorm(q + h * hd, q + h * hd, L->q_norm, hd, hp->norm_eps);
            rope_apply(hp, q + h * hd, cs);
        }
        for (int h = 0; h < hp->n_head_kv; h++) {
            if (L->k_norm) rmsnorm(k + h * hd, k + h * hd, L->k_norm, hd, hp->norm_eps);
            rope_apply(hp, k + h * hd, cs);
        }
        lmx_kv_store(c->kv, seq[t], l, pos[t], k, v);
    }
    attention(c, l, n, pos, seq);
    lmx_matmul(&L->wo, c->att, n, c->xn, d, c->mm_scratch, pool);
    for (size_t i = 0; i < (size_t)n * d; i++) c->x[i] += c->xn[i];
}

/* FFN: norm, gate and up, SwiGLU, down, residual. */
static void ffn_block(lmx_ctx *c, int l, int n) {
    lmx_model *m = c->m;
    const lmx_hparams *hp = &m->hp;
    const lmx_layer *L = &m->layers[l];
    int d = hp->n_embd;
    lmx_pool *pool = c->pool;
    for (int t = 0; t < n; t++)
        rmsnorm(c->xn + (size_t)t * d, c->x + (size_t)t * d, L->ffn_norm, d, hp->norm_eps);
    lmx_matmul(&L->w_gate, c->xn, n, c->gate, hp->n_ff, c->mm_scratch, pool);
    lmx_matmul(&L->w_up, c->xn, n, c->up, hp->n_ff, c->mm_scratch, pool);
    swiglu_job sj = {c->gate, c->up, (long)n * hp->n_ff};
    lmx_pool_run(pool, swiglu_task, &sj);
    lmx_matmul(&L->w_down, c->gate, n, c->xn, d, c->mm_scratch, pool);
    for (size_t i = 0; i < (size_t)n * d; i++) c->x[i] += c->xn[i];
}

static void forward_chunk(lmx_ctx *c, const lmx_batch *b, int s0, int n, float *logits, int *n_out,
                          const bool *want_hidden, float *hidden, int *n_hidden) {
    const int32_t *tok = b->tok + s0, *pos = b->pos + s0, *seq = b->seq + s0;
    lmx_model *m = c->m;
    const lmx_hparams *hp = &m->hp;
    int d = hp->n_embd;
    lmx_pool *pool = c->pool;

    for (int t = 0; t < n; t++) {
        lmx_wmat_get_row(&m->tok_embd, tok[t], c->x + (size_t)t * d);
        rope_table(c, pos[t], c->rope + (size_t)t * hp->rope_dims);
    }
    for (int l = 0; l < hp->n_layer; l++) {
        attention_block(c, l, n, pos, seq); /* tokens look at their sequences' past */
        ffn_block(c, l, n);                 /* each token on its own */
    }
    /* hidden states (normed) straight into the caller's rows */
    for (int t = 0; want_hidden && t < n; t++)
        if (want_hidden[s0 + t])
            rmsnorm(hidden + (size_t)(*n_hidden)++ * d, c->x + (size_t)t * d, m->output_norm, d,
                    hp->norm_eps);
    /* logits only for the tokens that want them */
    int k = 0;
    for (int t = 0; t < n; t++)
        if (wants_logits(b, s0 + t)) {
            rmsnorm(c->xn + (size_t)k * d, c->x + (size_t)t * d, m->output_norm, d, hp->norm_eps);
            k++;
        }
    if (k)
        lmx_matmul(&m->output, c->xn, k, logits + (size_t)*n_out * hp->n_vocab, hp->n_vocab,
                   c->mm_scratch, pool);
    *n_out += k;
}

int lmx_forward(lmx_ctx *c, const lmx_batch *b, float *logits, char *err, size_t errlen) {
    return lmx_forward_ex(c, b, logits, NULL, NULL, err, errlen);
}

int lmx_forward_ex(lmx_ctx *c, const lmx_batch *b, float *logits, const bool *want_hidden,
                   float *hidden, char *err, size_t errlen) {
    const lmx_hparams *hp = &c->m->hp;
    if (b->n <= 0) return 0;
    /* Validate the whole batch before touching any state. */
    int *next = c->next;
    for (int s = 0; s < c->n_seq; s++) next[s] = lmx_kv_seq_len(c->kv, s);
    for (int i = 0; i < b->n; i++) {
        int s = b->seq[i], p = b->pos[i], t = b->tok[i];
        if (s < 0 || s >= c->n_seq)
            snprintf(err, errlen, "token %d: sequence %d out of range [0, %d)", i, s, c->n_seq);
        else if (t < 0 || t >= hp->n_vocab)
            snprintf(err, errlen, "token %d: id %d out of range [0, %d)", i, t, hp->n_vocab);
        else if (p != next[s])
            snprintf(err, errlen, "token %d: position %d, but sequence %d continues at %d", i, p, s,
                     next[s]);
        else if (p >= c->n_ctx)
            snprintf(err, errlen, "token %d: position %d past the context size %d", i, p, c->n_ctx);
        else {
            next[s]++;
            continue;
        }
        return -1;
    }
    for (int s = 0; s < c->n_seq; s++)
        if (next[s] > lmx_kv_seq_len(c->kv, s) && lmx_kv_reserve(c->kv, s, next[s])) {
            snprintf(err, errlen, "sequence %d: no free KV cache block for position %d", s,
                     next[s] - 1);
            return -1;
        }
    int n_out = 0, n_hidden = 0;
    for (int s0 = 0; s0 < b->n; s0 += c->n_batch) {
        int n = b->n - s0 < c->n_batch ? b->n - s0 : c->n_batch;
        forward_chunk(c, b, s0, n, logits, &n_out, want_hidden, hidden, &n_hidden);
        for (int i = s0; i < s0 + n; i++) lmx_kv_commit(c->kv, b->seq[i], b->pos[i], &b->tok[i], 1);
    }
    return 0;
}
