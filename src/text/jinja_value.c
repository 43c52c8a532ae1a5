/* Values of the Jinja2 interpreter: the arena everything lives in, a string builder,
 * the value type (Python's None/bool/int/float/str/list/tuple/dict plus Jinja's
 * Undefined), Python's equality, ordering, str() and repr(), and JSON both ways:
 * jansson in, json.dumps-compatible text out (ensure_ascii=False). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja.h"
#include "util/grow.h"

/* ---- errors ---- */
void jfail(jerr *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    longjmp(e->jb, 1);
}

/* ---- arena ---- */
struct jchunk {
    jchunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

void *ja_alloc(jarena *A, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (!n) n = 16;
    jchunk *c = A->head;
    if (!c || c->size - c->used < n) {
        size_t sz = n > 65536 ? n : 65536;
        if (A->cap && A->total + sz > A->cap) {
            A->E->budget = 1;
            jfail(A->E, "template used too much memory");
        }
        c = malloc(sizeof *c + sz);
        if (!c) jfail(A->E, "out of memory");
        c->size = sz;
        c->used = 0;
        c->next = A->head;
        A->head = c;
        A->total += sz;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void *ja_regrow(jarena *A, const void *old, size_t n, size_t cap, size_t elem) {
    void *p = ja_alloc(A, cap * elem);
    if (n) memcpy(p, old, n * elem);
    return p;
}

void ja_free(jarena *A) {
    jchunk *c = A->head;
    while (c) {
        jchunk *nx = c->next;
        free(c);
        c = nx;
    }
    A->head = NULL;
    A->total = 0;
}

/* ---- string builder ---- */
void jb_init(jbuf *b, jarena *A) {
    memset(b, 0, sizeof *b);
    b->A = A;
}

void jb_put(jbuf *b, const char *s, size_t n) {
    if (b->limit && b->n + n > b->limit) {
        b->A->E->budget = 1;
        jfail(b->A->E, "template output exceeds the size limit");
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = lmx_grow_cap(b->cap * 2, b->n + n + 1, 64, SIZE_MAX);
        b->p = ja_regrow(b->A, b->p, b->n, cap, 1);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void jb_puts(jbuf *b, const char *s) {
    jb_put(b, s, strlen(s));
}
void jb_putc(jbuf *b, char c) {
    jb_put(b, &c, 1);
}

void jb_printf(jbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        jb_put(b, tmp, (size_t)n);
        return;
    }
    char *big = ja_alloc(b->A, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    jb_put(b, big, (size_t)n);
}

/* ---- constructors ---- */
jv jv_undef(jstr *name) {
    return (jv){.t = JV_UNDEF, .u.s = name};
}
jv jv_none(void) {
    return (jv){.t = JV_NONE};
}
jv jv_bool(int b) {
    return (jv){.t = JV_BOOL, .u.b = !!b};
}
jv jv_int(long long i) {
    return (jv){.t = JV_INT, .u.i = i};
}
jv jv_float(double f) {
    return (jv){.t = JV_FLOAT, .u.f = f};
}

jstr *js_new(jarena *A, const char *s, size_t n) {
    jstr *r = ja_alloc(A, sizeof *r + n + 1);
    r->len = n;
    if (n) memcpy(r->s, s, n);
    r->s[n] = 0;
    return r;
}

jv jv_strn(jarena *A, const char *s, size_t n) {
    return (jv){.t = JV_STR, .u.s = js_new(A, s, n)};
}
jv jv_cstr(jarena *A, const char *s) {
    return jv_strn(A, s, strlen(s));
}

jv jv_newlist(jarena *A, size_t cap) {
    jlist *l = ja_alloc(A, sizeof *l);
    if (cap) {
        l->v = ja_alloc(A, cap * sizeof(jv));
        l->cap = cap;
    }
    return (jv){.t = JV_LIST, .u.l = l};
}

jv jv_newdict(jarena *A) {
    return (jv){.t = JV_DICT, .u.d = ja_alloc(A, sizeof(jdict))};
}

jv jv_func(jarena *A, int kind, const char *name, jv self) {
    jfunc *f = ja_alloc(A, sizeof *f);
    f->kind = kind;
    f->name = name;
    f->self = self;
    return (jv){.t = JV_FUNC, .u.fn = f};
}

void jl_push(jarena *A, jlist *l, jv v) {
    if (l->n == l->cap) {
        size_t cap = lmx_grow_cap(l->cap * 2, l->n + 1, 4, SIZE_MAX);
        l->v = ja_regrow(A, l->v, l->n, cap, sizeof(jv));
        l->cap = cap;
    }
    l->v[l->n++] = v;
}

static long dict_find(const jdict *d, jv k) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_eq(d->k[i], k)) return (long)i;
    return -1;
}

/* Appends a key the caller knows is new: no search, so building a dict of n
 * keys (a tool with thousands of properties) is linear, not quadratic. */
static void jd_append(jarena *A, jdict *d, jv k, jv v) {
    if (d->n == d->cap) {
        size_t cap = lmx_grow_cap(d->cap * 2, d->n + 1, 8, SIZE_MAX);
        d->k = ja_regrow(A, d->k, d->n, cap, sizeof(jv));
        d->v = ja_regrow(A, d->v, d->n, cap, sizeof(jv));
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n] = v;
    d->n++;
}

void jd_set(jarena *A, jdict *d, jv k, jv v) {
    long i = dict_find(d, k);
    if (i >= 0) {
        d->v[i] = v;
        return;
    }
    jd_append(A, d, k, v);
}

int jd_get(const jdict *d, jv k, jv *out) {
    long i = dict_find(d, k);
    if (i < 0) return 0;
    *out = d->v[i];
    return 1;
}

int jd_gets(const jdict *d, const char *key, jv *out) {
    size_t n = strlen(key);
    for (size_t i = 0; i < d->n; i++) {
        jv k = d->k[i];
        if (k.t == JV_STR && k.u.s->len == n && !memcmp(k.u.s->s, key, n)) {
            *out = d->v[i];
            return 1;
        }
    }
    return 0;
}

/* Set by C-string key. Scopes are cleared (n = 0) and refilled on every loop iteration;
 * a stale key just past n that matches is reused so loops do not allocate keys. */
void jd_sets(jarena *A, jdict *d, const char *key, jv v) {
    size_t n = strlen(key);
    for (size_t i = 0; i < d->n; i++) {
        jv k = d->k[i];
        if (k.t == JV_STR && k.u.s->len == n && !memcmp(k.u.s->s, key, n)) {
            d->v[i] = v;
            return;
        }
    }
    jv k;
    if (d->n < d->cap && d->k[d->n].t == JV_STR && d->k[d->n].u.s->len == n &&
        !memcmp(d->k[d->n].u.s->s, key, n))
        k = d->k[d->n];
    else
        k = jv_strn(A, key, n);
    jd_set(A, d, k, v);
}

/* ---- Python semantics ---- */
int jv_truthy(jv v) {
    switch (v.t) {
    case JV_UNDEF:
    case JV_NONE:
        return 0;
    case JV_BOOL:
        return v.u.b;
    case JV_INT:
        return v.u.i != 0;
    case JV_FLOAT:
        return v.u.f != 0;
    case JV_STR:
        return v.u.s->len != 0;
    case JV_LIST:
        return v.u.l->n != 0;
    case JV_DICT:
        return v.u.d->ns || v.u.d->n != 0;
    default:
        return 1;
    }
}

int jv_isnum(jv v) {
    return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
}

double jv_num(jv v) {
    return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : v.t == JV_BOOL ? v.u.b : 0;
}

int jv_eq(jv a, jv b) {
    if (jv_isnum(a) && jv_isnum(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) {
            long long x = a.t == JV_INT ? a.u.i : a.u.b, y = b.t == JV_INT ? b.u.i : b.u.b;
            return x == y;
        }
        return jv_num(a) == jv_num(b);
    }
    if (a.t != b.t) return 0;
    switch (a.t) {
    case JV_UNDEF:
    case JV_NONE:
        return 1;
    case JV_STR:
        return a.u.s->len == b.u.s->len && !memcmp(a.u.s->s, b.u.s->s, a.u.s->len);
    case JV_LIST:
        if (a.u.l->n != b.u.l->n || a.u.l->tuple != b.u.l->tuple) return 0;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!jv_eq(a.u.l->v[i], b.u.l->v[i])) return 0;
        return 1;
    case JV_DICT:
        if (a.u.d->ns || b.u.d->ns) return a.u.d == b.u.d;
        if (a.u.d->n != b.u.d->n) return 0;
        for (size_t i = 0; i < a.u.d->n; i++) {
            jv o;
            if (!jd_get(b.u.d, a.u.d->k[i], &o) || !jv_eq(a.u.d->v[i], o)) return 0;
        }
        return 1;
    case JV_FUNC:
        return a.u.fn == b.u.fn;
    }
    return 0;
}

const char *jv_typename(jv v) {
    static const char *names[] = {"Undefined", "NoneType", "bool", "int",     "float",
                                  "str",       "list",     "dict", "function"};
    if (v.t == JV_LIST && v.u.l->tuple) return "tuple";
    if (v.t == JV_DICT && v.u.d->ns) return "Namespace";
    return names[v.t];
}

int jv_cmp(jerr *E, jv a, jv b) {
    if (jv_isnum(a) && jv_isnum(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) {
            long long x = a.t == JV_INT ? a.u.i : a.u.b, y = b.t == JV_INT ? b.u.i : b.u.b;
            return (x > y) - (x < y);
        }
        double x = jv_num(a), y = jv_num(b);
        return (x > y) - (x < y);
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        int c = memcmp(a.u.s->s, b.u.s->s, n); /* UTF-8 byte order = code point order */
        if (c) return c;
        return (a.u.s->len > b.u.s->len) - (a.u.s->len < b.u.s->len);
    }
    if (a.t == JV_LIST && b.t == JV_LIST) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (jv_eq(a.u.l->v[i], b.u.l->v[i])) continue;
            return jv_cmp(E, a.u.l->v[i], b.u.l->v[i]);
        }
        return (a.u.l->n > b.u.l->n) - (a.u.l->n < b.u.l->n);
    }
    jfail(E, "TypeError: '<' not supported between instances of '%s' and '%s'", jv_typename(a),
          jv_typename(b));
}

/* ---- printing ---- */
void jfmt_float(char *buf, size_t n, double f) {
    if (isnan(f)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, n, f < 0 ? "-inf" : "inf");
        return;
    }
    /* shortest digits that round-trip, as Python's repr */
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp = [-]d.ddde[+-]XX: pull out digits and exponent */
    char digits[24];
    int nd = 0, neg = 0;
    const char *p = tmp;
    if (*p == '-') neg = 1, p++;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int decpt = exp10 + 1; /* digits d1d2.. = 0.d1d2.. * 10^decpt */
    char out[64];
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (decpt <= -4 || decpt > 16) {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++) out[o++] = digits[i];
        }
        snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (decpt <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -decpt; i++) out[o++] = '0';
        for (int i = 0; i < nd; i++) out[o++] = digits[i];
        out[o] = 0;
    } else {
        for (int i = 0; i < decpt; i++) out[o++] = i < nd ? digits[i] : '0';
        out[o++] = '.';
        if (nd > decpt)
            for (int i = decpt; i < nd; i++) out[o++] = digits[i];
        else
            out[o++] = '0';
        out[o] = 0;
    }
    snprintf(buf, n, "%s", out);
}

static void repr_str(jbuf *b, const jstr *s) {
    char q = '\'';
    if (memchr(s->s, '\'', s->len) && !memchr(s->s, '"', s->len)) q = '"';
    jb_putc(b, q);
    for (size_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)s->s[i];
        if (c == (unsigned char)q || c == '\\') {
            jb_putc(b, '\\');
            jb_putc(b, (char)c);
        } else if (c == '\n')
            jb_puts(b, "\\n");
        else if (c == '\r')
            jb_puts(b, "\\r");
        else if (c == '\t')
            jb_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f)
            jb_printf(b, "\\x%02x", c);
        else
            jb_putc(b, (char)c);
    }
    jb_putc(b, q);
}

/* The scalars' text in Python's spelling (None, True, 1.5) or, with json,
 * JSON's (null, true, NaN): repr(), str() and tojson share it. 0 when v is
 * not a scalar (nothing written). */
static int put_scalar(jbuf *b, jv v, int json) {
    switch (v.t) {
    case JV_NONE:
        jb_puts(b, json ? "null" : "None");
        return 1;
    case JV_BOOL:
        jb_puts(b, json ? (v.u.b ? "true" : "false") : (v.u.b ? "True" : "False"));
        return 1;
    case JV_INT:
        jb_printf(b, "%lld", v.u.i);
        return 1;
    case JV_FLOAT:
        if (json && isnan(v.u.f))
            jb_puts(b, "NaN");
        else if (json && isinf(v.u.f))
            jb_puts(b, v.u.f < 0 ? "-Infinity" : "Infinity");
        else {
            char t[64];
            jfmt_float(t, sizeof t, v.u.f);
            jb_puts(b, t);
        }
        return 1;
    default:
        return 0;
    }
}

static void repr_any(jbuf *b, jv v, int top) {
    if (put_scalar(b, v, 0)) return;
    switch (v.t) {
    case JV_STR:
        if (top)
            jb_put(b, v.u.s->s, v.u.s->len);
        else
            repr_str(b, v.u.s);
        break;
    case JV_LIST: {
        jlist *l = v.u.l;
        jb_putc(b, l->tuple ? '(' : '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) jb_puts(b, ", ");
            repr_any(b, l->v[i], 0);
        }
        if (l->tuple && l->n == 1) jb_putc(b, ',');
        jb_putc(b, l->tuple ? ')' : ']');
        break;
    }
    case JV_DICT: {
        jdict *d = v.u.d;
        if (d->ns) jb_puts(b, "<Namespace ");
        jb_putc(b, '{');
        for (size_t i = 0; i < d->n; i++) {
            if (i) jb_puts(b, ", ");
            repr_any(b, d->k[i], 0);
            jb_puts(b, ": ");
            repr_any(b, d->v[i], 0);
        }
        jb_putc(b, '}');
        if (d->ns) jb_putc(b, '>');
        break;
    }
    case JV_FUNC:
        jb_printf(b, "<function %s>", v.u.fn->name ? v.u.fn->name : "?");
        break;
    default: /* Undefined prints as nothing */
        break;
    }
}

void jv_str(jbuf *b, jv v) {
    repr_any(b, v, 1);
}
void jv_repr(jbuf *b, jv v) {
    if (v.t == JV_UNDEF) return;
    repr_any(b, v, 0);
}

jstr *jv_tostr(jarena *A, jv v) {
    if (v.t == JV_STR) return v.u.s;
    jbuf b;
    jb_init(&b, A);
    jv_str(&b, v);
    return js_new(A, b.p ? b.p : "", b.n);
}

/* ---- UTF-8 ---- */
size_t ju_len(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

size_t ju_offset(const char *s, size_t n, size_t cp) {
    size_t c = 0, i = 0;
    for (; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (c == cp) return i;
            c++;
        }
    }
    return n;
}

/* ---- JSON ---- */
jv jv_from_json(jarena *A, const json_t *j, int depth) {
    if (depth > 200) jfail(A->E, "context JSON nested too deeply");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        jv d = jv_newdict(A);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            jd_append(A, d.u.d, jv_cstr(A, k), jv_from_json(A, v, depth + 1)); /* keys unique */
        }
        return d;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        jv l = jv_newlist(A, n);
        for (size_t i = 0; i < n; i++)
            jl_push(A, l.u.l, jv_from_json(A, json_array_get(j, i), depth + 1));
        return l;
    }
    case JSON_STRING:
        return jv_strn(A, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return jv_int((long long)json_integer_value(j));
    case JSON_REAL:
        return jv_float(json_real_value(j));
    case JSON_TRUE:
        return jv_bool(1);
    case JSON_FALSE:
        return jv_bool(0);
    default:
        return jv_none();
    }
}

static void json_str(jbuf *b, const char *s, size_t n) {
    /* json.dumps's two-character escapes: the byte in esc, the letter after
     * the backslash at the same place in as; other control bytes \u00XX */
    static const char esc[] = "\"\\\n\r\t\b\f", as[] = "\"\\nrtbf";
    jb_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *e = c ? strchr(esc, c) : NULL;
        if (e) {
            jb_putc(b, '\\');
            jb_putc(b, as[e - esc]);
        } else if (c < 0x20)
            jb_printf(b, "\\u%04x", c);
        else
            jb_putc(b, (char)c);
    }
    jb_putc(b, '"');
}

static void json_newline(jbuf *b, const jjson_opts *o, int level) {
    jb_putc(b, '\n');
    for (int i = 0; i < o->indent * level; i++) jb_putc(b, ' ');
}

/* A dict key as json.dumps writes it: a string, or a scalar's JSON text
 * quoted (True -> "true"); anything else cannot be a key. */
static void json_key(jerr *E, jbuf *b, jv k) {
    if (k.t == JV_STR) {
        json_str(b, k.u.s->s, k.u.s->len);
        return;
    }
    jb_putc(b, '"');
    if (!put_scalar(b, k, 1))
        jfail(E, "TypeError: keys must be str, int, float, bool or None, not %s", jv_typename(k));
    jb_putc(b, '"');
}

void jv_tojson(jerr *E, jbuf *b, jv v, const jjson_opts *o, int level) {
    if (level > 200) jfail(E, "ValueError: structure too deep for tojson");
    if (put_scalar(b, v, 1)) return;
    switch (v.t) {
    case JV_STR:
        json_str(b, v.u.s->s, v.u.s->len);
        return;
    case JV_LIST: {
        jlist *l = v.u.l;
        if (!l->n) {
            jb_puts(b, "[]");
            return;
        }
        jb_putc(b, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) jb_puts(b, o->item_sep);
            if (o->indent >= 0) json_newline(b, o, level + 1);
            jv_tojson(E, b, l->v[i], o, level + 1);
        }
        if (o->indent >= 0) json_newline(b, o, level);
        jb_putc(b, ']');
        return;
    }
    case JV_DICT: {
        jdict *d = v.u.d;
        if (d->ns) break;
        if (!d->n) {
            jb_puts(b, "{}");
            return;
        }
        size_t *ord = ja_alloc(b->A, d->n * sizeof *ord);
        for (size_t i = 0; i < d->n; i++) ord[i] = i;
        if (o->sort_keys) /* insertion sort: stable, dicts are small */
            for (size_t i = 1; i < d->n; i++)
                for (size_t j = i; j > 0 && jv_cmp(E, d->k[ord[j - 1]], d->k[ord[j]]) > 0; j--) {
                    size_t t = ord[j];
                    ord[j] = ord[j - 1];
                    ord[j - 1] = t;
                }
        jb_putc(b, '{');
        for (size_t i = 0; i < d->n; i++) {
            if (i) jb_puts(b, o->item_sep);
            if (o->indent >= 0) json_newline(b, o, level + 1);
            json_key(E, b, d->k[ord[i]]);
            jb_puts(b, o->key_sep);
            jv_tojson(E, b, d->v[ord[i]], o, level + 1);
        }
        if (o->indent >= 0) json_newline(b, o, level);
        jb_putc(b, '}');
        return;
    }
    default:
        break;
    }
    jfail(E, "TypeError: Object of type %s is not JSON serializable", jv_typename(v));
}
