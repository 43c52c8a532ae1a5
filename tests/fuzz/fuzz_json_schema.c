/* libFuzzer harness for the JSON Schema compiler and the grammar automaton
 * (text/json_schema.c, text/grammar.c).
 *
 * Input: a JSON schema text, a 0 byte, then walk bytes. The schema is
 * compiled (most inputs are refused with a message: fine); when it compiles, a
 * token walk over a toy vocabulary (every byte, some multi-byte pieces, an
 * end token) picks among the allowed tokens by the walk bytes, under a budget
 * of 64 tokens. Whatever is picked must be accepted, and an output the
 * grammar calls complete must parse as JSON. Nothing may crash, leak, loop or
 * read out of bounds.
 * Build and run: make fuzz && build-fuzz/fuzz_json_schema -max_total_time=60 CORPUS_DIR */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/json_schema.h"

/* multi-byte pieces, and two groups big enough for the trie's whole-subtree
 * shortcuts: "q" + a letter, "k" + whole UTF-8 characters (and one cut one) */
static const char *multi[] = {"{\"",
                              "\":",
                              "\": ",
                              "true",
                              "false",
                              "null",
                              "\"}",
                              "},",
                              "12",
                              "0.5",
                              "\"a\"",
                              "\xc3\xa9",
                              "\\n",
                              "[]",
                              "{}",
                              ", \"",
                              "-1",
                              "]}",
                              "qa",
                              "qb",
                              "qc",
                              "qd",
                              "qe",
                              "qf",
                              "qg",
                              "qh",
                              "qi",
                              "qj",
                              "qk",
                              "ql",
                              "qm",
                              "qn",
                              "qo",
                              "qp",
                              "qq",
                              "qr",
                              "k\xc3\xa9",
                              "k\xe2\x82\xac",
                              "k\xf0\x9d\x84\x9e",
                              "ka",
                              "kb",
                              "kc\xc3\xa9",
                              "kd",
                              "ke\xe2\x82\xac",
                              "kf",
                              "kg",
                              "kh",
                              "ki",
                              "kj",
                              "kk",
                              "kl",
                              "km",
                              "kn\xe2\x82"};
#define N_MULTI (int)(sizeof multi / sizeof *multi)
#define N_TOY   (1 + 256 + N_MULTI)

static size_t piece(void *ctx, int32_t id, char *buf, size_t cap) {
    (void)ctx;
    if (id == 0) return 0; /* the end token */
    if (id <= 256) {
        if (cap) buf[0] = (char)(id - 1);
        return 1;
    }
    size_t n = strlen(multi[id - 257]);
    memcpy(buf, multi[id - 257], n < cap ? n : cap);
    return n;
}

static lmx_gram_vocab *vocab(void) {
    static lmx_gram_vocab *v;
    if (!v) {
        bool eog[N_TOY] = {true};
        v = lmx_gram_vocab_new(N_TOY, piece, NULL, eog);
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) return 0;
    const uint8_t *z = memchr(data, 0, size);
    size_t ns = z ? (size_t)(z - data) : size;
    const uint8_t *walk = z ? z + 1 : data + size;
    size_t nw = z ? size - ns - 1 : 0;
    json_t *schema = json_loadb((const char *)data, ns, JSON_DECODE_ANY, NULL);
    if (!schema) return 0;
    char err[256];
    lmx_gram *g = lmx_json_schema_grammar(schema, "schema", err, sizeof err);
    json_decref(schema);
    if (!g) {
        if (!memchr(err, 0, sizeof err) || !err[0]) abort(); /* a refusal says why */
        return 0;
    }
    lmx_gram_state *st = lmx_gram_state_new(g, vocab());
    int32_t allowed[N_TOY];
    char out[64 * 16 + 1];
    size_t n = 0;
    bool ended = false;
    for (int i = 0; st && i < 64; i++) {
        int k = lmx_gram_mask(st, 64 - i, allowed);
        if (k < 0 || k > N_TOY) abort();
        if (k == 0) break;
        int32_t t = allowed[(i < (int)nw ? walk[i] : (uint8_t)i) % k];
        if (lmx_gram_accept(st, t)) abort(); /* allowed means accepted */
        if (t == 0) {
            ended = true;
            break;
        }
        n += piece(NULL, t, out + n, sizeof out - n);
    }
    if (ended) {
        json_t *j = json_loadb(out, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!j) abort(); /* a complete output is JSON */
        json_decref(j);
    }
    lmx_gram_state_free(st);
    lmx_gram_release(g);
    return 0;
}
