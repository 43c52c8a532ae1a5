#include "test.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"

static const char *vocab_names[] = {
    "llama-spm", "llama-bpe", "qwen2",     "phi-3",  "gpt-2",    "deepseek-llm", "deepseek-coder",
    "falcon",    "mpt",       "starcoder", "refact", "bert-bge", "baichuan",     "gpt-neox"};

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[sz] = 0;
    *n = (size_t)sz;
    return b;
}

typedef struct {
    lmx_gguf *g;
    lmx_tok *t;
} vocab;

static int open_vocab(const char *name, vocab *v, char *err, size_t errlen) {
    char path[1024];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", lmx_test_shared(), name);
    v->g = lmx_gguf_open(path, err, errlen);
    if (!v->g) return -1;
    v->t = lmx_tok_load(v->g, err, errlen);
    if (!v->t) {
        lmx_gguf_close(v->g);
        return -1;
    }
    return 0;
}

static void close_vocab(vocab *v) {
    lmx_tok_free(v->t);
    lmx_gguf_close(v->g);
}

/* ids of text, malloc'ed; *n the count */
static int32_t *encode(const lmx_tok *t, const char *s, size_t len, bool add, bool parse, int *n) {
    int cap = (int)len + 8;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    *n = lmx_tok_encode(t, s, len, add, parse, ids, cap);
    if (*n > cap) {
        free(ids);
        ids = malloc((size_t)*n * sizeof *ids);
        lmx_tok_encode(t, s, len, add, parse, ids, *n);
    }
    return ids;
}

static void print_ids(const char *label, const int32_t *v, int n) {
    fprintf(stderr, "    %s:", label);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", v[i]);
    fprintf(stderr, "\n");
}

/* The .inp file: strings each followed by "\n__ggml_vocab_test__\n"; .out: one line of ids each. */
typedef struct {
    char *inp, *out;
    char *str[256];
    size_t len[256];
    char *line[256];
    int n;
} cases;

static int load_cases(const char *name, cases *c) {
    char path[1024];
    size_t ni, no;
    memset(c, 0, sizeof *c);
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf.inp", lmx_test_shared(), name);
    c->inp = slurp(path, &ni);
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf.out", lmx_test_shared(), name);
    c->out = slurp(path, &no);
    if (!c->inp || !c->out) return -1;
    const char *sep = "\n__ggml_vocab_test__\n";
    char *p = c->inp;
    for (char *q; (q = strstr(p, sep)) && c->n < 256; p = q + strlen(sep)) {
        c->str[c->n] = p;
        c->len[c->n] = (size_t)(q - p);
        c->n++;
    }
    int nl = 0;
    for (char *l = c->out; *l && nl < 256;) {
        char *e = strchr(l, '\n');
        c->line[nl++] = l;
        if (!e) break;
        *e = 0;
        l = e + 1;
    }
    return nl == c->n ? 0 : -1;
}

static void free_cases(cases *c) {
    free(c->inp);
    free(c->out);
}

static int parse_line(const char *l, int32_t *v, int cap) {
    int n = 0;
    char *e;
    for (;;) {
        long x = strtol(l, &e, 10);
        if (e == l) break;
        if (n < cap) v[n] = (int32_t)x;
        n++;
        l = e;
    }
    return n;
}

TEST(tok_vocab_files_match_llama_cpp_tests) {
    int all_fail = 0;
    for (size_t k = 0; k < sizeof vocab_names / sizeof vocab_names[0]; k++) {
        cases c;
        if (load_cases(vocab_names[k], &c)) {
            free_cases(&c);
            continue; /* no .inp/.out for this vocab */
        }
        vocab v;
        char err[512];
        if (open_vocab(vocab_names[k], &v, err, sizeof err)) {
            free_cases(&c);
            FAILF("%s: %s", vocab_names[k], err);
        }
        int pass = 0;
        for (int i = 0; i < c.n; i++) {
            int n;
            int32_t *ids = encode(v.t, c.str[i], c.len[i], false, false, &n);
            int32_t want[4096];
            int nw = parse_line(c.line[i], want, 4096);
            if (n == nw && !memcmp(ids, want, (size_t)n * sizeof *ids)) {
                pass++;
            } else {
                fprintf(stderr, "  %s case %d: \"%.*s\"\n", vocab_names[k], i, (int)c.len[i],
                        c.str[i]);
                print_ids("got ", ids, n);
                print_ids("want", want, nw);
            }
            free(ids);
        }
        fprintf(stderr, "  vocab %-15s %d/%d\n", vocab_names[k], pass, c.n);
        if (pass != c.n) all_fail = 1;
        close_vocab(&v);
        free_cases(&c);
    }
    CHECK(!all_fail);
}

TEST(tok_refs_tokenize_jsonl_match_llama_cpp) {
    char path[1024];
    snprintf(path, sizeof path, "%s/refs/tokenize.jsonl", lmx_test_shared());
    FILE *f = fopen(path, "r");
    CHECK(f);
    char *line = NULL;
    size_t lcap = 0;
    int pass = 0, total = 0;
    char cur[256] = "";
    vocab v = {0};
    while (getline(&line, &lcap, f) > 0) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!j) continue;
        const char *name = json_string_value(json_object_get(j, "vocab"));
        const char *text = json_string_value(json_object_get(j, "text"));
        size_t tlen = json_string_length(json_object_get(j, "text"));
        bool add = json_is_true(json_object_get(j, "add_special"));
        bool parse = json_is_true(json_object_get(j, "parse_special"));
        json_t *want = json_object_get(j, "ids");
        if (strcmp(cur, name)) {
            if (v.t) close_vocab(&v);
            memset(&v, 0, sizeof v);
            char err[512], short_name[256];
            snprintf(short_name, sizeof short_name, "%s", name + strlen("ggml-vocab-"));
            *strstr(short_name, ".gguf") = 0;
            if (open_vocab(short_name, &v, err, sizeof err)) {
                json_decref(j);
                free(line);
                fclose(f);
                FAILF("%s: %s", name, err);
            }
            snprintf(cur, sizeof cur, "%s", name);
        }
        int n;
        int32_t *ids = encode(v.t, text, tlen, add, parse, &n);
        bool ok = n == (int)json_array_size(want);
        for (int i = 0; ok && i < n; i++)
            ok = ids[i] == json_integer_value(json_array_get(want, (size_t)i));
        total++;
        if (ok) {
            pass++;
        } else {
            fprintf(stderr, "  %s add=%d parse=%d \"%s\"\n", name, add, parse, text);
            print_ids("got ", ids, n);
            int32_t w[4096];
            int nw = 0;
            for (size_t i = 0; i < json_array_size(want) && nw < 4096; i++)
                w[nw++] = (int32_t)json_integer_value(json_array_get(want, i));
            print_ids("want", w, nw);
        }
        free(ids);
        json_decref(j);
    }
    if (v.t) close_vocab(&v);
    free(line);
    fclose(f);
    fprintf(stderr, "  tokenize.jsonl %d/%d\n", pass, total);
    CHECK(total > 0);
    CHECK_EQ_INT(pass, total);
}

/* Concatenated pieces give back the text for every lossless vocab. */
TEST(tok_round_trip_of_vocab_test_strings) {
    const char *lossless[] = {"llama-spm", "llama-bpe",    "qwen2",          "phi-3",
                              "gpt-2",     "deepseek-llm", "deepseek-coder", "falcon",
                              "mpt",       "starcoder",    "refact"};
    int bad = 0;
    for (size_t k = 0; k < sizeof lossless / sizeof lossless[0]; k++) {
        cases c;
        if (load_cases(lossless[k], &c)) {
            free_cases(&c);
            continue;
        }
        vocab v;
        char err[512];
        if (open_vocab(lossless[k], &v, err, sizeof err)) {
            free_cases(&c);
            FAILF("%s", err);
        }
        int pass = 0;
        for (int i = 0; i < c.n; i++) {
            int n;
            int32_t *ids = encode(v.t, c.str[i], c.len[i], false, false, &n);
            size_t cap = c.len[i] * 4 + 64, k2 = 0;
            char *s = malloc(cap);
            /* llama_detokenize without clean-up: pieces, first one losing the SPM prefix space */
            for (int j = 0; j < n; j++) {
                char p[512];
                size_t pn = lmx_tok_piece(v.t, ids[j], false, p, sizeof p);
                const char *pp = p;
                if (j == 0 && lmx_tok_add_bos(v.t) && pn && p[0] == ' ' &&
                    !strcmp(lossless[k] + strlen(lossless[k]) - 3, "spm"))
                    pp++, pn--;
                if (j == 0 && !strcmp(lossless[k], "phi-3") && pn && p[0] == ' ') pp++, pn--;
                memcpy(s + k2, pp, pn);
                k2 += pn;
            }
            if (k2 == c.len[i] && !memcmp(s, c.str[i], k2)) {
                pass++;
            } else {
                fprintf(stderr, "  round trip %s case %d: \"%.*s\" -> \"%.*s\"\n", lossless[k], i,
                        (int)c.len[i], c.str[i], (int)k2, s);
            }
            free(s);
            free(ids);
        }
        fprintf(stderr, "  round trip %-15s %d/%d\n", lossless[k], pass, c.n);
        if (pass != c.n) bad = 1;
        close_vocab(&v);
        free_cases(&c);
    }
    CHECK(!bad);
}

static bool valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)s[i];
        int need = c < 0x80             ? 1
                   : (c & 0xe0) == 0xc0 ? 2
                   : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4
                                        : 0;
        if (!need || i + (size_t)need > n) return false;
        for (int k = 1; k < need; k++)
            if (((uint8_t)s[i + (size_t)k] & 0xc0) != 0x80) return false;
        i += (size_t)need;
    }
    return true;
}

/* Byte-fallback tokens split characters; the stream must hold them until whole. */
TEST(tok_streaming_detok_emits_only_whole_utf8) {
    vocab v;
    char err[512];
    if (open_vocab("llama-spm", &v, err, sizeof err)) FAILF("%s", err);
    const char *text = "emoji 🦙🦙 and 🚀 then 𝄞 clef, ideographs 龘靐 and ½ € done";
    int n;
    int32_t *ids = encode(v.t, text, strlen(text), true, false, &n);
    int bytes = 0;
    for (int i = 0; i < n; i++) {
        size_t l;
        const char *s = lmx_tok_text(v.t, ids[i], &l);
        if (l == 6 && !memcmp(s, "<0x", 3)) bytes++;
    }
    CHECK(bytes >= 4); /* the test really exercises byte tokens */
    lmx_detok d;
    lmx_detok_init(&d, v.t);
    char out[4096], oneshot[4096];
    size_t k = 0, k1 = 0;
    for (int i = 0; i < n; i++) {
        char chunk[256];
        size_t c = lmx_detok_push(&d, ids[i], chunk, sizeof chunk);
        if (!valid_utf8(chunk, c)) {
            free(ids);
            close_vocab(&v);
            FAILF("chunk %d is not valid UTF-8", i);
        }
        memcpy(out + k, chunk, c);
        k += c;
        k1 += lmx_tok_piece(v.t, ids[i], false, oneshot + k1, sizeof oneshot - k1);
    }
    k += lmx_detok_flush(&d, out + k, sizeof out - k);
    free(ids);
    close_vocab(&v);
    CHECK_EQ_INT(k, k1);
    CHECK(!memcmp(out, oneshot, k));
    out[k] = 0;
    CHECK_EQ_STR(out, " emoji 🦙🦙 and 🚀 then 𝄞 clef, ideographs 龘靐 and ½ € done");
}

TEST(tok_streaming_detok_replaces_broken_sequences) {
    vocab v;
    char err[512];
    if (open_vocab("llama-spm", &v, err, sizeof err)) FAILF("%s", err);
    int32_t id = -1;
    for (int i = 0; i < lmx_tok_n_vocab(v.t); i++) {
        size_t l;
        const char *s = lmx_tok_text(v.t, i, &l);
        if (l == 6 && !memcmp(s, "<0xF0>", 6)) id = i;
    }
    CHECK(id >= 0);
    lmx_detok d;
    lmx_detok_init(&d, v.t);
    char out[64];
    CHECK_EQ_INT(lmx_detok_push(&d, id, out, sizeof out), 0);
    CHECK_EQ_INT(lmx_detok_flush(&d, out, sizeof out), 3);
    CHECK(!memcmp(out, "\xef\xbf\xbd", 3)); /* an unfinished character ends as U+FFFD */
    /* a lead byte followed by ASCII: U+FFFD, then the ASCII */
    int32_t a = -1;
    for (int i = 0; i < lmx_tok_n_vocab(v.t); i++) {
        size_t l;
        const char *s = lmx_tok_text(v.t, i, &l);
        if (l == 1 && s[0] == 'a') a = i;
    }
    CHECK(a >= 0);
    CHECK_EQ_INT(lmx_detok_push(&d, id, out, sizeof out), 0);
    size_t n = lmx_detok_push(&d, a, out, sizeof out);
    CHECK_EQ_INT(n, 4);
    CHECK(!memcmp(out, "\357\277\275a", 4));
    CHECK_EQ_INT(lmx_detok_flush(&d, out, sizeof out), 0);
    close_vocab(&v);
}

TEST(tok_pieces_specials_and_eog) {
    vocab v;
    char err[512];
    if (open_vocab("llama-bpe", &v, err, sizeof err)) FAILF("%s", err);
    char p[64];
    CHECK_EQ_INT(lmx_tok_piece(v.t, 128000, false, p, sizeof p), 0);
    size_t n = lmx_tok_piece(v.t, 128000, true, p, sizeof p);
    p[n] = 0;
    CHECK_EQ_STR(p, "<|begin_of_text|>");
    CHECK_EQ_INT(lmx_tok_bos(v.t), 128000);
    CHECK(lmx_tok_add_bos(v.t));
    CHECK(lmx_tok_is_eog(v.t, 128009)); /* <|eot_id|> */
    CHECK(lmx_tok_is_eog(v.t, 128001)); /* eos */
    CHECK(!lmx_tok_is_eog(v.t, 128000));
    n = lmx_tok_piece(v.t, 220, false, p, sizeof p); /* "Ġ" */
    CHECK(n == 1 && p[0] == ' ');
    close_vocab(&v);
    if (open_vocab("qwen2", &v, err, sizeof err)) FAILF("%s", err);
    CHECK(!lmx_tok_add_bos(v.t));
    CHECK(lmx_tok_is_eog(v.t, 151645)); /* <|im_end|> */
    CHECK(lmx_tok_is_eog(v.t, 151643)); /* <|endoftext|> */
    close_vocab(&v);
}

/* A 20 KB prompt on a 150k BPE vocabulary tokenizes in a few milliseconds. */
/* A 20 KiB prompt of mixed scripts encodes and decodes back to itself (its
 * speed is measured by bench/bench_tokenizer.c, not asserted here). */
TEST(tok_long_prompt_round_trips) {
    vocab v;
    char err[512];
    if (open_vocab("qwen2", &v, err, sizeof err)) FAILF("%s", err);
    const char *para =
        "The quick brown fox jumps over the lazy dog; 12345 numbers, "
        "\"quotes\" and    spaces\n\tcode(x) { return x*2; } naïve café 日本語 🦙. ";
    size_t pl = strlen(para), n = 0;
    char *text = malloc(20 * 1024 + pl);
    while (n < 20 * 1024) memcpy(text + n, para, pl), n += pl;
    int cnt = 0;
    int32_t *ids = encode(v.t, text, n, false, true, &cnt);
    CHECK(cnt > 1000);
    size_t cap = n * 2 + 64, len = 0;
    char *back = malloc(cap);
    lmx_detok d;
    lmx_detok_init(&d, v.t);
    for (int i = 0; i < cnt; i++) len += lmx_detok_push(&d, ids[i], back + len, cap - len);
    len += lmx_detok_flush(&d, back + len, cap - len);
    CHECK(len == n && !memcmp(back, text, n));
    free(back);
    free(ids);
    free(text);
    close_vocab(&v);
}

/* ---- malformed vocabularies: a tiny GGUF writer ---- */

typedef struct {
    uint8_t *b;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->b = realloc(b->b, b->cap);
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) {
    put(b, &v, 4);
}
static void put_u64(buf *b, uint64_t v) {
    put(b, &v, 8);
}
static void put_str(buf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void kv_str(buf *b, const char *k, const char *v) {
    put_str(b, k);
    put_u32(b, 8);
    put_str(b, v);
}
static void kv_u32(buf *b, const char *k, uint32_t v) {
    put_str(b, k);
    put_u32(b, 4);
    put_u32(b, v);
}
static void kv_strs(buf *b, const char *k, const char *const *v, int n) {
    put_str(b, k);
    put_u32(b, 9);
    put_u32(b, 8);
    put_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++) put_str(b, v[i]);
}
static void kv_f32s(buf *b, const char *k, int n) {
    put_str(b, k);
    put_u32(b, 9);
    put_u32(b, 6);
    put_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        float f = (float)-i;
        put(b, &f, 4);
    }
}

/* Writes a GGUF with the given kv block (count n_kv) and tries to load a tokenizer. */
static lmx_tok *load_synthetic(buf *kvs, int n_kv, char *err, size_t errlen) {
    buf f = {0};
    put_u32(&f, 0x46554747u);
    put_u32(&f, 3);
    put_u64(&f, 0);
    put_u64(&f, (uint64_t)n_kv);
    put(&f, kvs->b, kvs->n);
    char path[64];
    snprintf(path, sizeof path, "/tmp/lmx-test-tok-%d.gguf", (int)getpid());
    FILE *fp = fopen(path, "wb");
    fwrite(f.b, 1, f.n, fp);
    fclose(fp);
    free(f.b);
    lmx_gguf *g = lmx_gguf_open(path, err, errlen);
    unlink(path);
    if (!g) return NULL;
    lmx_tok *t = lmx_tok_load(g, err, errlen);
    lmx_gguf_close(g);
    return t;
}

TEST(tok_malformed_vocab_fails_cleanly) {
    const char *toks[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", "\342\226\201a"};
    const char *btoks[] = {"a", "b", "ab", "Ġ"};
    char err[512];
    struct {
        const char *what;
        int kind; /* which kv block */
    } cases_[] = {{"missing tokens", 0},   {"scores of wrong length", 1},
                  {"bad merge", 2},        {"bos out of range", 3},
                  {"eos out of range", 4}, {"unknown model", 5},
                  {"unknown pre", 6},      {"good spm", 7},
                  {"good bpe", 8}};
    for (size_t c = 0; c < sizeof cases_ / sizeof cases_[0]; c++) {
        buf b = {0};
        int n = 0;
        switch (cases_[c].kind) {
        case 0:
            kv_str(&b, "tokenizer.ggml.model", "llama"), n = 1;
            break;
        case 1:
            kv_str(&b, "tokenizer.ggml.model", "llama");
            kv_strs(&b, "tokenizer.ggml.tokens", toks, 7);
            kv_f32s(&b, "tokenizer.ggml.scores", 5);
            n = 3;
            break;
        case 2: {
            const char *merges[] = {"a b", "ab"};
            kv_str(&b, "tokenizer.ggml.model", "gpt2");
            kv_strs(&b, "tokenizer.ggml.tokens", btoks, 4);
            kv_strs(&b, "tokenizer.ggml.merges", merges, 2);
            n = 3;
            break;
        }
        case 3:
        case 4:
            kv_str(&b, "tokenizer.ggml.model", "llama");
            kv_strs(&b, "tokenizer.ggml.tokens", toks, 7);
            kv_u32(&b,
                   cases_[c].kind == 3 ? "tokenizer.ggml.bos_token_id"
                                       : "tokenizer.ggml.eos_token_id",
                   7);
            n = 3;
            break;
        case 5:
            kv_str(&b, "tokenizer.ggml.model", "t9000");
            kv_strs(&b, "tokenizer.ggml.tokens", toks, 7);
            n = 2;
            break;
        case 6:
            kv_str(&b, "tokenizer.ggml.model", "gpt2");
            kv_str(&b, "tokenizer.ggml.pre", "no-such-pre");
            kv_strs(&b, "tokenizer.ggml.tokens", btoks, 4);
            n = 3;
            break;
        case 7:
            kv_str(&b, "tokenizer.ggml.model", "llama");
            kv_strs(&b, "tokenizer.ggml.tokens", toks, 7);
            kv_f32s(&b, "tokenizer.ggml.scores", 7);
            n = 3;
            break;
        case 8: {
            const char *merges[] = {"a b"};
            kv_str(&b, "tokenizer.ggml.model", "gpt2");
            kv_strs(&b, "tokenizer.ggml.tokens", btoks, 4);
            kv_strs(&b, "tokenizer.ggml.merges", merges, 1);
            n = 3;
            break;
        }
        }
        err[0] = 0;
        lmx_tok *t = load_synthetic(&b, n, err, sizeof err);
        free(b.b);
        if (cases_[c].kind >= 7) {
            if (!t) FAILF("%s: %s", cases_[c].what, err);
            int32_t ids[16];
            int k = lmx_tok_encode(t, "ab a", 4, true, true, ids, 16);
            if (cases_[c].kind == 7) {
                /* "ab" (score -5) merges before "▁a" (-6); the lone "▁" has no byte
                 * tokens and falls back to <unk> per byte; BOS 1 first */
                CHECK_EQ_INT(k, 6);
                CHECK(ids[0] == 1 && ids[1] == 0 && ids[2] == 0 && ids[3] == 0);
                CHECK(ids[4] == 5 && ids[5] == 6);
            } else {
                CHECK_EQ_INT(k, 3); /* "ab" (2), " " (3), "a" (0): no BOS in a default BPE vocab */
                CHECK(ids[0] == 2 && ids[1] == 3 && ids[2] == 0);
            }
            lmx_tok_free(t);
        } else {
            if (t) {
                lmx_tok_free(t);
                FAILF("%s: loaded", cases_[c].what);
            }
            CHECK(err[0]);
        }
    }
}

/* A vocabulary of empty strings (a hostile file's) loads or fails with a
 * message, and never hands memcmp a NULL buffer (UBSan in build-asan). */
TEST(tok_vocabulary_of_empty_strings_is_no_undefined_behaviour) {
    const char *empty[] = {"", "", "", ""};
    const char *models[] = {"llama", "gpt2", "bert"};
    for (int m = 0; m < 3; m++) {
        buf b = {0};
        char err[512] = "";
        kv_str(&b, "tokenizer.ggml.model", models[m]);
        kv_strs(&b, "tokenizer.ggml.tokens", empty, 4);
        lmx_tok *t = load_synthetic(&b, 2, err, sizeof err);
        free(b.b);
        if (t) {
            int32_t ids[8];
            (void)lmx_tok_encode(t, "ab", 2, true, true, ids, 8);
            lmx_tok_free(t);
        } else {
            CHECK(err[0]);
        }
    }
}

/* The prompts of llama.cpp's greedy runs: every model's tokenizer, BOS as the model wants. */
TEST(tok_generate_prompts_match_llama_cpp) {
    char path[1024];
    snprintf(path, sizeof path, "%s/refs/generate.jsonl", lmx_test_shared());
    FILE *f = fopen(path, "r");
    CHECK(f);
    char *line = NULL;
    size_t lcap = 0;
    int pass = 0, total = 0;
    while (getline(&line, &lcap, f) > 0) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!j) continue;
        const char *model = json_string_value(json_object_get(j, "model"));
        json_t *prompt = json_object_get(j, "prompt"), *want = json_object_get(j, "prompt_tokens");
        char mp[1024], err[512];
        snprintf(mp, sizeof mp, "%s/models/%s%s", lmx_test_shared(),
                 strcmp(model, "stories260K.gguf") ? "synth/" : "", model);
        lmx_gguf *g = lmx_gguf_open(mp, err, sizeof err);
        lmx_tok *t = g ? lmx_tok_load(g, err, sizeof err) : NULL;
        if (!t) {
            fprintf(stderr, "  %s: %s\n", model, err);
            json_decref(j);
            free(line);
            fclose(f);
            if (g) lmx_gguf_close(g);
            FAILF("a model's tokenizer did not load");
        }
        int n;
        int32_t *ids =
            encode(t, json_string_value(prompt), json_string_length(prompt), true, false, &n);
        bool ok = n == (int)json_array_size(want);
        for (int i = 0; ok && i < n; i++)
            ok = ids[i] == json_integer_value(json_array_get(want, (size_t)i));
        total++;
        if (ok)
            pass++;
        else
            fprintf(stderr, "  %s: prompt \"%.40s...\" differs\n", model,
                    json_string_value(prompt));
        free(ids);
        lmx_tok_free(t);
        lmx_gguf_close(g);
        json_decref(j);
    }
    free(line);
    fclose(f);
    fprintf(stderr, "  generate.jsonl prompts %d/%d\n", pass, total);
    CHECK(total > 0);
    CHECK_EQ_INT(pass, total);
}

/* Every vocabulary file loads; those without test files still round-trip a sample. */
TEST(tok_every_vocab_loads_and_round_trips) {
    const char *text = "Hello world, it's 2024!\n  Ünïcödé  text\t\ttabs 日本語 🦙";
    for (size_t k = 0; k < sizeof vocab_names / sizeof vocab_names[0]; k++) {
        vocab v;
        char err[512];
        if (open_vocab(vocab_names[k], &v, err, sizeof err)) FAILF("%s: %s", vocab_names[k], err);
        int n;
        int32_t *ids = encode(v.t, text, strlen(text), false, false, &n);
        char out[1024];
        size_t m = lmx_tok_decode(v.t, ids, n, false, false, out, sizeof out - 1);
        out[m < sizeof out - 1 ? m : sizeof out - 1] = 0;
        free(ids);
        bool lossy = !strcmp(vocab_names[k], "bert-bge") || !strcmp(vocab_names[k], "gpt-neox") ||
                     !strcmp(vocab_names[k], "gpt-2") || !strcmp(vocab_names[k], "falcon") ||
                     !strcmp(vocab_names[k], "mpt") || !strcmp(vocab_names[k], "starcoder") ||
                     !strcmp(vocab_names[k], "refact") || !strcmp(vocab_names[k], "llama-bpe");
        close_vocab(&v);
        /* lossy: WordPiece normalizes; clean_spaces drops the space before "'s" and "," */
        if (!lossy) CHECK_EQ_STR(out, text);
    }
}

TEST(tok_decode_applies_llama_cpp_cleanup) {
    vocab v;
    char err[512];
    if (open_vocab("gpt-2", &v, err, sizeof err)) FAILF("%s", err);
    const char *text = "Hello , world ! It 's";
    int n;
    int32_t *ids = encode(v.t, text, strlen(text), false, false, &n);
    char out[256];
    size_t m = lmx_tok_decode(v.t, ids, n, true, false, out, sizeof out - 1);
    out[m] = 0;
    free(ids);
    close_vocab(&v);
    CHECK_EQ_STR(out, "Hello, world! It's");
    if (open_vocab("llama-spm", &v, err, sizeof err)) FAILF("%s", err);
    ids = encode(v.t, "Hi there", 8, true, false, &n);
    m = lmx_tok_decode(v.t, ids, n, true, false, out, sizeof out - 1);
    out[m] = 0;
    /* llama_detokenize keeps the prefix space when it removes a leading BOS, and drops it
     * when the sequence starts with text */
    CHECK_EQ_STR(out, " Hi there");
    m = lmx_tok_decode(v.t, ids + 1, n - 1, false, false, out, sizeof out - 1);
    out[m] = 0;
    free(ids);
    close_vocab(&v);
    CHECK_EQ_STR(out, "Hi there");
}
