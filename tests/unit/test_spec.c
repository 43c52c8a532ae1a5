/* Speculative decoding's rules (sched/spec.h): prompt lookup, greedy prefix
 * acceptance, and rejection sampling whose output follows the target's
 * distribution p whatever the draft's q. */
#include <stdlib.h>

#include "engine/sample.h"
#include "sched/spec.h"
#include "test.h"

TEST(spec_lookup_proposes_what_followed_the_longest_latest_ngram) {
    int32_t out[8];
    /* "1 2 3" ends the history and occurred at 0: what followed it */
    int32_t a[] = {1, 2, 3, 4, 5, 6, 1, 2, 3};
    CHECK(lmx_spec_lookup(a, 9, 3, 8, out) == 6);
    CHECK(out[0] == 4 && out[1] == 5 && out[2] == 6 && out[3] == 1 && out[5] == 3);
    CHECK(lmx_spec_lookup(a, 9, 3, 2, out) == 2 && out[0] == 4 && out[1] == 5); /* k caps it */
    /* the longest n-gram wins over a later shorter one: "8 9" at 0 beats "9" at 4 */
    int32_t b[] = {8, 9, 1, 7, 9, 2, 8, 9};
    CHECK(lmx_spec_lookup(b, 8, 3, 1, out) == 1 && out[0] == 1);
    /* only a 1-gram: the latest earlier occurrence */
    int32_t c[] = {5, 1, 9, 1, 7, 1};
    CHECK(lmx_spec_lookup(c, 6, 3, 4, out) == 2 && out[0] == 7 && out[1] == 1);
    /* nothing repeats, or nothing to look in */
    int32_t d[] = {1, 2, 3, 4};
    CHECK(lmx_spec_lookup(d, 4, 3, 4, out) == 0);
    CHECK(lmx_spec_lookup(d, 1, 3, 4, out) == 0);
    CHECK(lmx_spec_lookup(a, 9, 3, 0, out) == 0);
}

TEST(spec_greedy_accepts_the_matching_prefix_only) {
    int32_t draft[] = {4, 5, 6, 7};
    int32_t t1[] = {4, 5, 6, 7};
    int32_t t2[] = {4, 5, 9, 7}; /* a later match after a mismatch does not count */
    int32_t t3[] = {0, 5, 6, 7};
    CHECK(lmx_spec_accept_greedy(draft, t1, 4) == 4);
    CHECK(lmx_spec_accept_greedy(draft, t2, 4) == 2);
    CHECK(lmx_spec_accept_greedy(draft, t3, 4) == 0);
    CHECK(lmx_spec_accept_greedy(draft, t1, 0) == 0);
}

/* Pearson's chi-square of counts against n draws of p (cells with p > 0);
 * a count in a p == 0 cell makes it infinite. */
static double chi2(const long *count, const float *p, int k, long n) {
    double x = 0;
    for (int i = 0; i < k; i++) {
        if (p[i] <= 0) {
            if (count[i]) return INFINITY;
            continue;
        }
        double e = (double)n * p[i], d = (double)count[i] - e;
        x += d * d / e;
    }
    return x;
}

/* 5 degrees of freedom: P(chi2 > 35) < 2e-6, so a correct sampler passes at
 * these fixed seeds for a reason, and a wrong law (q itself, or p without
 * the residual) lands in the thousands with 200,000 draws. */
#define N_DRAWS  200000
#define CHI2_MAX 35.0

TEST(spec_rejection_sampling_follows_p_for_any_q) {
    const float p[6] = {0.05f, 0.30f, 0.10f, 0.25f, 0.20f, 0.10f};
    const float q[6] = {0.40f, 0.05f, 0.25f, 0.05f, 0.15f, 0.10f};
    lmx_rng r;
    lmx_rng_seed(&r, 12345);
    long got[6] = {0}, drafts[6] = {0};
    for (long t = 0; t < N_DRAWS; t++) {
        int32_t d = lmx_spec_draw(q, 6, &r);
        drafts[d]++;
        got[lmx_spec_reject(p, q, 6, d, &r)]++;
    }
    double x = chi2(got, p, 6, N_DRAWS);
    if (!(x < CHI2_MAX)) FAILF("chi2 %.1f of the output against p", x);
    /* the test can tell: the drafts themselves are far from p */
    CHECK(chi2(drafts, p, 6, N_DRAWS) > 1000);
}

TEST(spec_rejection_sampling_with_a_one_hot_draft_follows_p) {
    /* prompt lookup and greedy drafts: q is one-hot on d; p has a zero cell */
    const float p[6] = {0.15f, 0.0f, 0.35f, 0.05f, 0.25f, 0.20f};
    for (int32_t d = 0; d < 6; d++) {
        lmx_rng r;
        lmx_rng_seed(&r, 777 + (uint64_t)d);
        long got[6] = {0};
        for (long t = 0; t < N_DRAWS; t++) got[lmx_spec_reject(p, NULL, 6, d, &r)]++;
        double x = chi2(got, p, 6, N_DRAWS);
        if (!(x < CHI2_MAX)) FAILF("draft %d: chi2 %.1f against p", (int)d, x);
        if (d == 2) { /* always keeping the draft would be the one-hot law: far from p */
            long one_hot[6] = {0, 0, N_DRAWS, 0, 0, 0};
            CHECK(chi2(one_hot, p, 6, N_DRAWS) > 1000);
        }
    }
}

TEST(spec_verifying_against_the_sampler_distribution_matches_its_draws) {
    /* p from the sampler's own pipeline (top-k, temperature): rejection with
     * a fixed draft gives the law of lmx_sampler_next's plain draws */
    enum { NV = 12 };
    float logits[NV] = {1.0f, 2.5f, 0.3f, 2.0f, -1.0f, 1.7f, 0.0f, 2.2f, -3.0f, 0.9f, 1.1f, 0.2f};
    lmx_sample_params sp = lmx_sample_defaults();
    sp.temperature = 0.7f;
    sp.top_k = 5;
    sp.top_p = 1.0f;
    sp.min_p = 0;
    sp.seed = 99;
    lmx_sampler *s = lmx_sampler_create(NV, &sp);
    CHECK(s);
    int32_t ids[NV];
    float probs[NV], p[NV] = {0}, row[NV];
    memcpy(row, logits, sizeof row);
    int n = lmx_sampler_dist(s, row, NULL, 0, ids, probs);
    CHECK(n == 5);
    double sum = 0;
    for (int i = 0; i < n; i++) p[ids[i]] = probs[i], sum += probs[i];
    CHECK(fabs(sum - 1) < 1e-5);
    long spec[NV] = {0}, plain[NV] = {0};
    for (long t = 0; t < N_DRAWS; t++) {
        spec[lmx_spec_reject(p, NULL, NV, 3, lmx_sampler_rng(s))]++;
        memcpy(row, logits, sizeof row);
        plain[lmx_sampler_next(s, row, NULL, 0)]++;
    }
    lmx_sampler_free(s);
    /* both against p (7 empty cells must stay empty) */
    double xs = chi2(spec, p, NV, N_DRAWS), xp = chi2(plain, p, NV, N_DRAWS);
    if (!(xs < CHI2_MAX) || !(xp < CHI2_MAX)) FAILF("chi2 spec %.1f plain %.1f", xs, xp);
    /* greedy: the argmax with probability 1 */
    sp.temperature = 0;
    s = lmx_sampler_create(NV, &sp);
    memcpy(row, logits, sizeof row);
    CHECK(lmx_sampler_dist(s, row, NULL, 0, ids, probs) == 1 && ids[0] == 1 && probs[0] == 1);
    lmx_sampler_free(s);
}

/* Auto-off: a sequence whose drafts are never kept stops proposing for 16
 * of its steps, probes again, then pauses twice as long; forced on, never. */
TEST(spec_auto_off_backs_off_and_probes_again) {
    lmx_model m = {0};
    m.hp.n_vocab = 100;
    char err[256];
    lmx_spec_opts o = {.mode = LMX_SPEC_LOOKUP};
    lmx_spec *sp = lmx_spec_create(&o, &m, 2, 64, false, false, NULL, err, sizeof err);
    CHECK(sp);
    CHECK(lmx_spec_max(sp) == LMX_SPEC_LOOKUP_MAX);
    int32_t hist[] = {1, 2, 3, 1, 2};
    int verifies = 0;
    while (lmx_spec_want(sp, 0, hist, 5, 4)) { /* rejected every time */
        CHECK(lmx_spec_propose(sp, err, sizeof err) == 0);
        const int32_t *d;
        CHECK(lmx_spec_drafts(sp, 0, &d) == 3 && d[0] == 3 && d[2] == 2);
        bool off = lmx_spec_result(sp, 0, 3, 0);
        verifies++;
        if (off) break;
        CHECK(verifies < 10);
    }
    CHECK(verifies >= 2 && verifies <= 6); /* a few chances, not forever */
    int paused = 0;
    while (!lmx_spec_want(sp, 0, hist, 5, 4)) paused++;
    CHECK(paused == 16);
    /* the other sequence was never touched */
    CHECK(lmx_spec_want(sp, 1, hist, 5, 4));
    /* the probe fails too: a longer pause */
    int probes = 0;
    bool off = false;
    do {
        lmx_spec_propose(sp, err, sizeof err);
        off = lmx_spec_result(sp, 0, 3, 0);
        probes++;
    } while (!off && lmx_spec_want(sp, 0, hist, 5, 4));
    CHECK(off && probes <= 3);
    paused = 0;
    while (!lmx_spec_want(sp, 0, hist, 5, 4)) paused++;
    CHECK(paused == 32);
    /* a new job starts over */
    lmx_spec_reset(sp, 0);
    CHECK(lmx_spec_want(sp, 0, hist, 5, 4));
    lmx_spec_free(sp);

    o.min_accept = -1; /* forced on */
    sp = lmx_spec_create(&o, &m, 1, 64, false, false, NULL, err, sizeof err);
    CHECK(sp);
    for (int i = 0; i < 100; i++) {
        CHECK(lmx_spec_want(sp, 0, hist, 5, 4));
        lmx_spec_propose(sp, err, sizeof err);
        CHECK(!lmx_spec_result(sp, 0, 3, 0));
    }
    lmx_spec_free(sp);
}
