/* Prompt scoring (sched/score.h) on the real stories260K model: each prompt
 * token's log-probability is the log-softmax of a plain teacher-forced
 * forward's logits, whatever the chunking and the prefix cache; a generated
 * token scores the same when resent as prompt; prompt_only generates nothing. */
#include "test.h"

#include <math.h>
#include <stdlib.h>

#include "sched/sched.h"
#include "sched/score.h"

static lmx_model *open_stories(void) {
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", lmx_test_shared());
    lmx_model *m = lmx_model_open(path, NULL, err, sizeof err);
    if (!m) fprintf(stderr, "  %s\n", err);
    return m;
}

#define MAXP 64

typedef struct {
    int n_prompt_ev; /* LMX_EV_PROMPT events */
    int32_t ptok[MAXP];
    float plp[MAXP];
    int ptop_n[MAXP];
    int32_t ptop0[MAXP]; /* each position's best alternative */
    int n_gen;
    int32_t gtok[MAXP];
    float glp[MAXP];
    const char *finish[2];
    bool started_after_prompt; /* STARTED came after every prompt event */
    int prompt, completion, cached;
    bool error;
} scored;

static scored run(lmx_sched *s, const lmx_job_params *p) {
    scored r;
    memset(&r, 0, sizeof r);
    lmx_submit_status st;
    lmx_job *j = lmx_sched_submit(s, p, &st);
    if (!j) {
        r.error = true;
        return r;
    }
    lmx_event ev;
    for (;;) {
        lmx_event_type t = lmx_job_next(j, &ev, 20000);
        if (t == LMX_EV_PROMPT && r.n_prompt_ev < MAXP) {
            int k = r.n_prompt_ev++;
            r.ptok[k] = ev.token;
            r.plp[k] = ev.logprob;
            r.ptop_n[k] = ev.n_top;
            r.ptop0[k] = ev.n_top ? ev.top_id[0] : -1;
        } else if (t == LMX_EV_STARTED) {
            r.started_after_prompt = r.n_prompt_ev == p->n_prompt;
        } else if (t == LMX_EV_TOKEN && ev.token >= 0 && ev.choice == 0 && r.n_gen < MAXP) {
            r.gtok[r.n_gen] = ev.token;
            r.glp[r.n_gen++] = ev.logprob;
        } else if (t == LMX_EV_FINISH) {
            r.finish[ev.choice] = ev.finish_reason;
        } else if (t == LMX_EV_DONE) {
            r.prompt = ev.prompt_tokens;
            r.completion = ev.completion_tokens;
            r.cached = ev.cached_tokens;
            lmx_event_clear(&ev);
            break;
        } else if (t == LMX_EV_ERROR || t == LMX_EV_NONE) {
            r.error = true;
            break;
        }
        lmx_event_clear(&ev);
    }
    lmx_job_release(j);
    return r;
}

static lmx_job_params params(const int32_t *prompt, int n) {
    lmx_job_params p = {0};
    p.prompt = prompt;
    p.n_prompt = n;
    p.max_tokens = 1;
    p.n_choices = 1;
    p.sample = lmx_sample_defaults();
    p.sample.temperature = 0;
    p.top_logprobs = 3;
    p.ignore_eos = true;
    p.score = true;
    return p;
}

/* The reference: one plain forward over the whole prompt with every row's
 * logits, log-softmax in double. lp[i] = log P(prompt[i] | prompt[<i]). */
static bool reference(lmx_model *m, const int32_t *prompt, int n, double *lp, int32_t *best) {
    char err[256];
    lmx_ctx_opts co = {.n_ctx = 256, .n_seq = 1, .n_batch = 64};
    lmx_ctx *c = lmx_ctx_create(m, &co, err, sizeof err);
    if (!c) return false;
    int nv = m->hp.n_vocab;
    int32_t pos[MAXP], seq[MAXP] = {0};
    bool want[MAXP];
    for (int i = 0; i < n; i++) pos[i] = i, want[i] = true;
    float *lg = malloc(sizeof(float) * (size_t)nv * (size_t)n);
    bool ok = lg && !lmx_forward(c, &(lmx_batch){n, prompt, pos, seq, want}, lg, err, sizeof err);
    for (int i = 1; ok && i < n; i++) {
        const float *z = lg + (size_t)(i - 1) * nv;
        double mx = -INFINITY, sum = 0;
        int b = 0;
        for (int k = 0; k < nv; k++) {
            if (z[k] > mx) mx = z[k];
            if (z[k] > z[b]) b = k;
        }
        for (int k = 0; k < nv; k++) sum += exp((double)z[k] - mx);
        lp[i] = (double)z[prompt[i]] - (mx + log(sum));
        best[i] = b;
    }
    free(lg);
    lmx_ctx_free(c);
    return ok;
}

static void make_prompt(int32_t *p, int n) {
    p[0] = 1;
    for (int i = 1; i < n; i++) p[i] = 3 + (i * 37 + 11) % 400;
}

TEST(score_prompt_equals_teacher_forced_log_softmax) {
    lmx_model *m = open_stories();
    CHECK(m);
    int32_t prompt[40];
    make_prompt(prompt, 40);
    double ref[40];
    int32_t best[40];
    CHECK(reference(m, prompt, 40, ref, best));
    char err[256];
    /* a small chunk: the prompt is scored over several steps */
    lmx_sched_opts o = {.n_parallel = 2, .prefill_chunk = 16};
    lmx_sched *s = lmx_sched_create(m, NULL, &o, err, sizeof err);
    CHECK(s);
    lmx_job_params p = params(prompt, 40);
    scored a = run(s, &p);
    scored b = run(s, &p); /* again: the prefix cache holds it now, and must not skip a position */
    lmx_sched_destroy(s, true);
    lmx_model_free(m);
    scored *rs[2] = {&a, &b};
    for (int r = 0; r < 2; r++) {
        scored *x = rs[r];
        CHECK(!x->error);
        CHECK_EQ_INT(x->n_prompt_ev, 40);
        CHECK(x->started_after_prompt);
        CHECK_EQ_INT(x->cached, 0);
        CHECK_EQ_INT(x->n_gen, 1);
        CHECK(isnan(x->plp[0]));
        CHECK_EQ_INT(x->ptop_n[0], 0);
        for (int i = 0; i < 40; i++) {
            if (x->ptok[i] != prompt[i]) FAILF("run %d: position %d is token %d", r, i, x->ptok[i]);
            if (i == 0) continue;
            if (fabs(x->plp[i] - ref[i]) > 1e-4)
                FAILF("run %d: position %d: %.6f, reference %.6f", r, i, x->plp[i], ref[i]);
            if (x->ptop_n[i] != 3 || x->ptop0[i] != best[i])
                FAILF("run %d: position %d: top %d (%d), reference best %d", r, i, x->ptop0[i],
                      x->ptop_n[i], best[i]);
        }
    }
}

TEST(score_generated_tokens_score_the_same_as_prompt) {
    lmx_model *m = open_stories();
    CHECK(m);
    char err[256];
    lmx_sched_opts o = {.n_parallel = 2, .prefill_chunk = 8};
    lmx_sched *s = lmx_sched_create(m, NULL, &o, err, sizeof err);
    CHECK(s);
    int32_t prompt[MAXP];
    make_prompt(prompt, 12);
    lmx_job_params p = params(prompt, 12);
    p.score = false;
    p.max_tokens = 20;
    scored g = run(s, &p); /* plain decoding with logprobs */
    CHECK(!g.error && g.n_gen == 20 && g.n_prompt_ev == 0);
    memcpy(prompt + 12, g.gtok, sizeof(int32_t) * 20);
    lmx_job_params q = params(prompt, 32);
    q.prompt_only = true;
    scored e = run(s, &q);
    lmx_sched_destroy(s, true);
    lmx_model_free(m);
    CHECK(!e.error);
    CHECK_EQ_INT(e.n_prompt_ev, 32);
    CHECK_EQ_INT(e.n_gen, 0);
    CHECK_EQ_INT(e.completion, 0);
    CHECK_EQ_STR(e.finish[0], "length");
    for (int i = 0; i < 20; i++)
        if (fabs(e.plp[12 + i] - g.glp[i]) > 1e-4)
            FAILF("token %d: scored %.6f, decoded %.6f", i, e.plp[12 + i], g.glp[i]);
}

TEST(score_prompt_only_ends_every_choice_with_length) {
    lmx_model *m = open_stories();
    CHECK(m);
    char err[256];
    lmx_sched_opts o = {.n_parallel = 3, .prefill_chunk = 256};
    lmx_sched *s = lmx_sched_create(m, NULL, &o, err, sizeof err);
    CHECK(s);
    int32_t prompt[1] = {1};
    lmx_job_params p = params(prompt, 1); /* one token: only the null first entry */
    p.prompt_only = true;
    p.n_choices = 2;
    scored r = run(s, &p);
    p.score = false; /* echo without logprobs: no events, still nothing generated */
    scored plain = run(s, &p);
    lmx_sched_destroy(s, true);
    lmx_model_free(m);
    CHECK(!r.error && !plain.error);
    CHECK_EQ_INT(r.n_prompt_ev, 1);
    CHECK(isnan(r.plp[0]));
    CHECK_EQ_INT(r.n_gen, 0);
    CHECK_EQ_STR(r.finish[0], "length");
    CHECK_EQ_STR(r.finish[1], "length");
    CHECK_EQ_INT(r.completion, 0);
    CHECK_EQ_INT(plain.n_prompt_ev, 0);
    CHECK_EQ_STR(plain.finish[1], "length");
}

TEST(score_rows_bound_the_logits_memory) {
    /* a 4k-token prompt on a 32k (or 152k) vocabulary never holds its rows at once */
    int r32 = lmx_score_rows(32000, 256), r152 = lmx_score_rows(151936, 256);
    CHECK(r32 >= 8 && (size_t)r32 * 32000 * sizeof(float) <= LMX_SCORE_ROW_BYTES);
    CHECK(r152 >= 8 && (size_t)r152 * 151936 * sizeof(float) <= LMX_SCORE_ROW_BYTES);
    CHECK_EQ_INT(lmx_score_rows(512, 256), 256); /* a small vocabulary: the whole chunk */
    CHECK_EQ_INT(lmx_score_rows(512, 16), 16);
    CHECK_EQ_INT(lmx_score_rows(4 << 20, 256), 8); /* at least 8 */
}
