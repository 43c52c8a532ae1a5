/* The engine against llama.cpp: teacher-forced on the reference tokens of
 * ../shared/refs/generate.jsonl, our next-token choice and top-10
 * log-probabilities must agree within the tolerance of refs/README.md, on
 * every model and every ISA path this CPU has. */
#include "test.h"

#include <jansson.h>
#include <stdlib.h>

#include "engine/model.h"

/* log-softmax of n logits, in double */
static void log_softmax(const float *z, int n, double *out) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++)
        if (z[i] > mx) mx = z[i];
    for (int i = 0; i < n; i++) sum += exp((double)z[i] - mx);
    double lse = mx + log(sum);
    for (int i = 0; i < n; i++) out[i] = (double)z[i] - lse;
}

static int argmax(const float *z, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (z[i] > z[b]) b = i;
    return b;
}

static bool kv_q8_0; /* run the references with a Q8_0 KV cache */

/* Checks one reference line; returns the number of mismatching steps and
 * describes the first in msg. worst: largest log-probability error seen. */
static int check_line(lmx_model *m, lmx_pool *pool, json_t *line, double tol, double *worst,
                      char *msg, size_t msglen) {
    char err[512];
    lmx_ctx_opts co = {.n_ctx = 1024, .n_seq = 1, .n_batch = 64, .kv_q8_0 = kv_q8_0, .pool = pool};
    lmx_ctx *c = lmx_ctx_create(m, &co, err, sizeof err);
    if (!c) {
        snprintf(msg, msglen, "%s", err);
        return 1;
    }
    json_t *pt = json_object_get(line, "prompt_tokens"), *steps = json_object_get(line, "steps");
    int np = (int)json_array_size(pt), nv = m->hp.n_vocab, bad = 0;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)np), *pos = malloc(sizeof(int32_t) * (size_t)np),
            *seq = calloc((size_t)np, sizeof(int32_t));
    for (int i = 0; i < np; i++) {
        tok[i] = (int32_t)json_integer_value(json_array_get(pt, (size_t)i));
        pos[i] = i;
    }
    float *logits = malloc(sizeof(float) * (size_t)nv);
    double *lp = malloc(sizeof(double) * (size_t)nv);
    lmx_batch b = {np, tok, pos, seq, NULL};
    int p = np;
    if (lmx_forward(c, &b, logits, err, sizeof err)) {
        snprintf(msg, msglen, "forward: %s", err);
        bad = 1;
    }
    for (size_t s = 0; s < json_array_size(steps) && !bad; s++) {
        json_t *st = json_array_get(steps, s), *top = json_object_get(st, "top");
        int id = (int)json_integer_value(json_object_get(st, "id"));
        log_softmax(logits, nv, lp);
        double l1 = json_real_value(json_array_get(json_array_get(top, 0), 1));
        double l2 = json_real_value(json_array_get(json_array_get(top, 1), 1));
        int mine = argmax(logits, nv);
        if (mine != id && fabs(l1 - l2) > tol) {
            if (!bad++)
                snprintf(msg, msglen, "step %zu: chose %d (%.4f), reference %d (%.4f)", s, mine,
                         lp[mine], id, l1);
        }
        for (size_t k = 0; k < json_array_size(top); k++) {
            json_t *e = json_array_get(top, k);
            int tid = (int)json_integer_value(json_array_get(e, 0));
            double ref = json_real_value(json_array_get(e, 1)), diff = fabs(lp[tid] - ref);
            if (diff > *worst) *worst = diff;
            if (diff > tol && !bad++)
                snprintf(msg, msglen, "step %zu: token %d log-prob %.4f, reference %.4f", s, tid,
                         lp[tid], ref);
        }
        int32_t t1 = id, p1 = p++, s1 = 0;
        lmx_batch nb = {1, &t1, &p1, &s1, NULL};
        if (lmx_forward(c, &nb, logits, err, sizeof err)) {
            snprintf(msg, msglen, "forward: %s", err);
            bad++;
        }
    }
    free(tok), free(pos), free(seq), free(logits), free(lp);
    lmx_ctx_free(c);
    return bad;
}

static int run_refs(lmx_isa isa, const char *only, int *n_lines) {
    char path[1024];
    snprintf(path, sizeof path, "%s/refs/generate.jsonl", lmx_test_shared());
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "  cannot open %s\n", path);
        return 1;
    }
    lmx_isa_set(isa);
    lmx_pool *pool = lmx_pool_create(2);
    char *buf = NULL, cur[256] = "";
    size_t cap = 0;
    lmx_model *m = NULL;
    int failures = 0;
    double worst = 0;
    while (getline(&buf, &cap, f) > 0) {
        json_error_t je;
        json_t *line = json_loads(buf, 0, &je);
        if (!line) continue;
        const char *name = json_string_value(json_object_get(line, "model"));
        if (only && !strstr(name, only)) {
            json_decref(line);
            continue;
        }
        if (strcmp(name, cur)) {
            if (m && worst > 0) fprintf(stderr, "  %-28s %-7s worst |Δlogprob| %.4f\n", cur, lmx_isa_name(isa), worst);
            lmx_model_free(m);
            worst = 0;
            snprintf(cur, sizeof cur, "%s", name);
            char mp[1024], err[512];
            snprintf(mp, sizeof mp, "%s/models/%s%s", lmx_test_shared(),
                     strcmp(name, "stories260K.gguf") ? "synth/" : "", name);
            m = lmx_model_open(mp, NULL, err, sizeof err);
            if (!m) {
                fprintf(stderr, "  %s\n", err);
                failures++;
            }
        }
        if (m && kv_q8_0 && m->hp.head_dim % 32) { /* no Q8_0 KV for it */
            json_decref(line);
            continue;
        }
        if (m) {
            /* a Q8_0 KV cache is quantized whatever the weights: the tolerance of quantized models */
            double tol = !kv_q8_0 && (strstr(name, "stories") || strstr(name, "f32")) ? 0.05 : 0.15;
            char msg[512] = "";
            if (check_line(m, pool, line, tol, &worst, msg, sizeof msg)) {
                fprintf(stderr, "  %s [%s] '%.30s': %s\n", name, lmx_isa_name(isa),
                        json_string_value(json_object_get(line, "prompt")), msg);
                failures++;
            }
            (*n_lines)++;
        }
        json_decref(line);
    }
    if (m && worst > 0) fprintf(stderr, "  %-28s %-7s worst |Δlogprob| %.4f\n", cur, lmx_isa_name(isa), worst);
    lmx_model_free(m);
    free(buf);
    fclose(f);
    lmx_pool_destroy(pool);
    return failures;
}

static void refs_for_isa(int *lmx_failed_, lmx_isa isa) {
    if (!lmx_isa_supported(isa)) {
        fprintf(stderr, "  (%s not supported on this CPU: skipped)\n", lmx_isa_name(isa));
        return;
    }
    const char *only = getenv("LMX_REFS_ONLY");
    int n = 0, fails = run_refs(isa, only, &n);
    lmx_isa_set(lmx_isa_current());
    if (fails) FAILF("%d of %d reference lines disagree with llama.cpp", fails, n);
    CHECK(n > 0);
}

TEST(engine_matches_llama_cpp_scalar) { refs_for_isa(lmx_failed_, LMX_ISA_SCALAR); }
TEST(engine_matches_llama_cpp_avx2) { refs_for_isa(lmx_failed_, LMX_ISA_AVX2); }
TEST(engine_matches_llama_cpp_avx512) { refs_for_isa(lmx_failed_, LMX_ISA_AVX512); }

/* A Q8_0 KV cache (half the memory) within the same tolerances. */
static void refs_kv_q8(int *lmx_failed_, lmx_isa isa) {
    kv_q8_0 = true;
    refs_for_isa(lmx_failed_, isa);
    kv_q8_0 = false;
}
TEST(engine_matches_llama_cpp_kv_q8_0_scalar) { refs_kv_q8(lmx_failed_, LMX_ISA_SCALAR); }
TEST(engine_matches_llama_cpp_kv_q8_0_avx2) { refs_kv_q8(lmx_failed_, LMX_ISA_AVX2); }
TEST(engine_matches_llama_cpp_kv_q8_0_avx512) { refs_kv_q8(lmx_failed_, LMX_ISA_AVX512); }
