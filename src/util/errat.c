#include "util/errat.h"

#include <stdarg.h>
#include <stdio.h>

int lmx_errat(char *err, size_t n, const char *where, int line, int col, const char *fmt, ...) {
    if (!n) return -1;
    int at = line && col ? snprintf(err, n, "%s:%d:%d: ", where, line, col)
             : line      ? snprintf(err, n, "%s:%d: ", where, line)
                         : snprintf(err, n, "%s: ", where);
    if (at < 0 || (size_t)at >= n) return -1; /* the place alone filled it */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + at, n - (size_t)at, fmt, ap);
    va_end(ap);
    return -1;
}
