/* Model loading: GGUF metadata → hyper-parameters, tensors → weight matrices.
 *
 * Architectures are data: each entry says how its rope rotates pairs and which
 * optional tensors it requires. A new llama-like architecture is usually one
 * line here plus, if it has a new block shape, a few lines in forward.c.
 * Every tensor's shape and type is checked against the hyper-parameters
 * before use, so a file whose metadata and tensors disagree is refused with
 * the tensor's name instead of being read out of bounds. */
#include "engine/model.h"
#include "engine/kv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    lmx_rope_type rope;
    bool qkv_bias; /* Q/K/V biases required */
    bool qk_norm;  /* per-head Q/K RMS norms required */
} arch_desc;

static const arch_desc archs[] = {
    {"llama", LMX_ROPE_NORM, false, false},
    {"mistral", LMX_ROPE_NORM, false, false},
    {"qwen2", LMX_ROPE_NEOX, true, false},
    {"qwen3", LMX_ROPE_NEOX, false, true},
};

typedef struct {
    lmx_model *m;
    char *err;
    size_t errlen;
    int failed;
    const lmx_model_opts *opts; /* NULL: none */
    uint64_t done, total;       /* tensor bytes prepared / in the file (progress) */
} loader;

static void progress(loader *L, const lmx_gguf_tensor *t) {
    L->done += t->nbytes;
    if (L->opts && L->opts->progress) L->opts->progress(L->opts->progress_ctx, L->done, L->total);
}

static void lfail(loader *L, const char *fmt, ...) {
    if (L->failed) return;
    L->failed = 1;
    int n = snprintf(L->err, L->errlen, "%s: ", L->m->name);
    if (n < 0 || (size_t)n >= L->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static int64_t arch_int(loader *L, const char *suffix, int64_t dflt, bool required) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->m->hp.arch, suffix);
    int64_t v;
    if (lmx_gguf_get_int(L->m->gguf, key, &v)) {
        if (v < 0 || v > (1 << 30)) lfail(L, "key '%s': value %lld out of range", key, (long long)v);
        return v;
    }
    if (required) lfail(L, "key '%s' is missing", key);
    return dflt;
}

static double arch_float(loader *L, const char *suffix, double dflt) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->m->hp.arch, suffix);
    double v;
    return lmx_gguf_get_float(L->m->gguf, key, &v) ? v : dflt;
}

static const lmx_gguf_tensor *find_tensor(loader *L, const char *name, bool required) {
    const lmx_gguf_tensor *t = lmx_gguf_find_tensor(L->m->gguf, name);
    if (!t && required) lfail(L, "tensor '%s' is missing", name);
    return t;
}

/* A matrix of `rows` outputs × `cols` inputs (ggml: ne0 = cols, ne1 = rows). */
static void load_mat(loader *L, lmx_wmat *w, const char *name, int64_t rows, int64_t cols,
                     bool required) {
    if (L->failed) return;
    const lmx_gguf_tensor *t = find_tensor(L, name, required);
    if (!t) return;
    if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1) {
        lfail(L, "tensor '%s': shape [%lld, %lld], expected [%lld, %lld]", name,
              (long long)t->ne[0], (long long)t->ne[1], (long long)cols, (long long)rows);
        return;
    }
    const lmx_dtype_info *ti = lmx_dtype_get(t->type);
    if (!ti || !ti->supported) {
        lfail(L, "tensor '%s': type %s is not supported (supported: f32, f16, bf16, q8_0, q4_0, "
                 "q4_K, q5_K, q6_K)",
              name, lmx_dtype_name(t->type));
        return;
    }
    if (lmx_wmat_init(w, (lmx_dtype)t->type, rows, cols, t->data)) {
        lfail(L, "tensor '%s': cannot use %s with %lld columns", name, lmx_dtype_name(t->type),
              (long long)cols);
        return;
    }
    /* A repacked matrix lives in its own copy: drop the mapped pages so the
     * weights are resident once, not twice. */
    if (w->owned) lmx_gguf_release(L->m->gguf, t);
    L->m->weight_bytes += t->nbytes;
    progress(L, t);
}

/* A small vector (norm weights, biases) copied out as floats. */
static float *load_vec(loader *L, const char *name, int64_t n, bool required) {
    if (L->failed) return NULL;
    const lmx_gguf_tensor *t = find_tensor(L, name, required);
    if (!t) return NULL;
    if (t->ne[0] != n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1) {
        lfail(L, "tensor '%s': shape [%lld], expected [%lld]", name, (long long)t->ne[0],
              (long long)n);
        return NULL;
    }
    if (t->type != LMX_F32 && t->type != LMX_F16 && t->type != LMX_BF16) {
        lfail(L, "tensor '%s': type %s is not supported for a vector", name,
              lmx_dtype_name(t->type));
        return NULL;
    }
    float *v = malloc(sizeof(float) * (size_t)n);
    if (!v) {
        lfail(L, "out of memory");
        return NULL;
    }
    lmx_dequant((lmx_dtype)t->type, t->data, v, n);
    progress(L, t);
    return v;
}

static void read_hparams(loader *L) {
    lmx_model *m = L->m;
    lmx_hparams *hp = &m->hp;
    size_t n;
    const char *arch = lmx_gguf_get_str(m->gguf, "general.architecture", &n);
    if (!arch) {
        lfail(L, "key 'general.architecture' is missing");
        return;
    }
    const arch_desc *ad = NULL;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strlen(archs[i].name) == n && !memcmp(archs[i].name, arch, n)) ad = &archs[i];
    if (!ad) {
        lfail(L, "architecture '%.*s' is not supported (supported: llama, mistral, qwen2, qwen3)",
              (int)(n < 64 ? n : 64), arch);
        return;
    }
    snprintf(hp->arch, sizeof hp->arch, "%s", ad->name);
    hp->rope_type = ad->rope;
    hp->n_embd = (int)arch_int(L, "embedding_length", 0, true);
    hp->n_layer = (int)arch_int(L, "block_count", 0, true);
    hp->n_ff = (int)arch_int(L, "feed_forward_length", 0, true);
    hp->n_head = (int)arch_int(L, "attention.head_count", 0, true);
    hp->n_head_kv = (int)arch_int(L, "attention.head_count_kv", hp->n_head, false);
    hp->n_ctx_train = (int)arch_int(L, "context_length", 2048, false);
    hp->pooling_type = (int)arch_int(L, "pooling_type", LMX_POOL_UNSET, false);
    if (L->failed) return;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_layer > 1024 || hp->n_ff <= 0 ||
        hp->n_head <= 0 || hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv) {
        lfail(L, "inconsistent shape: n_embd %d, n_layer %d, n_ff %d, n_head %d, n_head_kv %d",
              hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv);
        return;
    }
    hp->head_dim = (int)arch_int(L, "attention.key_length", hp->n_embd / hp->n_head, false);
    int vdim = (int)arch_int(L, "attention.value_length", hp->head_dim, false);
    if (hp->head_dim <= 0 || hp->head_dim % 2 || vdim != hp->head_dim) {
        lfail(L, "head dimension %d (value %d) is not supported", hp->head_dim, vdim);
        return;
    }
    hp->rope_dims = (int)arch_int(L, "rope.dimension_count", hp->head_dim, false);
    if (hp->rope_dims <= 0 || hp->rope_dims > hp->head_dim || hp->rope_dims % 2) {
        lfail(L, "rope.dimension_count %d is invalid for head dimension %d", hp->rope_dims,
              hp->head_dim);
        return;
    }
    hp->norm_eps = (float)arch_float(L, "attention.layer_norm_rms_epsilon", 1e-5);
    hp->rope_base = (float)arch_float(L, "rope.freq_base", 10000.0);
    hp->rope_freq_scale = 1.0f;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", hp->arch);
    const char *st = lmx_gguf_get_str(m->gguf, key, &n);
    double factor = arch_float(L, "rope.scaling.factor", 0.0);
    if (st && n == 6 && !memcmp(st, "linear", 6) && factor > 0) hp->rope_freq_scale = (float)(1.0 / factor);
    double scale_linear = arch_float(L, "rope.scale_linear", 0.0); /* older files */
    if (!st && scale_linear > 0) hp->rope_freq_scale = (float)(1.0 / scale_linear);
    if (st && n == 4 && !memcmp(st, "yarn", 4)) {
        lfail(L, "rope scaling 'yarn' is not supported yet");
        return;
    }
}

static void load_weights(loader *L, const arch_desc *ad) {
    lmx_model *m = L->m;
    lmx_hparams *hp = &m->hp;
    const lmx_gguf_tensor *te = find_tensor(L, "token_embd.weight", true);
    if (L->failed) return;
    hp->n_vocab = (int)te->ne[1];
    if (te->ne[1] > (1 << 24)) {
        lfail(L, "tensor 'token_embd.weight': vocabulary of %lld is too large", (long long)te->ne[1]);
        return;
    }
    int64_t d = hp->n_embd, q_dim = (int64_t)hp->n_head * hp->head_dim,
            kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    load_mat(L, &m->tok_embd, "token_embd.weight", hp->n_vocab, d, true);
    m->weight_bytes = 0; /* the embedding is looked up, not streamed per token */
    m->output_norm = load_vec(L, "output_norm.weight", d, true);
    if (lmx_gguf_find_tensor(m->gguf, "output.weight")) {
        load_mat(L, &m->output, "output.weight", hp->n_vocab, d, true);
    } else {
        hp->tied_output = true;
        m->output = m->tok_embd;
        m->output.owned = NULL; /* shared, freed once with tok_embd */
        m->weight_bytes += lmx_dtype_row_bytes(m->tok_embd.type, d) * (size_t)hp->n_vocab;
    }
    if (lmx_gguf_find_tensor(m->gguf, "rope_freqs.weight"))
        m->rope_freqs = load_vec(L, "rope_freqs.weight", hp->rope_dims / 2, true);

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        lfail(L, "out of memory");
        return;
    }
    char nm[96];
#define N(fmt) (snprintf(nm, sizeof nm, "blk.%d." fmt, i), nm)
    for (int i = 0; i < hp->n_layer && !L->failed; i++) {
        lmx_layer *l = &m->layers[i];
        l->attn_norm = load_vec(L, N("attn_norm.weight"), d, true);
        load_mat(L, &l->wq, N("attn_q.weight"), q_dim, d, true);
        load_mat(L, &l->wk, N("attn_k.weight"), kv_dim, d, true);
        load_mat(L, &l->wv, N("attn_v.weight"), kv_dim, d, true);
        load_mat(L, &l->wo, N("attn_output.weight"), d, q_dim, true);
        l->bq = load_vec(L, N("attn_q.bias"), q_dim, ad->qkv_bias);
        l->bk = load_vec(L, N("attn_k.bias"), kv_dim, ad->qkv_bias);
        l->bv = load_vec(L, N("attn_v.bias"), kv_dim, ad->qkv_bias);
        l->q_norm = load_vec(L, N("attn_q_norm.weight"), hp->head_dim, ad->qk_norm);
        l->k_norm = load_vec(L, N("attn_k_norm.weight"), hp->head_dim, ad->qk_norm);
        l->ffn_norm = load_vec(L, N("ffn_norm.weight"), d, true);
        load_mat(L, &l->w_gate, N("ffn_gate.weight"), hp->n_ff, d, true);
        load_mat(L, &l->w_up, N("ffn_up.weight"), hp->n_ff, d, true);
        load_mat(L, &l->w_down, N("ffn_down.weight"), d, hp->n_ff, true);
    }
#undef N
}

lmx_model *lmx_model_open(const char *path, const lmx_model_opts *opts, char *err, size_t errlen) {
    lmx_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    snprintf(m->name, sizeof m->name, "%s", path);
    m->gguf = lmx_gguf_open(path, err, errlen);
    if (!m->gguf) {
        free(m);
        return NULL;
    }
    loader L = {m, err, errlen, 0, opts, 0, 0};
    for (int64_t i = 0; i < m->gguf->n_tensors; i++) L.total += m->gguf->tensors[i].nbytes;
    read_hparams(&L);
    const arch_desc *ad = NULL;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(archs[i].name, m->hp.arch)) ad = &archs[i];
    if (!L.failed) load_weights(&L, ad);
    if (!L.failed) {
        m->tok = lmx_tok_load(m->gguf, err, errlen);
        if (!m->tok) L.failed = 1;
        else if (lmx_tok_n_vocab(m->tok) != m->hp.n_vocab) {
            snprintf(err, errlen, "%s: tokenizer has %d tokens but token_embd.weight has %d rows",
                     path, lmx_tok_n_vocab(m->tok), m->hp.n_vocab);
            L.failed = 1;
        }
    }
    if (L.failed) {
        lmx_model_free(m);
        return NULL;
    }
    return m;
}

void lmx_model_free(lmx_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int i = 0; i < m->hp.n_layer; i++) {
            lmx_layer *l = &m->layers[i];
            lmx_wmat *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
            for (size_t j = 0; j < sizeof ws / sizeof ws[0]; j++) lmx_wmat_free(ws[j]);
            float *vs[] = {l->attn_norm, l->ffn_norm, l->bq, l->bk, l->bv, l->q_norm, l->k_norm};
            for (size_t j = 0; j < sizeof vs / sizeof vs[0]; j++) free(vs[j]);
        }
        free(m->layers);
    }
    lmx_wmat_free(&m->tok_embd);
    if (!m->hp.tied_output) lmx_wmat_free(&m->output);
    free(m->output_norm);
    free(m->rope_freqs);
    lmx_tok_free(m->tok);
    lmx_gguf_close(m->gguf);
    free(m);
}

size_t lmx_model_kv_bytes_per_token(const lmx_model *m, int kv_type) {
    size_t hd = (size_t)m->hp.head_dim;
    size_t row = kv_type == LMX_KV_F32    ? hd * 4
                 : kv_type == LMX_KV_Q8_0 ? hd + hd / 32 * 2 /* int8 and an F16 scale per 32 */
                                          : hd * 2;
    return (size_t)m->hp.n_layer * 2 * (size_t)m->hp.n_head_kv * row;
}

int lmx_model_estimate(const char *path, int n_ctx, int n_seq, int n_batch, int kv_type,
                       lmx_mem_estimate *out, char *err, size_t errlen) {
    lmx_model m = {0};
    snprintf(m.name, sizeof m.name, "%s", path);
    m.gguf = lmx_gguf_open(path, err, errlen);
    if (!m.gguf) return -1;
    loader L = {&m, err, errlen, 0, NULL, 0, 0};
    read_hparams(&L);
    const lmx_gguf_tensor *te = lmx_gguf_find_tensor(m.gguf, "token_embd.weight");
    if (!L.failed && !te) lfail(&L, "tensor 'token_embd.weight' is missing");
    if (L.failed) {
        lmx_gguf_close(m.gguf);
        return -1;
    }
    const lmx_hparams *hp = &m.hp;
    if (n_ctx <= 0)
        n_ctx = hp->n_ctx_train < LMX_DEFAULT_CTX_MAX ? hp->n_ctx_train : LMX_DEFAULT_CTX_MAX;
    if (n_seq <= 0) n_seq = 1;
    if (n_batch <= 0) n_batch = 512;
    size_t n_vocab = (size_t)te->ne[1], d = (size_t)hp->n_embd,
           qd = (size_t)hp->n_head * hp->head_dim, kvd = (size_t)hp->n_head_kv * hp->head_dim;
    out->weights = m.gguf->tensor_bytes;
    out->kv = (size_t)n_ctx * (size_t)n_seq * lmx_model_kv_bytes_per_token(&m, kv_type);
    /* activations of a batch (forward.c's scratch), quantized copies, logits */
    out->compute = sizeof(float) * (size_t)n_batch * (2 * d + 2 * qd + 2 * kvd + 2 * (size_t)hp->n_ff) +
                   (size_t)n_batch * (size_t)hp->n_ff * 2 + sizeof(float) * n_vocab * 2;
    out->total = out->weights + out->kv + out->compute;
    out->n_ctx = n_ctx;
    lmx_gguf_close(m.gguf);
    return 0;
}
