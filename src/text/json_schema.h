/* JSON Schema → grammar (text/grammar.h) for structured output.
 *
 * Output is compact JSON: no whitespace except at most one space after ':'
 * and ',' (so a small model cannot loop on blanks), numbers of at most 16
 * integer and 15 fraction digits without exponent, strings without \u
 * escapes. Object members come in the order `properties` lists them; members
 * that are not listed are produced only for an object schema with no
 * `properties` (then per `additionalProperties`).
 *
 * Supported keywords: type (a name or a list), properties, required,
 * additionalProperties (false / true / a schema), items, prefixItems, enum,
 * const, anyOf, oneOf (as anyOf), nullable, minLength, maxLength, minItems,
 * maxItems, minimum, maximum, exclusiveMinimum, exclusiveMaximum (exact for
 * integer ranges of up to 4096 values and numbers between such bounds;
 * otherwise the sign), $defs / definitions with local $ref (recursion
 * allowed); description, title, default, examples, $schema, $id, $comment
 * are ignored. Any other keyword is refused, with its path. */
#ifndef LMX_JSON_SCHEMA_H
#define LMX_JSON_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "text/grammar.h"
#include "text/toolcall.h"

/* A grammar for values valid under `schema`. NULL with err set to
 * "PATH: why" (path: where the schema sits in the request, e.g.
 * "response_format.json_schema.schema"). */
lmx_gram *lmx_json_schema_grammar(const json_t *schema, const char *path, char *err, size_t errlen);

/* A grammar for any JSON object (response_format json_object). */
lmx_gram *lmx_json_object_grammar(char *err, size_t errlen);

/* The rest of a forced tool call after lmx_tc_forced_prefix(f, name,
 * mistral_args): with name, that function's arguments (per its "parameters")
 * and the call's closing; without, a call of any of the tools, its name one
 * of theirs. *none is set (and NULL returned) when the family's form is not
 * constrained (Qwen3-Coder's XML parameters, Mistral's [ARGS] form without a
 * name); else NULL means an error in err ("tools[1].function.parameters: ..."). */
lmx_gram *lmx_tool_call_grammar(lmx_tc_family f, const json_t *tools, const char *name,
                                bool mistral_args, bool *none, char *err, size_t errlen);

#endif
