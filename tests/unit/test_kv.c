/* The paged KV cache's bookkeeping (engine/kv.h): blocks taken when used,
 * registered by content (tokens and the whole prefix before them), shared
 * by reference, copied on write, evicted least recently released first; and
 * through the engine, that a prefix attached from another sequence gives the
 * same logits as computing it. */
#include "test.h"

#include <stdlib.h>

#include "engine/kv.h"
#include "engine/model.h"
#include "sched/prefix.h"

#define B LMX_KV_BLOCK

/* Positions [from, to) of seq hold tokens tok[from..to), K/V rows of value v. */
static void fill(lmx_kv *kv, int seq, const int32_t *tok, int from, int to, float v) {
    float row[2 * 4] = {v, v, v, v, v, v, v, v};
    lmx_kv_reserve(kv, seq, to);
    for (int p = from; p < to; p++) lmx_kv_store(kv, seq, 0, p, row, row);
    lmx_kv_commit(kv, seq, from, tok + from, to - from);
}

TEST(kv_blocks_are_taken_when_used_and_freed_with_the_tokens) {
    lmx_kv *kv = lmx_kv_new(1, 2, 4, LMX_KV_F16, 4, 8 * B);
    lmx_kv_stats st;
    lmx_kv_get_stats(kv, &st);
    CHECK_EQ_INT(st.blocks_total, 4 * 8);
    CHECK_EQ_INT(st.bytes, 0);
    int32_t tok[3 * B];
    for (int i = 0; i < 3 * B; i++) tok[i] = 1000 + i;
    fill(kv, 0, tok, 0, B + 5, 1);
    lmx_kv_get_stats(kv, &st);
    CHECK_EQ_INT(st.blocks_used, 2);
    CHECK_EQ_INT(st.bytes, 2 * st.block_bytes);
    CHECK_EQ_INT(lmx_kv_seq_len(kv, 0), B + 5);
    lmx_kv_truncate_seq(kv, 0, 0);
    lmx_kv_get_stats(kv, &st);
    /* the full first block stays as cache; the partial one is gone */
    CHECK_EQ_INT(st.blocks_used, 0);
    CHECK_EQ_INT(st.blocks_cached, 1);
    CHECK_EQ_INT(st.bytes, st.block_bytes);
    lmx_kv_free(kv);
}

TEST(kv_prefix_is_found_by_content_and_whole_prefix_only) {
    lmx_kv *kv = lmx_kv_new(1, 2, 4, LMX_KV_F16, 4, 8 * B);
    int32_t a[3 * B], b[3 * B];
    for (int i = 0; i < 3 * B; i++) a[i] = b[i] = i;
    b[5] = 77; /* same second block, different first */
    fill(kv, 0, a, 0, 2 * B + 3, 1);
    CHECK_EQ_INT(lmx_kv_lookup(kv, a, 3 * B), 2 * B);
    CHECK_EQ_INT(lmx_kv_lookup(kv, a, 2 * B - 1), B);
    CHECK_EQ_INT(lmx_kv_lookup(kv, b, 3 * B), 0);
    /* attach on another sequence: shared, not copied */
    lmx_kv_stats st;
    lmx_kv_get_stats(kv, &st);
    size_t before = st.bytes;
    CHECK_EQ_INT(lmx_kv_attach(kv, 1, a, 3 * B - 1), 2 * B);
    lmx_kv_get_stats(kv, &st);
    CHECK_EQ_INT(st.bytes, before);
    CHECK(lmx_kv_blocks(kv, 1)[0] == lmx_kv_blocks(kv, 0)[0]);
    CHECK(lmx_kv_blocks(kv, 1)[1] == lmx_kv_blocks(kv, 0)[1]);
    lmx_kv_free(kv);
}

TEST(kv_shared_blocks_live_until_the_last_holder_and_copy_on_write) {
    lmx_kv *kv = lmx_kv_new(1, 2, 4, LMX_KV_F16, 3, 4 * B);
    int32_t a[2 * B];
    for (int i = 0; i < 2 * B; i++) a[i] = 5 + i;
    fill(kv, 0, a, 0, 2 * B, 1);
    CHECK_EQ_INT(lmx_kv_attach(kv, 1, a, 2 * B), 2 * B);
    lmx_kv_truncate_seq(kv, 0, 0);
    lmx_kv_stats st;
    lmx_kv_get_stats(kv, &st);
    CHECK_EQ_INT(st.blocks_used, 2); /* sequence 1 holds them */
    /* cutting sequence 1 inside its shared second block copies it first, so
     * the registered block keeps its content */
    CHECK_EQ_INT(lmx_kv_attach(kv, 2, a, 2 * B), 2 * B);
    uint8_t *shared = lmx_kv_blocks(kv, 1)[1];
    lmx_kv_truncate_seq(kv, 1, B + 3);
    CHECK(lmx_kv_blocks(kv, 1)[1] != shared);
    CHECK(lmx_kv_blocks(kv, 2)[1] == shared);
    fill(kv, 1, a, B + 3, B + 4, 9); /* writes into the private copy */
    CHECK_EQ_INT(lmx_kv_lookup(kv, a, 2 * B), 2 * B);
    /* share: full blocks by reference, the partial one copied */
    CHECK_EQ_INT(lmx_kv_share(kv, 1, 0, B + 4), 0);
    CHECK(lmx_kv_blocks(kv, 0)[0] == lmx_kv_blocks(kv, 1)[0]);
    CHECK(lmx_kv_blocks(kv, 0)[1] != lmx_kv_blocks(kv, 1)[1]);
    CHECK_EQ_INT(lmx_kv_seq_len(kv, 0), B + 4);
    lmx_kv_free(kv);
}

TEST(kv_evicts_least_recently_released_chain_ends_when_full) {
    /* 2 sequences × 2 blocks: a pool of 4 */
    lmx_kv *kv = lmx_kv_new(1, 2, 4, LMX_KV_F16, 2, 2 * B);
    int32_t x[2 * B], y[2 * B], z[2 * B];
    for (int i = 0; i < 2 * B; i++) x[i] = i, y[i] = 500 + i, z[i] = 900 + i;
    fill(kv, 0, x, 0, 2 * B, 1);
    lmx_kv_truncate_seq(kv, 0, 0); /* x cached (released first) */
    fill(kv, 0, y, 0, 2 * B, 1);
    lmx_kv_truncate_seq(kv, 0, 0); /* y cached */
    lmx_kv_stats st;
    lmx_kv_get_stats(kv, &st);
    CHECK_EQ_INT(st.blocks_cached, 4);
    CHECK_EQ_INT(lmx_kv_lookup(kv, x, 2 * B), 2 * B);
    /* one new block: x's end goes (released before y's), x's start stays */
    fill(kv, 1, z, 0, 1, 1);
    CHECK_EQ_INT(lmx_kv_lookup(kv, x, 2 * B), B);
    CHECK_EQ_INT(lmx_kv_lookup(kv, y, 2 * B), 2 * B);
    lmx_kv_get_stats(kv, &st);
    CHECK_EQ_INT(st.evictions, 1);
    /* a block held by a sequence is never evicted: attach y, then fill the rest */
    CHECK_EQ_INT(lmx_kv_attach(kv, 0, y, 2 * B), 2 * B);
    CHECK_EQ_INT(lmx_kv_reserve(kv, 1, 2 * B), 0); /* takes x's start */
    CHECK_EQ_INT(lmx_kv_lookup(kv, x, 2 * B), 0);
    CHECK_EQ_INT(lmx_kv_lookup(kv, y, 2 * B), 2 * B);
    lmx_kv_free(kv);
}

/* Through the engine: sequence 1 attaches sequence 0's prompt blocks and
 * computes only the rest; its logits equal computing everything. */
TEST(kv_attached_prefix_gives_the_same_logits) {
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/models/synth/llama-f16.gguf", lmx_test_shared());
    lmx_model *m = lmx_model_open(path, NULL, err, sizeof err);
    if (!m) FAILF("%s", err);
    lmx_ctx *c = lmx_ctx_create(m, &(lmx_ctx_opts){.n_ctx = 256, .n_seq = 3}, err, sizeof err);
    CHECK(c != NULL);
    enum { N = 100 };
    int nv = m->hp.n_vocab;
    int32_t tok[N], pos[N], seq[N];
    float *ref = malloc(sizeof(float) * (size_t)nv), *got = malloc(sizeof(float) * (size_t)nv);
    for (int i = 0; i < N; i++) tok[i] = (i * 13 + 7) % nv, pos[i] = i, seq[i] = 0;
    int rc = lmx_forward(c, &(lmx_batch){N, tok, pos, seq, NULL}, ref, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(lmx_kv_cached(c, tok, N), (N / B) * B);
    int have = lmx_kv_attach_prefix(c, 1, tok, N - 1);
    CHECK_EQ_INT(have, (N / B) * B);
    for (int i = have; i < N; i++) seq[i] = 1;
    rc = lmx_forward(c, &(lmx_batch){N - have, tok + have, pos + have, seq + have, NULL}, got, err,
                     sizeof err);
    CHECK_EQ_INT(rc, 0);
    CHECK(!memcmp(ref, got, sizeof(float) * (size_t)nv));
    lmx_ctx_kv_info info;
    lmx_ctx_kv_stats(c, &info);
    /* 4 blocks of sequence 0 (3 shared with 1), 1 own block of sequence 1 */
    CHECK_EQ_INT(info.blocks_used, 5);
    free(ref), free(got);
    lmx_ctx_free(c);
    lmx_model_free(m);
}

/* sched/prefix.c: what a prompt takes from blocks other sequences computed,
 * and when it waits for a block another prefill is computing. */
TEST(prefix_takes_registered_blocks_and_waits_only_for_the_block_in_progress) {
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", lmx_test_shared());
    lmx_model *m = lmx_model_open(path, NULL, err, sizeof err);
    if (!m) FAILF("%s", err);
    lmx_ctx *c = lmx_ctx_create(m, &(lmx_ctx_opts){.n_ctx = 256, .n_seq = 3}, err, sizeof err);
    CHECK(c != NULL);
    enum { N = 100 };
    int32_t tok[N], other[N], pos[N], seq[N];
    float *lg = malloc(sizeof(float) * (size_t)m->hp.n_vocab);
    for (int i = 0; i < N; i++) tok[i] = other[i] = 1 + i % 50, pos[i] = i, seq[i] = 0;
    other[3] = 99;
    /* nothing computed yet: a prefill at 0 waits for one that is computing block 0 */
    CHECK(lmx_prefix_pending(c, tok, 0, N - 1, tok, 0, N));
    CHECK(lmx_prefix_pending(c, tok, 0, N - 1, tok, 31, N));
    CHECK(!lmx_prefix_pending(c, tok, 0, N - 1, other, 0, N)); /* not the same block */
    CHECK(!lmx_prefix_pending(c, tok, 5, N - 1, tok, 0, N));   /* mid-block: it computes on */
    CHECK(!lmx_prefix_pending(c, tok, 0, N - 1, tok, 0, 20));  /* theirs stops short of it */
    CHECK(!lmx_prefix_pending(c, tok, 96, N - 1, tok, 0, N));  /* its last token is its own */
    /* sequence 0 computes 64 tokens: two blocks registered */
    CHECK_EQ_INT(lmx_forward(c, &(lmx_batch){64, tok, pos, seq, NULL}, lg, err, sizeof err), 0);
    CHECK(!lmx_prefix_pending(c, tok, 0, N - 1, tok, 64, N)); /* done: take it, not wait */
    CHECK_EQ_INT(lmx_prefix_catch_up(c, 1, tok, 0, N - 1), 64);
    CHECK_EQ_INT(lmx_kv_len(c, 1), 64);
    /* a slot holding 10 tokens of its own takes the longer registered prefix */
    for (int i = 0; i < 10; i++) seq[i] = 2;
    CHECK_EQ_INT(lmx_forward(c, &(lmx_batch){10, tok, pos, seq, NULL}, lg, err, sizeof err), 0);
    CHECK_EQ_INT(lmx_prefix_admit(c, 2, tok, N - 1, 10), 64);
    CHECK_EQ_INT(lmx_prefix_admit(c, 2, other, N - 1, 3), 3); /* nothing registered for it */
    free(lg);
    lmx_ctx_free(c);
    lmx_model_free(m);
}

TEST(kv_q8_0_blocks_take_about_half_of_f16) {
    lmx_kv *a = lmx_kv_new(16, 8, 64, LMX_KV_F16, 1, 64),
           *b = lmx_kv_new(16, 8, 64, LMX_KV_Q8_0, 1, 64);
    lmx_kv_stats sa, sb;
    lmx_kv_get_stats(a, &sa);
    lmx_kv_get_stats(b, &sb);
    /* int8 plus one F16 scale per 32: 34/64 of F16 */
    CHECK_EQ_INT(sb.block_bytes * 64, sa.block_bytes * 34);
    lmx_kv_free(a);
    lmx_kv_free(b);
}
