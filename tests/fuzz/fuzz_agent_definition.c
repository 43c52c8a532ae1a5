/* libFuzzer harness for agent role definitions (agents/role.c).
 *
 * Input: a JSON document taken as a role. Whatever it is, nothing may crash,
 * leak or read out of bounds; a refusal must be a 400 naming a
 * "definition..." field; an accepted role must hold the defaults it promises
 * (limits, retry, a non-empty tool_choice plan) and its step bodies and
 * rendered instructions must build for any step.
 * Build and run: make fuzz && build-fuzz/fuzz_agent_definition -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agents/role.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!in) return 0;
    lmx_api_err e = {0};
    json_t *d = lmx_role_check(in, &e);
    json_decref(in);
    if (!d) {
        if (e.status != 400 || strncmp(e.param, "definition", 10)) abort();
        return 0;
    }
    json_t *lim = json_object_get(d, "limits"), *plan = json_object_get(d, "tool_choice");
    if (json_integer_value(json_object_get(lim, "max_steps")) < 1 || !json_array_size(plan) ||
        !json_is_object(json_object_get(d, "retry")) || !json_is_array(json_object_get(d, "tools")))
        abort();
    json_t *msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", "x");
    for (int k = 0; k < 4; k++) json_decref(lmx_role_step_body(d, msgs, k));
    json_decref(msgs);
    for (int a = 1; a < 5; a++)
        if (!(lmx_role_backoff_ms(d, a, 0, 0.5) >= 0)) abort();
    json_t *vars = json_pack("{s:s}", "x", "y");
    char *ins = lmx_role_instructions(d, vars, &e);
    free(ins);
    json_decref(vars);
    json_decref(d);
    return 0;
}
