/* The sampler: truncation shortcuts give the same token as sorting every
 * candidate, and draws follow the tempered distribution. */
#include <stdlib.h>

#include "engine/sample.h"
#include "test.h"

/* The definition, spelled out: every candidate sorted by logit (ties: lower
 * id first), top-k, top-p over the untempered probabilities, min-p, then one
 * draw in that order with the tempered ones. */
static const float *ref_logits;
static int ref_cmp(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (ref_logits[x] != ref_logits[y]) return ref_logits[x] > ref_logits[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int32_t ref_next(const float *logits, int nv, const lmx_sample_params *p, lmx_rng *rng) {
    int32_t *idx = malloc(sizeof *idx * (size_t)nv);
    double *pr = malloc(sizeof *pr * (size_t)nv);
    int n = 0;
    for (int i = 0; i < nv; i++)
        if (logits[i] > -INFINITY) idx[n++] = i;
    ref_logits = logits;
    qsort(idx, (size_t)n, sizeof *idx, ref_cmp);
    if (p->top_k > 0 && p->top_k < n) n = p->top_k;
    float mx = logits[idx[0]];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += pr[i] = expf(logits[idx[i]] - mx);
    if (p->top_p < 1) {
        double cum = 0;
        for (int i = 0; i < n; i++)
            if ((cum += pr[i] / sum) >= p->top_p) {
                n = i + 1;
                break;
            }
    }
    if (p->min_p > 0) {
        int m = 1;
        while (m < n && pr[m] >= p->min_p * pr[0]) m++;
        n = m;
    }
    sum = 0;
    for (int i = 0; i < n; i++) sum += pr[i] = expf((logits[idx[i]] - mx) / p->temperature);
    double r = lmx_rng_uniform(rng) * sum, acc = 0;
    int32_t out = idx[n - 1];
    for (int i = 0; i < n; i++)
        if (r < (acc += pr[i])) {
            out = idx[i];
            break;
        }
    free(idx);
    free(pr);
    return out;
}

/* logits: a few strong tokens over a long tail (peaked), or a flat field
 * where the best 256 hold little of the mass (flat). */
static void fill(float *l, int nv, bool peaked, lmx_rng *r) {
    for (int i = 0; i < nv; i++) l[i] = (float)(lmx_rng_uniform(r) * (peaked ? 4.0 : 0.5));
    if (peaked)
        for (int k = 0; k < 8; k++) l[lmx_rng_next(r) % (uint64_t)nv] += 9.0f;
    l[nv / 3] = -INFINITY; /* a masked token (grammar, logit_bias -100) */
}

TEST(sample_truncation_shortcuts_equal_sorting_every_candidate) {
    enum { NV = 6000 };
    float *l = malloc(sizeof *l * NV), *work = malloc(sizeof *work * NV);
    const struct {
        int top_k;
        float top_p, min_p, temp;
    } cases[] = {{0, 0.9f, 0, 1}, {0, 0.5f, 0, 0.7f}, {0, 1, 0.05f, 1},     {0, 0.95f, 0.05f, 0.8f},
                 {40, 0.95f, 0.05f, 0.8f}, {0, 0.999f, 0, 1.3f}, {300, 0.9f, 0, 1}};
    lmx_rng gen;
    lmx_rng_seed(&gen, 7);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int peaked = 0; peaked < 2; peaked++) {
            fill(l, NV, peaked, &gen);
            lmx_sample_params p = lmx_sample_defaults();
            p.top_k = cases[c].top_k, p.top_p = cases[c].top_p, p.min_p = cases[c].min_p;
            p.temperature = cases[c].temp, p.seed = 1234 + c;
            lmx_sampler *s = lmx_sampler_create(NV, &p);
            lmx_rng ref;
            lmx_rng_seed(&ref, p.seed);
            for (int draw = 0; draw < 60; draw++) {
                memcpy(work, l, sizeof *l * NV);
                int32_t got = lmx_sampler_next(s, work, NULL, 0), want = ref_next(l, NV, &p, &ref);
                if (got != want)
                    FAILF("case %zu peaked %d draw %d: sampler %d, definition %d", c, peaked, draw,
                          got, want);
            }
            lmx_sampler_free(s);
        }
    free(l);
    free(work);
}

TEST(sample_untruncated_draws_follow_the_tempered_distribution) {
    /* weights 1 : 2 : 3 : 0 at temperature 1 (OpenAI's defaults: no top-k/p) */
    float l[5] = {0, logf(2), logf(3), -INFINITY, -INFINITY}, w[5];
    lmx_sample_params p = lmx_sample_defaults();
    p.top_k = 0, p.top_p = 1, p.min_p = 0, p.temperature = 1, p.seed = 99;
    lmx_sampler *s = lmx_sampler_create(5, &p);
    int count[5] = {0}, n = 60000;
    for (int i = 0; i < n; i++) {
        memcpy(w, l, sizeof l);
        count[lmx_sampler_next(s, w, NULL, 0)]++;
    }
    lmx_sampler_free(s);
    CHECK(count[3] == 0 && count[4] == 0);
    for (int k = 0; k < 3; k++) {
        double want = n * (k + 1) / 6.0;
        if (fabs(count[k] - want) > 0.03 * want) FAILF("token %d: %d draws, expected ~%.0f", k, count[k], want);
    }
}

TEST(sample_greedy_takes_the_best_lowest_id_on_ties) {
    float l[6] = {1, 5, 3, 5, -INFINITY, 2};
    lmx_sample_params p = lmx_sample_defaults();
    p.temperature = 0;
    lmx_sampler *s = lmx_sampler_create(6, &p);
    CHECK(lmx_sampler_next(s, l, NULL, 0) == 1);
    lmx_sampler_free(s);
}
