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

/* One option of a subcommand's table: a whole number (l, within [min, max]),
 * a real number (d, within [lo, hi]) or a flag without a value (flag, set to
 * true); exactly one of l, d, flag points at the variable it sets. */
typedef struct {
    const char *name, *alt; /* "-n", "--n-predict" (alt may be NULL) */
    long *l;
    double *d;
    bool *flag;
    long min, max;
    double lo, hi;
} lmx_opt;

/* If argv[*i] is one of the n options, takes it (and its value, advancing
 * *i) and returns true; *bad is set for a missing or an out-of-range value. */
bool lmx_arg_opts(int argc, char **argv, int *i, const lmx_opt *opts, int n, bool *bad);

/* Reports an unknown option of `cmd` ("lmx run") on stderr with the nearest
 * option named in its usage text (did you mean --temp?). */
void lmx_arg_unknown(const char *cmd, const char *opt, const char *usage);

/* Prints `usage` to stdout and returns true when argv[i] asks for help. */
bool lmx_arg_help(const char *arg, const char *usage);

/* True when arg, which no option of the loop took, is an option all the
 * same (it starts with '-'): reported as lmx_arg_unknown does, *bad set. */
bool lmx_arg_unknown_option(const char *cmd, const char *arg, const char *usage, bool *bad);

/* Takes argv[i] that no option of the loop took: an unknown option is
 * reported (as lmx_arg_unknown does), anything else is the command's one
 * positional argument, stored in *slot unless that is already set (then
 * "unexpected argument"). *bad is set after a report. */
void lmx_arg_positional(const char *cmd, const char *arg, const char *usage, const char **slot,
                        bool *bad);

/* The end of the option loop of a command that needs one argument: after a
 * bad option (already reported), or without arg (says "cmd: missing"), prints
 * the usage on stderr and returns true: the command exits with 2. */
bool lmx_arg_usage_error(const char *cmd, bool bad, const char *arg, const char *missing,
                         const char *usage);

#endif
