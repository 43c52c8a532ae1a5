/* Growing arrays: a capacity doubles from a first size until the wanted
 * count fits, so n appends cost O(n) copies in all. One helper instead of a
 * `cap ? cap * 2 : N` loop at every array that grows. */
#ifndef LMX_UTIL_GROW_H
#define LMX_UTIL_GROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The capacity that holds `need` elements: cap (min when 0) doubled until
 * it does; 0 when that passes max (an overflow guard). For arrays that are
 * not malloc'd (arena-allocated ones). */
size_t lmx_grow_cap(size_t cap, size_t need, size_t min, size_t max);

/* Makes room for `need` elements of `elem` bytes in the malloc'd array whose
 * pointer is at arrp (a T ** passed as void *), capacity *cap. false when out
 * of memory (the array and *cap unchanged). */
bool lmx_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t min);
/* The same for an array whose count and capacity are ints. */
bool lmx_grow_int(void *arrp, int *cap, int need, size_t elem, size_t min);

#endif
