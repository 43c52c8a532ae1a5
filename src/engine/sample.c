/* Sampling, in llama.cpp's order: penalties, logit bias, then top-k, top-p
 * and min-p on the untempered distribution, then temperature, then a draw.
 *
 * The work arrays are allocated once per sampler (a sequence's lifetime), so
 * nothing is allocated per token. Sorting the whole vocabulary is avoided when
 * top-k is set: a partial selection keeps only k candidates. */
#include "engine/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lmx_sampler {
    int n_vocab;
    lmx_sample_params p;
    lmx_rng rng;
    lmx_logit_bias *bias;
    int n_bias;
    int32_t *idx;   /* candidate ids */
    float *prob;    /* scratch per candidate */
    int32_t *count; /* occurrences per id in the penalty window */
    double mass;    /* sorted_prefix: untempered mass of every candidate (0: unset) */
};

lmx_sample_params lmx_sample_defaults(void) {
    lmx_sample_params p = {0};
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 0;
    return p;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void lmx_rng_seed(lmx_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t lmx_rng_next(lmx_rng *r) {
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double lmx_rng_uniform(lmx_rng *r) {
    return (double)(lmx_rng_next(r) >> 11) * 0x1.0p-53;
}

lmx_sampler *lmx_sampler_create(int n_vocab, const lmx_sample_params *p) {
    /* The sampler and its three per-id arrays in one zeroed block (the
     * penalty counts start at zero): one allocation, one free. */
    if (n_vocab < 0) return NULL;
    size_t n = (size_t)n_vocab;
    lmx_sampler *s = calloc(1, sizeof *s + n * (sizeof(int32_t) + sizeof(float) + sizeof(int32_t)));
    if (!s) return NULL;
    s->n_vocab = n_vocab;
    s->p = *p;
    lmx_rng_seed(&s->rng, p->seed);
    s->idx = (int32_t *)(s + 1);
    s->prob = (float *)(s->idx + n);
    s->count = (int32_t *)(s->prob + n);
    return s;
}

void lmx_sampler_free(lmx_sampler *s) {
    if (!s) return;
    free(s->bias);
    free(s);
}

void lmx_sampler_set_bias(lmx_sampler *s, const lmx_logit_bias *bias, int n) {
    free(s->bias);
    s->bias = NULL;
    s->n_bias = 0;
    if (n <= 0) return;
    s->bias = malloc(sizeof *bias * (size_t)n);
    if (!s->bias) return;
    memcpy(s->bias, bias, sizeof *bias * (size_t)n);
    s->n_bias = n;
}

static void apply_penalties(lmx_sampler *s, float *logits, const int32_t *h, int n) {
    const lmx_sample_params *p = &s->p;
    if (p->repeat_penalty == 1.0f && p->presence_penalty == 0 && p->frequency_penalty == 0) return;
    int from = p->repeat_last_n < 0 || p->repeat_last_n > n ? 0 : n - p->repeat_last_n;
    for (int i = from; i < n; i++)
        if (h[i] >= 0 && h[i] < s->n_vocab) s->count[h[i]]++;
    for (int i = from; i < n; i++) {
        int32_t t = h[i];
        if (t < 0 || t >= s->n_vocab || s->count[t] == 0) continue;
        float l = logits[t];
        if (p->repeat_penalty != 1.0f) l = l > 0 ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= (float)s->count[t] * p->frequency_penalty + p->presence_penalty;
        logits[t] = l;
        s->count[t] = 0; /* each distinct token once; also resets the counts */
    }
}

/* Candidates ordered by logit descending, then id ascending: deterministic. */
static _Thread_local const float *cmp_logits;
static int cmp_desc(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    float lx = cmp_logits[x], ly = cmp_logits[y];
    if (lx != ly) return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Puts the k best (by the order above) at the front of idx[0..n), sorted; the
 * rest of idx is left overwritten, not permuted. */
static void select_top(int32_t *idx, int n, int k, const float *logits) {
    /* a bounded insertion pass: fine for the k of a few hundred sampling uses */
    if (k > 256) {
        cmp_logits = logits;
        qsort(idx, (size_t)n, sizeof *idx, cmp_desc);
        return;
    }
    int m = 0;
    for (int i = 0; i < n; i++) {
        int32_t t = idx[i];
        float l = logits[t];
        if (m == k) {
            int32_t last = idx[k - 1];
            if (l < logits[last] || (l == logits[last] && t > last)) continue;
            m--;
        }
        int j = m;
        while (j > 0 && (logits[idx[j - 1]] < l || (logits[idx[j - 1]] == l && idx[j - 1] > t))) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = t;
        m++;
    }
}

/* Tempered probabilities of idx[0..n), then one draw in that order. */
static int32_t draw(lmx_sampler *s, const float *logits, int n, float mx) {
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += s->prob[i] = expf((logits[s->idx[i]] - mx) / s->p.temperature);
    double r = lmx_rng_uniform(&s->rng) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += s->prob[i];
        if (r < acc) return s->idx[i];
    }
    return s->idx[n - 1];
}

/* Keeps the candidates whose probability relative to the best is >= min_p. */
static int keep_min_p(lmx_sampler *s, const float *logits, int n, float mx) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (expf(logits[s->idx[i]] - mx) >= s->p.min_p) s->idx[m++] = s->idx[i];
    return m;
}

/* top-p / min-p without top-k: both keep a prefix of the candidates sorted by
 * logit, so only that prefix needs sorting. min-p's survivors (probability
 * relative to the best >= min_p) are filtered first; then the best 256 are
 * selected, and only when they hold less than top_p of the mass of all
 * candidates is the rest sorted too. The result equals sorting everything.
 * Sets s->mass to the untempered mass of all n candidates (the top-p
 * denominator); returns how many of idx are sorted and kept. */
static int sorted_prefix(lmx_sampler *s, const float *logits, int n, float mx) {
    const lmx_sample_params *p = &s->p;
    double mass = 0;
    for (int i = 0; i < n; i++) mass += expf(logits[s->idx[i]] - mx);
    s->mass = mass;
    if (p->min_p > 0) n = keep_min_p(s, logits, n, mx);
    if (n > 256 && p->top_p < 1.0f) {
        select_top(s->idx, n, 256, logits);
        double cum = 0;
        for (int i = 0; i < 256; i++) cum += expf(logits[s->idx[i]] - mx);
        if (cum / mass >= p->top_p) return 256;
        /* select_top overwrote the rest of idx: gather the candidates again */
        n = 0;
        for (int32_t i = 0; i < s->n_vocab; i++)
            if (logits[i] > -INFINITY) s->idx[n++] = i;
        if (p->min_p > 0) n = keep_min_p(s, logits, n, mx);
    }
    cmp_logits = logits;
    qsort(s->idx, (size_t)n, sizeof *s->idx, cmp_desc);
    return n;
}

/* Penalties and bias, then the filters: the candidates left are idx[0..n)
 * (n returned) with *mx the logit their tempering starts from. Greedy
 * returns -1 with the argmax in idx[0]. */
static int prepare(lmx_sampler *s, float *logits, const int32_t *history, int n_history,
                   float *mx_out) {
    const lmx_sample_params *p = &s->p;
    int nv = s->n_vocab;
    apply_penalties(s, logits, history, n_history);
    for (int i = 0; i < s->n_bias; i++)
        if (s->bias[i].id >= 0 && s->bias[i].id < nv) logits[s->bias[i].id] += s->bias[i].bias;

    if (p->temperature <= 0) {
        int32_t best = 0;
        for (int32_t i = 1; i < nv; i++)
            if (logits[i] > logits[best]) best = i;
        s->idx[0] = best;
        return -1;
    }
    int n = 0;
    float mx = -INFINITY;
    for (int32_t i = 0; i < nv; i++)
        if (logits[i] > -INFINITY) {
            s->idx[n++] = i;
            if (logits[i] > mx) mx = logits[i];
        }
    *mx_out = mx;
    if (n == 0) return 0;
    s->mass = 0;
    if (p->top_k > 0 && p->top_k < n) {
        select_top(s->idx, n, p->top_k, logits);
        n = p->top_k;
    } else if (p->top_p >= 1.0f && p->min_p <= 0) {
        /* Nothing truncates the distribution (OpenAI's defaults): draw over
         * every candidate in id order. Sorting a 150k vocabulary per token
         * would cost more than the model's forward pass. */
        return n;
    } else {
        n = sorted_prefix(s, logits, n, mx);
    }
    /* untempered probabilities of the candidates, for top-p and min-p */
    mx = logits[s->idx[0]];
    *mx_out = mx;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += s->prob[i] = expf(logits[s->idx[i]] - mx);
    if (s->mass > 0) sum = s->mass; /* sorted_prefix kept only a prefix: the mass of all */
    if (p->top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += s->prob[i] / sum;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0) {
        float thresh = p->min_p * s->prob[0];
        int m = 1;
        while (m < n && s->prob[m] >= thresh) m++;
        n = m;
    }
    return n;
}

int32_t lmx_sampler_next(lmx_sampler *s, float *logits, const int32_t *history, int n_history) {
    float mx = 0;
    int n = prepare(s, logits, history, n_history, &mx);
    if (n < 0) return s->idx[0];
    if (n == 0) return 0;
    return draw(s, logits, n, mx);
}

int lmx_sampler_dist(lmx_sampler *s, float *logits, const int32_t *history, int n_history,
                     int32_t *ids, float *probs) {
    float mx = 0;
    int n = prepare(s, logits, history, n_history, &mx);
    if (n <= 0) { /* greedy, or nothing finite (the draw's token 0) */
        ids[0] = n < 0 ? s->idx[0] : 0;
        probs[0] = 1;
        return 1;
    }
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += s->prob[i] = expf((logits[s->idx[i]] - mx) / s->p.temperature);
    for (int i = 0; i < n; i++) {
        ids[i] = s->idx[i];
        probs[i] = (float)(s->prob[i] / sum);
    }
    return n;
}

lmx_rng *lmx_sampler_rng(lmx_sampler *s) {
    return &s->rng;
}
