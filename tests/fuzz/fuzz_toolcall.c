/* libFuzzer harness for the tool-call parsers (text/toolcall.c).
 *
 * Input: byte 0 picks the family, byte 1 a cut point; the rest is model
 * output. It is parsed whole and in pieces cut at that point and then every
 * 7 bytes: the results must be identical (content and calls), and nothing may
 * crash, leak or read out of bounds.
 * Build and run: make fuzz && build-fuzz/fuzz_toolcall -max_total_time=60 CORPUS_DIR */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/toolcall.h"

static lmx_tc *parse(lmx_tc_family f, const char *s, size_t n, size_t first) {
    lmx_tc *p = lmx_tc_new(f, NULL, 7);
    if (!p) return NULL;
    lmx_tc_delta d = {0};
    size_t at = 0;
    while (at < n) {
        size_t k = at == 0 && first ? first : 7; /* a zero first piece would never advance */
        if (k > n - at) k = n - at;
        lmx_tc_feed(p, s + at, k, &d);
        lmx_tc_delta_clear(&d);
        at += k;
    }
    lmx_tc_finish(p, &d);
    lmx_tc_delta_clear(&d);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* model outputs are bounded by max_tokens; re-scanning held-back text is
     * linear per piece, so huge inputs only measure that, not find bugs */
    if (size < 2 || size > 8192) return 0;
    lmx_tc_family f = (lmx_tc_family)(data[0] % 6);
    const char *s = (const char *)data + 2;
    size_t n = size - 2;
    lmx_tc *a = parse(f, s, n, n), *b = parse(f, s, n, data[1] % (n + 1));
    if (a && b) {
        size_t la, lb;
        const char *ca = lmx_tc_content(a, &la), *cb = lmx_tc_content(b, &lb);
        if (la != lb || memcmp(ca, cb, la) || lmx_tc_n_calls(a) != lmx_tc_n_calls(b)) abort();
        for (int i = 0; i < lmx_tc_n_calls(a); i++) {
            const char *na, *aa, *nb, *ab;
            lmx_tc_call(a, i, NULL, &na, &aa);
            lmx_tc_call(b, i, NULL, &nb, &ab);
            if (strcmp(na, nb) || strcmp(aa, ab)) abort();
        }
    }
    lmx_tc_free(a);
    lmx_tc_free(b);
    return 0;
}
