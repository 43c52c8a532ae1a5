/* Tokenizer speed on a long prompt: a 20 KiB mix of prose, numbers, code,
 * accented and CJK text and an emoji, encoded with a vocabulary's
 * pre-tokenizer and merges (the work every request's prompt costs before
 * prefill). Moved here from the unit tests: speed is measured, not asserted.
 *
 * Build (after `make build/liblmx.a`):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc bench/bench_tokenizer.c build/liblmx.a \
 *      -lpcre2-8 -ljansson -lutf8proc -lm -pthread -o build/bench_tokenizer
 * Run: build/bench_tokenizer [VOCAB.gguf] [reps]
 *      e.g. build/bench_tokenizer ../shared/vocab/ggml-vocab-qwen2.gguf 20
 * Prints the fastest, median and slowest of `reps` encodes (the machine may be
 * shared: compare ranges, interleaving the builds compared). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "util/clock.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "../shared/vocab/ggml-vocab-qwen2.gguf";
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    if (reps < 1 || reps > 10000) reps = 20;
    char err[512];
    lmx_gguf *g = lmx_gguf_open(path, err, sizeof err);
    lmx_tok *t = g ? lmx_tok_load(g, err, sizeof err) : NULL;
    if (!t) {
        fprintf(stderr, "bench_tokenizer: %s: %s\n", path, err);
        lmx_gguf_close(g);
        return 1;
    }
    const char *para =
        "The quick brown fox jumps over the lazy dog; 12345 numbers, "
        "\"quotes\" and    spaces\n\tcode(x) { return x*2; } naïve café 日本語 🦙. ";
    size_t pl = strlen(para), n = 0;
    char *text = malloc(20 * 1024 + pl);
    while (n < 20 * 1024) memcpy(text + n, para, pl), n += pl;
    int cap = (int)n + 8, cnt = 0;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    double *ms = malloc((size_t)reps * sizeof *ms);
    for (int r = 0; r < reps; r++) {
        double a = lmx_now_s();
        cnt = lmx_tok_encode(t, text, n, true, true, ids, cap);
        ms[r] = (lmx_now_s() - a) * 1e3;
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp);
    printf("%s: %zu bytes -> %d tokens; encode ms min %.2f median %.2f max %.2f (%d reps); "
           "%.1f MB/s at the median\n",
           path, n, cnt, ms[0], ms[reps / 2], ms[reps - 1], reps, n / ms[reps / 2] / 1e3);
    free(ms);
    free(ids);
    free(text);
    lmx_tok_free(t);
    lmx_gguf_close(g);
    return cnt > 0 ? 0 : 1;
}
