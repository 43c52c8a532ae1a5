/* Option-parsing helpers shared by the lmx subcommands. */
#include "cli/args.h"

#include <ctype.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/suggest.h"

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

bool lmx_arg_opts(int argc, char **argv, int *i, const lmx_opt *opts, int n, bool *bad) {
    for (const lmx_opt *o = opts; o < opts + n; o++) {
        if (o->flag) {
            if (strcmp(argv[*i], o->name) && (!o->alt || strcmp(argv[*i], o->alt))) continue;
            *o->flag = true;
            return true;
        }
        const char *v = NULL;
        if (!lmx_arg_value(argc, argv, i, o->name, o->alt, &v, bad)) continue;
        if (o->l)
            *bad = *bad || !lmx_arg_long(v, o->min, o->max, o->l);
        else
            *bad = *bad || !lmx_arg_double(v, o->lo, o->hi, o->d);
        return true;
    }
    return false;
}

void lmx_arg_unknown(const char *cmd, const char *opt, const char *usage) {
    /* the options are the words of the usage text that start with '-' */
    const char *opts[128];
    char buf[128][40];
    size_t n = 0;
    for (const char *p = usage; p && *p && n < 128; p++) {
        if (*p != '-' || (p > usage && !strchr(" [|,(", p[-1]))) continue;
        size_t k = 0;
        while (k + 1 < sizeof buf[0] && (isalnum((unsigned char)p[k]) || p[k] == '-')) k++;
        if (k < 2 || !isalpha((unsigned char)p[k - 1])) continue;
        memcpy(buf[n], p, k);
        buf[n][k] = 0;
        opts[n] = buf[n];
        n++;
        p += k - 1;
    }
    const char *s = lmx_suggest(opt, opts, n);
    fprintf(stderr, "%s: unknown option '%s'", cmd, opt);
    if (s) fprintf(stderr, "; did you mean '%s'?", s);
    fprintf(stderr, " (%s --help lists the options)\n", cmd);
}

bool lmx_arg_help(const char *arg, const char *usage) {
    if (strcmp(arg, "-h") && strcmp(arg, "--help")) return false;
    fputs(usage, stdout);
    return true;
}

bool lmx_arg_unknown_option(const char *cmd, const char *arg, const char *usage, bool *bad) {
    if (arg[0] != '-' || !arg[1]) return false; /* "-" alone is an argument (stdin) */
    lmx_arg_unknown(cmd, arg, usage);
    *bad = true;
    return true;
}

void lmx_arg_positional(const char *cmd, const char *arg, const char *usage, const char **slot,
                        bool *bad) {
    if (lmx_arg_unknown_option(cmd, arg, usage, bad)) return;
    if (!*slot) {
        *slot = arg;
    } else {
        fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, arg);
        *bad = true;
    }
}

bool lmx_arg_usage_error(const char *cmd, bool bad, const char *arg, const char *missing,
                         const char *usage) {
    if (!bad && arg) return false;
    if (!bad) fprintf(stderr, "%s: %s\n", cmd, missing);
    fputs(usage, stderr);
    return true;
}
