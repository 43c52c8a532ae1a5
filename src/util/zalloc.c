#include "util/zalloc.h"

#include <stdio.h>
#include <stdlib.h>

void *lmx_zalloc(size_t size, char *err, size_t errlen) {
    void *p = calloc(1, size);
    if (!p) snprintf(err, errlen, "out of memory");
    return p;
}
