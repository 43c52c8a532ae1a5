/* Model summaries (see model_summary.h). */
#include "cli/model_summary.h"

#include <string.h>

#include "cli/admin_client.h"
#include "engine/dtype.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "sched/sched.h"

static void fmt_count(uint64_t p, char *out, size_t n) {
    if (p >= 1000000000ull)
        snprintf(out, n, "%.1fB", p / 1e9);
    else if (p >= 1000000ull)
        snprintf(out, n, "%.1fM", p / 1e6);
    else if (p >= 1000ull)
        snprintf(out, n, "%.1fK", p / 1e3);
    else
        snprintf(out, n, "%llu", (unsigned long long)p);
}

int lmx_model_summary_read(const char *path, lmx_model_summary *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    lmx_gguf *g = lmx_gguf_open(path, err, errlen);
    if (!g) return -1;
    size_t l;
    const char *a = lmx_gguf_get_str(g, "general.architecture", &l);
    snprintf(s->arch, sizeof s->arch, "%.*s", a ? (int)l : 1, a ? a : "?");
    const char *nm = lmx_gguf_get_str(g, "general.name", &l);
    if (nm) snprintf(s->name, sizeof s->name, "%.*s", (int)l, nm);
    char key[128];
    snprintf(key, sizeof key, "%s.context_length", s->arch);
    lmx_gguf_get_int(g, key, &s->ctx_train);
    const char *t = lmx_gguf_get_str(g, "tokenizer.chat_template", &l);
    s->has_template = t != NULL;
    s->tools = t && memmem(t, l, "tools", 5);
    s->embedding = !strcmp(s->arch, "bert") || !strcmp(s->arch, "nomic-bert");
    size_t counts[64] = {0};
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const lmx_gguf_tensor *te = &g->tensors[i];
        uint64_t e = 1;
        for (int d = 0; d < te->n_dims; d++) e *= (uint64_t)te->ne[d];
        s->n_params += e;
        if (te->n_dims >= 2 && te->type < 64) counts[te->type] += te->nbytes;
    }
    int best = 0;
    for (int i = 1; i < 64; i++)
        if (counts[i] > counts[best]) best = i;
    snprintf(s->quant, sizeof s->quant, "%s", lmx_dtype_name((uint32_t)best));
    lmx_gguf_close(g);
    /* lmx serve's defaults: the model's context up to LMX_DEFAULT_CTX_MAX, and
     * twice --parallel sequences of KV (the running ones and as many cached
     * prefixes), as the manager's admission counts them */
    s->ctx_serve = s->ctx_train > 0 && s->ctx_train < LMX_DEFAULT_CTX_MAX ? (int)s->ctx_train
                                                                          : LMX_DEFAULT_CTX_MAX;
    s->parallel = LMX_DEFAULT_PARALLEL;
    lmx_mem_estimate me;
    if (lmx_model_estimate(path, s->ctx_serve, 2 * s->parallel, 0, false, &me, err, errlen))
        return -1;
    s->weights = me.weights, s->kv = me.kv, s->compute = me.compute, s->total = me.total;
    return 0;
}

void lmx_model_summary_line(const lmx_model_summary *s, char *out, size_t n) {
    char p[32];
    fmt_count(s->n_params, p, sizeof p);
    snprintf(out, n, "%s%s%s%s, %s parameters, %s, context %lld, chat template: %s%s", s->name,
             s->name[0] ? " (" : "", s->arch, s->name[0] ? ")" : "", p, s->quant,
             (long long)s->ctx_train, s->has_template ? "the model's" : "none (ChatML is used)",
             s->tools ? ", tools" : "");
}

void lmx_model_summary_memory(const lmx_model_summary *s, char *out, size_t n) {
    char tot[32], w[32], kv[32], c[32];
    lmx_human_bytes((double)s->total, tot, sizeof tot);
    lmx_human_bytes((double)s->weights, w, sizeof w);
    lmx_human_bytes((double)s->kv, kv, sizeof kv);
    lmx_human_bytes((double)s->compute, c, sizeof c);
    snprintf(out, n,
             "%s at lmx serve's defaults (context %d x %d sequences: weights %s, KV cache %s, "
             "compute %s)",
             tot, s->ctx_serve, 2 * s->parallel, w, kv, c);
}
