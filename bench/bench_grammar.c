/* Decode speed with and without a json_schema constraint, through the
 * scheduler (the path `lmx serve` takes), and the cost of one grammar mask
 * on the model's vocabulary.
 *
 * Build (after `make build/liblmx.a`):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc bench/bench_grammar.c build/liblmx.a \
 *      -lmicrohttpd -lpcre2-8 -ljansson -lutf8proc -lm -pthread -o build/bench_grammar
 * Run: build/bench_grammar MODEL [threads] [tokens] [reps]
 *      e.g. build/bench_grammar ../shared/models/synth/qwen2-vocab-q8_0.gguf 2 128 3
 * Decode tok/s counts the generated tokens over the time from the first
 * token's logits to the end; each figure is the best of `reps` runs (the
 * machine may be shared). The constrained run may end before `tokens` when the
 * grammar is complete and the model picks the end token: tok/s is per token
 * either way. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "engine/threads.h"
#include "sched/sched.h"
#include "text/json_schema.h"
#include "util/clock.h"

static const char *SCHEMA =
    "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\"},\"items\":{\"type\":"
    "\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"qty\":{\"type\":\"integer\",\"minimum\":0},\"tags\":{\"type\":\"array\",\"items\":{"
    "\"enum\":[\"red\",\"green\",\"blue\"]}}},\"required\":[\"name\",\"qty\",\"tags\"]}}},"
    "\"required\":[\"title\",\"items\"]}";

static double run(lmx_sched *s, const int32_t *prompt, int n_prompt, int n_gen, lmx_gram *g,
                  float temp, uint64_t seed, int *n_out) {
    lmx_sample_params sp = lmx_sample_defaults(); /* as OpenAI's defaults in lmx serve */
    sp.temperature = temp, sp.top_k = 0, sp.top_p = 1.0f, sp.min_p = 0, sp.seed = seed;
    lmx_job_params p = {.prompt = prompt,
                        .n_prompt = n_prompt,
                        .max_tokens = n_gen,
                        .n_choices = 1,
                        .sample = sp,
                        .top_logprobs = -1,
                        .ignore_eos = g == NULL,
                        .grammar = g};
    lmx_submit_status st;
    lmx_job *j = lmx_sched_submit(s, &p, &st);
    if (!j) return 0;
    double t0 = 0, t1 = 0;
    lmx_event ev;
    for (;;) {
        lmx_event_type t = lmx_job_next(j, &ev, -1);
        if (t == LMX_EV_STARTED) t0 = lmx_now_s();
        if (t == LMX_EV_DONE) *n_out = ev.completion_tokens;
        lmx_event_clear(&ev);
        if (t == LMX_EV_DONE || t == LMX_EV_ERROR) break;
    }
    t1 = lmx_now_s();
    lmx_job_release(j);
    /* the first token comes with the prompt's logits: n_out - 1 decode steps */
    return *n_out > 1 ? (*n_out - 1) / (t1 - t0) : 0;
}

static size_t tok_piece(void *ctx, int32_t id, char *buf, size_t cap) {
    return lmx_tok_piece(ctx, id, false, buf, cap);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_grammar MODEL [threads] [tokens] [reps]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 0, n_gen = argc > 3 ? atoi(argv[3]) : 128,
        reps = argc > 4 ? atoi(argv[4]) : 3;
    char err[512];
    lmx_model *m = lmx_model_open(argv[1], NULL, err, sizeof err);
    if (!m) {
        fprintf(stderr, "bench_grammar: %s\n", err);
        return 1;
    }
    json_t *sj = json_loads(SCHEMA, 0, NULL);
    lmx_gram *g = lmx_json_schema_grammar(sj, "schema", err, sizeof err);
    json_decref(sj);
    if (!g) {
        fprintf(stderr, "bench_grammar: %s\n", err);
        return 1;
    }
    int nv = lmx_tok_n_vocab(m->tok);

    /* the mask alone: trie build once, then masks in a string (almost every
     * token allowed) and between members (few allowed), cold and cached */
    double t = lmx_now_s();
    bool *eog = calloc((size_t)nv, 1);
    for (int i = 0; i < nv; i++) eog[i] = lmx_tok_is_eog(m->tok, i);
    lmx_gram_vocab *v = lmx_gram_vocab_new(nv, tok_piece, m->tok, eog);
    free(eog);
    printf("vocabulary %d tokens: trie built in %.1f ms\n", nv, (lmx_now_s() - t) * 1e3);
    int32_t *allowed = malloc(sizeof(int32_t) * (size_t)nv);
    static const char *at[] = {"{\"title\":\"ab",
                               "{\"title\":\"\",\"items\":[{\"name\":\"x\",\"qty\":1"};
    for (int k = 0; k < 2; k++) {
        lmx_gram_state *st = lmx_gram_state_new(g, v);
        lmx_gram_accept_bytes(st, at[k], strlen(at[k]));
        t = lmx_now_s();
        int n = lmx_gram_mask(st, 0, allowed);
        double cold = lmx_now_s() - t;
        t = lmx_now_s();
        for (int r = 0; r < 20; r++) lmx_gram_mask(st, 0, allowed);
        double warm = (lmx_now_s() - t) / 20;
        printf("mask after %-44s %6d allowed: %.2f ms first, %.2f ms cached\n", at[k], n,
               cold * 1e3, warm * 1e3);
        lmx_gram_state_free(st);
    }
    /* a string with maxLength: every position is a new state, so no mask is
     * reused: the cost per token of a fresh walk */
    json_t *bj = json_loads("{\"type\":\"string\",\"maxLength\":400}", 0, NULL);
    lmx_gram *bg = lmx_json_schema_grammar(bj, "schema", err, sizeof err);
    json_decref(bj);
    if (bg) {
        lmx_gram_state *st = lmx_gram_state_new(bg, v);
        lmx_gram_accept_bytes(st, "\"", 1);
        long total = 0;
        t = lmx_now_s();
        for (int r = 0; r < 50; r++) {
            total += lmx_gram_mask(st, 0, allowed);
            lmx_gram_accept_bytes(st, "a", 1);
        }
        printf("mask inside a string with maxLength (a new state each token): %ld allowed, %.2f "
               "ms\n",
               total / 50, (lmx_now_s() - t) * 1e3 / 50);
        lmx_gram_state_free(st);
        lmx_gram_release(bg);
    }
    free(allowed);
    lmx_gram_vocab_free(v);

    lmx_pool *pool = lmx_pool_create(threads);
    lmx_sched_opts o = {.n_parallel = 1, .n_ctx = n_gen + 64, .n_cache = 1};
    lmx_sched *s = lmx_sched_create(m, pool, &o, err, sizeof err);
    if (!s) {
        fprintf(stderr, "bench_grammar: %s\n", err);
        return 1;
    }
    int32_t prompt[64];
    const char *text = "Write a shopping list as JSON.";
    int n_prompt = lmx_tok_encode(m->tok, text, strlen(text), true, false, prompt, 64);
    /* greedy isolates the mask's cost; temperature 1 with no top-k also sorts
     * every candidate in the sampler, which the mask makes fewer */
    for (int ti = 0; ti < 2; ti++) {
        float temp = ti ? 1.0f : 0.0f;
        double best_free = 0, best_json = 0;
        int n_free = 0, n_json = 0;
        for (int r = 0; r < reps; r++) { /* interleaved, so both see the same machine load */
            double a = run(s, prompt, n_prompt, n_gen, NULL, temp, 7 + (uint64_t)r, &n_free);
            double b = run(s, prompt, n_prompt, n_gen, g, temp, 7 + (uint64_t)r, &n_json);
            if (a > best_free) best_free = a;
            if (b > best_json) best_json = b;
        }
        printf("temperature %.0f: decode unconstrained %.1f tok/s (%d tokens), json_schema %.1f "
               "tok/s (%d tokens): %+.1f%%\n",
               temp, best_free, n_free, best_json, n_json,
               best_free > 0 ? 100.0 * (best_json / best_free - 1) : 0.0);
    }
    lmx_sched_destroy(s, true);
    lmx_pool_destroy(pool);
    lmx_gram_release(g);
    lmx_model_free(m);
    return 0;
}
