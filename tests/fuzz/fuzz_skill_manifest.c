/* libFuzzer harness for skill manifests (skills/manifest.c): YAML or JSON
 * text → a skill or an MCP server definition, or a refusal with FILE:LINE.
 *
 * Input: one flag byte (bit 0: the file is .json, bit 1: unsandboxed skills
 * allowed), then the manifest text. A skill that loads is also rendered as
 * the API shows it and as a tool. Nothing may crash, leak or read out of
 * bounds, and a refusal must name the file.
 * Build and run: make fuzz && build-fuzz/fuzz_skill_manifest -max_total_time=60 CORPUS_DIR */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "skills/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *name = data[0] & 1 ? "dir/fuzz.json" : "dir/fuzz.yaml";
    lmx_manifest_opts o = {.allow_unsandboxed = (data[0] & 2) != 0};
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    lmx_skill *k = NULL;
    lmx_mcp_def *d = NULL;
    char err[1024];
    int rc = lmx_manifest_parse(name, text, size - 1, &o, &k, &d, err, sizeof err);
    if (rc < 0 && strncmp(err, name, strlen(name))) abort(); /* a refusal names the file */
    if (k) {
        json_decref(lmx_skill_json(k));
        json_decref(lmx_skill_tool_json(k));
    }
    lmx_skill_free(k);
    lmx_mcp_def_free(d);
    free(text);
    return 0;
}
