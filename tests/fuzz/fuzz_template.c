/* libFuzzer harness for the chat-template engine: parses the input as a template and,
 * when it parses, renders it with a small fixed chat context. Any crash, sanitizer
 * report or leak is a bug; template errors are fine.
 *
 * Build and run (from the repository root):
 *   mkdir -p build-fuzz && cp -r ../shared/templates build-fuzz/corpus
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *       tests/fuzz/fuzz_template.c src/text/template.c src/text/jinja_*.c \
 *       -ljansson -lutf8proc -lm -o build-fuzz/fuzz_template
 *   build-fuzz/fuzz_template -max_total_time=60 -max_len=4096 -timeout=5 -rss_limit_mb=2048
 * build-fuzz/corpus
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "text/template.h"

static const char *CONTEXT =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"Hi \\u00e9\"},"
    " {\"role\": \"assistant\", \"content\": \"Hello\", \"tool_calls\": [{\"type\": \"function\","
    " \"function\": {\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\": [true, null, 2.5]}}}]},"
    " {\"role\": \"tool\", \"content\": \"42\"}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"description\": \"d\","
    " \"parameters\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}}}}],"
    " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static json_t *ctx;
    if (!ctx) ctx = json_loads(CONTEXT, 0, NULL);
    char err[256];
    lmx_tmpl *t = lmx_tmpl_parse((const char *)data, size, err, sizeof err);
    if (!t) return 0;
    /* small limits keep each run fast; the engine must stop cleanly at them */
    lmx_tmpl_opts o = {.now = 1795426200, .max_output = 1 << 20, .max_steps = 200000};
    char *out = lmx_tmpl_render(t, ctx, &o, err, sizeof err);
    free(out);
    lmx_tmpl_free(t);
    return 0;
}
