/* JSON Schema compiler (see json_schema.h).
 *
 * Each schema node becomes a rule; shared pieces (a string character, digits,
 * an untyped value per nesting depth) are built once per grammar. Bounded
 * repetition x{m,n} is m copies then a chain of n-m optional ones, unbounded
 * repetition right recursion (the automaton runs it in constant depth).
 * Finite sets of literals (enum, const, small integer ranges) become a trie of
 * rules, so alternatives sharing a prefix cost one stack, not one each. A
 * $ref target is compiled once and memoized before its body, which is what
 * lets recursive schemas refer back to a rule still being defined. */
#include "text/json_schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"

#define MAX_REPEAT       4096 /* largest bounded count expanded exactly */
#define MAX_RANGE        4096 /* largest integer range enumerated exactly */
#define ANY_DEPTH        4    /* nesting of untyped values */
#define MAX_SCHEMA_DEPTH 64   /* nesting of the schema document itself */
/* The build costs about 5 µs a rule: 65536 keep the worst schema near a third of a
 * second, and the enum and property caps keep one keyword from reaching it alone */
#define MAX_RULES      65536
#define MAX_ENUM       8192 /* values of one enum */
#define MAX_PROPERTIES 2048 /* properties + required names of one object */

typedef struct {
    lmx_gram *g;
    const json_t *root;
    char *err;
    size_t errlen;
    bool failed;
    struct {
        const json_t *node;
        int rule;
    } * memo;
    int n_memo, cap_memo;
    int r_char, r_string, r_int, r_number, r_bool, r_null, r_digit, r_ws, r_comma, r_colon;
    int r_frac;
    int r_any[ANY_DEPTH + 1], r_any_obj[ANY_DEPTH + 1];
    int depth;
} cc;

static int fail(cc *c, const char *path, const char *fmt, ...) {
    if (c->failed) return -1;
    c->failed = true;
    int n = snprintf(c->err, c->errlen, "%s: ", path);
    if (n < 0 || (size_t)n >= c->errlen) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int new_rule(cc *c) {
    if (lmx_gram_n_rules(c->g) >= MAX_RULES) {
        fail(c, "schema",
             "the schema is too large for constrained output (more than %d grammar rules: use "
             "fewer properties, enum values or nesting)",
             MAX_RULES);
        return 0;
    }
    return lmx_gram_rule(c->g);
}

/* rule := e1 e2 ... (elements given as rule ids; -1 ends the list) */
static int seq_rule(cc *c, int first, ...) {
    int r = new_rule(c);
    lmx_gram_seq s = {0};
    va_list ap;
    va_start(ap, first);
    for (int x = first; x >= 0; x = va_arg(ap, int)) lmx_gram_seq_ref(&s, x);
    va_end(ap);
    lmx_gram_add_alt(c->g, r, &s);
    lmx_gram_seq_free(&s);
    return r;
}

static void add_alt_refs(cc *c, int r, int a, int b) {
    lmx_gram_seq s = {0};
    if (a >= 0) lmx_gram_seq_ref(&s, a);
    if (b >= 0) lmx_gram_seq_ref(&s, b);
    lmx_gram_add_alt(c->g, r, &s);
    lmx_gram_seq_free(&s);
}

static int lit(cc *c, const char *s) {
    return lmx_gram_lit_rule(c->g, s, strlen(s));
}

/* x{min,max}; max < 0: unbounded */
static int repeat(cc *c, int x, int min, int max) {
    int tail = new_rule(c);
    if (max < 0) { /* tail := x tail | empty */
        add_alt_refs(c, tail, x, tail);
        add_alt_refs(c, tail, -1, -1);
    } else { /* tail := (x (x (...)?)?)? with max-min levels */
        add_alt_refs(c, tail, -1, -1);
        for (int k = 0; k < max - min; k++) {
            int t = new_rule(c);
            add_alt_refs(c, t, -1, -1);
            add_alt_refs(c, t, x, tail);
            tail = t;
        }
    }
    for (int k = 0; k < min; k++) tail = seq_rule(c, x, tail, -1);
    return tail;
}

/* ---- shared pieces ---- */

static int ws(cc *c) { /* at most one space */
    if (!c->r_ws) {
        c->r_ws = new_rule(c);
        add_alt_refs(c, c->r_ws, -1, -1);
        lmx_gram_seq s = {0};
        lmx_gram_seq_byte(c->g, &s, ' ');
        lmx_gram_add_alt(c->g, c->r_ws, &s);
        lmx_gram_seq_free(&s);
    }
    return c->r_ws;
}

static int comma(cc *c) {
    if (!c->r_comma) c->r_comma = seq_rule(c, lit(c, ","), ws(c), -1);
    return c->r_comma;
}

static int colon(cc *c) {
    if (!c->r_colon) c->r_colon = seq_rule(c, lit(c, ":"), ws(c), -1);
    return c->r_colon;
}

static void alt_bytes(cc *c, int r, const uint8_t (*ranges)[2], int n) {
    lmx_gram_seq s = {0};
    for (int i = 0; i < n; i++) lmx_gram_seq_range(c->g, &s, ranges[i][0], ranges[i][1]);
    lmx_gram_add_alt(c->g, r, &s);
    lmx_gram_seq_free(&s);
}

/* One character of a JSON string: printable ASCII but '"' and '\', a short
 * escape, or a well-formed UTF-8 sequence (no surrogates, no overlongs). */
static int str_char(cc *c) {
    if (c->r_char) return c->r_char;
    int r = c->r_char = new_rule(c);
    uint8_t ascii[32] = {0};
    for (int b = 0x20; b < 0x7f; b++)
        if (b != '"' && b != '\\') ascii[b >> 3] |= (uint8_t)(1u << (b & 7));
    lmx_gram_seq s = {0};
    lmx_gram_seq_class(c->g, &s, ascii);
    lmx_gram_add_alt(c->g, r, &s);
    uint8_t esc[32] = {0};
    for (const char *e = "\"\\/bfnrt"; *e; e++) esc[*e >> 3] |= (uint8_t)(1u << (*e & 7));
    lmx_gram_seq_byte(c->g, &s, '\\');
    lmx_gram_seq_class(c->g, &s, esc);
    lmx_gram_add_alt(c->g, r, &s);
    lmx_gram_seq_free(&s);
    static const uint8_t u2[][2] = {{0xC2, 0xDF}, {0x80, 0xBF}};
    static const uint8_t u3a[][2] = {{0xE0, 0xE0}, {0xA0, 0xBF}, {0x80, 0xBF}};
    static const uint8_t u3b[][2] = {{0xE1, 0xEC}, {0x80, 0xBF}, {0x80, 0xBF}};
    static const uint8_t u3c[][2] = {{0xED, 0xED}, {0x80, 0x9F}, {0x80, 0xBF}};
    static const uint8_t u3d[][2] = {{0xEE, 0xEF}, {0x80, 0xBF}, {0x80, 0xBF}};
    static const uint8_t u4a[][2] = {{0xF0, 0xF0}, {0x90, 0xBF}, {0x80, 0xBF}, {0x80, 0xBF}};
    static const uint8_t u4b[][2] = {{0xF1, 0xF3}, {0x80, 0xBF}, {0x80, 0xBF}, {0x80, 0xBF}};
    static const uint8_t u4c[][2] = {{0xF4, 0xF4}, {0x80, 0x8F}, {0x80, 0xBF}, {0x80, 0xBF}};
    alt_bytes(c, r, u2, 2);
    alt_bytes(c, r, u3a, 3);
    alt_bytes(c, r, u3b, 3);
    alt_bytes(c, r, u3c, 3);
    alt_bytes(c, r, u3d, 3);
    alt_bytes(c, r, u4a, 4);
    alt_bytes(c, r, u4b, 4);
    alt_bytes(c, r, u4c, 4);
    return r;
}

static int string_rule(cc *c, int min, int max) {
    if (min == 0 && max < 0 && c->r_string) return c->r_string;
    int q = lit(c, "\"");
    int r = seq_rule(c, q, repeat(c, str_char(c), min, max), q, -1);
    if (min == 0 && max < 0) c->r_string = r;
    return r;
}

static int range_rule(cc *c, uint8_t lo, uint8_t hi) {
    int r = new_rule(c);
    lmx_gram_seq s = {0};
    lmx_gram_seq_range(c->g, &s, lo, hi);
    lmx_gram_add_alt(c->g, r, &s);
    lmx_gram_seq_free(&s);
    return r;
}

static int digit(cc *c) {
    if (!c->r_digit) c->r_digit = range_rule(c, '0', '9');
    return c->r_digit;
}

/* Unsigned integer text without leading zeros, up to 16 digits; nonzero: not "0". */
static int uint_rule(cc *c, bool nonzero) {
    int r = new_rule(c);
    if (!nonzero) add_alt_refs(c, r, lit(c, "0"), -1);
    add_alt_refs(c, r, range_rule(c, '1', '9'), repeat(c, digit(c), 0, 15));
    return r;
}

static int frac(cc *c) { /* '.' digit{1,15} */
    if (!c->r_frac) c->r_frac = seq_rule(c, lit(c, "."), repeat(c, digit(c), 1, 15), -1);
    return c->r_frac;
}

/* Signed integer: neg 0 no '-', 1 optional, 2 required; nonzero: not zero. */
static int int_rule(cc *c, int neg, bool nonzero) {
    int u = uint_rule(c, nonzero || neg == 2);
    if (neg == 0) return u;
    int m = seq_rule(c, lit(c, "-"), neg == 2 ? u : uint_rule(c, true), -1);
    if (neg == 2) return m;
    int r = new_rule(c);
    add_alt_refs(c, r, u, -1);
    add_alt_refs(c, r, m, -1);
    return r;
}

static int optional(cc *c, int x) {
    int r = new_rule(c);
    add_alt_refs(c, r, -1, -1);
    add_alt_refs(c, r, x, -1);
    return r;
}

/* A finite set of literal texts as a trie of rules. */
typedef struct {
    char *s;
    size_t n;
} litstr;

static int cmp_lit(const void *a, const void *b) {
    const litstr *x = a, *y = b;
    int k = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
    return k ? k : (x->n > y->n) - (x->n < y->n);
}

static int lit_trie(cc *c, litstr *v, int lo, int hi, size_t d) {
    int r = new_rule(c);
    if (lo < hi && v[lo].n == d) {
        add_alt_refs(c, r, -1, -1);
        while (lo < hi && v[lo].n == d) lo++; /* duplicates */
    }
    for (int i = lo; i < hi;) {
        int j = i;
        uint8_t b = (uint8_t)v[i].s[d];
        while (j < hi && (uint8_t)v[j].s[d] == b) j++;
        /* bytes all of v[i, j) share go into one alternative: recursion only
         * where they branch, so a long literal does not nest deeply */
        lmx_gram_seq s = {0};
        lmx_gram_seq_byte(c->g, &s, b);
        size_t e = d + 1;
        while (v[i].n > e && v[j - 1].n > e && v[i].s[e] == v[j - 1].s[e]) /* sorted: ends agree */
            lmx_gram_seq_byte(c->g, &s, (uint8_t)v[i].s[e++]);
        lmx_gram_seq_ref(&s, lit_trie(c, v, i, j, e));
        lmx_gram_add_alt(c->g, r, &s);
        lmx_gram_seq_free(&s);
        i = j;
    }
    return r;
}

static int literals(cc *c, litstr *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_lit);
    return lit_trie(c, v, 0, n, 0);
}

static int bool_rule(cc *c) {
    if (!c->r_bool) {
        c->r_bool = new_rule(c);
        add_alt_refs(c, c->r_bool, lit(c, "true"), -1);
        add_alt_refs(c, c->r_bool, lit(c, "false"), -1);
    }
    return c->r_bool;
}

static int null_rule(cc *c) {
    if (!c->r_null) c->r_null = lit(c, "null");
    return c->r_null;
}

static int number_any(cc *c) {
    if (!c->r_number) c->r_number = seq_rule(c, int_rule(c, 1, false), optional(c, frac(c)), -1);
    return c->r_number;
}

static int any_value(cc *c, int d);

/* '[' (v (, v)*)? ']' */
static int array_of(cc *c, int item, int min, int max) {
    int open = lit(c, "["), close = lit(c, "]");
    if (max == 0) return seq_rule(c, open, close, -1);
    int more = seq_rule(c, comma(c), item, -1);
    int body;
    if (min >= 1)
        body = seq_rule(c, item, repeat(c, more, min - 1, max < 0 ? -1 : max - 1), -1);
    else
        body = optional(c, seq_rule(c, item, repeat(c, more, 0, max < 0 ? -1 : max - 1), -1));
    return seq_rule(c, open, body, close, -1);
}

/* '{' (key: v (, key: v)*)? '}' with string keys */
static int object_of(cc *c, int value) {
    int member = seq_rule(c, string_rule(c, 0, -1), colon(c), value, -1);
    int more = seq_rule(c, comma(c), member, -1);
    int body = optional(c, seq_rule(c, member, repeat(c, more, 0, -1), -1));
    return seq_rule(c, lit(c, "{"), body, lit(c, "}"), -1);
}

/* Any JSON value nested at most d more levels. */
static int any_value(cc *c, int d) {
    if (d > ANY_DEPTH) d = ANY_DEPTH;
    if (c->r_any[d]) return c->r_any[d];
    int r = c->r_any[d] = new_rule(c);
    add_alt_refs(c, r, string_rule(c, 0, -1), -1);
    add_alt_refs(c, r, number_any(c), -1);
    add_alt_refs(c, r, bool_rule(c), -1);
    add_alt_refs(c, r, null_rule(c), -1);
    if (d > 0) {
        add_alt_refs(c, r, array_of(c, any_value(c, d - 1), 0, -1), -1);
        add_alt_refs(c, r, object_of(c, any_value(c, d - 1)), -1);
    }
    return r;
}

static int any_object(cc *c) {
    if (!c->r_any_obj[0]) c->r_any_obj[0] = object_of(c, any_value(c, ANY_DEPTH - 1));
    return c->r_any_obj[0];
}

/* ---- schemas ---- */

static const char *const ignored_kw[] = {"description", "title", "default", "examples",
                                         "$schema",     "$id",   "$comment"};
static const char *const known_kw[] = {"type",
                                       "properties",
                                       "required",
                                       "additionalProperties",
                                       "items",
                                       "prefixItems",
                                       "enum",
                                       "const",
                                       "anyOf",
                                       "oneOf",
                                       "nullable",
                                       "minLength",
                                       "maxLength",
                                       "minItems",
                                       "maxItems",
                                       "minimum",
                                       "maximum",
                                       "exclusiveMinimum",
                                       "exclusiveMaximum",
                                       "$defs",
                                       "definitions",
                                       "$ref"};

static bool in_list(const char *k, const char *const *l, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k, l[i])) return true;
    return false;
}

static int compile(cc *c, const json_t *s, const char *path);

static char *dump(const json_t *v) {
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* A count keyword: -1 if absent; -2 (error set) if not a usable count. */
static int count_kw(cc *c, const json_t *s, const char *k, const char *path) {
    const json_t *v = json_object_get(s, k);
    if (!v) return -1;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        fail(c, path, "'%s' must be a non-negative integer", k);
        return -2;
    }
    if (json_integer_value(v) > MAX_REPEAT) {
        if (!strncmp(k, "max", 3)) return -1; /* too large to matter: unbounded */
        fail(c, path, "'%s' %lld is larger than this server supports (%d)", k,
             (long long)json_integer_value(v), MAX_REPEAT);
        return -2;
    }
    return (int)json_integer_value(v);
}

static int bounds(cc *c, const json_t *s, const char *path, const char *kmin, const char *kmax,
                  int *min, int *max) {
    *min = count_kw(c, s, kmin, path);
    *max = count_kw(c, s, kmax, path);
    if (*min == -2 || *max == -2) return -1;
    if (*min < 0) *min = 0;
    if (*max >= 0 && *max < *min)
        return fail(c, path, "'%s' (%d) is less than '%s' (%d): no value is valid", kmax, *max,
                    kmin, *min);
    return 0;
}

static int sub_path(char *out, size_t cap, const char *path, const char *fmt, ...) {
    int n = snprintf(out, cap, "%s", path);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < cap) vsnprintf(out + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
    return 0;
}

static int ref_rule(cc *c, const char *ref, const char *path) {
    if (strncmp(ref, "#", 1))
        return fail(c, path, "only local '$ref's (\"#/...\") are supported, not '%s'", ref);
    const json_t *t = c->root;
    const char *p = ref + 1;
    while (*p == '/') {
        p++;
        char tok[256];
        size_t n = 0;
        for (; *p && *p != '/'; p++) {
            char ch = *p;
            if (ch == '~' && p[1] == '0')
                ch = '~', p++;
            else if (ch == '~' && p[1] == '1')
                ch = '/', p++;
            if (n + 1 < sizeof tok) tok[n++] = ch;
        }
        tok[n] = 0;
        if (json_is_object(t))
            t = json_object_get(t, tok);
        else if (json_is_array(t)) {
            char *end;
            long i = strtol(tok, &end, 10);
            t = *tok && !*end && i >= 0 ? json_array_get(t, (size_t)i) : NULL;
        } else
            t = NULL;
        if (!t) return fail(c, path, "'$ref' '%s' does not resolve", ref);
    }
    if (*p) return fail(c, path, "'$ref' '%s' is not a JSON pointer", ref);
    for (int i = 0; i < c->n_memo; i++)
        if (c->memo[i].node == t) return c->memo[i].rule;
    int r = new_rule(c);
    if (!lmx_grow_int(&c->memo, &c->cap_memo, c->n_memo + 1, sizeof *c->memo, 8))
        return fail(c, path, "out of memory");
    c->memo[c->n_memo].node = t;
    c->memo[c->n_memo++].rule = r;
    char sub[512];
    sub_path(sub, sizeof sub, path, "<%s>", ref);
    int body = compile(c, t, sub);
    if (body < 0) return -1;
    add_alt_refs(c, r, body, -1);
    return r;
}

static int enum_rule(cc *c, const json_t *vals, const char *path) {
    size_t n = json_array_size(vals);
    if (!json_is_array(vals) || !n) return fail(c, path, "'enum' must be a non-empty array");
    if (n > MAX_ENUM)
        return fail(c, path, "'enum' has %zu values; constrained output supports at most %d", n,
                    MAX_ENUM);
    litstr *v = calloc(n, sizeof *v);
    if (!v) return fail(c, path, "out of memory");
    int r = 0;
    for (size_t i = 0; i < n; i++) {
        v[i].s = dump(json_array_get(vals, i));
        if (!v[i].s)
            r = fail(c, path, "out of memory");
        else
            v[i].n = strlen(v[i].s);
    }
    if (!r) r = literals(c, v, (int)n);
    for (size_t i = 0; i < n; i++) free(v[i].s);
    free(v);
    return r;
}

/* Numeric bounds as [lo, hi] with exclusivity; false if the value is not a number. */
static int num_bounds(cc *c, const json_t *s, const char *path, double *lo, bool *lo_x, double *hi,
                      bool *hi_x) {
    *lo = -INFINITY, *hi = INFINITY;
    *lo_x = *hi_x = false;
    static const char *const names[] = {"minimum", "maximum", "exclusiveMinimum",
                                        "exclusiveMaximum"};
    for (int i = 0; i < 4; i++) {
        const json_t *v = json_object_get(s, names[i]);
        if (!v) continue;
        if (json_is_boolean(v) && i >= 2) { /* draft 4: a flag on minimum / maximum */
            if (i == 2)
                *lo_x = json_is_true(v);
            else
                *hi_x = json_is_true(v);
            continue;
        }
        if (!json_is_number(v)) return fail(c, path, "'%s' must be a number", names[i]);
        double x = json_number_value(v);
        if (i == 0 && x > *lo) *lo = x;
        if (i == 1 && x < *hi) *hi = x;
        if (i == 2 && x >= *lo) *lo = x, *lo_x = true;
        if (i == 3 && x <= *hi) *hi = x, *hi_x = true;
    }
    return 0;
}

static int int_set(cc *c, long long a, long long b, const char *path) {
    int n = (int)(b - a + 1);
    litstr *v = calloc((size_t)n, sizeof *v);
    if (!v) return fail(c, path, "out of memory");
    int r = 0;
    for (int i = 0; i < n && !r; i++) {
        char buf[32];
        v[i].n = (size_t)snprintf(buf, sizeof buf, "%lld", a + i);
        v[i].s = strdup(buf);
        if (!v[i].s) r = fail(c, path, "out of memory");
    }
    if (!r) r = literals(c, v, n);
    for (int i = 0; i < n; i++) free(v[i].s);
    free(v);
    return r;
}

static int digits_of(double x) {
    int d = 1;
    for (; x >= 10 && d < 40; x /= 10) d++;
    return d;
}

/* Unsigned integer texts with values in [a, b] (b may be infinite): exact for
 * up to MAX_RANGE values; wider ranges by digit count, which keeps to the
 * bounds at the price of leaving some valid values out. */
static int magnitude(cc *c, double a, double b, const char *path) {
    if (b - a < MAX_RANGE) return int_set(c, (long long)a, (long long)b, path);
    int dmin = a <= 1 ? 1 : digits_of(a) + 1, dmax = isinf(b) ? 16 : digits_of(b) - 1;
    if (dmax > 16) dmax = 16;
    if (dmin > dmax) return int_set(c, (long long)a, (long long)a + MAX_RANGE - 1, path);
    int r = new_rule(c);
    if (a == 0) add_alt_refs(c, r, lit(c, "0"), -1);
    add_alt_refs(c, r, range_rule(c, '1', '9'), repeat(c, digit(c), dmin - 1, dmax - 1));
    return r;
}

/* integer or number within the schema's bounds */
static int numeric(cc *c, const json_t *s, const char *path, bool integer) {
    double lo, hi;
    bool lo_x, hi_x;
    if (num_bounds(c, s, path, &lo, &lo_x, &hi, &hi_x)) return -1;
    const double big = 1e15; /* 16 digits: beyond, bounds do not constrain */
    if (lo < -big) lo = -INFINITY;
    if (hi > big) hi = INFINITY;
    /* the integers in range */
    double ilo = lo_x ? floor(lo) + 1 : ceil(lo), ihi = hi_x ? ceil(hi) - 1 : floor(hi);
    if (ilo > big || ihi < -big || (integer && ilo > ihi))
        return fail(c, path, "no %s lies between the bounds", integer ? "integer" : "number");
    int r = new_rule(c);
    double a = ilo < 0 ? 0 : ilo;
    if (a <= ihi) add_alt_refs(c, r, magnitude(c, a, ihi, path), -1);
    if (ilo <= -1) add_alt_refs(c, r, lit(c, "-"), magnitude(c, ihi > -1 ? 1 : -ihi, -ilo, path));
    if (!integer) {
        /* k.ddd lies in [k, k+1): valid when k is, and k+1 <= hi */
        double b = floor(hi) - 1;
        if (a <= b) add_alt_refs(c, r, magnitude(c, a, b, path), frac(c));
        /* -k.ddd lies in (-k-1, -k]: valid when -k is, and -k-1 >= lo */
        double na = ihi > -1 ? 1 : -ihi, nb = -ceil(lo) - 1;
        if (na <= nb)
            add_alt_refs(c, r, seq_rule(c, lit(c, "-"), magnitude(c, na, nb, path), -1), frac(c));
    }
    return c->failed ? -1 : r;
}

static int object_rule(cc *c, const json_t *s, const char *path) {
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required"),
                 *ap = json_object_get(s, "additionalProperties");
    char sub[512];
    if (props && !json_is_object(props)) return fail(c, path, "'properties' must be an object");
    if (req && !json_is_array(req)) return fail(c, path, "'required' must be an array of strings");
    size_t i;
    const json_t *x;
    json_array_foreach(req, i, x) if (!json_is_string(x)) return fail(
        c, path, "'required' must be an array of strings");
    if (ap && !json_is_boolean(ap) && !json_is_object(ap))
        return fail(c, path, "'additionalProperties' must be a boolean or a schema");
    /* members: the listed properties in order, then required names not listed */
    if (json_object_size(props) + json_array_size(req) > MAX_PROPERTIES)
        return fail(c, path,
                    "%zu properties and required names; constrained output supports at most %d",
                    json_object_size(props) + json_array_size(req), MAX_PROPERTIES);
    int n = (int)json_object_size(props) + (int)json_array_size(req);
    const char **key = calloc((size_t)n + 1, sizeof *key);
    int *val = calloc((size_t)n + 1, sizeof *val);
    bool *must = calloc((size_t)n + 1, sizeof *must);
    if (!key || !val || !must) {
        free(key), free(val), free(must);
        return fail(c, path, "out of memory");
    }
    int m = 0, rc = 0;
    const char *k;
    const json_t *ps;
    json_object_foreach((json_t *)props, k, ps) {
        sub_path(sub, sizeof sub, path, ".properties.%s", k);
        key[m] = k;
        val[m] = compile(c, ps, sub);
        if (val[m] < 0) rc = -1;
        json_array_foreach(req, i, x) if (!strcmp(json_string_value(x), k)) must[m] = true;
        m++;
    }
    json_array_foreach(req, i, x) {
        const char *name = json_string_value(x);
        bool seen = false;
        for (int j = 0; j < m; j++) seen = seen || !strcmp(key[j], name);
        if (seen || rc) continue;
        if (json_is_false(ap))
            rc = fail(c, path, "required property '%s' is not allowed by 'additionalProperties'",
                      name);
        else {
            sub_path(sub, sizeof sub, path, ".additionalProperties");
            key[m] = name;
            val[m] = json_is_object(ap) ? compile(c, ap, sub) : any_value(c, ANY_DEPTH - 1);
            if (val[m] < 0) rc = -1;
            must[m++] = true;
        }
    }
    int r = -1;
    if (!rc) {
        /* rest[k][comma]: members k.. given whether one was written already */
        int extra = -1;
        if (!json_object_size(props) && !json_is_false(ap)) {
            sub_path(sub, sizeof sub, path, ".additionalProperties");
            int v = json_is_object(ap) ? compile(c, ap, sub) : any_value(c, ANY_DEPTH - 1);
            if (v >= 0) extra = seq_rule(c, string_rule(c, 0, -1), colon(c), v, -1);
        }
        int next0, next1; /* rest[m][0], rest[m][1] */
        if (extra >= 0) {
            int more = repeat(c, seq_rule(c, comma(c), extra, -1), 0, -1);
            next0 = optional(c, seq_rule(c, extra, more, -1));
            next1 = more;
        } else {
            next0 = next1 = seq_rule(c, -1);
        }
        for (int j = m - 1; j >= 0 && !c->failed; j--) {
            json_t *tmp = json_string(key[j]);
            char *q = tmp ? json_dumps(tmp, JSON_ENCODE_ANY) : NULL;
            json_decref(tmp);
            if (!q) {
                rc = fail(c, path, "out of memory");
                break;
            }
            int kv = seq_rule(c, lit(c, q), colon(c), val[j], -1);
            free(q);
            int r0 = new_rule(c), r1 = new_rule(c);
            add_alt_refs(c, r0, kv, next1);
            add_alt_refs(c, r1, seq_rule(c, comma(c), kv, -1), next1);
            if (!must[j]) {
                add_alt_refs(c, r0, next0, -1);
                add_alt_refs(c, r1, next1, -1);
            }
            next0 = r0;
            next1 = r1;
        }
        if (!rc) r = seq_rule(c, lit(c, "{"), next0, lit(c, "}"), -1);
    }
    free(key), free(val), free(must);
    return c->failed ? -1 : r;
}

static int array_rule(cc *c, const json_t *s, const char *path) {
    int min, max;
    char sub[512];
    if (bounds(c, s, path, "minItems", "maxItems", &min, &max)) return -1;
    const json_t *items = json_object_get(s, "items"), *pre = json_object_get(s, "prefixItems");
    if (items && !json_is_object(items) && !json_is_boolean(items))
        return fail(c, path, "'items' must be a schema");
    if (pre && !json_is_array(pre)) return fail(c, path, "'prefixItems' must be an array");
    int item = -1;
    if (!items || json_is_true(items))
        item = any_value(c, ANY_DEPTH - 1);
    else if (json_is_object(items)) {
        sub_path(sub, sizeof sub, path, ".items");
        item = compile(c, items, sub);
        if (item < 0) return -1;
    }
    int np = (int)json_array_size(pre);
    if (np == 0) {
        if (item < 0) {
            if (min > 0) return fail(c, path, "'items' is false but 'minItems' is %d", min);
            return array_of(c, 0, 0, 0);
        }
        return array_of(c, item, min, max);
    }
    if (max >= 0 && max < np) np = max; /* only as many positions as may be written */
    if (item < 0 && min > np)
        return fail(c, path, "'items' is false but 'minItems' (%d) exceeds 'prefixItems'", min);
    int body = -1;
    for (int i = np - 1; i >= 0; i--) {
        sub_path(sub, sizeof sub, path, ".prefixItems[%d]", i);
        int p = compile(c, json_array_get(pre, (size_t)i), sub);
        if (p < 0) return -1;
        if (body < 0) {
            int rest = item >= 0 ? repeat(c, seq_rule(c, comma(c), item, -1),
                                          min > np ? min - np : 0, max < 0 ? -1 : max - np)
                                 : seq_rule(c, -1);
            body = seq_rule(c, p, rest, -1);
        } else
            body = seq_rule(c, p, comma(c), body, -1);
    }
    if (body < 0) return array_of(c, 0, 0, 0);
    return seq_rule(c, lit(c, "["), body, lit(c, "]"), -1);
}

static int type_rule(cc *c, const json_t *s, const char *type, const char *path) {
    if (!strcmp(type, "string")) {
        int min, max;
        if (bounds(c, s, path, "minLength", "maxLength", &min, &max)) return -1;
        return string_rule(c, min, max);
    }
    if (!strcmp(type, "integer")) return numeric(c, s, path, true);
    if (!strcmp(type, "number")) return numeric(c, s, path, false);
    if (!strcmp(type, "boolean")) return bool_rule(c);
    if (!strcmp(type, "null")) return null_rule(c);
    if (!strcmp(type, "object")) return object_rule(c, s, path);
    if (!strcmp(type, "array")) return array_rule(c, s, path);
    return fail(c, path, "unknown type '%s'", type);
}

static int compile_inner(cc *c, const json_t *s, const char *path) {
    if (json_is_true(s)) return any_value(c, ANY_DEPTH);
    if (json_is_false(s)) return fail(c, path, "the schema false accepts no value");
    if (!json_is_object(s)) return fail(c, path, "a schema must be an object or a boolean");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (in_list(k, ignored_kw, sizeof ignored_kw / sizeof *ignored_kw)) continue;
        if (!in_list(k, known_kw, sizeof known_kw / sizeof *known_kw))
            return fail(c, path, "unsupported JSON Schema keyword '%s'", k);
    }
    const json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        if (!json_is_string(ref)) return fail(c, path, "'$ref' must be a string");
        return ref_rule(c, json_string_value(ref), path);
    }
    bool nullable = json_is_true(json_object_get(s, "nullable"));
    int r = new_rule(c);
    if (nullable) add_alt_refs(c, r, null_rule(c), -1);
    const json_t *cst = json_object_get(s, "const");
    if (cst) {
        char *d = dump(cst);
        if (!d) return fail(c, path, "out of memory");
        add_alt_refs(c, r, lmx_gram_lit_rule(c->g, d, strlen(d)), -1);
        free(d);
        return r;
    }
    const json_t *en = json_object_get(s, "enum");
    if (en) {
        int e = enum_rule(c, en, path);
        if (e < 0) return -1;
        add_alt_refs(c, r, e, -1);
        return r;
    }
    const char *comb = json_object_get(s, "anyOf") ? "anyOf" : "oneOf";
    const json_t *any = json_object_get(s, comb);
    if (any) {
        if (!json_is_array(any) || !json_array_size(any))
            return fail(c, path, "'%s' must be a non-empty array of schemas", comb);
        size_t i;
        const json_t *x;
        json_array_foreach(any, i, x) {
            char sub[512];
            sub_path(sub, sizeof sub, path, ".%s[%zu]", comb, i);
            int a = compile(c, x, sub);
            if (a < 0) return -1;
            add_alt_refs(c, r, a, -1);
        }
        return r;
    }
    const json_t *t = json_object_get(s, "type");
    if (t && !json_is_string(t) && !(json_is_array(t) && json_array_size(t)))
        return fail(c, path, "'type' must be a string or a non-empty array of strings");
    if (json_is_string(t)) {
        int a = type_rule(c, s, json_string_value(t), path);
        if (a < 0) return -1;
        add_alt_refs(c, r, a, -1);
        return r;
    }
    if (json_is_array(t)) {
        size_t i;
        const json_t *x;
        json_array_foreach(t, i, x) {
            if (!json_is_string(x))
                return fail(c, path, "'type' must be a string or a non-empty array of strings");
            int a = type_rule(c, s, json_string_value(x), path);
            if (a < 0) return -1;
            add_alt_refs(c, r, a, -1);
        }
        return r;
    }
    /* no type: what the keywords imply, else any value */
    const char *implied = NULL;
    if (json_object_get(s, "properties") || json_object_get(s, "required") ||
        json_object_get(s, "additionalProperties"))
        implied = "object";
    else if (json_object_get(s, "items") || json_object_get(s, "prefixItems") ||
             json_object_get(s, "minItems") || json_object_get(s, "maxItems"))
        implied = "array";
    else if (json_object_get(s, "minLength") || json_object_get(s, "maxLength"))
        implied = "string";
    else if (json_object_get(s, "minimum") || json_object_get(s, "maximum") ||
             json_object_get(s, "exclusiveMinimum") || json_object_get(s, "exclusiveMaximum"))
        implied = "number";
    int a = implied ? type_rule(c, s, implied, path) : any_value(c, ANY_DEPTH);
    if (a < 0) return -1;
    add_alt_refs(c, r, a, -1);
    return r;
}

static int compile(cc *c, const json_t *s, const char *path) {
    if (c->failed) return -1;
    if (++c->depth > MAX_SCHEMA_DEPTH) {
        c->depth--;
        return fail(c, path, "the schema is nested too deeply (more than %d levels)",
                    MAX_SCHEMA_DEPTH);
    }
    int r = compile_inner(c, s, path);
    c->depth--;
    return c->failed ? -1 : r;
}

static lmx_gram *finish(cc *c, int root) {
    free(c->memo);
    if (c->failed || root < 0) {
        lmx_gram_release(c->g);
        return NULL;
    }
    if (lmx_gram_finish(c->g, root, c->err, c->errlen)) {
        lmx_gram_release(c->g);
        return NULL;
    }
    return c->g;
}

static bool cc_init(cc *c, const json_t *root, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->g = lmx_gram_new();
    c->root = root;
    c->err = err;
    c->errlen = errlen;
    if (!c->g) snprintf(err, errlen, "out of memory");
    return c->g != NULL;
}

lmx_gram *lmx_json_schema_grammar(const json_t *schema, const char *path, char *err,
                                  size_t errlen) {
    cc c;
    if (!cc_init(&c, schema, err, errlen)) return NULL;
    return finish(&c, compile(&c, schema, path));
}

lmx_gram *lmx_json_object_grammar(char *err, size_t errlen) {
    cc c;
    if (!cc_init(&c, NULL, err, errlen)) return NULL;
    return finish(&c, any_object(&c));
}

/* A function's arguments: its "parameters" schema, or any object. */
static int args_rule(cc *c, const json_t *tool, size_t i) {
    const json_t *params = json_object_get(json_object_get(tool, "function"), "parameters");
    if (!params || json_is_null(params)) return any_object(c);
    char path[64];
    snprintf(path, sizeof path, "tools[%zu].function.parameters", i);
    c->root = params;
    c->n_memo = 0; /* $refs are local to each tool's schema */
    return compile(c, params, path);
}

lmx_gram *lmx_tool_call_grammar(lmx_tc_family f, const json_t *tools, const char *name,
                                bool mistral_args, bool *none, char *err, size_t errlen) {
    *none = false;
    if (f == LMX_TC_NONE || f == LMX_TC_QWEN3_CODER ||
        (f == LMX_TC_MISTRAL && mistral_args && !name)) {
        *none = true;
        return NULL;
    }
    cc c;
    if (!cc_init(&c, NULL, err, errlen)) return NULL;
    const char *close = f == LMX_TC_LLAMA3                    ? "}"
                        : f == LMX_TC_MISTRAL && mistral_args ? ""
                        : f == LMX_TC_MISTRAL                 ? "}]"
                                                              : "}\n</tool_call>";
    const char *args_key = f == LMX_TC_LLAMA3 ? "parameters" : "arguments";
    int root = new_rule(&c);
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t) {
        const char *n = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        if (!n || (name && strcmp(n, name))) continue;
        int args = args_rule(&c, t, i);
        if (args < 0) break;
        if (name) { /* the prefix wrote the name and the arguments key */
            add_alt_refs(&c, root, args, lit(&c, close));
            break;
        }
        json_t *js = json_string(n);
        char *q = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
        json_decref(js);
        if (!q) {
            fail(&c, "tools", "out of memory");
            break;
        }
        char head[512], mid[64];
        /* the forced prefix already wrote what comes before the name */
        snprintf(head, sizeof head, "%s%s",
                 f == LMX_TC_LLAMA3    ? ""
                 : f == LMX_TC_MISTRAL ? "[{\"name\": "
                                       : "{\"name\": ",
                 q);
        snprintf(mid, sizeof mid, ", \"%s\": ", args_key);
        free(q);
        int call = seq_rule(&c, lit(&c, head), lit(&c, mid), args, lit(&c, close), -1);
        add_alt_refs(&c, root, call, -1);
    }
    return finish(&c, root);
}
