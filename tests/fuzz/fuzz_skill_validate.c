/* libFuzzer harness for the skills' JSON Schema validator (skills/validate.c).
 *
 * Input: a schema as JSON text, a 0 byte, then a value as JSON text. A schema
 * the checker accepts is used to validate the value (every violation must
 * carry a pointer that starts with '/' or is empty, a rule and a message)
 * and is stripped for a model. Nothing may crash, leak, loop (the validator
 * bounds its own work) or read out of bounds.
 * Build and run: make fuzz && build-fuzz/fuzz_skill_validate -max_total_time=60 CORPUS_DIR */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "skills/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *zero = memchr(data, 0, size);
    if (!zero) return 0;
    size_t ns = (size_t)(zero - data);
    json_t *schema = json_loadb((const char *)data, ns, JSON_DECODE_ANY, NULL);
    json_t *value = json_loadb((const char *)zero + 1, size - ns - 1, JSON_DECODE_ANY, NULL);
    char err[512];
    if (schema && value && !lmx_jsv_check(schema, "schema", err, sizeof err)) {
        json_t *v = lmx_jsv_validate(schema, value);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            const char *p = json_string_value(json_object_get(e, "pointer"));
            if (!p || (*p && *p != '/') || !json_string_value(json_object_get(e, "rule")) ||
                !json_string_value(json_object_get(e, "message")))
                abort();
        }
        json_decref(v);
        json_decref(lmx_jsv_for_model(schema));
    }
    json_decref(schema);
    json_decref(value);
    return 0;
}
