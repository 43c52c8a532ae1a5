/* Growing arrays (see grow.h). The array pointer is read and written through
 * memcpy so that any T ** can be passed without breaking aliasing rules. */
#include "util/grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t lmx_grow_cap(size_t cap, size_t need, size_t min, size_t max) {
    size_t c = cap ? cap : min ? min : 1;
    while (c < need) {
        if (c > max / 2) return 0;
        c *= 2;
    }
    return c <= max ? c : 0;
}

static bool grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t min, size_t max) {
    if (need <= *cap) return true;
    size_t lim = SIZE_MAX / (elem ? elem : 1);
    size_t c = lmx_grow_cap(*cap, need, min, max < lim ? max : lim);
    if (!c) return false;
    void *old;
    memcpy(&old, arrp, sizeof old);
    void *p = realloc(old, c * elem);
    if (!p) return false;
    memcpy(arrp, &p, sizeof p);
    *cap = c;
    return true;
}

bool lmx_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t min) {
    return grow(arrp, cap, need, elem, min, SIZE_MAX);
}

bool lmx_grow_int(void *arrp, int *cap, int need, size_t elem, size_t min) {
    if (need <= *cap) return true;
    if (need < 0) return false;
    size_t c = (size_t)*cap;
    if (!grow(arrp, &c, (size_t)need, elem, min, INT32_MAX)) return false;
    *cap = (int)c;
    return true;
}
