/* Speculative decoding: proposers, acceptance rules and auto-off (spec.h).
 *
 * Auto-off: each sequence keeps a moving average of the drafts kept per
 * verify step. Verifying K drafts costs more than one decode row (and a draft
 * model costs K small forward passes), so when the average falls under
 * min_accept the sequence stops proposing for a while — 16 of its decode
 * steps, doubling on each further failure up to 1024 — then probes again.
 * Counted in the sequence's own steps, so a seeded job behaves the same
 * whatever else runs beside it. */
#include "sched/spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMA_ALPHA     0.25
#define EMA_START     1.5 /* a fresh sequence gets a few verify steps to prove itself */
#define MIN_ACCEPT    0.5 /* default: accepted drafts per verify step */
#define BACKOFF_FIRST 16  /* decode steps without proposing after the first auto-off */
#define BACKOFF_MAX   1024
#define LOOKUP_NGRAM  3

typedef struct {
    /* auto-off */
    double ema;
    int backoff, off_left;
    /* this step */
    bool want, drafting;
    int k, nd;
    const int32_t *hist;
    int n_hist;
    int32_t d[LMX_SPEC_MAX];
    /* DRAFT: what the draft's KV of this sequence holds, dhist[0, dn) */
    int32_t *dhist;
    int dn;
} sseq;

struct lmx_spec {
    lmx_spec_opts o;
    int n_seq, n_ctx, n_vocab;
    sseq *q;
    lmx_ctx *dctx; /* DRAFT */
    int32_t *b_tok, *b_pos, *b_seq;
    bool *b_want;
    int b_cap;
    float *logits; /* one row per sequence */
};

static const char *const MODE_NAMES[] = {
    [LMX_SPEC_OFF] = "off", [LMX_SPEC_LOOKUP] = "lookup", [LMX_SPEC_DRAFT] = "draft"};
#define N_MODES (int)(sizeof MODE_NAMES / sizeof *MODE_NAMES)

int lmx_spec_mode_parse(const char *s) {
    for (int m = 0; s && m < N_MODES; m++)
        if (!strcmp(s, MODE_NAMES[m])) return m;
    return -1;
}

const char *lmx_spec_mode_name(int mode) {
    return MODE_NAMES[mode > 0 && mode < N_MODES ? mode : LMX_SPEC_OFF];
}

/* ---- the rules ---- */

int lmx_spec_lookup(const int32_t *hist, int n, int max_ngram, int k, int32_t *out) {
    if (k <= 0) return 0;
    for (int g = max_ngram; g >= 1; g--) {
        if (g >= n) continue;
        const int32_t *tail = hist + n - g;
        /* the latest earlier occurrence: start positions n-g-1 down to 0 */
        for (int i = n - g - 1; i >= 0; i--) {
            if (memcmp(hist + i, tail, sizeof(int32_t) * (size_t)g)) continue;
            int from = i + g, m = n - from < k ? n - from : k;
            memcpy(out, hist + from, sizeof(int32_t) * (size_t)m);
            return m;
        }
    }
    return 0;
}

int lmx_spec_accept_greedy(const int32_t *draft, const int32_t *target, int k) {
    int a = 0;
    while (a < k && draft[a] == target[a]) a++;
    return a;
}

int32_t lmx_spec_draw(const float *p, int n, lmx_rng *r) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += p[i];
    double u = lmx_rng_uniform(r) * sum, acc = 0;
    int32_t last = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] <= 0) continue;
        acc += p[i];
        last = i;
        if (u < acc) return i;
    }
    return last;
}

int32_t lmx_spec_reject(const float *p, const float *q, int n, int32_t d, lmx_rng *r) {
    double pd = p[d], qd = q ? q[d] : 1.0;
    double u = lmx_rng_uniform(r);
    if (qd <= 0 || u * qd < pd) return d; /* u < p(d)/q(d) */
    /* the residual norm(max(p - q, 0)), drawn without materialising it */
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double x = p[i] - (q ? q[i] : (i == d ? 1.0 : 0.0));
        if (x > 0) sum += x;
    }
    if (sum <= 0) return d; /* p == q: nothing is ever rejected; rounding only */
    double v = lmx_rng_uniform(r) * sum, acc = 0;
    int32_t last = d;
    for (int i = 0; i < n; i++) {
        double x = p[i] - (q ? q[i] : (i == d ? 1.0 : 0.0));
        if (x <= 0) continue;
        acc += x;
        last = i;
        if (v < acc) return i;
    }
    return last;
}

/* ---- the speculator ---- */

static bool grow_batch(lmx_spec *sp, int need) {
    if (need <= sp->b_cap) return true;
    int cap = need * 2;
    int32_t *t = realloc(sp->b_tok, sizeof(int32_t) * (size_t)cap);
    if (t) sp->b_tok = t;
    int32_t *p = realloc(sp->b_pos, sizeof(int32_t) * (size_t)cap);
    if (p) sp->b_pos = p;
    int32_t *s = realloc(sp->b_seq, sizeof(int32_t) * (size_t)cap);
    if (s) sp->b_seq = s;
    bool *w = realloc(sp->b_want, (size_t)cap);
    if (w) sp->b_want = w;
    if (!t || !p || !s || !w) return false;
    sp->b_cap = cap;
    return true;
}

/* The same vocabulary: the same size and every token's text the same. */
static bool same_vocab(const lmx_model *a, const lmx_model *b, char *why, size_t cap) {
    if (a->hp.n_vocab != b->hp.n_vocab) {
        snprintf(why, cap, "%d tokens against %d", b->hp.n_vocab, a->hp.n_vocab);
        return false;
    }
    char pa[256], pb[256];
    for (int32_t i = 0; i < a->hp.n_vocab; i++) {
        size_t na = lmx_tok_piece(a->tok, i, true, pa, sizeof pa);
        size_t nb = lmx_tok_piece(b->tok, i, true, pb, sizeof pb);
        if (na != nb || memcmp(pa, pb, na < sizeof pa ? na : sizeof pa)) {
            snprintf(why, cap, "token %d differs", (int)i);
            return false;
        }
    }
    return true;
}

lmx_spec *lmx_spec_create(const lmx_spec_opts *o, const lmx_model *m, int n_seq, int n_ctx,
                          bool kv_f32, bool kv_q8_0, lmx_pool *pool, char *err, size_t errlen) {
    if (o->mode != LMX_SPEC_LOOKUP && o->mode != LMX_SPEC_DRAFT) {
        snprintf(err, errlen, "speculative: unknown mode %d", o->mode);
        return NULL;
    }
    if (o->mode == LMX_SPEC_DRAFT) {
        char why[128];
        if (!o->draft) {
            snprintf(err, errlen, "speculative: draft needs a draft model (draft_model)");
            return NULL;
        }
        if (!same_vocab(m, o->draft, why, sizeof why)) {
            snprintf(err, errlen,
                     "draft model '%s' has a different vocabulary from model '%s' (%s): "
                     "speculative decoding needs the same tokenizer",
                     o->draft->name, m->name, why);
            return NULL;
        }
    }
    lmx_spec *sp = calloc(1, sizeof *sp);
    if (!sp) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sp->o = *o;
    if (sp->o.draft_max <= 0)
        sp->o.draft_max = o->mode == LMX_SPEC_DRAFT ? LMX_SPEC_DRAFT_MAX : LMX_SPEC_LOOKUP_MAX;
    if (sp->o.draft_max > LMX_SPEC_MAX) sp->o.draft_max = LMX_SPEC_MAX;
    if (sp->o.min_accept == 0) sp->o.min_accept = MIN_ACCEPT;
    sp->n_seq = n_seq;
    sp->n_ctx = n_ctx;
    sp->n_vocab = m->hp.n_vocab;
    sp->q = calloc((size_t)n_seq, sizeof *sp->q);
    bool ok = sp->q && grow_batch(sp, n_seq + 16);
    for (int i = 0; ok && i < n_seq; i++) lmx_spec_reset(sp, i);
    if (ok && o->mode == LMX_SPEC_DRAFT) {
        lmx_ctx_opts co = {.n_ctx = n_ctx,
                           .n_seq = n_seq,
                           .n_batch = 256,
                           .kv_f32 = kv_f32,
                           .kv_q8_0 = kv_q8_0,
                           .pool = pool};
        char e2[256];
        sp->dctx = lmx_ctx_create(o->draft, &co, e2, sizeof e2);
        if (!sp->dctx) {
            snprintf(err, errlen, "draft model '%s': %s", o->draft->name, e2);
            goto fail;
        }
        sp->logits = malloc(sizeof(float) * (size_t)sp->n_vocab * (size_t)n_seq);
        ok = sp->logits != NULL;
        for (int i = 0; ok && i < n_seq; i++) {
            sp->q[i].dhist = malloc(sizeof(int32_t) * (size_t)(n_ctx + LMX_SPEC_MAX + 1));
            ok = sp->q[i].dhist != NULL;
        }
    }
    if (ok) return sp;
    snprintf(err, errlen, "out of memory");
fail:
    lmx_spec_free(sp);
    return NULL;
}

void lmx_spec_free(lmx_spec *sp) {
    if (!sp) return;
    for (int i = 0; sp->q && i < sp->n_seq; i++) free(sp->q[i].dhist);
    free(sp->q);
    lmx_ctx_free(sp->dctx);
    free(sp->b_tok), free(sp->b_pos), free(sp->b_seq), free(sp->b_want);
    free(sp->logits);
    free(sp);
}

int lmx_spec_max(const lmx_spec *sp) {
    return sp->o.draft_max;
}

void lmx_spec_reset(lmx_spec *sp, int seq) {
    sseq *q = &sp->q[seq];
    q->ema = EMA_START;
    q->backoff = BACKOFF_FIRST;
    q->off_left = 0;
    q->want = false;
    q->nd = 0;
}

bool lmx_spec_want(lmx_spec *sp, int seq, const int32_t *hist, int n, int k) {
    sseq *q = &sp->q[seq];
    q->nd = 0;
    q->want = false;
    if (q->off_left > 0) {
        if (--q->off_left == 0) q->ema = sp->o.min_accept + 0.5; /* probe again */
        return false;
    }
    if (k > sp->o.draft_max) k = sp->o.draft_max;
    if (k <= 0) return true;
    q->want = true;
    q->k = k;
    q->hist = hist;
    q->n_hist = n;
    return true;
}

static int32_t argmax(const float *row, int n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (row[i] > row[best]) best = i;
    return best;
}

/* The draft model: each asking sequence catches its draft KV up to hist
 * (keeping what it shares with hist), then K greedy steps, all sequences in
 * one forward pass per step. */
static int propose_draft(lmx_spec *sp, char *err, size_t errlen) {
    int n = 0, nv = sp->n_vocab;
    for (int i = 0; i < sp->n_seq; i++) {
        sseq *q = &sp->q[i];
        if (!q->want) continue;
        int c = 0, lim = q->dn < q->n_hist ? q->dn : q->n_hist;
        while (c < lim && q->dhist[c] == q->hist[c]) c++;
        if (c == q->n_hist) c--; /* the last token runs for its logits */
        lmx_kv_truncate(sp->dctx, i, c);
        c = lmx_kv_len(sp->dctx, i);
        if (!grow_batch(sp, n + q->n_hist - c)) return snprintf(err, errlen, "out of memory"), -1;
        for (int t = c; t < q->n_hist; t++) {
            q->dhist[t] = q->hist[t];
            sp->b_tok[n] = q->hist[t];
            sp->b_pos[n] = t;
            sp->b_seq[n] = i;
            sp->b_want[n] = t == q->n_hist - 1;
            n++;
        }
        q->dn = q->n_hist;
        q->drafting = true;
    }
    while (n > 0) {
        if (lmx_forward(sp->dctx, &(lmx_batch){n, sp->b_tok, sp->b_pos, sp->b_seq, sp->b_want},
                        sp->logits, err, errlen))
            return -1;
        int row = 0, m = 0;
        for (int i = 0; i < sp->n_seq; i++) {
            sseq *q = &sp->q[i];
            if (!q->want || !q->drafting) continue;
            int32_t d = argmax(sp->logits + (size_t)row++ * nv, nv);
            q->d[q->nd++] = d;
            if (q->nd >= q->k || lmx_tok_is_eog(sp->o.draft->tok, d)) {
                q->drafting = false;
                continue;
            }
            sp->b_tok[m] = d;
            sp->b_pos[m] = q->dn;
            sp->b_seq[m] = i;
            sp->b_want[m] = true;
            q->dhist[q->dn++] = d;
            m++;
        }
        n = m;
    }
    return 0;
}

int lmx_spec_propose(lmx_spec *sp, char *err, size_t errlen) {
    int rc = 0;
    if (sp->o.mode == LMX_SPEC_DRAFT) {
        rc = propose_draft(sp, err, errlen);
    } else {
        for (int i = 0; i < sp->n_seq; i++) {
            sseq *q = &sp->q[i];
            if (q->want) q->nd = lmx_spec_lookup(q->hist, q->n_hist, LOOKUP_NGRAM, q->k, q->d);
        }
    }
    for (int i = 0; i < sp->n_seq; i++) {
        if (rc) sp->q[i].nd = 0;
        sp->q[i].want = false;
        sp->q[i].hist = NULL;
    }
    if (rc) /* the draft's KV is unknown now: start every sequence over */
        for (int i = 0; i < sp->n_seq; i++) {
            lmx_kv_clear(sp->dctx, i);
            sp->q[i].dn = 0;
        }
    return rc;
}

int lmx_spec_drafts(const lmx_spec *sp, int seq, const int32_t **d) {
    *d = sp->q[seq].d;
    return sp->q[seq].nd;
}

bool lmx_spec_result(lmx_spec *sp, int seq, int drafted, int accepted) {
    sseq *q = &sp->q[seq];
    (void)drafted;
    q->nd = 0;
    q->ema += EMA_ALPHA * ((double)accepted - q->ema);
    if (sp->o.min_accept < 0) return false; /* forced on */
    if (q->ema < sp->o.min_accept) {
        q->off_left = q->backoff;
        q->backoff = q->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : q->backoff * 2;
        return true;
    }
    if (q->ema >= 2 * sp->o.min_accept) q->backoff = BACKOFF_FIRST; /* paying again */
    return false;
}
