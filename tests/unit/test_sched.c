/* The scheduler on the real stories260K model: batching, prefix caching and
 * n > 1 never change an answer; limits, stops and cancellation behave. */
#include "test.h"

#include <stdlib.h>

#include "sched/sched.h"
#include "text/json_schema.h"

static lmx_model *open_stories(void) {
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", lmx_test_shared());
    lmx_model *m = lmx_model_open(path, NULL, err, sizeof err);
    if (!m) fprintf(stderr, "  %s\n", err);
    return m;
}

typedef struct {
    int32_t tok[4][256];
    int n[4];
    char text[4][4096];
    const char *finish[4];
    int cached, prompt, completion;
    bool error;
} result;

static void collect(lmx_job *j, result *r) {
    memset(r, 0, sizeof *r);
    lmx_event ev;
    for (;;) {
        lmx_event_type t = lmx_job_next(j, &ev, 20000);
        if (t == LMX_EV_TOKEN) {
            int c = ev.choice;
            if (ev.token >= 0 && r->n[c] < 256) r->tok[c][r->n[c]++] = ev.token;
            strncat(r->text[c], ev.text ? ev.text : "", sizeof r->text[c] - strlen(r->text[c]) - 1);
        } else if (t == LMX_EV_FINISH) {
            r->finish[ev.choice] = ev.finish_reason;
        } else if (t == LMX_EV_DONE) {
            r->cached = ev.cached_tokens;
            r->prompt = ev.prompt_tokens;
            r->completion = ev.completion_tokens;
            lmx_event_clear(&ev);
            break;
        } else if (t == LMX_EV_ERROR || t == LMX_EV_NONE) {
            r->error = true;
            break;
        }
        lmx_event_clear(&ev);
    }
}

static lmx_job_params params(const int32_t *prompt, int n, int max_tokens) {
    lmx_job_params p = {0};
    p.prompt = prompt;
    p.n_prompt = n;
    p.max_tokens = max_tokens;
    p.n_choices = 1;
    p.sample = lmx_sample_defaults();
    p.sample.temperature = 0;
    p.top_logprobs = -1;
    p.ignore_eos = true;
    return p;
}

static void make_prompt(int32_t *p, int n, int salt) {
    p[0] = 1;
    for (int i = 1; i < n; i++) p[i] = 3 + (i * 13 + salt * 7) % 500;
}

static result run_one(lmx_sched *s, const lmx_job_params *p) {
    result r;
    lmx_submit_status st;
    lmx_job *j = lmx_sched_submit(s, p, &st);
    if (!j) {
        memset(&r, 0, sizeof r);
        r.error = true;
        return r;
    }
    collect(j, &r);
    lmx_job_release(j);
    return r;
}

TEST(sched_concurrent_jobs_give_the_answers_they_give_alone) {
    lmx_model *m = open_stories();
    CHECK(m);
    lmx_pool *pool = lmx_pool_create(2);
    char err[256];
    lmx_sched_opts o = {.n_parallel = 6, .n_cache = -1, .prefill_chunk = 16};
    lmx_sched *s = lmx_sched_create(m, pool, &o, err, sizeof err);
    CHECK(s);
    int32_t prompts[6][40];
    static result alone[6], together[6];
    for (int i = 0; i < 6; i++) {
        make_prompt(prompts[i], 10 + 5 * i, i);
        lmx_job_params p = params(prompts[i], 10 + 5 * i, 30);
        if (i % 2) p.sample.temperature = 0.9f, p.sample.seed = 100 + (uint64_t)i;
        alone[i] = run_one(s, &p);
    }
    lmx_job *jobs[6];
    for (int i = 0; i < 6; i++) {
        lmx_job_params p = params(prompts[i], 10 + 5 * i, 30);
        if (i % 2) p.sample.temperature = 0.9f, p.sample.seed = 100 + (uint64_t)i;
        lmx_submit_status st;
        jobs[i] = lmx_sched_submit(s, &p, &st);
    }
    for (int i = 0; i < 6; i++) {
        collect(jobs[i], &together[i]);
        lmx_job_release(jobs[i]);
    }
    lmx_sched_destroy(s, true);
    lmx_pool_destroy(pool);
    lmx_model_free(m);
    for (int i = 0; i < 6; i++) {
        CHECK(!alone[i].error && !together[i].error);
        CHECK_EQ_INT(alone[i].n[0], 30);
        CHECK(!memcmp(alone[i].tok[0], together[i].tok[0], sizeof(int32_t) * 30));
        CHECK_EQ_STR(together[i].finish[0], "length");
    }
}

TEST(sched_prefix_cache_reuses_kv_without_changing_the_answer) {
    lmx_model *m = open_stories();
    CHECK(m);
    char err[256];
    lmx_sched_opts o = {.n_parallel = 2, .prefill_chunk = 32};
    lmx_sched *s = lmx_sched_create(m, NULL, &o, err, sizeof err);
    CHECK(s);
    int32_t turn1[60], turn2[90];
    make_prompt(turn1, 60, 1);
    memcpy(turn2, turn1, sizeof turn1);
    for (int i = 60; i < 90; i++) turn2[i] = 5 + i;
    lmx_job_params p1 = params(turn1, 60, 8), p2 = params(turn2, 90, 12);
    result a = run_one(s, &p1), b = run_one(s, &p2);
    lmx_sched_destroy(s, false);
    s = lmx_sched_create(m, NULL, &o, err, sizeof err); /* cold: no cache */
    result cold = run_one(s, &p2);
    lmx_sched_destroy(s, false);
    lmx_model_free(m);
    CHECK(!a.error && !b.error && !cold.error);
    CHECK_EQ_INT(a.cached, 0);
    CHECK_EQ_INT(b.cached, 60);
    CHECK_EQ_INT(cold.cached, 0);
    CHECK_EQ_INT(b.prompt, 90);
    CHECK(!memcmp(b.tok[0], cold.tok[0], sizeof(int32_t) * 12));
}

TEST(sched_n_choices_share_prefill_and_use_seed_plus_i) {
    lmx_model *m = open_stories();
    CHECK(m);
    char err[256];
    lmx_sched_opts o = {.n_parallel = 4};
    lmx_sched *s = lmx_sched_create(m, NULL, &o, err, sizeof err);
    CHECK(s);
    int32_t pr[20];
    make_prompt(pr, 20, 3);
    lmx_job_params p = params(pr, 20, 20);
    p.sample.temperature = 1.0f;
    p.sample.seed = 42;
    p.n_choices = 3;
    result all = run_one(s, &p);
    p.n_choices = 1;
    result c0 = run_one(s, &p);
    p.sample.seed = 44;
    result c2 = run_one(s, &p);
    lmx_sched_destroy(s, false);
    lmx_model_free(m);
    CHECK(!all.error);
    CHECK_EQ_INT(all.completion, 60);
    CHECK(!memcmp(all.tok[0], c0.tok[0], sizeof(int32_t) * 20));
    CHECK(!memcmp(all.tok[2], c2.tok[0], sizeof(int32_t) * 20));
    CHECK(memcmp(all.tok[0], all.tok[1], sizeof(int32_t) * 20));
}

TEST(sched_refuses_too_long_prompts_and_a_full_queue) {
    lmx_model *m = open_stories();
    CHECK(m);
    char err[256];
    lmx_sched_opts o = {.n_parallel = 1, .n_queue = 1, .n_ctx = 64};
    lmx_sched *s = lmx_sched_create(m, NULL, &o, err, sizeof err);
    CHECK(s);
    int32_t pr[64];
    make_prompt(pr, 64, 0);
    lmx_submit_status st;
    lmx_job_params p = params(pr, 64, 0);
    CHECK(!lmx_sched_submit(s, &p, &st));
    CHECK_EQ_INT(st, LMX_SUBMIT_TOO_LONG);
    p = params(pr, 40, 30);
    CHECK(!lmx_sched_submit(s, &p, &st));
    CHECK_EQ_INT(st, LMX_SUBMIT_TOO_LONG);
    lmx_sched_destroy(s, true);
    /* one running, one queued, the third refused */
    o.n_ctx = 2048;
    s = lmx_sched_create(m, NULL, &o, err, sizeof err);
    CHECK(s);
    p = params(pr, 10, 2000);
    lmx_job *a = lmx_sched_submit(s, &p, &st);
    CHECK(a);
    lmx_event ev;
    while (lmx_job_next(a, &ev, 5000) != LMX_EV_STARTED) lmx_event_clear(&ev);
    lmx_job *b = lmx_sched_submit(s, &p, &st), *c = lmx_sched_submit(s, &p, &st);
    CHECK(b);
    CHECK(!c && st == LMX_SUBMIT_QUEUE_FULL);
    lmx_job_cancel(a);
    lmx_job_cancel(b);
    result ra, rb;
    collect(a, &ra);
    collect(b, &rb);
    lmx_job_release(a);
    lmx_job_release(b);
    lmx_sched_destroy(s, true);
    lmx_model_free(m);
}

/* --queue 0 is no waiting room, not the default: a job beyond the running
 * slots is refused at once, and a slot freed takes the next one. */
TEST(sched_queue_zero_refuses_beyond_the_running_slots_at_once) {
    lmx_model *m = open_stories();
    CHECK(m);
    char err[256];
    lmx_sched_opts o = {.n_parallel = 1, .n_queue = 0, .n_ctx = 2048};
    lmx_sched *s = lmx_sched_create(m, NULL, &o, err, sizeof err);
    CHECK(s);
    int32_t pr[10];
    make_prompt(pr, 10, 4);
    lmx_job_params p = params(pr, 10, 2000);
    lmx_submit_status st;
    lmx_job *a = lmx_sched_submit(s, &p, &st);
    CHECK(a);
    lmx_job *b = lmx_sched_submit(s, &p, &st);
    CHECK(!b && st == LMX_SUBMIT_QUEUE_FULL);
    lmx_job_cancel(a);
    result ra;
    collect(a, &ra);
    lmx_job_release(a);
    /* the slot is free again once the cancelled job is done */
    p.max_tokens = 3;
    result r = run_one(s, &p);
    lmx_sched_destroy(s, true);
    lmx_model_free(m);
    CHECK(!r.error);
    CHECK_EQ_INT(r.n[0], 3);
}

TEST(sched_cancel_frees_the_slot_for_the_next_job) {
    lmx_model *m = open_stories();
    CHECK(m);
    char err[256];
    lmx_sched_opts o = {.n_parallel = 1, .n_queue = 1, .n_ctx = 2048};
    lmx_sched *s = lmx_sched_create(m, NULL, &o, err, sizeof err);
    CHECK(s);
    int32_t pr[10];
    make_prompt(pr, 10, 5);
    lmx_job_params p = params(pr, 10, 2000);
    lmx_submit_status st;
    lmx_job *a = lmx_sched_submit(s, &p, &st);
    lmx_event ev;
    while (lmx_job_next(a, &ev, 5000) != LMX_EV_TOKEN) lmx_event_clear(&ev);
    lmx_event_clear(&ev);
    lmx_job_cancel(a);
    p.max_tokens = 5;
    result r = run_one(s, &p); /* gets the only slot once the first is gone */
    lmx_job_release(a);
    lmx_sched_destroy(s, false);
    lmx_model_free(m);
    CHECK(!r.error);
    CHECK_EQ_INT(r.n[0], 5);
}

/* A short shared prefix must not evict another conversation's cache while a
 * slot nobody uses is free. */
TEST(sched_short_common_prefix_does_not_evict_a_cached_conversation) {
    lmx_model *m = open_stories();
    CHECK(m);
    char err[256];
    lmx_sched_opts o = {.n_parallel = 1, .n_cache = 2};
    lmx_sched *s = lmx_sched_create(m, NULL, &o, err, sizeof err);
    CHECK(s);
    int32_t a[80], b[80];
    make_prompt(a, 80, 1);
    make_prompt(b, 80, 2);
    memcpy(b, a, sizeof(int32_t) * 5); /* shares 5 tokens with a */
    lmx_job_params pa = params(a, 80, 4), pb = params(b, 80, 4);
    result r1 = run_one(s, &pa), r2 = run_one(s, &pb), r3 = run_one(s, &pa);
    lmx_sched_destroy(s, false);
    lmx_model_free(m);
    CHECK(!r1.error && !r2.error && !r3.error);
    CHECK_EQ_INT(r2.cached, 0);
    CHECK(r3.cached >= 79); /* a's cache survived b */
}

/* A job with a grammar: each choice's output is a complete sentence of it
 * (ended by the end token, finish "stop"), a constrained job alone and in a
 * batch gives the same answer, and unconstrained jobs batched with it are
 * unchanged (the mask touches only its own rows). */
TEST(sched_grammar_constrains_its_own_choices_only) {
    lmx_model *m = open_stories();
    CHECK(m);
    lmx_pool *pool = lmx_pool_create(2);
    char err[256];
    lmx_sched_opts o = {.n_parallel = 4, .n_cache = -1, .prefill_chunk = 16};
    lmx_sched *s = lmx_sched_create(m, pool, &o, err, sizeof err);
    CHECK(s);
    json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\","
                                "\"maxLength\":6},\"b\":{\"enum\":[1,2,3]}},\"required\":[\"a\","
                                "\"b\"],\"additionalProperties\":false}",
                                0, NULL);
    lmx_gram *g = lmx_json_schema_grammar(schema, "schema", err, sizeof err);
    json_decref(schema);
    CHECK(g);
    int32_t p0[20], p1[25];
    make_prompt(p0, 20, 1);
    make_prompt(p1, 25, 2);
    lmx_job_params free_p = params(p0, 20, 40);
    free_p.sample.temperature = 0.9f, free_p.sample.seed = 5;
    lmx_job_params gram_p = params(p1, 25, 64);
    gram_p.sample.temperature = 1.0f, gram_p.sample.seed = 11;
    gram_p.ignore_eos = false;
    gram_p.n_choices = 2;
    gram_p.grammar = g;
    static result free_alone, gram_alone, free_both, gram_both;
    free_alone = run_one(s, &free_p);
    gram_alone = run_one(s, &gram_p);
    lmx_submit_status st;
    lmx_job *a = lmx_sched_submit(s, &gram_p, &st), *b = lmx_sched_submit(s, &free_p, &st);
    lmx_gram_release(g); /* the jobs hold their own references */
    CHECK(a && b);
    collect(a, &gram_both);
    collect(b, &free_both);
    lmx_job_release(a);
    lmx_job_release(b);
    lmx_sched_destroy(s, true);
    lmx_pool_destroy(pool);
    lmx_model_free(m);
    CHECK(!free_alone.error && !free_both.error && !gram_alone.error && !gram_both.error);
    CHECK_EQ_INT(free_both.n[0], 40);
    CHECK(!memcmp(free_alone.tok[0], free_both.tok[0], sizeof(int32_t) * 40));
    for (int c = 0; c < 2; c++) {
        CHECK_EQ_STR(gram_alone.text[c], gram_both.text[c]);
        CHECK_EQ_STR(gram_alone.finish[c], "stop");
        json_t *j = json_loads(gram_alone.text[c], 0, NULL);
        if (!j) FAILF("choice %d: not JSON: %s", c, gram_alone.text[c]);
        const char *sa = json_string_value(json_object_get(j, "a"));
        json_int_t bv = json_integer_value(json_object_get(j, "b"));
        bool ok = json_object_size(j) == 2 && sa && strlen(sa) <= 6 * 4 && bv >= 1 && bv <= 3;
        json_decref(j);
        if (!ok) FAILF("choice %d: does not validate: %s", c, gram_alone.text[c]);
    }
    CHECK(strcmp(gram_alone.text[0], gram_alone.text[1])); /* seed + i */
}
