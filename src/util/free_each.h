/* Freeing the many arrays one struct owns in one statement that lists them,
 * instead of a free() line for each (a grammar, its vocabulary trie and its
 * per-sequence state each own a dozen). */
#ifndef LMX_UTIL_FREE_EACH_H
#define LMX_UTIL_FREE_EACH_H

#include <stddef.h>

/* free() on each of the n pointers (NULL ones are fine). */
void lmx_free_each(void *const *p, size_t n);

/* LMX_FREE_EACH(a, b, c) frees a, b and c: a macro only to count the list. */
#define LMX_FREE_EACH(...)                                                                         \
    lmx_free_each((void *const[]){__VA_ARGS__},                                                    \
                  sizeof((void *const[]){__VA_ARGS__}) / sizeof(void *))

#endif
