/* "Did you mean ...?": the closest of a few candidates to what was typed, for
 * the CLI's messages about unknown commands, options and model names. */
#ifndef LMX_CLI_SUGGEST_H
#define LMX_CLI_SUGGEST_H

#include <stddef.h>

/* The candidate nearest to `word` by edit distance (case-insensitive), or
 * NULL when none is close enough to be a plausible typo (or a prefix/suffix
 * match of it). */
const char *lmx_suggest(const char *word, const char *const *cands, size_t n);

#endif
