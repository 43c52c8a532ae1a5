/* Built-ins: Jinja2 filters and tests, the methods templates call on Python str,
 * dict and list values, attribute/item lookup, and the globals (range, namespace,
 * dict, raise_exception, strftime_now). Filter and test names and argument names
 * follow Jinja2 3.1 (`tojson` as transformers defines it: ensure_ascii=False,
 * indent, separators, sort_keys). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utf8proc.h>

#include "text/jinja.h"

/* ---- argument helpers ---- */

typedef struct {
    jv *a;
    const char **kw;
    int n;
} jargs;

/* The pos-th positional argument (0 = the filter input / first argument) or keyword `name`. */
static int arg(const jargs *A, int pos, const char *name, jv *out) {
    if (name && A->kw)
        for (int i = 0; i < A->n; i++)
            if (A->kw[i] && !strcmp(A->kw[i], name)) {
                *out = A->a[i];
                return 1;
            }
    int p = 0;
    for (int i = 0; i < A->n; i++) {
        if (A->kw && A->kw[i]) continue;
        if (p++ == pos) {
            *out = A->a[i];
            return 1;
        }
    }
    return 0;
}

static jv arg_or(const jargs *A, int pos, const char *name, jv dflt) {
    jv v;
    return arg(A, pos, name, &v) ? v : dflt;
}

static int npos(const jargs *A) {
    int p = 0;
    for (int i = 0; i < A->n; i++)
        if (!A->kw || !A->kw[i]) p++;
    return p;
}

static jv mkstr(jctx *C, const char *s, size_t n) {
    return jv_strn(C->A, s, n);
}
static jv bufstr(jctx *C, jbuf *b) {
    return mkstr(C, b->p ? b->p : "", b->n);
}

static jstr *need_str(jctx *C, jv v, const char *what) {
    if (v.t != JV_STR) jfail(C->E, "TypeError: %s expects a string, not %s", what, jv_typename(v));
    return v.u.s;
}

static long long need_int(jctx *C, jv v, const char *what) {
    if (v.t == JV_INT) return v.u.i;
    if (v.t == JV_BOOL) return v.u.b;
    jfail(C->E, "TypeError: %s expects an integer, not %s", what, jv_typename(v));
}

/* ---- UTF-8 / case helpers ---- */

typedef utf8proc_int32_t (*cpmap)(utf8proc_int32_t);

static void put_cp(jbuf *b, utf8proc_int32_t cp) {
    utf8proc_uint8_t t[4];
    utf8proc_ssize_t n = utf8proc_encode_char(cp, t);
    jb_put(b, (const char *)t, (size_t)n);
}

/* Decodes one code point at s[i]; invalid bytes decode as themselves (one byte). */
static size_t next_cp(const char *s, size_t n, size_t i, utf8proc_int32_t *cp) {
    utf8proc_ssize_t k =
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), cp);
    if (k <= 0) {
        *cp = (unsigned char)s[i];
        return 1;
    }
    return (size_t)k;
}

static jv map_case(jctx *C, jstr *s, cpmap f) {
    jbuf b;
    jb_init(&b, C->A);
    jb_put(&b, "", 0);
    for (size_t i = 0; i < s->len;) {
        utf8proc_int32_t cp;
        size_t k = next_cp(s->s, s->len, i, &cp);
        if (cp < 0x80 || k > 1)
            put_cp(&b, f(cp));
        else
            jb_put(&b, s->s + i, k);
        i += k;
    }
    return bufstr(C, &b);
}

static int is_cased_letter(utf8proc_int32_t cp) {
    int c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

static int is_space_cp(utf8proc_int32_t cp) {
    return cp == ' ' || (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x1f) || cp == 0x85 ||
           cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* A case mapping that depends on what came before: each code point's
 * mapping, given and updating *state (initially 1 for the string's start). */
typedef utf8proc_int32_t (*cpstep)(utf8proc_int32_t cp, int *state);

static jv map_steps(jctx *C, jstr *s, cpstep f) {
    jbuf b;
    jb_init(&b, C->A);
    jb_put(&b, "", 0);
    int state = 1;
    for (size_t i = 0; i < s->len;) {
        utf8proc_int32_t cp;
        i += next_cp(s->s, s->len, i, &cp);
        put_cp(&b, f(cp, &state));
    }
    return bufstr(C, &b);
}

/* Python str.title(): a cased letter after an uncased character is
 * titlecased (state: the last code point was not a cased letter). */
static utf8proc_int32_t py_title_step(utf8proc_int32_t cp, int *after_uncased) {
    int cased = is_cased_letter(cp);
    utf8proc_int32_t out =
        cased ? (*after_uncased ? utf8proc_totitle(cp) : utf8proc_tolower(cp)) : cp;
    *after_uncased = !cased;
    return out;
}

static jv py_title(jctx *C, jstr *s) {
    return map_steps(C, s, py_title_step);
}

/* Jinja's title filter: words split at runs of whitespace, '-', '(', '{', '[', '<'. */
static utf8proc_int32_t jinja_title_step(utf8proc_int32_t cp, int *start) {
    int sep = is_space_cp(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    utf8proc_int32_t out = sep ? cp : *start ? utf8proc_toupper(cp) : utf8proc_tolower(cp);
    *start = sep;
    return out;
}

static jv jinja_title(jctx *C, jstr *s) {
    return map_steps(C, s, jinja_title_step);
}

/* The first code point titlecased, the rest lowercased. */
static utf8proc_int32_t capitalize_step(utf8proc_int32_t cp, int *first) {
    utf8proc_int32_t out = *first ? utf8proc_totitle(cp) : utf8proc_tolower(cp);
    *first = 0;
    return out;
}

static jv capitalize(jctx *C, jstr *s) {
    return map_steps(C, s, capitalize_step);
}

/* strip: chars == NULL strips whitespace */
/* Whether strip() removes code point cp: whitespace, or one of `chars`. */
static int strip_hit(const jstr *chars, utf8proc_int32_t cp) {
    if (!chars) return is_space_cp(cp);
    for (size_t j = 0; j < chars->len;) {
        utf8proc_int32_t c2;
        j += next_cp(chars->s, chars->len, j, &c2);
        if (c2 == cp) return 1;
    }
    return 0;
}

static jv strip(jctx *C, jstr *s, jstr *chars, int left, int right) {
    size_t b = 0, e = s->len;
    for (;;) {
        if (!left || b >= e) break;
        utf8proc_int32_t cp;
        size_t k = next_cp(s->s, e, b, &cp);
        if (!strip_hit(chars, cp)) break;
        b += k;
    }
    while (right && e > b) {
        size_t p = e - 1;
        while (p > b && ((unsigned char)s->s[p] & 0xC0) == 0x80) p--;
        utf8proc_int32_t cp;
        next_cp(s->s, e, p, &cp);
        if (!strip_hit(chars, cp)) break;
        e = p;
    }
    return mkstr(C, s->s + b, e - b);
}

static jv split(jctx *C, jstr *s, jv sepv, long long maxsplit) {
    jv out = jv_newlist(C->A, 0);
    if (sepv.t == JV_NONE || sepv.t == JV_UNDEF) {
        size_t i = 0;
        for (;;) {
            while (i < s->len && is_space_cp((unsigned char)s->s[i])) i++;
            if (i >= s->len) break;
            if (maxsplit >= 0 && (long long)out.u.l->n >= maxsplit) {
                size_t e = s->len;
                while (e > i && is_space_cp((unsigned char)s->s[e - 1])) e--;
                jl_push(C->A, out.u.l, mkstr(C, s->s + i, e - i));
                break;
            }
            size_t b = i;
            while (i < s->len && !is_space_cp((unsigned char)s->s[i])) i++;
            jl_push(C->A, out.u.l, mkstr(C, s->s + b, i - b));
        }
        return out;
    }
    jstr *sep = need_str(C, sepv, "split");
    if (!sep->len) jfail(C->E, "ValueError: empty separator");
    size_t i = 0;
    for (;;) {
        const char *hit = NULL;
        if (maxsplit < 0 || (long long)out.u.l->n < maxsplit)
            hit = memmem(s->s + i, s->len - i, sep->s, sep->len);
        if (!hit) {
            jl_push(C->A, out.u.l, mkstr(C, s->s + i, s->len - i));
            break;
        }
        jl_push(C->A, out.u.l, mkstr(C, s->s + i, (size_t)(hit - (s->s + i))));
        i = (size_t)(hit - s->s) + sep->len;
    }
    return out;
}

static jv replace(jctx *C, jstr *s, jstr *old, jstr *new_, long long count) {
    jbuf b;
    jb_init(&b, C->A);
    jb_put(&b, "", 0);
    if (!old->len) { /* Python inserts between every character */
        long long n = 0;
        for (size_t i = 0; i <= s->len;) {
            if (count < 0 || n < count) {
                jb_put(&b, new_->s, new_->len);
                n++;
            }
            if (i == s->len) break;
            utf8proc_int32_t cp;
            size_t k = next_cp(s->s, s->len, i, &cp);
            jb_put(&b, s->s + i, k);
            i += k;
        }
        return bufstr(C, &b);
    }
    size_t i = 0;
    long long n = 0;
    while (i <= s->len) {
        const char *hit =
            (count < 0 || n < count) ? memmem(s->s + i, s->len - i, old->s, old->len) : NULL;
        if (!hit) break;
        jb_put(&b, s->s + i, (size_t)(hit - (s->s + i)));
        jb_put(&b, new_->s, new_->len);
        i = (size_t)(hit - s->s) + old->len;
        n++;
    }
    jb_put(&b, s->s + i, s->len - i);
    return bufstr(C, &b);
}

static int starts_ends(jctx *C, jstr *s, jv x, int ends) {
    if (x.t == JV_LIST) {
        for (size_t i = 0; i < x.u.l->n; i++)
            if (starts_ends(C, s, x.u.l->v[i], ends)) return 1;
        return 0;
    }
    jstr *p = need_str(C, x, ends ? "endswith" : "startswith");
    if (p->len > s->len) return 0;
    return !memcmp(s->s + (ends ? s->len - p->len : 0), p->s, p->len);
}

/* Python's str % args, for %s %r %d %i %f %x %% with flags/width/precision. */
static jv percent_format(jctx *C, jstr *fmt, jv args) {
    jlist one = {.n = 1, .cap = 1, .v = &args};
    jlist *L = (args.t == JV_LIST && args.u.l->tuple) ? args.u.l : &one;
    size_t ai = 0;
    jbuf b;
    jb_init(&b, C->A);
    jb_put(&b, "", 0);
    for (size_t i = 0; i < fmt->len; i++) {
        char c = fmt->s[i];
        if (c != '%') {
            jb_putc(&b, c);
            continue;
        }
        size_t st = i++;
        while (i < fmt->len && strchr("-+ #0123456789.", fmt->s[i])) i++;
        if (i >= fmt->len) jfail(C->E, "ValueError: incomplete format");
        char conv = fmt->s[i];
        if (conv == '%') {
            jb_putc(&b, '%');
            continue;
        }
        if (ai >= L->n) jfail(C->E, "TypeError: not enough arguments for format string");
        jv v = L->v[ai++];
        char spec[32];
        size_t sl = i - st;
        if (sl > 20) sl = 20;
        memcpy(spec, fmt->s + st, sl);
        spec[sl] = 0;
        char f2[40];
        switch (conv) {
        case 's':
        case 'r': {
            jbuf t;
            jb_init(&t, C->A);
            jb_put(&t, "", 0);
            if (conv == 's')
                jv_str(&t, v);
            else
                jv_repr(&t, v);
            snprintf(f2, sizeof f2, "%ss", spec);
            jb_printf(&b, f2, t.p);
            break;
        }
        case 'd':
        case 'i':
        case 'x':
        case 'X':
        case 'o':
            if (!jv_isnum(v))
                jfail(C->E, "TypeError: %%%c format: a real number is required, not %s", conv,
                      jv_typename(v));
            snprintf(f2, sizeof f2, "%sll%c", spec, conv == 'i' ? 'd' : conv);
            jb_printf(&b, f2,
                      v.t == JV_FLOAT ? (long long)v.u.f
                      : v.t == JV_INT ? v.u.i
                                      : (long long)v.u.b);
            break;
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
            if (!jv_isnum(v)) jfail(C->E, "TypeError: must be real number, not %s", jv_typename(v));
            snprintf(f2, sizeof f2, "%s%c", spec, conv);
            jb_printf(&b, f2, jv_num(v));
            break;
        default:
            jfail(C->E, "ValueError: unsupported format character '%c'", conv);
        }
    }
    if (ai < L->n && L != &one)
        jfail(C->E, "TypeError: not all arguments converted during string formatting");
    return bufstr(C, &b);
}

/* Python's str.format: {} {0} {name} with optional !r/!s; format specs are ignored. */
static jv brace_format(jctx *C, jstr *fmt, const jargs *A) {
    jbuf b;
    jb_init(&b, C->A);
    jb_put(&b, "", 0);
    int autoi = 0;
    for (size_t i = 0; i < fmt->len; i++) {
        char c = fmt->s[i];
        if ((c == '{' || c == '}') && i + 1 < fmt->len && fmt->s[i + 1] == c) {
            jb_putc(&b, c);
            i++;
            continue;
        }
        if (c != '{') {
            jb_putc(&b, c);
            continue;
        }
        size_t e = i + 1;
        while (e < fmt->len && fmt->s[e] != '}') e++;
        if (e >= fmt->len) jfail(C->E, "ValueError: Single '{' encountered in format string");
        char field[128];
        size_t fl = e - i - 1 < sizeof field - 1 ? e - i - 1 : sizeof field - 1;
        memcpy(field, fmt->s + i + 1, fl);
        field[fl] = 0;
        int repr = 0;
        char *bang = strchr(field, '!'), *colon = strchr(field, ':');
        if (colon) *colon = 0;
        if (bang) {
            repr = bang[1] == 'r';
            *bang = 0;
        }
        jv v;
        int ok;
        if (!field[0])
            ok = arg(A, 1 + autoi++, NULL, &v);
        else if (field[0] >= '0' && field[0] <= '9')
            ok = arg(A, 1 + atoi(field), NULL, &v);
        else
            ok = arg(A, 1000000, field, &v);
        if (!ok) jfail(C->E, "IndexError: Replacement index out of range for format string");
        if (repr)
            jv_repr(&b, v);
        else
            jv_str(&b, v);
        i = e;
    }
    return bufstr(C, &b);
}

/* ---- attribute and item lookup ---- */

static int in_list(const char **l, const char *s) {
    for (; *l; l++)
        if (!strcmp(*l, s)) return 1;
    return 0;
}

jv jgetattr(jctx *C, jv obj, const char *name) {
    if (jhas_method(obj, name)) return jv_func(C->A, JF_METHOD, name, obj);
    if (obj.t == JV_DICT) {
        jv v;
        if (jd_gets(obj.u.d, name, &v)) return v;
    }
    return jv_undef(js_new(C->A, name, strlen(name)));
}

jv jgetitem(jctx *C, jv obj, jv key) {
    switch (obj.t) {
    case JV_DICT: {
        jv v;
        if (jd_get(obj.u.d, key, &v)) return v;
        break;
    }
    case JV_LIST:
    case JV_STR:
        if (key.t == JV_INT || key.t == JV_BOOL) {
            long long i = key.t == JV_INT ? key.u.i : key.u.b;
            if (obj.t == JV_LIST) {
                long long n = (long long)obj.u.l->n;
                if (i < 0) i += n;
                if (i >= 0 && i < n) return obj.u.l->v[i];
                return jv_undef(NULL);
            }
            long long n = (long long)ju_len(obj.u.s->s, obj.u.s->len);
            if (i < 0) i += n;
            if (i < 0 || i >= n) return jv_undef(NULL);
            size_t b = ju_offset(obj.u.s->s, obj.u.s->len, (size_t)i);
            size_t e = ju_offset(obj.u.s->s, obj.u.s->len, (size_t)i + 1);
            return mkstr(C, obj.u.s->s + b, e - b);
        }
        break;
    default:
        break;
    }
    if (key.t == JV_STR) return jgetattr(C, obj, key.u.s->s);
    if (key.t == JV_UNDEF) return key;
    return jv_undef(NULL);
}

/* `a.b.0`-style attribute paths used by map/selectattr/sort(attribute=...) */
static jv attr_path(jctx *C, jv v, jstr *path) {
    const char *p = path->s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        int digits = n > 0;
        for (size_t i = 0; i < n; i++)
            if (p[i] < '0' || p[i] > '9') digits = 0;
        jv key = digits ? jv_int(strtoll(p, NULL, 10)) : mkstr(C, p, n);
        v = jgetitem(C, v, key);
        if (!dot) return v;
        p = dot + 1;
    }
}

/* ---- iteration helpers ---- */

static jlist *to_list(jctx *C, jv v) {
    jv out = jv_newlist(C->A, 0);
    switch (v.t) {
    case JV_LIST:
        for (size_t i = 0; i < v.u.l->n; i++) jl_push(C->A, out.u.l, v.u.l->v[i]);
        return out.u.l;
    case JV_DICT:
        if (v.u.d->ns) break;
        for (size_t i = 0; i < v.u.d->n; i++) jl_push(C->A, out.u.l, v.u.d->k[i]);
        return out.u.l;
    case JV_STR:
        for (size_t i = 0; i < v.u.s->len;) {
            utf8proc_int32_t cp;
            size_t k = next_cp(v.u.s->s, v.u.s->len, i, &cp);
            jl_push(C->A, out.u.l, mkstr(C, v.u.s->s + i, k));
            i += k;
        }
        return out.u.l;
    case JV_UNDEF:
        return out.u.l;
    default:
        break;
    }
    jfail(C->E, "TypeError: '%s' object is not iterable", jv_typename(v));
}

static jv items_of(jctx *C, jv v) {
    jv out = jv_newlist(C->A, 0);
    if (v.t == JV_UNDEF) return out;
    if (v.t != JV_DICT)
        jfail(C->E, "TypeError: can only get item pairs from a mapping, not %s", jv_typename(v));
    for (size_t i = 0; i < v.u.d->n; i++) {
        jv t = jv_newlist(C->A, 2);
        t.u.l->tuple = 1;
        jl_push(C->A, t.u.l, v.u.d->k[i]);
        jl_push(C->A, t.u.l, v.u.d->v[i]);
        jl_push(C->A, out.u.l, t);
    }
    return out;
}

static jv lower_if_str(jctx *C, jv v) {
    return v.t == JV_STR ? map_case(C, v.u.s, utf8proc_tolower) : v;
}

/* stable merge sort of v[0..n) by keys[] */
static void sort_by(jctx *C, jv *v, jv *keys, size_t n, int reverse) {
    if (n < 2) return;
    jv *tv = ja_alloc(C->A, n * sizeof *tv), *tk = ja_alloc(C->A, n * sizeof *tk);
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                int c = jv_cmp(C->E, keys[j], keys[i]);
                if (reverse ? c > 0 : c < 0)
                    tv[o] = v[j], tk[o++] = keys[j++];
                else
                    tv[o] = v[i], tk[o++] = keys[i++];
            }
            while (i < mid) tv[o] = v[i], tk[o++] = keys[i++];
            while (j < hi) tv[o] = v[j], tk[o++] = keys[j++];
        }
        memcpy(v, tv, n * sizeof *v);
        memcpy(keys, tk, n * sizeof *keys);
    }
}

/* ---- tests ---- */

int jtest(jctx *C, const char *name, jv *args, int nargs) {
    jv v = args[0];
    jv b = nargs > 1 ? args[1] : jv_undef(NULL);
    if (!strcmp(name, "defined")) return v.t != JV_UNDEF;
    if (!strcmp(name, "undefined")) return v.t == JV_UNDEF;
    if (!strcmp(name, "none")) return v.t == JV_NONE;
    if (!strcmp(name, "boolean")) return v.t == JV_BOOL;
    if (!strcmp(name, "true")) return v.t == JV_BOOL && v.u.b;
    if (!strcmp(name, "false")) return v.t == JV_BOOL && !v.u.b;
    if (!strcmp(name, "string")) return v.t == JV_STR;
    if (!strcmp(name, "number")) return jv_isnum(v);
    if (!strcmp(name, "integer")) return v.t == JV_INT;
    if (!strcmp(name, "float")) return v.t == JV_FLOAT;
    if (!strcmp(name, "mapping")) return v.t == JV_DICT && !v.u.d->ns;
    if (!strcmp(name, "iterable"))
        return v.t == JV_STR || v.t == JV_LIST || (v.t == JV_DICT && !v.u.d->ns) || v.t == JV_UNDEF;
    if (!strcmp(name, "sequence"))
        return v.t == JV_STR || v.t == JV_LIST || (v.t == JV_DICT && !v.u.d->ns);
    if (!strcmp(name, "callable")) return v.t == JV_FUNC;
    if (!strcmp(name, "sameas")) {
        if (v.t != b.t) return 0;
        if (v.t == JV_LIST) return v.u.l == b.u.l;
        if (v.t == JV_DICT) return v.u.d == b.u.d;
        if (v.t == JV_STR) return v.u.s == b.u.s || jv_eq(v, b);
        return jv_eq(v, b);
    }
    if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "==")) return jv_eq(v, b);
    if (!strcmp(name, "ne") || !strcmp(name, "!=")) return !jv_eq(v, b);
    if (!strcmp(name, "lt") || !strcmp(name, "lessthan") || !strcmp(name, "<"))
        return jv_cmp(C->E, v, b) < 0;
    if (!strcmp(name, "le") || !strcmp(name, "<=")) return jv_cmp(C->E, v, b) <= 0;
    if (!strcmp(name, "gt") || !strcmp(name, "greaterthan") || !strcmp(name, ">"))
        return jv_cmp(C->E, v, b) > 0;
    if (!strcmp(name, "ge") || !strcmp(name, ">=")) return jv_cmp(C->E, v, b) >= 0;
    if (!strcmp(name, "in")) {
        jv a2[2] = {b, v};
        (void)a2;
        if (b.t == JV_STR)
            return v.t == JV_STR && memmem(b.u.s->s, b.u.s->len, v.u.s->s, v.u.s->len);
        if (b.t == JV_LIST) {
            for (size_t i = 0; i < b.u.l->n; i++)
                if (jv_eq(b.u.l->v[i], v)) return 1;
            return 0;
        }
        if (b.t == JV_DICT) {
            jv o;
            return jd_get(b.u.d, v, &o);
        }
        return 0;
    }
    if (!strcmp(name, "odd") || !strcmp(name, "even")) {
        long long x = need_int(C, v, name);
        return ((x % 2) != 0) == (name[0] == 'o');
    }
    if (!strcmp(name, "divisibleby")) {
        long long x = need_int(C, v, name), y = need_int(C, b, name);
        if (!y) jfail(C->E, "ZeroDivisionError: integer division or modulo by zero");
        return x % y == 0;
    }
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        if (v.t != JV_STR) return 0;
        jv m = map_case(C, v.u.s, name[0] == 'l' ? utf8proc_tolower : utf8proc_toupper);
        return jv_eq(m, v);
    }
    if (!strcmp(name, "escaped")) return 0;
    if (!strcmp(name, "startingwith") && b.t == JV_STR && v.t == JV_STR)
        return starts_ends(C, v.u.s, b, 0);
    jfail(C->E, "TemplateRuntimeError: no test named '%s'", name);
}

/* ---- filters ---- */

static jv f_tojson(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jjson_opts o = {.indent = -1, .item_sep = ", ", .key_sep = ": "};
    jv ind = arg_or(A, 2, "indent", jv_none());
    if (ind.t == JV_INT) {
        o.indent = ind.u.i < 0 ? 0 : ind.u.i > 64 ? 64 : (int)ind.u.i;
        o.item_sep = ",";
    } else if (ind.t == JV_STR)
        jfail(C->E, "TypeError: tojson: string indent is not supported");
    jv seps = arg_or(A, 3, "separators", jv_none());
    if (seps.t == JV_LIST && seps.u.l->n == 2 && seps.u.l->v[0].t == JV_STR &&
        seps.u.l->v[1].t == JV_STR) {
        o.item_sep = seps.u.l->v[0].u.s->s;
        o.key_sep = seps.u.l->v[1].u.s->s;
    }
    o.sort_keys = jv_truthy(arg_or(A, 4, "sort_keys", jv_bool(0)));
    int ascii = jv_truthy(arg_or(A, 1, "ensure_ascii", jv_bool(0)));
    jbuf b;
    jb_init(&b, C->A);
    jb_put(&b, "", 0);
    jv_tojson(C->E, &b, v, &o, 0);
    if (!ascii) return bufstr(C, &b);
    jbuf e;
    jb_init(&e, C->A);
    jb_put(&e, "", 0);
    for (size_t i = 0; i < b.n;) {
        utf8proc_int32_t cp;
        size_t k = next_cp(b.p, b.n, i, &cp);
        if (cp < 0x80)
            jb_putc(&e, (char)cp);
        else if (cp < 0x10000)
            jb_printf(&e, "\\u%04x", (unsigned)cp);
        else {
            unsigned c = (unsigned)cp - 0x10000;
            jb_printf(&e, "\\u%04x\\u%04x", 0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF));
        }
        i += k;
    }
    return bufstr(C, &e);
}

static jv f_indent(jctx *C, const char *name, const jargs *A) {
    (void)name;
    jstr *s = jv_tostr(C->A, A->a[0]);
    jv w = arg_or(A, 1, "width", jv_int(4));
    int first = jv_truthy(arg_or(A, 2, "first", jv_bool(0)));
    int blank = jv_truthy(arg_or(A, 3, "blank", jv_bool(0)));
    jbuf ind;
    jb_init(&ind, C->A);
    jb_put(&ind, "", 0);
    if (w.t == JV_STR)
        jb_put(&ind, w.u.s->s, w.u.s->len);
    else
        for (long long i = 0; i < need_int(C, w, "indent") && i < 1000; i++) jb_putc(&ind, ' ');
    /* as Jinja: lines of s + "\n" (a trailing newline of s survives as an empty line) */
    jbuf b;
    jb_init(&b, C->A);
    jb_put(&b, "", 0);
    if (first) jb_put(&b, ind.p, ind.n);
    size_t i = 0, line = 0;
    while (i <= s->len) {
        size_t e = i;
        while (e < s->len && s->s[e] != '\n' && s->s[e] != '\r') e++;
        if (e == s->len && i == s->len && line > 0) {
            /* the piece after s's own final newline: an empty line */
            jb_putc(&b, '\n');
            if (blank) jb_put(&b, ind.p, ind.n);
            break;
        }
        if (line > 0) {
            jb_putc(&b, '\n');
            if (blank || e > i) jb_put(&b, ind.p, ind.n);
        }
        jb_put(&b, s->s + i, e - i);
        line++;
        if (e >= s->len) break;
        if (s->s[e] == '\r' && e + 1 < s->len && s->s[e + 1] == '\n') e++;
        i = e + 1;
    }
    return bufstr(C, &b);
}

static jv select_like(jctx *C, const jargs *A, int attr, int want) {
    jlist *l = to_list(C, A->a[0]);
    jv out = jv_newlist(C->A, 0);
    int base = attr ? 2 : 1;
    jv name = jv_undef(NULL), attrname = jv_undef(NULL);
    if (attr) arg(A, 1, NULL, &attrname);
    arg(A, base, NULL, &name);
    int np = npos(A);
    for (size_t i = 0; i < l->n; i++) {
        jv item = l->v[i];
        jv x = attr ? attr_path(C, item, need_str(C, attrname, "selectattr")) : item;
        int r;
        if (name.t == JV_UNDEF)
            r = jv_truthy(x);
        else {
            int na = np - base;
            jv *ta = ja_alloc(C->A, (size_t)(na > 0 ? na : 1) * sizeof *ta);
            ta[0] = x;
            for (int k = 1; k < na; k++) arg(A, base + k, NULL, &ta[k]);
            r = jtest(C, need_str(C, name, "select")->s, ta, na > 0 ? na : 1);
        }
        if (r == want) jl_push(C->A, out.u.l, item);
    }
    return out;
}

/* ---- filters: one function each, found by name ---- */

static jv f_safe(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    (void)C;
    return v;
}

static jv f_string(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    return v.t == JV_STR ? v : (jv){.t = JV_STR, .u.s = jv_tostr(C->A, v)};
}

static jv f_trim(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jv ch = arg_or(A, 1, "chars", jv_none());
    return strip(C, jv_tostr(C->A, v), ch.t == JV_STR ? ch.u.s : NULL, 1, 1);
}

static jv f_upper(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    return map_case(C, jv_tostr(C->A, v), utf8proc_toupper);
}

static jv f_lower(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    return map_case(C, jv_tostr(C->A, v), utf8proc_tolower);
}

static jv f_capitalize(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    return capitalize(C, jv_tostr(C->A, v));
}

static jv f_title(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    return jinja_title(C, jv_tostr(C->A, v));
}

static jv f_length(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    switch (v.t) {
    case JV_STR:
        return jv_int((long long)ju_len(v.u.s->s, v.u.s->len));
    case JV_LIST:
        return jv_int((long long)v.u.l->n);
    case JV_DICT:
        return jv_int((long long)v.u.d->n);
    case JV_UNDEF:
        return jv_int(0);
    default:
        jfail(C->E, "TypeError: object of type '%s' has no len()", jv_typename(v));
    }
}

static jv f_default(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jv dflt = arg_or(A, 1, "default_value", mkstr(C, "", 0));
    int boolean = jv_truthy(arg_or(A, 2, "boolean", jv_bool(0)));
    if (v.t == JV_UNDEF || (boolean && !jv_truthy(v))) return dflt;
    return v;
}

static jv f_join(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jlist *l = to_list(C, v);
    jv sep = arg_or(A, 1, "d", mkstr(C, "", 0));
    jv at = arg_or(A, 2, "attribute", jv_none());
    jbuf b;
    jb_init(&b, C->A);
    jb_put(&b, "", 0);
    for (size_t i = 0; i < l->n; i++) {
        if (i) jv_str(&b, sep);
        jv_str(&b, at.t == JV_STR ? attr_path(C, l->v[i], at.u.s) : l->v[i]);
    }
    return bufstr(C, &b);
}

static jv f_list(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    return (jv){.t = JV_LIST, .u.l = to_list(C, v)};
}

static jv f_first(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    jlist *l = to_list(C, v);
    if (!l->n) return jv_undef(NULL);
    return name[0] == 'f' ? l->v[0] : l->v[l->n - 1];
}

static jv f_items(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    return items_of(C, v);
}

static jv f_dictsort(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jv it = items_of(C, v);
    int cs = jv_truthy(arg_or(A, 1, "case_sensitive", jv_bool(0)));
    jv by = arg_or(A, 2, "by", mkstr(C, "key", 3));
    int rev = jv_truthy(arg_or(A, 3, "reverse", jv_bool(0)));
    int byval = by.t == JV_STR && !strcmp(by.u.s->s, "value");
    jlist *l = it.u.l;
    jv *keys = ja_alloc(C->A, (l->n ? l->n : 1) * sizeof *keys);
    for (size_t i = 0; i < l->n; i++) {
        jv k = l->v[i].u.l->v[byval];
        keys[i] = cs ? k : lower_if_str(C, k);
    }
    sort_by(C, l->v, keys, l->n, rev);
    return it;
}

static jv f_sort(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jlist *l = to_list(C, v);
    int rev = jv_truthy(arg_or(A, 1, "reverse", jv_bool(0)));
    int cs = jv_truthy(arg_or(A, 2, "case_sensitive", jv_bool(0)));
    jv at = arg_or(A, 3, "attribute", jv_none());
    jv *keys = ja_alloc(C->A, (l->n ? l->n : 1) * sizeof *keys);
    for (size_t i = 0; i < l->n; i++) {
        jv k = at.t == JV_STR ? attr_path(C, l->v[i], at.u.s) : l->v[i];
        keys[i] = cs ? k : lower_if_str(C, k);
    }
    sort_by(C, l->v, keys, l->n, rev);
    return (jv){.t = JV_LIST, .u.l = l};
}

static jv f_unique(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jlist *l = to_list(C, v);
    int cs = jv_truthy(arg_or(A, 1, "case_sensitive", jv_bool(0)));
    jv at = arg_or(A, 2, "attribute", jv_none());
    jv out = jv_newlist(C->A, 0), seen = jv_newlist(C->A, 0);
    for (size_t i = 0; i < l->n; i++) {
        jv k = at.t == JV_STR ? attr_path(C, l->v[i], at.u.s) : l->v[i];
        if (!cs) k = lower_if_str(C, k);
        int dup = 0;
        for (size_t j = 0; j < seen.u.l->n && !dup; j++) dup = jv_eq(seen.u.l->v[j], k);
        if (dup) continue;
        jl_push(C->A, seen.u.l, k);
        jl_push(C->A, out.u.l, l->v[i]);
    }
    return out;
}

static jv f_reverse(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    if (v.t == JV_STR) {
        jlist *l = to_list(C, v);
        jbuf b;
        jb_init(&b, C->A);
        jb_put(&b, "", 0);
        for (size_t i = l->n; i > 0; i--) jb_put(&b, l->v[i - 1].u.s->s, l->v[i - 1].u.s->len);
        return bufstr(C, &b);
    }
    jlist *l = to_list(C, v);
    for (size_t i = 0; i < l->n / 2; i++) {
        jv t = l->v[i];
        l->v[i] = l->v[l->n - 1 - i];
        l->v[l->n - 1 - i] = t;
    }
    return (jv){.t = JV_LIST, .u.l = l};
}

static jv f_replace(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jstr *s = jv_tostr(C->A, v);
    jv old = arg_or(A, 1, "old", jv_undef(NULL)), nw = arg_or(A, 2, "new", jv_undef(NULL));
    jv cnt = arg_or(A, 3, "count", jv_none());
    return replace(C, s, jv_tostr(C->A, old), jv_tostr(C->A, nw), cnt.t == JV_INT ? cnt.u.i : -1);
}

static jv f_int(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jv dflt = arg_or(A, 1, "default", jv_int(0));
    if (v.t == JV_INT) return v;
    if (v.t == JV_BOOL) return jv_int(v.u.b);
    if (v.t == JV_FLOAT) return isfinite(v.u.f) ? jv_int((long long)v.u.f) : dflt;
    if (v.t == JV_STR) {
        jv t = strip(C, v.u.s, NULL, 1, 1);
        char *end;
        long long i = strtoll(t.u.s->s, &end, 10);
        if (t.u.s->len && !*end) return jv_int(i);
        double f = strtod(t.u.s->s, &end);
        if (t.u.s->len && !*end && isfinite(f)) return jv_int((long long)f);
    }
    return dflt;
}

static jv f_float(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jv dflt = arg_or(A, 1, "default", jv_float(0));
    if (jv_isnum(v)) return jv_float(jv_num(v));
    if (v.t == JV_STR) {
        jv t = strip(C, v.u.s, NULL, 1, 1);
        char *end;
        double f = strtod(t.u.s->s, &end);
        if (t.u.s->len && !*end) return jv_float(f);
    }
    return dflt;
}

static jv f_abs(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    if (v.t == JV_INT) return jv_int(v.u.i < 0 ? -v.u.i : v.u.i);
    if (v.t == JV_BOOL) return jv_int(v.u.b);
    if (v.t == JV_FLOAT) return jv_float(fabs(v.u.f));
    jfail(C->E, "TypeError: bad operand type for abs(): '%s'", jv_typename(v));
}

static jv f_round(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    if (!jv_isnum(v)) jfail(C->E, "TypeError: round expects a number, not %s", jv_typename(v));
    long long prec = need_int(C, arg_or(A, 1, "precision", jv_int(0)), "round");
    jv meth = arg_or(A, 2, "method", mkstr(C, "common", 6));
    double x = jv_num(v), p = pow(10, (double)prec), r;
    const char *m = meth.t == JV_STR ? meth.u.s->s : "common";
    if (!strcmp(m, "ceil"))
        r = ceil(x * p) / p;
    else if (!strcmp(m, "floor"))
        r = floor(x * p) / p;
    else if (v.t != JV_FLOAT)
        return jv_int(v.t == JV_INT ? v.u.i : v.u.b); /* Python: round(int, n) is an int */
    else
        r = nearbyint(x * p) / p;
    return jv_float(r);
}

static jv f_wordcount(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jstr *s = jv_tostr(C->A, v);
    long long n = 0;
    int in = 0;
    for (size_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)s->s[i];
        int w = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                c == '_' || c >= 0x80;
        if (w && !in) n++;
        in = w;
    }
    return jv_int(n);
}

static jv f_escape(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jstr *s = jv_tostr(C->A, v);
    jbuf b;
    jb_init(&b, C->A);
    jb_put(&b, "", 0);
    for (size_t i = 0; i < s->len; i++) {
        switch (s->s[i]) {
        case '&':
            jb_puts(&b, "&amp;");
            break;
        case '<':
            jb_puts(&b, "&lt;");
            break;
        case '>':
            jb_puts(&b, "&gt;");
            break;
        case '"':
            jb_puts(&b, "&#34;");
            break;
        case '\'':
            jb_puts(&b, "&#39;");
            break;
        default:
            jb_putc(&b, s->s[i]);
        }
    }
    return bufstr(C, &b);
}

static jv f_map(jctx *C, const char *name, const jargs *A) {
    (void)name;
    jv v = A->a[0];
    jlist *l = to_list(C, v);
    jv out = jv_newlist(C->A, l->n);
    jv at;
    if (arg(A, 1000000, "attribute", &at)) {
        jv dflt = arg_or(A, 1000000, "default", jv_undef(NULL));
        for (size_t i = 0; i < l->n; i++) {
            jv x = attr_path(C, l->v[i], need_str(C, at, "map"));
            jl_push(C->A, out.u.l, x.t == JV_UNDEF && dflt.t != JV_UNDEF ? dflt : x);
        }
        return out;
    }
    jv fname;
    if (!arg(A, 1, NULL, &fname))
        jfail(C->E, "TypeError: map requires a filter name or attribute=");
    const char *fn = need_str(C, fname, "map")->s;
    for (size_t i = 0; i < l->n; i++) {
        jv *fa = ja_alloc(C->A, (size_t)A->n * sizeof *fa);
        const char **fk = ja_alloc(C->A, (size_t)A->n * sizeof *fk);
        int k = 0, skipped = 0;
        fa[k++] = l->v[i];
        for (int j = 1; j < A->n; j++) {
            if ((!A->kw || !A->kw[j]) && !skipped) {
                skipped = 1; /* the filter name */
                continue;
            }
            fa[k] = A->a[j];
            fk[k++] = A->kw ? A->kw[j] : NULL;
        }
        jl_push(C->A, out.u.l, jfilter(C, fn, fa, fk, k));
    }
    return out;
}

/* select, reject, selectattr, rejectattr */
static jv f_select(jctx *C, const char *name, const jargs *A) {
    return select_like(C, A, strstr(name, "attr") != NULL, name[0] == 's');
}

static jv f_sum(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jlist *l = to_list(C, v);
    jv at = arg_or(A, 1, "attribute", jv_none());
    jv acc = arg_or(A, 2, "start", jv_int(0));
    for (size_t i = 0; i < l->n; i++) {
        jv x = at.t == JV_STR ? attr_path(C, l->v[i], at.u.s) : l->v[i];
        jv pair[2] = {acc, x};
        if (!jv_isnum(acc) || !jv_isnum(x)) jfail(C->E, "TypeError: sum of non-numbers");
        acc = (acc.t == JV_FLOAT || x.t == JV_FLOAT)
                  ? jv_float(jv_num(acc) + jv_num(x))
                  : jv_int((long long)jv_num(pair[0]) + (long long)jv_num(pair[1]));
    }
    return acc;
}

static jv f_min(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    jlist *l = to_list(C, v);
    int cs = jv_truthy(arg_or(A, 1, "case_sensitive", jv_bool(0)));
    jv at = arg_or(A, 2, "attribute", jv_none());
    if (!l->n) return jv_undef(NULL);
    size_t best = 0;
    jv bk = jv_undef(NULL);
    for (size_t i = 0; i < l->n; i++) {
        jv k = at.t == JV_STR ? attr_path(C, l->v[i], at.u.s) : l->v[i];
        if (!cs) k = lower_if_str(C, k);
        if (i == 0) {
            bk = k;
            continue;
        }
        int c = jv_cmp(C->E, k, bk);
        if (name[1] == 'i' ? c < 0 : c > 0) best = i, bk = k;
    }
    return l->v[best];
}

static jv f_format(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jv t = jv_newlist(C->A, (size_t)A->n);
    t.u.l->tuple = 1;
    for (int i = 1; i < A->n; i++) jl_push(C->A, t.u.l, A->a[i]);
    return percent_format(C, need_str(C, v, "format"),
                          A->n == 2 && A->a[1].t == JV_LIST && A->a[1].u.l->tuple ? A->a[1] : t);
}

static jv f_attr(jctx *C, const char *name, const jargs *A) {
    (void)name;
    jv v = A->a[0];
    return jgetattr(C, v, jv_tostr(C->A, arg_or(A, 1, "name", jv_undef(NULL)))->s);
}

static jv f_pprint(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jbuf b;
    jb_init(&b, C->A);
    jb_put(&b, "", 0);
    jv_repr(&b, v);
    return bufstr(C, &b);
}

static jv f_center(jctx *C, const char *name, const jargs *A) {
    jv v = A->a[0];
    (void)name;
    jstr *s = jv_tostr(C->A, v);
    long long w = need_int(C, arg_or(A, 1, "width", jv_int(80)), "center");
    long long len = (long long)ju_len(s->s, s->len), pad = w - len;
    if (pad <= 0) return (jv){.t = JV_STR, .u.s = s};
    long long left = pad / 2 + (pad & w & 1);
    jbuf b;
    jb_init(&b, C->A);
    for (long long i = 0; i < left; i++) jb_putc(&b, ' ');
    jb_put(&b, s->s, s->len);
    for (long long i = 0; i < pad - left; i++) jb_putc(&b, ' ');
    return bufstr(C, &b);
}

typedef jv (*filter_fn)(jctx *C, const char *name, const jargs *A);

static const struct {
    const char *name;
    filter_fn fn;
} filters[] = {
    {"safe", f_safe},         {"forceescape", f_safe},
    {"string", f_string},     {"tojson", f_tojson},
    {"trim", f_trim},         {"upper", f_upper},
    {"lower", f_lower},       {"capitalize", f_capitalize},
    {"title", f_title},       {"length", f_length},
    {"count", f_length},      {"default", f_default},
    {"d", f_default},         {"join", f_join},
    {"list", f_list},         {"first", f_first},
    {"last", f_first},        {"items", f_items},
    {"dictsort", f_dictsort}, {"sort", f_sort},
    {"unique", f_unique},     {"reverse", f_reverse},
    {"replace", f_replace},   {"int", f_int},
    {"float", f_float},       {"abs", f_abs},
    {"round", f_round},       {"wordcount", f_wordcount},
    {"indent", f_indent},     {"escape", f_escape},
    {"e", f_escape},          {"map", f_map},
    {"select", f_select},     {"reject", f_select},
    {"selectattr", f_select}, {"rejectattr", f_select},
    {"sum", f_sum},           {"min", f_min},
    {"max", f_min},           {"format", f_format},
    {"attr", f_attr},         {"pprint", f_pprint},
    {"center", f_center},
};

jv jfilter(jctx *C, const char *name, jv *args, const char **kw, int nargs) {
    jargs A = {args, kw, nargs};
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        if (!strcmp(name, filters[i].name)) return filters[i].fn(C, name, &A);
    jfail(C->E, "TemplateAssertionError: No filter named '%s'.", name);
}

/* ---- methods ---- */

/* One method call: the object, the method's name, its arguments (a0, a1:
 * the first two positional ones, undefined when absent). */
typedef struct {
    jctx *C;
    jv self;
    const char *m;
    const jargs *A;
    jv a0, a1;
} mcall;

typedef jv (*method_fn)(const mcall *x);

/* str.strip, lstrip, rstrip */
static jv s_strip(const mcall *x) {
    jstr *ch = x->a0.t == JV_STR ? x->a0.u.s : NULL;
    return strip(x->C, x->self.u.s, ch, x->m[0] != 'r', x->m[0] != 'l');
}

static jv s_split(const mcall *x) {
    jv sep = arg_or(x->A, 0, "sep", jv_none());
    jv mx = arg_or(x->A, 1, "maxsplit", jv_int(-1));
    return split(x->C, x->self.u.s, sep, need_int(x->C, mx, "split"));
}

static jv s_rsplit(const mcall *x) {
    jctx *C = x->C;
    jv sep = arg_or(x->A, 0, "sep", jv_none());
    long long mx = need_int(C, arg_or(x->A, 1, "maxsplit", jv_int(-1)), "rsplit");
    jv all = split(C, x->self.u.s, sep, -1);
    if (mx < 0 || (long long)all.u.l->n <= mx + 1 || sep.t != JV_STR) return all;
    /* join the leading pieces back */
    jv out = jv_newlist(C->A, 0);
    size_t keep = all.u.l->n - (size_t)mx;
    jbuf b;
    jb_init(&b, C->A);
    jb_put(&b, "", 0);
    for (size_t i = 0; i < keep; i++) {
        if (i) jb_put(&b, sep.u.s->s, sep.u.s->len);
        jb_put(&b, all.u.l->v[i].u.s->s, all.u.l->v[i].u.s->len);
    }
    jl_push(C->A, out.u.l, bufstr(C, &b));
    for (size_t i = keep; i < all.u.l->n; i++) jl_push(C->A, out.u.l, all.u.l->v[i]);
    return out;
}

/* str.startswith, endswith */
static jv s_starts_ends(const mcall *x) {
    return jv_bool(starts_ends(x->C, x->self.u.s, x->a0, x->m[0] == 'e'));
}

static jv s_upper(const mcall *x) {
    return map_case(x->C, x->self.u.s, utf8proc_toupper);
}

/* str.lower, casefold */
static jv s_lower(const mcall *x) {
    return map_case(x->C, x->self.u.s, utf8proc_tolower);
}

static jv s_title(const mcall *x) {
    return py_title(x->C, x->self.u.s);
}

static jv s_capitalize(const mcall *x) {
    return capitalize(x->C, x->self.u.s);
}

static utf8proc_int32_t swapcase_step(utf8proc_int32_t cp, int *state) {
    (void)state;
    utf8proc_int32_t u = utf8proc_toupper(cp);
    return u != cp ? u : utf8proc_tolower(cp);
}

static jv s_swapcase(const mcall *x) {
    return map_steps(x->C, x->self.u.s, swapcase_step);
}

static jv s_replace(const mcall *x) {
    jv cnt = arg_or(x->A, 2, "count", jv_int(-1));
    return replace(x->C, x->self.u.s, need_str(x->C, x->a0, "replace"),
                   need_str(x->C, x->a1, "replace"), need_int(x->C, cnt, "replace"));
}

static jv s_format(const mcall *x) {
    const jargs *A = x->A;
    jv *fa = ja_alloc(x->C->A, (size_t)(A->n + 1) * sizeof *fa);
    const char **fk = ja_alloc(x->C->A, (size_t)(A->n + 1) * sizeof *fk);
    fa[0] = x->self;
    for (int i = 0; i < A->n; i++) {
        fa[i + 1] = A->a[i];
        fk[i + 1] = A->kw ? A->kw[i] : NULL;
    }
    jargs FA = {fa, fk, A->n + 1};
    return brace_format(x->C, x->self.u.s, &FA);
}

/* str.find, rfind, index */
static jv s_find(const mcall *x) {
    jstr *s = x->self.u.s, *sub = need_str(x->C, x->a0, x->m);
    const char *hit = NULL;
    if (x->m[0] == 'r') {
        for (size_t i = s->len + 1; i-- > 0;)
            if (i + sub->len <= s->len && !memcmp(s->s + i, sub->s, sub->len)) {
                hit = s->s + i;
                break;
            }
    } else
        hit = sub->len ? memmem(s->s, s->len, sub->s, sub->len) : s->s;
    if (!hit && x->m[0] == 'i') jfail(x->C->E, "ValueError: substring not found");
    return jv_int(hit ? (long long)ju_len(s->s, (size_t)(hit - s->s)) : -1);
}

static jv s_count(const mcall *x) {
    jstr *s = x->self.u.s, *sub = need_str(x->C, x->a0, x->m);
    if (!sub->len) return jv_int((long long)ju_len(s->s, s->len) + 1);
    long long n = 0;
    for (const char *p = s->s; (p = memmem(p, s->len - (size_t)(p - s->s), sub->s, sub->len));
         p += sub->len)
        n++;
    return jv_int(n);
}

static jv s_join(const mcall *x) {
    jctx *C = x->C;
    jstr *s = x->self.u.s;
    jlist *l = to_list(C, x->a0);
    jbuf b;
    jb_init(&b, C->A);
    jb_put(&b, "", 0);
    for (size_t i = 0; i < l->n; i++) {
        if (i) jb_put(&b, s->s, s->len);
        jb_put(&b, need_str(C, l->v[i], "join")->s, l->v[i].u.s->len);
    }
    return bufstr(C, &b);
}

static jv s_splitlines(const mcall *x) {
    jstr *s = x->self.u.s;
    jv out = jv_newlist(x->C->A, 0);
    size_t i = 0;
    while (i < s->len) {
        size_t e = i;
        while (e < s->len && s->s[e] != '\n' && s->s[e] != '\r') e++;
        jl_push(x->C->A, out.u.l, mkstr(x->C, s->s + i, e - i));
        if (e < s->len && s->s[e] == '\r' && e + 1 < s->len && s->s[e + 1] == '\n') e++;
        i = e + 1;
    }
    return out;
}

/* str.isdigit, isalpha, isalnum, isspace, isupper, islower */
static jv s_is(const mcall *x) {
    jstr *s = x->self.u.s;
    const char *m = x->m;
    if (!s->len) return jv_bool(0);
    int any_cased = 0;
    for (size_t i = 0; i < s->len;) {
        utf8proc_int32_t cp;
        i += next_cp(s->s, s->len, i, &cp);
        int cat = utf8proc_category(cp);
        int alpha = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        int digit = cat == UTF8PROC_CATEGORY_ND;
        if (!strcmp(m, "isdigit") && !digit) return jv_bool(0);
        if (!strcmp(m, "isalpha") && !alpha) return jv_bool(0);
        if (!strcmp(m, "isalnum") && !alpha && !digit && cat != UTF8PROC_CATEGORY_NL &&
            cat != UTF8PROC_CATEGORY_NO)
            return jv_bool(0);
        if (!strcmp(m, "isspace") && !is_space_cp(cp)) return jv_bool(0);
        if (!strcmp(m, "isupper") && cat == UTF8PROC_CATEGORY_LL) return jv_bool(0);
        if (!strcmp(m, "islower") && (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT))
            return jv_bool(0);
        if (is_cased_letter(cp)) any_cased = 1;
    }
    if (!strcmp(m, "isupper") || !strcmp(m, "islower")) return jv_bool(any_cased);
    return jv_bool(1);
}

static jv d_get(const mcall *x) {
    jv r;
    if (jd_get(x->self.u.d, x->a0, &r)) return r;
    return arg_or(x->A, 1, "default", jv_none());
}

static jv d_items(const mcall *x) {
    return items_of(x->C, x->self);
}

/* dict.keys, values */
static jv d_keys(const mcall *x) {
    jdict *d = x->self.u.d;
    jv out = jv_newlist(x->C->A, d->n);
    for (size_t i = 0; i < d->n; i++) jl_push(x->C->A, out.u.l, x->m[0] == 'k' ? d->k[i] : d->v[i]);
    return out;
}

static jv d_copy(const mcall *x) {
    jdict *d = x->self.u.d;
    jv out = jv_newdict(x->C->A);
    for (size_t i = 0; i < d->n; i++) jd_set(x->C->A, out.u.d, d->k[i], d->v[i]);
    return out;
}

static jv d_update(const mcall *x) {
    jdict *d = x->self.u.d;
    const jargs *A = x->A;
    jv a0 = x->a0;
    if (a0.t == JV_DICT)
        for (size_t i = 0; i < a0.u.d->n; i++) jd_set(x->C->A, d, a0.u.d->k[i], a0.u.d->v[i]);
    for (int i = 0; i < A->n; i++)
        if (A->kw && A->kw[i]) jd_sets(x->C->A, d, A->kw[i], A->a[i]);
    return jv_none();
}

static jv d_setdefault(const mcall *x) {
    jv r;
    if (jd_get(x->self.u.d, x->a0, &r)) return r;
    jv dv = x->a1.t == JV_UNDEF ? jv_none() : x->a1;
    jd_set(x->C->A, x->self.u.d, x->a0, dv);
    return dv;
}

static jv d_pop(const mcall *x) {
    jdict *d = x->self.u.d;
    for (size_t i = 0; i < d->n; i++)
        if (jv_eq(d->k[i], x->a0)) {
            jv r = d->v[i];
            memmove(d->k + i, d->k + i + 1, (d->n - i - 1) * sizeof(jv));
            memmove(d->v + i, d->v + i + 1, (d->n - i - 1) * sizeof(jv));
            d->n--;
            return r;
        }
    if (x->a1.t != JV_UNDEF) return x->a1;
    jfail(x->C->E, "KeyError: key not found");
}

static jv l_append(const mcall *x) {
    jl_push(x->C->A, x->self.u.l, x->a0);
    return jv_none();
}

static jv l_extend(const mcall *x) {
    jlist *o = to_list(x->C, x->a0);
    for (size_t i = 0; i < o->n; i++) jl_push(x->C->A, x->self.u.l, o->v[i]);
    return jv_none();
}

static jv l_insert(const mcall *x) {
    jlist *l = x->self.u.l;
    long long i = need_int(x->C, x->a0, "insert"), n = (long long)l->n;
    if (i < 0) i = i + n < 0 ? 0 : i + n;
    if (i > n) i = n;
    jl_push(x->C->A, l, x->a1);
    memmove(l->v + i + 1, l->v + i, (size_t)(n - i) * sizeof(jv));
    l->v[i] = x->a1;
    return jv_none();
}

static jv l_pop(const mcall *x) {
    jlist *l = x->self.u.l;
    long long n = (long long)l->n, i = x->a0.t == JV_UNDEF ? n - 1 : need_int(x->C, x->a0, "pop");
    if (i < 0) i += n;
    if (i < 0 || i >= n) jfail(x->C->E, "IndexError: pop index out of range");
    jv r = l->v[i];
    memmove(l->v + i, l->v + i + 1, (size_t)(n - i - 1) * sizeof(jv));
    l->n--;
    return r;
}

static jv l_index(const mcall *x) {
    jlist *l = x->self.u.l;
    for (size_t i = 0; i < l->n; i++)
        if (jv_eq(l->v[i], x->a0)) return jv_int((long long)i);
    jfail(x->C->E, "ValueError: value is not in list");
}

static jv l_count(const mcall *x) {
    jlist *l = x->self.u.l;
    long long n = 0;
    for (size_t i = 0; i < l->n; i++) n += jv_eq(l->v[i], x->a0);
    return jv_int(n);
}

static jv l_copy(const mcall *x) {
    return (jv){.t = JV_LIST, .u.l = to_list(x->C, x->self)};
}

typedef struct {
    const char *name;
    method_fn fn;
} method;

/* The methods of each type, by name (what jhas_method answers and
 * call_method runs). */
static const method str_methods[] = {
    {"strip", s_strip},
    {"lstrip", s_strip},
    {"rstrip", s_strip},
    {"split", s_split},
    {"rsplit", s_rsplit},
    {"startswith", s_starts_ends},
    {"endswith", s_starts_ends},
    {"upper", s_upper},
    {"lower", s_lower},
    {"casefold", s_lower},
    {"title", s_title},
    {"capitalize", s_capitalize},
    {"swapcase", s_swapcase},
    {"replace", s_replace},
    {"format", s_format},
    {"find", s_find},
    {"rfind", s_find},
    {"index", s_find},
    {"count", s_count},
    {"join", s_join},
    {"splitlines", s_splitlines},
    {"isdigit", s_is},
    {"isalpha", s_is},
    {"isalnum", s_is},
    {"isspace", s_is},
    {"isupper", s_is},
    {"islower", s_is},
    {NULL, NULL},
};
static const method dict_methods[] = {
    {"get", d_get},
    {"items", d_items},
    {"keys", d_keys},
    {"values", d_keys},
    {"copy", d_copy},
    {"update", d_update},
    {"setdefault", d_setdefault},
    {"pop", d_pop},
    {NULL, NULL},
};
static const method list_methods[] = {
    {"index", l_index},   {"count", l_count}, /* a tuple's: these two (see methods_of) */
    {"append", l_append}, {"extend", l_extend}, {"insert", l_insert},
    {"pop", l_pop},       {"copy", l_copy},     {NULL, NULL},
};

/* The method called name of self's type; NULL: none. */
static method_fn find_method(jv self, const char *name) {
    const method *t = NULL;
    int n = -1; /* how many of t may be called (-1: all) */
    if (self.t == JV_STR) t = str_methods;
    if (self.t == JV_DICT && !self.u.d->ns) t = dict_methods;
    if (self.t == JV_LIST) t = list_methods, n = self.u.l->tuple ? 2 : -1;
    for (int i = 0; t && t[i].name && i != n; i++)
        if (!strcmp(t[i].name, name)) return t[i].fn;
    return NULL;
}

int jhas_method(jv self, const char *name) {
    return find_method(self, name) != NULL;
}

static jv call_method(jctx *C, jv self, const char *m, const jargs *A) {
    mcall x = {C, self, m, A, jv_undef(NULL), jv_undef(NULL)};
    arg(A, 0, NULL, &x.a0);
    arg(A, 1, NULL, &x.a1);
    method_fn fn = find_method(self, m);
    if (!fn) jfail(C->E, "AttributeError: '%s' object has no attribute '%s'", jv_typename(self), m);
    return fn(&x);
}

/* ---- globals ---- */

int jbuiltin_global(const char *name) {
    static const char *g[] = {"range",           "namespace",    "dict",
                              "raise_exception", "strftime_now", NULL};
    return in_list(g, name);
}

jv jbuiltin_call(jctx *C, jfunc *f, jv *args, const char **kw, int nargs) {
    jargs A = {args, kw, nargs};
    if (f->kind == JF_METHOD) return call_method(C, f->self, f->name, &A);
    if (f->kind == JF_CYCLE) {
        if (!nargs) jfail(C->E, "TypeError: no items for cycling given");
        return args[f->self.u.i % nargs];
    }
    const char *n = f->name;
    if (!strcmp(n, "raise_exception")) {
        jv msg = arg_or(&A, 0, "message", mkstr(C, "", 0));
        jstr *s = jv_tostr(C->A, msg);
        C->E->raised = 1;
        jfail(C->E, "%s", s->s);
    }
    if (!strcmp(n, "range")) {
        int np = npos(&A);
        long long start = 0, stop, step = 1;
        if (np == 1)
            stop = need_int(C, args[0], "range");
        else if (np >= 2) {
            start = need_int(C, args[0], "range");
            stop = need_int(C, args[1], "range");
            if (np >= 3) step = need_int(C, args[2], "range");
        } else
            jfail(C->E, "TypeError: range expected at least 1 argument, got 0");
        if (!step) jfail(C->E, "ValueError: range() arg 3 must not be zero");
        long long cnt = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                                 : (start > stop ? (start - stop - step - 1) / -step : 0);
        if (cnt > 10000000) {
            C->E->budget = 1;
            jfail(C->E, "OverflowError: range too large");
        }
        jcharge(C, (long)cnt); /* building it is work too: range(10**6) in a loop adds up */
        jv out = jv_newlist(C->A, (size_t)cnt);
        for (long long i = 0; i < cnt; i++) jl_push(C->A, out.u.l, jv_int(start + i * step));
        return out;
    }
    if (!strcmp(n, "namespace") || !strcmp(n, "dict")) {
        jv d = jv_newdict(C->A);
        d.u.d->ns = n[0] == 'n';
        for (int i = 0; i < nargs; i++) {
            if (kw && kw[i])
                jd_sets(C->A, d.u.d, kw[i], args[i]);
            else if (args[i].t == JV_DICT)
                for (size_t k = 0; k < args[i].u.d->n; k++)
                    jd_set(C->A, d.u.d, args[i].u.d->k[k], args[i].u.d->v[k]);
        }
        return d;
    }
    if (!strcmp(n, "strftime_now")) {
        jstr *fmt = need_str(C, arg_or(&A, 0, "format", jv_undef(NULL)), "strftime_now");
        time_t t = C->now ? C->now : time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        char out[512];
        size_t k = fmt->len ? strftime(out, sizeof out, fmt->s, &tm) : 0;
        return mkstr(C, out, k);
    }
    jfail(C->E, "TypeError: '%s' is not callable", n);
}
