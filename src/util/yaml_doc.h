/* The first YAML document of a text, with libyaml's error placed in the
 * file: the one loader behind the config file and the skill manifests. */
#ifndef LMX_UTIL_YAML_DOC_H
#define LMX_UTIL_YAML_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

/* Initialises parser p on text (len bytes) and loads its first document into
 * *doc. 0: loaded, p left open (a caller may look for a next document; it
 * frees p with yaml_parser_delete). -1: p freed, and in err (errlen bytes)
 * "NAME:LINE[:COL]: PREFIXPROBLEM CONTEXT" (the column when with_col). */
int lmx_yaml_first(yaml_parser_t *p, yaml_document_t *doc, const char *text, size_t len,
                   const char *name, bool with_col, const char *prefix, char *err, size_t errlen);

#endif
