/* The work the callgrind gate counts (bench/callgrind_gate.sh): for each model
 * given, one 64-token prefill and then one decode step (forward + sampling
 * with llama.cpp's default sampler), on one thread. Under callgrind each
 * region is collected alone and dumped under its own name ("MODEL prefill64",
 * "MODEL decode"), so model loading, repacking and start-up are not counted.
 * Outside valgrind the client requests are no-ops and this just runs.
 *
 * Build: cc -O2 -std=c11 -D_GNU_SOURCE -Isrc bench/cg_step.c build/liblmx.a $(LIBS)
 * Run:   build/cg_step MODEL.gguf...      (the gate runs it under callgrind) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

#include "engine/model.h"
#include "engine/sample.h"

enum { N_PREFILL = 64 };

/* Collect only between start and stop, then dump under `label`. */
static void region_start(void) {
    CALLGRIND_ZERO_STATS;
    CALLGRIND_TOGGLE_COLLECT;
}
static void region_stop(const char *label) {
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS_AT(label);
}

static int run_model(const char *path, lmx_pool *pool) {
    char err[1024], label[600];
    lmx_model *m = lmx_model_open(path, NULL, err, sizeof err);
    if (!m) {
        fprintf(stderr, "cg_step: %s\n", err);
        return 1;
    }
    lmx_ctx_opts co = {.n_ctx = N_PREFILL + 8, .n_seq = 1, .n_batch = N_PREFILL, .pool = pool};
    lmx_ctx *c = lmx_ctx_create(m, &co, err, sizeof err);
    float *logits = malloc(sizeof(float) * (size_t)m->hp.n_vocab);
    lmx_sample_params sp = lmx_sample_defaults();
    sp.seed = 1;
    lmx_sampler *s = lmx_sampler_create(m->hp.n_vocab, &sp);
    int rc = !c || !logits || !s;
    int32_t tok[N_PREFILL + 1], pos[N_PREFILL + 1], seq[N_PREFILL + 1] = {0};
    for (int i = 0; i <= N_PREFILL; i++) tok[i] = (i * 7919 + 13) % m->hp.n_vocab, pos[i] = i;
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (!rc) {
        lmx_batch b = {N_PREFILL, tok, pos, seq, NULL};
        region_start();
        rc = lmx_forward(c, &b, logits, err, sizeof err);
        region_stop((snprintf(label, sizeof label, "%s prefill64", name), label));
    }
    if (!rc) {
        lmx_batch b = {1, &tok[N_PREFILL], &pos[N_PREFILL], seq, NULL};
        region_start();
        rc = lmx_forward(c, &b, logits, err, sizeof err);
        tok[0] = lmx_sampler_next(s, logits, tok, N_PREFILL + 1);
        region_stop((snprintf(label, sizeof label, "%s decode", name), label));
        if (rc) fprintf(stderr, "cg_step: %s: %s\n", name, err);
    }
    lmx_sampler_free(s);
    free(logits);
    lmx_ctx_free(c);
    lmx_model_free(m);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: cg_step MODEL.gguf...\n");
        return 2;
    }
    lmx_pool *pool = lmx_pool_create(1); /* one thread: counts independent of scheduling */
    int rc = 0;
    for (int i = 1; i < argc; i++) rc |= run_model(argv[i], pool);
    lmx_pool_destroy(pool);
    return rc;
}
