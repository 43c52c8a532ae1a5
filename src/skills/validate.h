/* JSON values checked against a JSON Schema: the 2020-12 subset that
 * structured output enforces (text/json_schema.h) plus `format`, `pattern`
 * (PCRE2, unanchored, as ECMA-262 regexes are) and a full
 * `additionalProperties`, so a skill's arguments are refused with every
 * violation, not just the first.
 *
 * Keywords: type (a name or a list), properties, required,
 * additionalProperties (bool or schema), items, prefixItems, enum, const,
 * anyOf, oneOf (exactly one), nullable, minLength/maxLength (code points),
 * minItems/maxItems, minimum/maximum/exclusiveMinimum/exclusiveMaximum,
 * pattern, format (date-time, date, time, email, hostname, ipv4, ipv6, uri,
 * uuid), $defs/definitions with local $ref; description, title, default,
 * examples, $schema, $id, $comment are annotations. Any other keyword, or a
 * keyword with a value of the wrong kind, makes the schema invalid. */
#ifndef LMX_SKILLS_VALIDATE_H
#define LMX_SKILLS_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* 0 when `schema` is a schema of the subset; -1 with "PATH: why" in err
 * (PATH starts with `path`, e.g. "input_schema.properties.q.pattern"). */
int lmx_jsv_check(const json_t *schema, const char *path, char *err, size_t errlen);

/* Every violation of `schema` (already checked) by `value`: a new array of
 * {"pointer": "/a/0", "rule": "maxLength", "message": "..."}; empty when
 * valid. At most 64 are reported. NULL only when out of memory. */
json_t *lmx_jsv_validate(const json_t *schema, const json_t *value);

/* A copy of `schema` without the keywords structured output does not
 * enforce (format, pattern), for handing a skill's schema to a model as tool
 * parameters; the arguments are validated in full when the call runs. */
json_t *lmx_jsv_for_model(const json_t *schema);

#endif
