/* libFuzzer harness for the <think> splitter (text/reasoning.c).
 *
 * Input: byte 0 picks whether the prompt opened the thought, byte 1 a cut
 * point; the rest is model output. It is split whole and in pieces cut at
 * that point and then every 3 bytes: both results must be identical, the
 * thought never holds "</think>", and nothing may crash, leak or read out of
 * bounds.
 * Build and run: make fuzz && build-fuzz/fuzz_reasoning -max_total_time=60 CORPUS_DIR */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/reasoning.h"

static void split(bool open, const char *s, size_t n, size_t first, lmx_rsn_out *o) {
    lmx_rsn *r = lmx_rsn_new(open);
    if (!r) abort();
    size_t at = 0;
    while (at < n) {
        size_t k = at == 0 && first ? first : 3;
        if (k > n - at) k = n - at;
        if (lmx_rsn_feed(r, s + at, k, o)) abort();
        at += k;
    }
    if (lmx_rsn_finish(r, o)) abort();
    lmx_rsn_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2 || size > 8192) return 0;
    bool open = data[0] & 1;
    const char *s = (const char *)data + 2;
    size_t n = size - 2;
    lmx_rsn_out a = {0}, b = {0};
    split(open, s, n, n, &a);
    split(open, s, n, data[1] % (n + 1), &b);
    if (a.n_reasoning != b.n_reasoning || a.n_content != b.n_content ||
        (a.n_reasoning && memcmp(a.reasoning, b.reasoning, a.n_reasoning)) ||
        (a.n_content && memcmp(a.content, b.content, a.n_content)))
        abort();
    if (a.n_reasoning && memmem(a.reasoning, a.n_reasoning, "</think>", 8)) abort();
    if (a.n_reasoning + a.n_content > n) abort();
    lmx_rsn_out_clear(&a);
    lmx_rsn_out_clear(&b);
    return 0;
}
