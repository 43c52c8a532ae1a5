/* Option-parsing helpers shared by the lmx subcommands. */
#include "cli/args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool lmx_arg_long(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool lmx_arg_double(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

bool lmx_arg_value(int argc, char **argv, int *i, const char *name, const char *alt,
                   const char **val, bool *bad) {
    if (strcmp(argv[*i], name) && (!alt || strcmp(argv[*i], alt))) return false;
    if (*i + 1 >= argc) {
        fprintf(stderr, "lmx %s: option %s needs a value\n", argv[0], argv[*i]);
        *bad = true;
        return true;
    }
    *val = argv[++*i];
    return true;
}
