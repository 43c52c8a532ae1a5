/* Embedding jobs on the real stories260K model: the scheduler's pooled vector
 * equals a direct computation from the engine's hidden states (mean, CLS and
 * last-token pooling), is unit length, and is the same bits alone, chunked,
 * or batched with other embeddings and with decoding sequences. */
#include "test.h"

#include <stdlib.h>

#include "sched/sched.h"

static lmx_model *open_stories(void) {
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", lmx_test_shared());
    lmx_model *m = lmx_model_open(path, NULL, err, sizeof err);
    if (!m) fprintf(stderr, "  %s\n", err);
    return m;
}

static void make_prompt(int32_t *p, int n, int salt) {
    p[0] = 1;
    for (int i = 1; i < n; i++) p[i] = 3 + (i * 17 + salt * 11) % 500;
}

/* Direct: every token's hidden state from a fresh context, pooled in double
 * in position order, L2-normalized. */
static int direct_embedding(lmx_model *m, int pool, const int32_t *tok, int n, float *out) {
    char err[256];
    lmx_ctx_opts co = {.n_ctx = 256, .n_seq = 1, .n_batch = 512};
    lmx_ctx *c = lmx_ctx_create(m, &co, err, sizeof err);
    if (!c) return -1;
    int d = m->hp.n_embd;
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n), *seq = calloc((size_t)n, sizeof(int32_t));
    bool *want = malloc((size_t)n), *none = calloc((size_t)n, 1);
    float *h = malloc(sizeof(float) * (size_t)n * (size_t)d);
    float *logits = malloc(sizeof(float) * (size_t)m->hp.n_vocab);
    for (int i = 0; i < n; i++) pos[i] = i, want[i] = true;
    lmx_batch b = {n, tok, pos, seq, none};
    int rc = lmx_forward_ex(c, &b, logits, want, h, err, sizeof err);
    if (!rc) {
        double *acc = calloc((size_t)d, sizeof(double)), ss = 0;
        for (int k = 0; k < d; k++) {
            if (pool == LMX_POOL_MEAN) {
                for (int i = 0; i < n; i++) acc[k] += h[(size_t)i * d + k];
                acc[k] /= n;
            } else {
                acc[k] = h[(size_t)(pool == LMX_POOL_CLS ? 0 : n - 1) * d + k];
            }
            ss += acc[k] * acc[k];
        }
        for (int k = 0; k < d; k++) out[k] = (float)(acc[k] / sqrt(ss));
        free(acc);
    }
    free(pos), free(seq), free(want), free(none), free(h), free(logits);
    lmx_ctx_free(c);
    return rc;
}

static float *embed(lmx_sched *s, const int32_t *tok, int n) {
    lmx_job_params p = {.prompt = tok, .n_prompt = n, .embed = true};
    lmx_submit_status st;
    lmx_job *j = lmx_sched_submit(s, &p, &st);
    if (!j) return NULL;
    float *v = NULL;
    lmx_event ev;
    for (;;) {
        lmx_event_type t = lmx_job_next(j, &ev, 20000);
        if (t == LMX_EV_DONE) {
            v = ev.embd;
            ev.embd = NULL;
        }
        lmx_event_clear(&ev);
        if (t == LMX_EV_DONE || t == LMX_EV_ERROR || t == LMX_EV_NONE) break;
    }
    lmx_job_release(j);
    return v;
}

static void check_pooling(int *lmx_failed_, int pool) {
    lmx_model *m = open_stories();
    CHECK(m);
    m->hp.pooling_type = pool;
    char err[256];
    lmx_sched_opts o = {.n_parallel = 4, .prefill_chunk = 8, .n_ctx = 256};
    lmx_sched *s = lmx_sched_create(m, NULL, &o, err, sizeof err);
    CHECK(s);
    CHECK_EQ_INT(lmx_sched_pooling(s), pool);
    int d = m->hp.n_embd;
    int32_t tok[37];
    make_prompt(tok, 37, 1);
    float *got = embed(s, tok, 37), *want = malloc(sizeof(float) * (size_t)d);
    int rc = direct_embedding(m, pool, tok, 37, want);
    double norm = 0, maxdiff = 0;
    for (int k = 0; got && k < d; k++) {
        norm += (double)got[k] * got[k];
        double df = fabs((double)got[k] - want[k]);
        if (df > maxdiff) maxdiff = df;
    }
    lmx_sched_destroy(s, true);
    lmx_model_free(m);
    bool ok = got != NULL;
    free(got);
    free(want);
    CHECK(ok);
    CHECK_EQ_INT(rc, 0);
    CHECK_NEAR(norm, 1.0, 1e-5);
    CHECK_NEAR(maxdiff, 0.0, 1e-6);
}

TEST(embed_mean_pooling_equals_a_direct_computation) {
    check_pooling(lmx_failed_, LMX_POOL_MEAN);
}
TEST(embed_cls_pooling_equals_a_direct_computation) {
    check_pooling(lmx_failed_, LMX_POOL_CLS);
}
TEST(embed_last_pooling_equals_a_direct_computation) {
    check_pooling(lmx_failed_, LMX_POOL_LAST);
}

TEST(embed_is_the_same_alone_batched_and_beside_decoding) {
    lmx_model *m = open_stories();
    CHECK(m);
    lmx_pool *pool = lmx_pool_create(2);
    char err[256];
    lmx_sched_opts o = {.n_parallel = 6, .prefill_chunk = 16, .n_ctx = 256};
    lmx_sched *s = lmx_sched_create(m, pool, &o, err, sizeof err);
    CHECK(s);
    int d = m->hp.n_embd;
    int32_t prompts[4][60];
    float *alone[4] = {0}, *together[4] = {0};
    for (int i = 0; i < 4; i++) {
        make_prompt(prompts[i], 20 + 10 * i, i);
        alone[i] = embed(s, prompts[i], 20 + 10 * i);
    }
    /* a decoding job and the four embeddings in flight together */
    int32_t gen[12];
    make_prompt(gen, 12, 9);
    lmx_job_params gp = {.prompt = gen, .n_prompt = 12, .max_tokens = 40, .n_choices = 1,
                         .sample = lmx_sample_defaults(), .top_logprobs = -1, .ignore_eos = true};
    lmx_submit_status st;
    lmx_job *g = lmx_sched_submit(s, &gp, &st);
    lmx_job *jobs[4];
    for (int i = 0; i < 4; i++) {
        lmx_job_params p = {.prompt = prompts[i], .n_prompt = 20 + 10 * i, .embed = true};
        jobs[i] = lmx_sched_submit(s, &p, &st);
    }
    for (int i = 0; i < 4; i++) {
        lmx_event ev;
        for (;;) {
            lmx_event_type t = jobs[i] ? lmx_job_next(jobs[i], &ev, 20000) : LMX_EV_NONE;
            if (t == LMX_EV_DONE) together[i] = ev.embd, ev.embd = NULL;
            lmx_event_clear(&ev);
            if (t == LMX_EV_DONE || t == LMX_EV_ERROR || t == LMX_EV_NONE) break;
        }
        lmx_job_release(jobs[i]);
    }
    /* the prompt fills the whole context: accepted; one more token is not */
    int32_t *full = malloc(sizeof(int32_t) * 257);
    make_prompt(full, 257, 3);
    float *fv = embed(s, full, 256);
    lmx_job_params lp = {.prompt = full, .n_prompt = 257, .embed = true};
    lmx_job *too = lmx_sched_submit(s, &lp, &st);
    free(full);
    lmx_job_release(g);
    lmx_sched_destroy(s, true);
    lmx_pool_destroy(pool);
    lmx_model_free(m);
    bool same = true, all = fv != NULL;
    for (int i = 0; i < 4; i++) {
        all = all && alone[i] && together[i];
        if (alone[i] && together[i]) same = same && !memcmp(alone[i], together[i], sizeof(float) * (size_t)d);
        free(alone[i]);
        free(together[i]);
    }
    free(fv);
    CHECK(all);
    CHECK(same);
    CHECK(too == NULL);
    CHECK_EQ_INT(st, LMX_SUBMIT_TOO_LONG);
}
