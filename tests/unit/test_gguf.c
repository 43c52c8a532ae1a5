#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/dtype.h"
#include "engine/gguf.h"

static char *model_path(const char *name) {
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/models/%s", lmx_test_shared(), name);
    return buf;
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static const char *write_tmp(const uint8_t *b, size_t n) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/lmx-test-gguf-%d.gguf", (int)getpid());
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
    return path;
}

TEST(gguf_opens_stories260k_with_metadata_and_tensors) {
    char err[512] = "";
    lmx_gguf *g = lmx_gguf_open(model_path("stories260K.gguf"), err, sizeof err);
    if (!g) FAILF("%s", err);
    size_t n;
    const char *arch = lmx_gguf_get_str(g, "general.architecture", &n);
    CHECK(arch && n == 5 && !memcmp(arch, "llama", 5));
    const lmx_gguf_kv *toks = lmx_gguf_find(g, "tokenizer.ggml.tokens");
    CHECK(toks && toks->type == LMX_GGUF_ARR && toks->arr_type == LMX_GGUF_STR);
    CHECK_EQ_INT(toks->arr_n, 512);
    const lmx_gguf_tensor *t = lmx_gguf_find_tensor(g, "token_embd.weight");
    CHECK(t && t->type == LMX_F32 && t->ne[1] == 512);
    lmx_gguf_close(g);
}

TEST(gguf_opens_every_synthetic_model) {
    const char *names[] = {"llama-f32", "llama-f16", "llama-bf16", "llama-q8_0", "llama-q4_0",
                           "llama-q4_k", "llama-q5_k", "llama-q6_k", "qwen2-q8_0", "qwen3-q4_k",
                           "llama3-vocab-q8_0", "qwen2-vocab-q8_0"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[1024], err[512] = "";
        snprintf(path, sizeof path, "%s/models/synth/%s.gguf", lmx_test_shared(), names[i]);
        lmx_gguf *g = lmx_gguf_open(path, err, sizeof err);
        if (!g) FAILF("%s", err);
        CHECK(g->n_tensors > 0);
        lmx_gguf_close(g);
    }
}

/* Every prefix of a real file must be refused cleanly (run under ASan in CI). */
TEST(gguf_refuses_every_truncation_cleanly) {
    size_t n;
    uint8_t *b = slurp(model_path("stories260K.gguf"), &n);
    CHECK(b);
    size_t cuts[] = {0, 3, 4, 7, 8, 16, 23, 24, 40, 100, 1000, 5000, 20000, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char err[512] = "";
        const char *p = write_tmp(b, cuts[i]);
        lmx_gguf *g = lmx_gguf_open(p, err, sizeof err);
        if (g) {
            lmx_gguf_close(g);
            free(b);
            FAILF("a file cut at %zu bytes was accepted", cuts[i]);
        }
        if (!strstr(err, p)) {
            free(b);
            FAILF("error does not name the file: %s", err);
        }
    }
    /* and a sweep over the header region, byte by byte */
    for (size_t cut = 24; cut < 4096; cut += 7) {
        char err[512];
        lmx_gguf *g = lmx_gguf_open(write_tmp(b, cut), err, sizeof err);
        CHECK(!g);
    }
    unlink(write_tmp(b, 0));
    free(b);
}

TEST(gguf_refuses_bad_magic_version_and_huge_counts) {
    size_t n;
    uint8_t *b = slurp(model_path("stories260K.gguf"), &n);
    CHECK(b);
    char err[512];
    struct {
        size_t off;
        uint64_t val;
        int width;
        const char *expect;
    } cases[] = {
        {0, 0x46554746, 4, "bad magic"},
        {4, 1, 4, "unsupported GGUF version 1"},
        {4, 99, 4, "unsupported GGUF version 99"},
        {8, UINT64_MAX, 8, "tensor count"},
        {16, 1ull << 60, 8, "metadata count"},
        {24, 1ull << 62, 8, "string length"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *c = malloc(n);
        memcpy(c, b, n);
        memcpy(c + cases[i].off, &cases[i].val, (size_t)cases[i].width);
        lmx_gguf *g = lmx_gguf_open(write_tmp(c, n), err, sizeof err);
        free(c);
        if (g) {
            lmx_gguf_close(g);
            free(b);
            FAILF("case %zu accepted", i);
        }
        if (!strstr(err, cases[i].expect)) {
            free(b);
            FAILF("case %zu: error '%s' lacks '%s'", i, err, cases[i].expect);
        }
    }
    unlink(write_tmp(b, 0));
    free(b);
}

/* Corrupt the last tensor's offset and type: the error names the tensor. */
TEST(gguf_names_the_tensor_with_a_bad_offset_or_type) {
    size_t n;
    uint8_t *b = slurp(model_path("stories260K.gguf"), &n);
    CHECK(b);
    char err[512];
    lmx_gguf *g = lmx_gguf_open(model_path("stories260K.gguf"), err, sizeof err);
    CHECK(g);
    const lmx_gguf_tensor *last = &g->tensors[g->n_tensors - 1];
    char name[256];
    snprintf(name, sizeof name, "%s", last->name);
    lmx_gguf_close(g);
    /* find the tensor-info record: name string followed by dims, ne[], type, offset */
    uint8_t *at = memmem(b, n, name, strlen(name));
    CHECK(at);
    uint8_t *p = at + strlen(name);
    uint32_t nd;
    memcpy(&nd, p, 4);
    uint8_t *type_at = p + 4 + 8 * nd, *off_at = type_at + 4;

    uint8_t *c = malloc(n);
    memcpy(c, b, n);
    uint64_t big = (uint64_t)n * 4 / 32 * 32;
    memcpy(c + (off_at - b), &big, 8);
    g = lmx_gguf_open(write_tmp(c, n), err, sizeof err);
    CHECK(!g);
    CHECK(strstr(err, name) && strstr(err, "past the end"));

    memcpy(c, b, n);
    uint32_t bad = 99;
    memcpy(c + (type_at - b), &bad, 4);
    g = lmx_gguf_open(write_tmp(c, n), err, sizeof err);
    CHECK(!g);
    CHECK(strstr(err, name) && strstr(err, "unknown type 99"));
    free(c);
    unlink(write_tmp(b, 0));
    free(b);
}
