/* Small helpers for the subcommands' option parsing: strict numbers (a typo is
 * an error, not a zero) and a uniform usage-error exit. */
#ifndef LMX_ARGS_H
#define LMX_ARGS_H

#include <stdbool.h>
#include <stdint.h>

/* Parses the whole string as a number within [lo, hi]; false otherwise. */
bool lmx_arg_long(const char *s, long lo, long hi, long *out);
bool lmx_arg_double(const char *s, double lo, double hi, double *out);

/* If argv[*i] is `name` (or one of two spellings), takes the value after it
 * into *val and advances *i; prints an error and sets *bad if it is missing. */
bool lmx_arg_value(int argc, char **argv, int *i, const char *name, const char *alt,
                   const char **val, bool *bad);

/* Reports an unknown option of `cmd` ("lmx run") on stderr with the nearest
 * option named in its usage text (did you mean --temp?). */
void lmx_arg_unknown(const char *cmd, const char *opt, const char *usage);

/* Prints `usage` to stdout and returns true when argv[i] asks for help. */
bool lmx_arg_help(const char *arg, const char *usage);

#endif
