/* Evaluator: runs statement trees and computes expressions.
 *
 * Scoping follows Jinja2: a for-loop iteration, macro call or with-block gets a fresh
 * scope whose parent is where it was written (so `set` inside a loop body does not
 * survive the iteration: that is what namespace() is for); if-blocks share their
 * enclosing scope. Undefined names yield Undefined values, which print as "", iterate
 * as empty and are falsy; using one in arithmetic is an UndefinedError.
 * Every statement and loop iteration counts a step against max_steps, and macro
 * calls nest at most MAX_CALL_DEPTH deep, so no template can run forever. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "text/jinja.h"

#define MAX_CALL_DEPTH 100

static jscope *new_scope(jctx *C, jscope *parent) {
    jscope *s = ja_alloc(C->A, sizeof *s);
    s->parent = parent;
    return s;
}

static jv lookup(jctx *C, jscope *S, const char *name) {
    jv v;
    for (jscope *s = S; s; s = s->parent)
        if (jd_gets(&s->vars, name, &v)) return v;
    if (jbuiltin_global(name)) return jv_func(C->A, JF_BUILTIN, name, jv_none());
    return jv_undef(js_new(C->A, name, strlen(name)));
}

_Noreturn static void undefined_error(jctx *C, jv v) {
    if (v.u.s) jfail(C->E, "UndefinedError: '%s' is undefined", v.u.s->s);
    jfail(C->E, "UndefinedError: value is undefined");
}

/* ---- arithmetic ---- */

static jv arith(jctx *C, int op, jv a, jv b) {
    if (a.t == JV_UNDEF) undefined_error(C, a);
    if (b.t == JV_UNDEF) undefined_error(C, b);
    int ints = (a.t == JV_INT || a.t == JV_BOOL) && (b.t == JV_INT || b.t == JV_BOOL);
    if (jv_isnum(a) && jv_isnum(b)) {
        long long x = a.t == JV_INT ? a.u.i : a.u.b, y = b.t == JV_INT ? b.u.i : b.u.b, r;
        double fx = jv_num(a), fy = jv_num(b);
        switch (op) {
        case OP_ADD:
            if (ints && !__builtin_add_overflow(x, y, &r)) return jv_int(r);
            return jv_float(fx + fy);
        case OP_SUB:
            if (ints && !__builtin_sub_overflow(x, y, &r)) return jv_int(r);
            return jv_float(fx - fy);
        case OP_MUL:
            if (ints && !__builtin_mul_overflow(x, y, &r)) return jv_int(r);
            return jv_float(fx * fy);
        case OP_DIV:
            if (fy == 0) jfail(C->E, "ZeroDivisionError: division by zero");
            return jv_float(fx / fy);
        case OP_FLOORDIV:
            if (fy == 0) jfail(C->E, "ZeroDivisionError: integer division or modulo by zero");
            if (ints) {
                if (y == -1) return jv_int(x == LLONG_MIN ? x : -x);
                long long q = x / y;
                if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
                return jv_int(q);
            }
            return jv_float(floor(fx / fy));
        case OP_MOD:
            if (fy == 0) jfail(C->E, "ZeroDivisionError: integer division or modulo by zero");
            if (ints) {
                if (y == -1) return jv_int(0);
                long long m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) m += y;
                return jv_int(m);
            } else {
                double m = fmod(fx, fy);
                if (m != 0 && ((m < 0) != (fy < 0))) m += fy;
                return jv_float(m);
            }
        case OP_POW:
            if (ints && y >= 0) {
                long long acc = 1, base = x;
                int ovf = 0;
                for (long long e = y; e > 0 && !ovf; e >>= 1) {
                    if (e & 1) ovf |= __builtin_mul_overflow(acc, base, &acc);
                    if (e > 1) ovf |= __builtin_mul_overflow(base, base, &base);
                }
                if (!ovf) return jv_int(acc);
            }
            return jv_float(pow(fx, fy));
        }
    }
    if (op == OP_ADD && a.t == JV_STR && b.t == JV_STR) {
        jbuf s;
        jb_init(&s, C->A);
        jb_put(&s, a.u.s->s, a.u.s->len);
        jb_put(&s, b.u.s->s, b.u.s->len);
        return (jv){.t = JV_STR, .u.s = js_new(C->A, s.p, s.n)};
    }
    if (op == OP_ADD && a.t == JV_LIST && b.t == JV_LIST) {
        jv r = jv_newlist(C->A, a.u.l->n + b.u.l->n);
        for (size_t i = 0; i < a.u.l->n; i++) jl_push(C->A, r.u.l, a.u.l->v[i]);
        for (size_t i = 0; i < b.u.l->n; i++) jl_push(C->A, r.u.l, b.u.l->v[i]);
        r.u.l->tuple = a.u.l->tuple && b.u.l->tuple;
        return r;
    }
    if (op == OP_MUL && (a.t == JV_STR || a.t == JV_LIST) && (b.t == JV_INT || b.t == JV_BOOL)) {
        long long k = b.t == JV_INT ? b.u.i : b.u.b;
        size_t unit = a.t == JV_STR ? a.u.s->len : a.u.l->n * sizeof(jv);
        if (k > 0 && unit && (unsigned long long)k > (64ull << 20) / unit) {
            C->E->budget = 1;
            jfail(C->E, "MemoryError: repetition result too large");
        }
        if (a.t == JV_STR) {
            jbuf s;
            jb_init(&s, C->A);
            jb_put(&s, "", 0);
            for (long long i = 0; i < k; i++) jb_put(&s, a.u.s->s, a.u.s->len);
            return (jv){.t = JV_STR, .u.s = js_new(C->A, s.p, s.n)};
        }
        jv r = jv_newlist(C->A, 0);
        for (long long i = 0; i < k; i++)
            for (size_t j = 0; j < a.u.l->n; j++) jl_push(C->A, r.u.l, a.u.l->v[j]);
        r.u.l->tuple = a.u.l->tuple;
        return r;
    }
    if (op == OP_MUL && (b.t == JV_STR || b.t == JV_LIST) && (a.t == JV_INT || a.t == JV_BOOL))
        return arith(C, op, b, a);
    if (op == OP_MOD && a.t == JV_STR) {
        jv args[2] = {a, b};
        return jfilter(C, "format", args, (const char *[]){NULL, NULL}, 2);
    }
    static const char *names[] = {"+", "-", "*", "/", "//", "%", "**"};
    jfail(C->E, "TypeError: unsupported operand type(s) for %s: '%s' and '%s'", names[op],
          jv_typename(a), jv_typename(b));
}

static int contains(jctx *C, jv container, jv item) {
    switch (container.t) {
    case JV_STR:
        if (item.t != JV_STR)
            jfail(C->E, "TypeError: 'in <string>' requires string as left operand, not %s",
                  jv_typename(item));
        if (!item.u.s->len) return 1;
        return memmem(container.u.s->s, container.u.s->len, item.u.s->s, item.u.s->len) != NULL;
    case JV_LIST:
        for (size_t i = 0; i < container.u.l->n; i++)
            if (jv_eq(container.u.l->v[i], item)) return 1;
        return 0;
    case JV_DICT: {
        jv o;
        return jd_get(container.u.d, item, &o);
    }
    case JV_UNDEF:
        return 0;
    default:
        jfail(C->E, "TypeError: argument of type '%s' is not iterable", jv_typename(container));
    }
}

static jv binary(jctx *C, int op, jv a, jv b) {
    switch (op) {
    case OP_EQ:
        return jv_bool(jv_eq(a, b));
    case OP_NE:
        return jv_bool(!jv_eq(a, b));
    case OP_LT:
        return jv_bool(jv_cmp(C->E, a, b) < 0);
    case OP_LE:
        return jv_bool(jv_cmp(C->E, a, b) <= 0);
    case OP_GT:
        return jv_bool(jv_cmp(C->E, a, b) > 0);
    case OP_GE:
        return jv_bool(jv_cmp(C->E, a, b) >= 0);
    case OP_IN:
        return jv_bool(contains(C, b, a));
    case OP_NOTIN:
        return jv_bool(!contains(C, b, a));
    default:
        return arith(C, op, a, b);
    }
}

/* ---- slicing ---- */

static long long slice_idx(jctx *C, jv v, long long dflt) {
    if (v.t == JV_NONE || v.t == JV_UNDEF) return dflt;
    if (v.t == JV_INT) return v.u.i;
    if (v.t == JV_BOOL) return v.u.b;
    jfail(C->E, "TypeError: slice indices must be integers or None");
}

static jv do_slice(jctx *C, jv obj, jv vstart, jv vstop, jv vstep) {
    long long step = slice_idx(C, vstep, 1);
    if (step == 0) jfail(C->E, "ValueError: slice step cannot be zero");
    size_t len;
    if (obj.t == JV_LIST)
        len = obj.u.l->n;
    else if (obj.t == JV_STR)
        len = ju_len(obj.u.s->s, obj.u.s->len);
    else if (obj.t == JV_UNDEF)
        return obj;
    else
        jfail(C->E, "TypeError: '%s' object is not subscriptable", jv_typename(obj));
    long long n = (long long)len;
    long long start, stop;
    if (step > 0) {
        start = slice_idx(C, vstart, 0);
        stop = slice_idx(C, vstop, n);
        if (start < 0) start = start + n < 0 ? 0 : start + n;
        if (stop < 0) stop = stop + n < 0 ? 0 : stop + n;
        if (start > n) start = n;
        if (stop > n) stop = n;
    } else {
        start = slice_idx(C, vstart, n - 1);
        stop = slice_idx(C, vstop, -n - 1);
        if (start < 0) start = start + n < -1 ? -1 : start + n;
        if (stop < 0) stop = stop + n < -1 ? -1 : stop + n;
        if (start >= n) start = n - 1;
        if (stop >= n) stop = n - 1;
    }
    if (obj.t == JV_LIST) {
        jv r = jv_newlist(C->A, 0);
        for (long long i = start; step > 0 ? i < stop : i > stop; i += step)
            jl_push(C->A, r.u.l, obj.u.l->v[i]);
        r.u.l->tuple = obj.u.l->tuple;
        return r;
    }
    /* strings: index code points */
    const char *s = obj.u.s->s;
    size_t bl = obj.u.s->len;
    size_t *off = ja_alloc(C->A, (len + 1) * sizeof *off);
    for (size_t i = 0, c = 0; i <= bl; i++)
        if (i == bl || ((unsigned char)s[i] & 0xC0) != 0x80) off[c++] = i;
    jbuf b;
    jb_init(&b, C->A);
    jb_put(&b, "", 0);
    for (long long i = start; step > 0 ? i < stop : i > stop; i += step)
        jb_put(&b, s + off[i], off[i + 1] - off[i]);
    return (jv){.t = JV_STR, .u.s = js_new(C->A, b.p, b.n)};
}

/* ---- assignment ---- */

static void assign(jctx *C, const jexpr *target, jv v, jscope *S) {
    if (target->kind == E_NAME) {
        jd_sets(C->A, &S->vars, target->name, v);
        return;
    }
    if (target->kind == E_GETATTR) {
        jv ns = lookup(C, S, target->a->name);
        if (ns.t != JV_DICT || !ns.u.d->ns)
            jfail(C->E, "TemplateRuntimeError: cannot assign attribute on non-namespace object");
        jd_sets(C->A, ns.u.d, target->name, v);
        return;
    }
    /* tuple unpacking */
    jlist *items = NULL;
    if (v.t == JV_LIST)
        items = v.u.l;
    else if (v.t == JV_STR || v.t == JV_DICT) {
        jv args[1] = {v};
        jv l = jfilter(C, "list", args, (const char *[]){NULL}, 1);
        items = l.u.l;
    } else
        jfail(C->E, "TypeError: cannot unpack non-iterable %s object", jv_typename(v));
    if ((int)items->n != target->nargs)
        jfail(C->E, "ValueError: %s values to unpack (expected %d, got %zu)",
              (int)items->n > target->nargs ? "too many" : "not enough", target->nargs, items->n);
    for (int i = 0; i < target->nargs; i++) assign(C, target->args[i], items->v[i], S);
}

/* ---- calls ---- */

static jv capture(jctx *C, const jnode *body, jscope *S) {
    jbuf *saved = C->out, buf;
    jb_init(&buf, C->A);
    jb_put(&buf, "", 0);
    C->out = &buf;
    jexec(C, body, S);
    C->out = saved;
    return (jv){.t = JV_STR, .u.s = js_new(C->A, buf.p, buf.n)};
}

static jv call_macro(jctx *C, jfunc *f, jv *args, const char **kw, int nargs) {
    const jnode *m = f->node;
    if (C->depth >= MAX_CALL_DEPTH) {
        C->E->budget = 1;
        jfail(C->E, "RecursionError: maximum macro call depth (%d) exceeded", MAX_CALL_DEPTH);
    }
    jscope *S = new_scope(C, f->closure);
    jv varargs = jv_newlist(C->A, 0), kwargs = jv_newdict(C->A);
    varargs.u.l->tuple = 1;
    int pos = 0;
    char *bound = ja_alloc(C->A, (size_t)m->nparams + 1);
    for (int i = 0; i < nargs; i++) {
        if (kw && kw[i]) {
            int k;
            for (k = 0; k < m->nparams; k++)
                if (!strcmp(m->params[k], kw[i])) break;
            if (k < m->nparams) {
                jd_sets(C->A, &S->vars, m->params[k], args[i]);
                bound[k] = 1;
            } else if (!strcmp(kw[i], "caller")) {
                jd_sets(C->A, &S->vars, "caller", args[i]);
            } else
                jd_sets(C->A, kwargs.u.d, kw[i], args[i]);
        } else if (pos < m->nparams) {
            jd_sets(C->A, &S->vars, m->params[pos], args[i]);
            bound[pos++] = 1;
        } else
            jl_push(C->A, varargs.u.l, args[i]);
    }
    C->depth++;
    for (int k = 0; k < m->nparams; k++) {
        if (bound[k]) continue;
        jv d = m->defaults[k] ? jeval(C, m->defaults[k], S)
                              : jv_undef(js_new(C->A, m->params[k], strlen(m->params[k])));
        jd_sets(C->A, &S->vars, m->params[k], d);
    }
    jd_sets(C->A, &S->vars, "varargs", varargs);
    jd_sets(C->A, &S->vars, "kwargs", kwargs);
    jv r = capture(C, m->body, S);
    C->depth--;
    return r;
}

jv jcall(jctx *C, jv fn, jv *args, const char **kw, int nargs) {
    if (fn.t == JV_UNDEF) undefined_error(C, fn);
    if (fn.t != JV_FUNC) jfail(C->E, "TypeError: '%s' object is not callable", jv_typename(fn));
    jfunc *f = fn.u.fn;
    if (f->kind == JF_MACRO || f->kind == JF_CALLER) return call_macro(C, f, args, kw, nargs);
    return jbuiltin_call(C, f, args, kw, nargs);
}

/* Evaluates call arguments; `extra` slots are left free at the end for the caller. */
static int eval_args(jctx *C, const jexpr *e, jscope *S, int first, jv **out, const char ***kwout,
                     int extra) {
    int n = e->nargs + first + extra;
    jv *a = ja_alloc(C->A, (size_t)(n ? n : 1) * sizeof *a);
    const char **kw = ja_alloc(C->A, (size_t)(n ? n : 1) * sizeof *kw);
    for (int i = 0; i < e->nargs; i++) {
        a[first + i] = jeval(C, e->args[i], S);
        kw[first + i] = e->kw ? e->kw[i] : NULL;
    }
    *out = a;
    *kwout = kw;
    return e->nargs + first;
}

static jv eval_filter(jctx *C, const jexpr *e, jscope *S, jv input) {
    jv in = e->a ? (e->a->kind == E_FILTER ? eval_filter(C, e->a, S, input) : jeval(C, e->a, S))
                 : input;
    jv *a;
    const char **kw;
    int n = eval_args(C, e, S, 1, &a, &kw, 0);
    a[0] = in;
    return jfilter(C, e->name, a, kw, n);
}

jv jeval(jctx *C, const jexpr *e, jscope *S) {
    jcharge(C, 1);
    switch (e->kind) {
    case E_CONST:
        return e->val;
    case E_NAME:
        return lookup(C, S, e->name);
    case E_LIST:
    case E_TUPLE: {
        jv l = jv_newlist(C->A, (size_t)e->nargs);
        for (int i = 0; i < e->nargs; i++) jl_push(C->A, l.u.l, jeval(C, e->args[i], S));
        l.u.l->tuple = e->kind == E_TUPLE;
        return l;
    }
    case E_DICT: {
        jv d = jv_newdict(C->A);
        for (int i = 0; i + 1 < e->nargs; i += 2) {
            jv k = jeval(C, e->args[i], S);
            if (k.t == JV_LIST || k.t == JV_DICT)
                jfail(C->E, "TypeError: unhashable type: '%s'", jv_typename(k));
            jd_set(C->A, d.u.d, k, jeval(C, e->args[i + 1], S));
        }
        return d;
    }
    case E_GETATTR:
        return jgetattr(C, jeval(C, e->a, S), e->name);
    case E_GETITEM: {
        jv obj = jeval(C, e->a, S);
        return jgetitem(C, obj, jeval(C, e->b, S));
    }
    case E_SLICE: {
        jv obj = jeval(C, e->a, S);
        jv none = jv_none();
        jv st = e->b ? jeval(C, e->b, S) : none, sp = e->c ? jeval(C, e->c, S) : none;
        jv step = e->args[0] ? jeval(C, e->args[0], S) : none;
        return do_slice(C, obj, st, sp, step);
    }
    case E_CALL: {
        jv fn = jeval(C, e->a, S);
        jv *a;
        const char **kw;
        int n = eval_args(C, e, S, 0, &a, &kw, 0);
        return jcall(C, fn, a, kw, n);
    }
    case E_FILTER:
        return eval_filter(C, e, S, jv_undef(NULL));
    case E_TEST: {
        jv *a;
        const char **kw;
        int n = eval_args(C, e, S, 1, &a, &kw, 0);
        a[0] = jeval(C, e->a, S);
        int r = jtest(C, e->name, a, n);
        return jv_bool(e->op ? !r : r);
    }
    case E_NOT:
        return jv_bool(!jv_truthy(jeval(C, e->a, S)));
    case E_NEG:
    case E_POS: {
        jv v = jeval(C, e->a, S);
        if (v.t == JV_UNDEF) undefined_error(C, v);
        if (!jv_isnum(v))
            jfail(C->E, "TypeError: bad operand type for unary %c: '%s'",
                  e->kind == E_NEG ? '-' : '+', jv_typename(v));
        if (e->kind == E_POS) return v.t == JV_BOOL ? jv_int(v.u.b) : v;
        if (v.t == JV_FLOAT) return jv_float(-v.u.f);
        long long x = v.t == JV_INT ? v.u.i : v.u.b;
        return x == LLONG_MIN ? jv_float(-(double)x) : jv_int(-x);
    }
    case E_BIN: {
        jv a = jeval(C, e->a, S);
        return binary(C, e->op, a, jeval(C, e->b, S));
    }
    case E_AND: {
        jv a = jeval(C, e->a, S);
        return jv_truthy(a) ? jeval(C, e->b, S) : a;
    }
    case E_OR: {
        jv a = jeval(C, e->a, S);
        return jv_truthy(a) ? a : jeval(C, e->b, S);
    }
    case E_COND:
        if (jv_truthy(jeval(C, e->b, S))) return jeval(C, e->a, S);
        return e->c ? jeval(C, e->c, S) : jv_undef(NULL);
    case E_CONCAT: {
        jbuf b;
        jb_init(&b, C->A);
        jb_put(&b, "", 0);
        jv_str(&b, jeval(C, e->a, S));
        jv_str(&b, jeval(C, e->b, S));
        return (jv){.t = JV_STR, .u.s = js_new(C->A, b.p, b.n)};
    }
    }
    jfail(C->E, "internal error: bad expression kind %d", e->kind);
}

/* ---- statements ---- */

void jcharge(jctx *C, long n) {
    C->steps += n;
    if (C->steps > C->max_steps) {
        C->E->budget = 1;
        jfail(C->E, "template exceeded its operation budget (step limit %ld)", C->max_steps);
    }
}

static void step(jctx *C) {
    jcharge(C, 1);
}

static jlist *iter_list(jctx *C, jv v) {
    switch (v.t) {
    case JV_LIST:
        return v.u.l;
    case JV_UNDEF:
        return jv_newlist(C->A, 0).u.l;
    case JV_STR:
    case JV_DICT: {
        if (v.t == JV_DICT && v.u.d->ns) break;
        jv args[1] = {v};
        return jfilter(C, "list", args, (const char *[]){NULL}, 1).u.l;
    }
    default:
        break;
    }
    jfail(C->E, "TypeError: '%s' object is not iterable", jv_typename(v));
}

static void exec_for(jctx *C, const jnode *n, jscope *S) {
    jlist *src = iter_list(C, jeval(C, n->expr, S));
    /* snapshot (the body may append to the list), filtered by `if` */
    jlist *items = jv_newlist(C->A, src->n).u.l;
    jscope *it = new_scope(C, S);
    for (size_t i = 0; i < src->n; i++) {
        if (n->cond) {
            step(C);
            it->vars.n = 0;
            assign(C, n->target, src->v[i], it);
            if (!jv_truthy(jeval(C, n->cond, it))) continue;
        }
        jl_push(C->A, items, src->v[i]);
    }
    size_t len = items->n;
    jv loop = jv_newdict(C->A);
    for (size_t i = 0; i < len; i++) {
        step(C);
        jdict *L = loop.u.d;
        L->n = 0;
        jd_sets(C->A, L, "index", jv_int((long long)i + 1));
        jd_sets(C->A, L, "index0", jv_int((long long)i));
        jd_sets(C->A, L, "revindex", jv_int((long long)(len - i)));
        jd_sets(C->A, L, "revindex0", jv_int((long long)(len - i - 1)));
        jd_sets(C->A, L, "first", jv_bool(i == 0));
        jd_sets(C->A, L, "last", jv_bool(i + 1 == len));
        jd_sets(C->A, L, "length", jv_int((long long)len));
        jd_sets(C->A, L, "depth", jv_int(1));
        jd_sets(C->A, L, "depth0", jv_int(0));
        jd_sets(C->A, L, "cycle", jv_func(C->A, JF_CYCLE, "cycle", jv_int((long long)i)));
        if (i > 0) jd_sets(C->A, L, "previtem", items->v[i - 1]);
        if (i + 1 < len) jd_sets(C->A, L, "nextitem", items->v[i + 1]);
        it->vars.n = 0;
        jd_sets(C->A, &it->vars, "loop", loop);
        assign(C, n->target, items->v[i], it);
        jexec(C, n->body, it);
        if (C->brk == 1) {
            C->brk = 0;
            break;
        }
        C->brk = 0;
    }
    if (!len && n->else_) jexec(C, n->else_, S);
}

static void exec_callblock(jctx *C, const jnode *n, jscope *S) {
    const jexpr *call = n->expr;
    jv fn = jeval(C, call->a, S);
    jv *a;
    const char **kw;
    int k = eval_args(C, call, S, 0, &a, &kw, 1);
    jfunc *caller = ja_alloc(C->A, sizeof *caller);
    caller->kind = JF_CALLER;
    caller->name = "caller";
    caller->node = n;
    caller->closure = S;
    a[k] = (jv){.t = JV_FUNC, .u.fn = caller};
    kw[k] = "caller";
    jv r = jcall(C, fn, a, kw, k + 1);
    jv_str(C->out, r);
}

void jexec(jctx *C, const jnode *n, jscope *S) {
    for (; n && !C->brk; n = n->next) {
        step(C);
        C->E->line = n->line;
        switch (n->kind) {
        case S_TEXT:
            jb_put(C->out, n->text, n->len);
            break;
        case S_OUTPUT:
            jv_str(C->out, jeval(C, n->expr, S));
            break;
        case S_IF:
            if (jv_truthy(jeval(C, n->expr, S)))
                jexec(C, n->body, S);
            else if (n->else_)
                jexec(C, n->else_, S);
            break;
        case S_FOR:
            exec_for(C, n, S);
            break;
        case S_SET:
            assign(C, n->target, jeval(C, n->expr, S), S);
            break;
        case S_SETBLOCK: {
            jv v = capture(C, n->body, S);
            if (n->filter) v = eval_filter(C, n->filter, S, v);
            assign(C, n->target, v, S);
            break;
        }
        case S_MACRO: {
            jv f = jv_func(C->A, JF_MACRO, n->name, jv_none());
            f.u.fn->node = n;
            f.u.fn->closure = S;
            jd_sets(C->A, &S->vars, n->name, f);
            break;
        }
        case S_CALLBLOCK:
            exec_callblock(C, n, S);
            break;
        case S_BREAK:
            C->brk = 1;
            break;
        case S_CONTINUE:
            C->brk = 2;
            break;
        case S_FILTERBLOCK:
            jv_str(C->out, eval_filter(C, n->filter, S, capture(C, n->body, S)));
            break;
        case S_DO:
            jeval(C, n->expr, S);
            break;
        case S_WITH: {
            jscope *w = new_scope(C, S);
            for (int i = 0; i < n->nparams; i++)
                jd_sets(C->A, &w->vars, n->params[i], jeval(C, n->wvals[i], S));
            jexec(C, n->body, w);
            break;
        }
        }
    }
}
