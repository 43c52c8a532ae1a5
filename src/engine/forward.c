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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/attn.h"
#include "engine/model.h"

struct lmx_ctx {
    lmx_model *m;
    lmx_pool *pool;
    int n_ctx, n_seq, n_batch;
    bool kv_f32;
    size_t kv_dim, es; /* floats per KV row; bytes per KV element */
    uint8_t *k, *v;    /* [n_seq][n_layer][n_ctx][kv_dim] */
    int *len;          /* KV length per sequence */
    /* scratch for one chunk of n_batch tokens */
    float *x, *xn, *q, *kc, *vc, *att, *gate, *up, *rope;
    float *scores; /* n_ctx per thread */
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
    c->es = c->kv_f32 ? 4 : 2;
    size_t kv_bytes = (size_t)c->n_seq * hp->n_layer * (size_t)c->n_ctx * c->kv_dim * c->es;
    c->k = malloc(kv_bytes);
    c->v = malloc(kv_bytes);
    c->len = calloc((size_t)c->n_seq, sizeof(int));
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
    c->scores = malloc(sizeof(float) * (size_t)c->n_ctx * (size_t)lmx_pool_size(c->pool));
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
    if (!c->k || !c->v || !c->len || !c->x || !c->xn || !c->q || !c->kc || !c->vc || !c->att ||
        !c->gate || !c->up || !c->rope || !c->scores || !c->next || !c->rope_freq || !c->mm_scratch)
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
    void *ps[] = {c->k,      c->v,          c->len,  c->x,        c->xn, c->q,
                  c->kc,     c->vc,         c->att,  c->gate,     c->up, c->rope,
                  c->scores, c->mm_scratch, c->next, c->rope_freq};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
    free(c);
}

int lmx_ctx_n_ctx(const lmx_ctx *c) {
    return c->n_ctx;
}
int lmx_ctx_n_seq(const lmx_ctx *c) {
    return c->n_seq;
}
size_t lmx_ctx_kv_bytes(const lmx_ctx *c) {
    return 2 * (size_t)c->n_seq * c->m->hp.n_layer * (size_t)c->n_ctx * c->kv_dim * c->es;
}

static size_t kv_off(const lmx_ctx *c, int seq, int layer, int pos) {
    return (((size_t)seq * c->m->hp.n_layer + layer) * c->n_ctx + pos) * c->kv_dim * c->es;
}

int lmx_kv_len(const lmx_ctx *c, int seq) {
    return seq >= 0 && seq < c->n_seq ? c->len[seq] : 0;
}

void lmx_kv_truncate(lmx_ctx *c, int seq, int n_keep) {
    if (seq < 0 || seq >= c->n_seq || n_keep < 0) return;
    if (n_keep < c->len[seq]) c->len[seq] = n_keep;
}

void lmx_kv_clear(lmx_ctx *c, int seq) {
    lmx_kv_truncate(c, seq, 0);
}

int lmx_kv_copy_prefix(lmx_ctx *c, int src, int dst, int n) {
    if (src < 0 || src >= c->n_seq || dst < 0 || dst >= c->n_seq || n < 0 || n > c->len[src])
        return -1;
    if (src != dst)
        for (int l = 0; l < c->m->hp.n_layer; l++) {
            size_t bytes = (size_t)n * c->kv_dim * c->es;
            memcpy(c->k + kv_off(c, dst, l, 0), c->k + kv_off(c, src, l, 0), bytes);
            memcpy(c->v + kv_off(c, dst, l, 0), c->v + kv_off(c, src, l, 0), bytes);
        }
    c->len[dst] = n;
    return 0;
}

/* ---- attention: one (token, head) pair at a time, split over threads ---- */

typedef struct {
    lmx_ctx *c;
    int layer, n;
    const int32_t *pos, *seq;
    const lmx_attn_ops *ops;
} attn_job;

static void attn_task(void *arg, int ith, int nth) {
    attn_job *j = arg;
    lmx_ctx *c = j->c;
    const lmx_hparams *hp = &c->m->hp;
    int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    float scale = 1.0f / sqrtf((float)hd);
    float *sc = c->scores + (size_t)ith * c->n_ctx;
    const lmx_attn_ops *ops = j->ops;
    long b, e;
    lmx_split_range((long)j->n * hp->n_head, 1, ith, nth, &b, &e);
    for (long w = b; w < e; w++) {
        int t = (int)(w / hp->n_head), h = (int)(w % hp->n_head), kvh = h / group;
        int pos = j->pos[t], seq = j->seq[t];
        const float *q = c->q + (size_t)t * hp->n_head * hd + (size_t)h * hd;
        float *out = c->att + (size_t)t * hp->n_head * hd + (size_t)h * hd;
        const uint8_t *K = c->k + kv_off(c, seq, j->layer, 0) + (size_t)kvh * hd * c->es;
        const uint8_t *V = c->v + kv_off(c, seq, j->layer, 0) + (size_t)kvh * hd * c->es;
        size_t stride = c->kv_dim * c->es;
        float mx = -INFINITY;
        for (int p = 0; p <= pos; p++) {
            float s = 0;
            if (c->kv_f32) {
                const float *k = (const float *)(K + p * stride);
                for (int i = 0; i < hd; i++) s += q[i] * k[i];
            } else {
                s = ops->dot_f16(q, (const uint16_t *)(K + p * stride), hd);
            }
            s *= scale;
            sc[p] = s;
            if (s > mx) mx = s;
        }
        float sum = 0;
        for (int p = 0; p <= pos; p++) {
            sc[p] = expf(sc[p] - mx);
            sum += sc[p];
        }
        float inv = 1.0f / sum;
        for (int i = 0; i < hd; i++) out[i] = 0;
        for (int p = 0; p <= pos; p++) {
            float wgt = sc[p] * inv;
            if (c->kv_f32) {
                const float *v = (const float *)(V + p * stride);
                for (int i = 0; i < hd; i++) out[i] += wgt * v[i];
            } else {
                ops->axpy_f16(out, wgt, (const uint16_t *)(V + p * stride), hd);
            }
        }
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
        uint8_t *kd = c->k + kv_off(c, seq[t], l, pos[t]);
        uint8_t *vd = c->v + kv_off(c, seq[t], l, pos[t]);
        if (c->kv_f32) {
            memcpy(kd, k, sizeof(float) * kvd);
            memcpy(vd, v, sizeof(float) * kvd);
        } else {
            for (int i = 0; i < kvd; i++) {
                ((uint16_t *)kd)[i] = lmx_f32_to_f16(k[i]);
                ((uint16_t *)vd)[i] = lmx_f32_to_f16(v[i]);
            }
        }
    }
    attn_job aj = {c, l, n, pos, seq, lmx_attn_ops_get()};
    lmx_pool_run(pool, attn_task, &aj);
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
    memcpy(next, c->len, sizeof(int) * (size_t)c->n_seq);
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
    int n_out = 0, n_hidden = 0;
    for (int s0 = 0; s0 < b->n; s0 += c->n_batch) {
        int n = b->n - s0 < c->n_batch ? b->n - s0 : c->n_batch;
        forward_chunk(c, b, s0, n, logits, &n_out, want_hidden, hidden, &n_hidden);
        for (int i = s0; i < s0 + n; i++) c->len[b->seq[i]] = b->pos[i] + 1;
    }
    return 0;
}
