/* The JSON Schema validator behind skill arguments and outputs.
 *
 * Two passes over the same keyword table: lmx_jsv_check walks a schema once
 * at load (so a bad manifest is refused with the keyword's path), and
 * lmx_jsv_validate walks schema and value together, appending each
 * violation with the JSON pointer (RFC 6901) of the value that broke it.
 * anyOf/oneOf try each branch on a scratch list and report one violation
 * for the keyword when no branch (or more than one, for oneOf) fits. */
#include "skills/validate.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/errat.h"

#define MAX_VIOLATIONS 64
#define MAX_DEPTH      64

static const char *const annotations[] = {"description", "title", "default",  "examples",
                                          "$schema",     "$id",   "$comment", "$defs",
                                          "definitions", NULL};
static const char *const formats[] = {"date-time", "date", "time", "email", "hostname",
                                      "ipv4",      "ipv6", "uri",  "uuid",  NULL};
static const char *const types[] = {"object",  "array",   "string", "number",
                                    "integer", "boolean", "null",   NULL};

static bool in_list(const char *const *l, const char *s) {
    for (; *l; l++)
        if (!strcmp(*l, s)) return true;
    return false;
}

/* ---- schema check ---- */

typedef struct {
    const json_t *root;
    char *err;
    size_t errlen;
} chk;

/* The error at path in the schema; -1. (A macro: it hands the message's
 * arguments on to lmx_errat.) */
#define cerr(c, path, ...) lmx_errat((c)->err, (c)->errlen, path, 0, 0, __VA_ARGS__)

static const json_t *resolve_ref(const json_t *root, const char *ref) {
    const char *names[] = {"#/$defs/", "#/definitions/"};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(names[i]);
        if (!strncmp(ref, names[i], n)) {
            const json_t *defs = json_object_get(root, i ? "definitions" : "$defs");
            const json_t *s = json_object_get(defs, ref + n);
            return s && (json_is_object(s) || json_is_boolean(s)) ? s : NULL;
        }
    }
    if (!strcmp(ref, "#")) return root;
    return NULL;
}

static int check(chk *c, const json_t *s, const char *path, int depth);

/* Checks schema s, the member key (or, key NULL, the item i) of the one at
 * path, one level deeper. */
static int check_sub(chk *c, const json_t *s, const char *path, const char *key, size_t i,
                     int depth) {
    char q[600];
    if (key)
        snprintf(q, sizeof q, "%s.%s", path, key);
    else
        snprintf(q, sizeof q, "%s[%zu]", path, i);
    return check(c, s, q, depth + 1);
}

static int check_list(chk *c, const json_t *a, const char *path, const char *kw, int depth) {
    char p[512];
    snprintf(p, sizeof p, "%s.%s", path, kw);
    if (!json_is_array(a) || !json_array_size(a))
        return cerr(c, p, "expected a non-empty array of schemas");
    size_t i;
    const json_t *e;
    json_array_foreach(a, i, e) {
        if (check_sub(c, e, p, NULL, i, depth)) return -1;
    }
    return 0;
}

static bool is_nonneg_int(const json_t *v) {
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* An object of schemas ($defs, properties): each checked under its name. */
static int check_map(chk *c, const json_t *v, const char *path, int depth) {
    if (!json_is_object(v)) return cerr(c, path, "expected an object of schemas");
    const char *k;
    const json_t *sub;
    json_object_foreach((json_t *)v, k, sub) {
        if (check_sub(c, sub, path, k, 0, depth)) return -1;
    }
    return 0;
}

static int check(chk *c, const json_t *s, const char *path, int depth) {
    if (depth > MAX_DEPTH) return cerr(c, path, "schema nested too deeply");
    if (json_is_boolean(s)) return 0;
    if (!json_is_object(s)) return cerr(c, path, "expected a schema (an object or a boolean)");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        char p[512];
        snprintf(p, sizeof p, "%s.%s", path, k);
        if (in_list(annotations, k)) {
            if ((!strcmp(k, "$defs") || !strcmp(k, "definitions"))) {
                if (check_map(c, v, p, depth)) return -1;
            }
        } else if (!strcmp(k, "type")) {
            if (json_is_string(v)) {
                if (!in_list(types, json_string_value(v)))
                    return cerr(c, p, "unknown type '%s'", json_string_value(v));
            } else if (json_is_array(v) && json_array_size(v)) {
                size_t i;
                const json_t *t;
                json_array_foreach(
                    v, i, t) if (!json_is_string(t) ||
                                 !in_list(types, json_string_value(
                                                     t))) return cerr(c, p, "expected type names");
            } else
                return cerr(c, p, "expected a type name or a list of them");
        } else if (!strcmp(k, "properties")) {
            if (check_map(c, v, p, depth)) return -1;
        } else if (!strcmp(k, "required")) {
            if (!json_is_array(v)) return cerr(c, p, "expected an array of property names");
            size_t i;
            const json_t *t;
            json_array_foreach(v, i, t) if (!json_is_string(t)) return cerr(
                c, p, "expected an array of property names");
        } else if (!strcmp(k, "additionalProperties") || !strcmp(k, "items")) {
            if (check(c, v, p, depth + 1)) return -1;
        } else if (!strcmp(k, "prefixItems") || !strcmp(k, "anyOf") || !strcmp(k, "oneOf")) {
            if (check_list(c, v, path, k, depth)) return -1;
        } else if (!strcmp(k, "enum")) {
            if (!json_is_array(v) || !json_array_size(v))
                return cerr(c, p, "expected a non-empty array");
        } else if (!strcmp(k, "const")) {
        } else if (!strcmp(k, "nullable")) {
            if (!json_is_boolean(v)) return cerr(c, p, "expected true or false");
        } else if (!strcmp(k, "minLength") || !strcmp(k, "maxLength") || !strcmp(k, "minItems") ||
                   !strcmp(k, "maxItems")) {
            if (!is_nonneg_int(v)) return cerr(c, p, "expected a non-negative integer");
        } else if (!strcmp(k, "minimum") || !strcmp(k, "maximum") ||
                   !strcmp(k, "exclusiveMinimum") || !strcmp(k, "exclusiveMaximum")) {
            if (!json_is_number(v)) return cerr(c, p, "expected a number");
        } else if (!strcmp(k, "pattern")) {
            if (!json_is_string(v)) return cerr(c, p, "expected a regular expression");
            int ec;
            PCRE2_SIZE off;
            pcre2_code *re = pcre2_compile((PCRE2_SPTR)json_string_value(v), PCRE2_ZERO_TERMINATED,
                                           PCRE2_UTF, &ec, &off, NULL);
            if (!re) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(ec, msg, sizeof msg);
                return cerr(c, p, "bad regular expression at offset %zu: %s", (size_t)off,
                            (char *)msg);
            }
            pcre2_code_free(re);
        } else if (!strcmp(k, "format")) {
            if (!json_is_string(v) || !in_list(formats, json_string_value(v)))
                return cerr(c, p,
                            "expected one of date-time, date, time, email, hostname, ipv4, "
                            "ipv6, uri, uuid");
        } else if (!strcmp(k, "$ref")) {
            if (!json_is_string(v) || !resolve_ref(c->root, json_string_value(v)))
                return cerr(c, p, "expected a local reference to $defs or definitions");
        } else
            return cerr(c, p, "unsupported keyword");
    }
    return 0;
}

int lmx_jsv_check(const json_t *schema, const char *path, char *err, size_t errlen) {
    chk c = {schema, err, errlen};
    return check(&c, schema, path, 0);
}

/* ---- validation ---- */

typedef struct {
    const json_t *root;
    json_t *out; /* array of violations */
    int depth;
    long *steps; /* schema nodes visited so far, shared with anyOf/oneOf trials */
} val;

/* A bound on the work one validation does: $ref and anyOf can make a small
 * schema exponential, and a pattern can backtrack without end. */
#define MAX_STEPS   200000
#define MATCH_LIMIT 1000000

static void viol(val *v, const char *ptr, const char *rule, const char *fmt, ...) {
    if (json_array_size(v->out) >= MAX_VIOLATIONS) return;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(v->out,
                          json_pack("{s:s,s:s,s:s}", "pointer", ptr, "rule", rule, "message", msg));
}

/* ptr + "/" + token, escaping '~' and '/' (RFC 6901). */
static void ptr_add(char *dst, size_t n, const char *ptr, const char *tok) {
    size_t len = (size_t)snprintf(dst, n, "%s/", ptr);
    for (const char *t = tok; *t && len + 3 < n; t++) {
        if (*t == '~')
            dst[len++] = '~', dst[len++] = '0';
        else if (*t == '/')
            dst[len++] = '~', dst[len++] = '1';
        else
            dst[len++] = *t;
    }
    if (len < n)
        dst[len] = 0;
    else
        dst[n - 1] = 0;
}

static const char *type_of(const json_t *x) {
    static const char *const names[] = {
        [JSON_OBJECT] = "object",   [JSON_ARRAY] = "array", [JSON_STRING] = "string",
        [JSON_INTEGER] = "integer", [JSON_REAL] = "number", [JSON_TRUE] = "boolean",
        [JSON_FALSE] = "boolean",   [JSON_NULL] = "null",
    };
    return names[json_typeof(x)];
}

static bool type_is(const json_t *x, const char *t) {
    if (!strcmp(t, "number")) return json_is_number(x);
    if (!strcmp(t, "integer"))
        return json_is_integer(x) ||
               (json_is_real(x) && json_real_value(x) == floor(json_real_value(x)) &&
                isfinite(json_real_value(x)));
    return !strcmp(t, type_of(x));
}

static size_t utf8_len(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool digits(const char *s, int n) {
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return false;
    return true;
}

static bool is_date(const char *s) {
    if (strlen(s) < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return false;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100) || y % 400 == 0)) return false;
    return true;
}

/* HH:MM:SS[.frac](Z|+HH:MM|-HH:MM) (RFC 3339 full-time). */
static bool is_time(const char *s) {
    if (strlen(s) < 9 || !digits(s, 2) || s[2] != ':' || !digits(s + 3, 2) || s[5] != ':' ||
        !digits(s + 6, 2))
        return false;
    if (atoi(s) > 23 || atoi(s + 3) > 59 || atoi(s + 6) > 60) return false;
    s += 8;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s)) return false;
        while (isdigit((unsigned char)*s)) s++;
    }
    if ((*s == 'Z' || *s == 'z') && !s[1]) return true;
    if ((*s == '+' || *s == '-') && strlen(s) == 6 && digits(s + 1, 2) && s[3] == ':' &&
        digits(s + 4, 2))
        return atoi(s + 1) <= 23 && atoi(s + 4) <= 59;
    return false;
}

static bool is_hostname(const char *s) {
    size_t n = strlen(s);
    if (!n || n > 253) return false;
    for (const char *l = s;;) {
        size_t k = strcspn(l, ".");
        if (!k || k > 63 || l[0] == '-' || l[k - 1] == '-') return false;
        for (size_t i = 0; i < k; i++)
            if (!isalnum((unsigned char)l[i]) && l[i] != '-') return false;
        if (!l[k]) return true;
        l += k + 1;
    }
}

static bool format_ok(const char *f, const char *s) {
    if (!strcmp(f, "date")) return strlen(s) == 10 && is_date(s);
    if (!strcmp(f, "time")) return is_time(s);
    if (!strcmp(f, "date-time"))
        return strlen(s) > 11 && is_date(s) && (s[10] == 'T' || s[10] == 't') && is_time(s + 11);
    if (!strcmp(f, "email")) {
        const char *at = strchr(s, '@');
        if (!at || at == s || strchr(at + 1, '@') || at - s > 64) return false;
        for (const char *p = s; p < at; p++)
            if ((unsigned char)*p <= ' ' || strchr("()<>[]:;,\\\"", *p)) return false;
        return is_hostname(at + 1) && strchr(at + 1, '.');
    }
    if (!strcmp(f, "hostname")) return is_hostname(s);
    if (!strcmp(f, "ipv4")) {
        struct in_addr a;
        return inet_pton(AF_INET, s, &a) == 1;
    }
    if (!strcmp(f, "ipv6")) {
        struct in6_addr a;
        return inet_pton(AF_INET6, s, &a) == 1;
    }
    if (!strcmp(f, "uuid")) {
        if (strlen(s) != 36) return false;
        for (int i = 0; i < 36; i++)
            if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-'
                                                        : !isxdigit((unsigned char)s[i]))
                return false;
        return true;
    }
    if (!strcmp(f, "uri")) {
        /* scheme ":" rest, scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), no spaces */
        if (!isalpha((unsigned char)s[0])) return false;
        const char *p = s + 1;
        while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.') p++;
        if (*p != ':' || !p[1]) return false;
        for (p++; *p; p++)
            if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>' || *p == '\\' ||
                *p == '^' || *p == '`' || *p == '{' || *p == '|' || *p == '}')
                return false;
        return true;
    }
    return true;
}

static void validate(val *v, const json_t *s, const json_t *x, const char *ptr);

/* Violations `s` finds in x, counted without keeping them. */
static size_t count_viol(val *v, const json_t *s, const json_t *x, const char *ptr) {
    val sub = {v->root, json_array(), v->depth, v->steps};
    validate(&sub, s, x, ptr);
    size_t n = json_array_size(sub.out);
    json_decref(sub.out);
    return n;
}

static void validate(val *v, const json_t *s, const json_t *x, const char *ptr) {
    if (json_is_true(s)) return;
    if (json_is_false(s)) {
        viol(v, ptr, "false", "no value is allowed here");
        return;
    }
    if (!json_is_object(s)) return;
    if (++*v->steps > MAX_STEPS) {
        if (*v->steps == MAX_STEPS + 1)
            viol(v, ptr, "complexity", "the schema is too complex to check this value");
        return;
    }
    if (++v->depth > MAX_DEPTH) {
        viol(v, ptr, "depth", "value nested too deeply");
        v->depth--;
        return;
    }
    const json_t *ref = json_object_get(s, "$ref");
    if (json_is_string(ref)) {
        const json_t *t = resolve_ref(v->root, json_string_value(ref));
        if (t) validate(v, t, x, ptr);
    }
    bool nullable = json_is_true(json_object_get(s, "nullable"));
    if (nullable && json_is_null(x)) goto out;
    const json_t *type = json_object_get(s, "type");
    if (type) {
        bool ok = false;
        char names[128] = "";
        if (json_is_string(type)) {
            ok = type_is(x, json_string_value(type));
            snprintf(names, sizeof names, "%s", json_string_value(type));
        } else {
            size_t i;
            const json_t *t;
            json_array_foreach(type, i, t) {
                ok = ok || type_is(x, json_string_value(t));
                size_t n = strlen(names);
                snprintf(names + n, sizeof names - n, "%s%s", i ? " or " : "",
                         json_string_value(t));
            }
        }
        if (!ok) {
            viol(v, ptr, "type", "expected %s, got %s", names, type_of(x));
            goto out; /* the other keywords would only repeat it */
        }
    }
    const json_t *e = json_object_get(s, "enum");
    if (json_is_array(e)) {
        bool found = false;
        size_t i;
        const json_t *c;
        json_array_foreach(e, i, c) found = found || json_equal((json_t *)c, (json_t *)x);
        if (!found) viol(v, ptr, "enum", "not one of the allowed values");
    }
    const json_t *cst = json_object_get(s, "const");
    if (cst && !json_equal((json_t *)cst, (json_t *)x))
        viol(v, ptr, "const", "not the required constant");

    if (json_is_string(x)) {
        const char *str = json_string_value(x);
        size_t len = utf8_len(str);
        const json_t *lo = json_object_get(s, "minLength"), *hi = json_object_get(s, "maxLength");
        if (lo && len < (size_t)json_integer_value(lo))
            viol(v, ptr, "minLength", "shorter than %lld characters",
                 (long long)json_integer_value(lo));
        if (hi && len > (size_t)json_integer_value(hi))
            viol(v, ptr, "maxLength", "longer than %lld characters",
                 (long long)json_integer_value(hi));
        const json_t *pat = json_object_get(s, "pattern");
        if (json_is_string(pat)) {
            int ec;
            PCRE2_SIZE off;
            pcre2_code *re = pcre2_compile((PCRE2_SPTR)json_string_value(pat),
                                           PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
            if (re) {
                pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
                pcre2_match_context *mc = pcre2_match_context_create(NULL);
                if (mc) pcre2_set_match_limit(mc, MATCH_LIMIT);
                int rc =
                    md ? pcre2_match(re, (PCRE2_SPTR)str, json_string_length(x), 0, 0, md, mc) : -1;
                if (rc == PCRE2_ERROR_MATCHLIMIT)
                    viol(v, ptr, "pattern", "too complex to match against %s",
                         json_string_value(pat));
                else if (rc < 0)
                    viol(v, ptr, "pattern", "does not match %s", json_string_value(pat));
                pcre2_match_context_free(mc);
                pcre2_match_data_free(md);
                pcre2_code_free(re);
            }
        }
        const json_t *fmt = json_object_get(s, "format");
        if (json_is_string(fmt) && !format_ok(json_string_value(fmt), str))
            viol(v, ptr, "format", "not a valid %s", json_string_value(fmt));
    }
    if (json_is_number(x)) {
        double d = json_number_value(x);
        const json_t *b;
        if ((b = json_object_get(s, "minimum")) && d < json_number_value(b))
            viol(v, ptr, "minimum", "less than %g", json_number_value(b));
        if ((b = json_object_get(s, "maximum")) && d > json_number_value(b))
            viol(v, ptr, "maximum", "greater than %g", json_number_value(b));
        if ((b = json_object_get(s, "exclusiveMinimum")) && d <= json_number_value(b))
            viol(v, ptr, "exclusiveMinimum", "not greater than %g", json_number_value(b));
        if ((b = json_object_get(s, "exclusiveMaximum")) && d >= json_number_value(b))
            viol(v, ptr, "exclusiveMaximum", "not less than %g", json_number_value(b));
    }
    if (json_is_object(x)) {
        const json_t *props = json_object_get(s, "properties");
        const json_t *req = json_object_get(s, "required");
        size_t i;
        const json_t *r;
        json_array_foreach(req, i, r) if (!json_object_get(x, json_string_value(r))) {
            char p[512];
            ptr_add(p, sizeof p, ptr, json_string_value(r));
            viol(v, p, "required", "missing required property '%s'", json_string_value(r));
        }
        const json_t *addl = json_object_get(s, "additionalProperties");
        const char *k;
        const json_t *m;
        json_object_foreach((json_t *)x, k, m) {
            char p[512];
            ptr_add(p, sizeof p, ptr, k);
            const json_t *ps = json_object_get(props, k);
            if (ps)
                validate(v, ps, m, p);
            else if (json_is_false(addl))
                viol(v, p, "additionalProperties", "property '%s' is not allowed", k);
            else if (json_is_object(addl))
                validate(v, addl, m, p);
        }
    }
    if (json_is_array(x)) {
        size_t n = json_array_size(x);
        const json_t *lo = json_object_get(s, "minItems"), *hi = json_object_get(s, "maxItems");
        if (lo && n < (size_t)json_integer_value(lo))
            viol(v, ptr, "minItems", "fewer than %lld items", (long long)json_integer_value(lo));
        if (hi && n > (size_t)json_integer_value(hi))
            viol(v, ptr, "maxItems", "more than %lld items", (long long)json_integer_value(hi));
        const json_t *pre = json_object_get(s, "prefixItems");
        const json_t *items = json_object_get(s, "items");
        size_t npre = json_array_size(pre);
        for (size_t i = 0; i < n; i++) {
            char p[512], idx[24];
            snprintf(idx, sizeof idx, "%zu", i);
            ptr_add(p, sizeof p, ptr, idx);
            const json_t *is = i < npre ? json_array_get(pre, i) : items;
            if (is) validate(v, is, json_array_get(x, i), p);
        }
    }
    const json_t *any = json_object_get(s, "anyOf");
    if (json_is_array(any)) {
        bool ok = false;
        size_t i;
        const json_t *b;
        json_array_foreach(any, i, b) if (!ok && !count_viol(v, b, x, ptr)) ok = true;
        if (!ok)
            viol(v, ptr, "anyOf", "matches none of the %zu allowed forms", json_array_size(any));
    }
    const json_t *one = json_object_get(s, "oneOf");
    if (json_is_array(one)) {
        size_t fits = 0, i;
        const json_t *b;
        json_array_foreach(one, i, b) fits += !count_viol(v, b, x, ptr);
        if (fits != 1)
            viol(v, ptr, "oneOf",
                 fits ? "matches %zu of the forms, exactly one is allowed"
                      : "matches none of the %zu allowed forms",
                 fits ? fits : json_array_size(one));
    }
out:
    v->depth--;
}

json_t *lmx_jsv_validate(const json_t *schema, const json_t *value) {
    long steps = 0;
    val v = {schema, json_array(), 0, &steps};
    if (!v.out) return NULL;
    validate(&v, schema, value, "");
    return v.out;
}

static json_t *strip(const json_t *s) {
    if (!json_is_object(s)) return json_deep_copy(s);
    json_t *o = json_object();
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (!strcmp(k, "format") || !strcmp(k, "pattern")) continue;
        if (!strcmp(k, "properties") || !strcmp(k, "$defs") || !strcmp(k, "definitions")) {
            /* keys are names: keep them all, strip the schemas they map to */
            json_t *m = json_object();
            const char *pk;
            const json_t *pv;
            json_object_foreach((json_t *)v, pk, pv) json_object_set_new(m, pk, strip(pv));
            json_object_set_new(o, k, m);
        } else if (!strcmp(k, "items") || !strcmp(k, "additionalProperties")) {
            json_object_set_new(o, k, strip(v));
        } else if (!strcmp(k, "prefixItems") || !strcmp(k, "anyOf") || !strcmp(k, "oneOf")) {
            json_t *a = json_array();
            size_t i;
            const json_t *e;
            json_array_foreach(v, i, e) json_array_append_new(a, strip(e));
            json_object_set_new(o, k, a);
        } else
            json_object_set_new(o, k, json_deep_copy(v));
    }
    return o;
}

json_t *lmx_jsv_for_model(const json_t *schema) {
    return strip(schema);
}
