/* A parser's error message, placed as compilers place theirs:
 * "FILE:LINE:COL: MESSAGE", "FILE:LINE: MESSAGE" or "PATH: MESSAGE". */
#ifndef LMX_UTIL_ERRAT_H
#define LMX_UTIL_ERRAT_H

#include <stddef.h>

/* Writes where (a file name or a JSON path), line and col (each left out
 * when 0; col only with a line) and the message fmt formats to err (n
 * bytes, truncated). Returns -1, what parsers return on an error, so that a
 * parser's error path is one statement. */
int lmx_errat(char *err, size_t n, const char *where, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
