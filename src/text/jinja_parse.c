/* Parser: tokens -> trees of statements (jnode) and expressions (jexpr).
 *
 * Recursive descent with Jinja2's precedence, loosest first:
 *   a if c else b | or | and | not | comparisons, in, not in | + - | ~ | * / // % | ** |
 *   unary - + | primary with postfix . [] () and filters `|f(...)`, tests `is [not] t`.
 * Statements: if/elif/else, for/else (with `if` filter), set (plain, tuple, ns.attr,
 * block), macro, call, filter, with, do, break, continue. Errors carry LINE:COL of the
 * offending token; nesting depth is bounded so hostile input cannot exhaust the stack. */
#include <stdio.h>
#include <string.h>

#include "text/jinja.h"
#include "util/grow.h"

#define MAX_DEPTH 200

typedef struct {
    jarena *A;
    jtok *t;
    size_t n, i;
    int depth, loops;
} parser;

static jtok *peek(parser *P) {
    return &P->t[P->i];
}
static jtok *peekn(parser *P, size_t k) {
    return &P->t[P->i + k < P->n ? P->i + k : P->n - 1];
}
static jtok *next(parser *P) {
    jtok *t = &P->t[P->i];
    if (P->i + 1 < P->n) P->i++;
    return t;
}

static int tok_is(const jtok *t, int type, const char *s) {
    return t->t == type && strlen(s) == t->n && !memcmp(t->s, s, t->n);
}
static int is_op(parser *P, const char *s) {
    return tok_is(peek(P), T_OP, s);
}
static int is_kw(parser *P, const char *s) {
    return tok_is(peek(P), T_NAME, s);
}

static const char *tok_desc(const jtok *t, char *buf, size_t n) {
    switch (t->t) {
    case T_EOF:
        return "end of template";
    case T_BLOCK_END:
        return "end of statement block";
    case T_VAR_END:
        return "end of print statement";
    case T_BLOCK_BEGIN:
        return "begin of statement block";
    case T_VAR_BEGIN:
        return "begin of print statement";
    case T_STRING:
        return "string";
    case T_TEXT:
        return "template text";
    default:
        snprintf(buf, n, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->s);
        return buf;
    }
}

_Noreturn static void fail_at(parser *P, const jtok *t, const char *fmt, const char *arg) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg);
    jfail(P->A->E, "%d:%d: %s", t->line, t->col, msg);
}

_Noreturn static void unexpected(parser *P, const char *what) {
    char b[64], msg[256];
    snprintf(msg, sizeof msg, "unexpected %s, expected %s", tok_desc(peek(P), b, sizeof b), what);
    fail_at(P, peek(P), "%s", msg);
}

static void expect_op(parser *P, const char *s) {
    if (!is_op(P, s)) {
        char w[16];
        snprintf(w, sizeof w, "'%s'", s);
        unexpected(P, w);
    }
    next(P);
}

static const char *expect_name(parser *P) {
    if (peek(P)->t != T_NAME) unexpected(P, "a name");
    jtok *t = next(P);
    char *s = ja_alloc(P->A, t->n + 1);
    memcpy(s, t->s, t->n);
    return s;
}

static void expect_block_end(parser *P) {
    if (peek(P)->t != T_BLOCK_END) unexpected(P, "end of statement block '%}'");
    next(P);
}

static jexpr *mk(parser *P, int kind, const jtok *at) {
    jexpr *e = ja_alloc(P->A, sizeof *e);
    e->kind = kind;
    e->line = at->line;
    e->col = at->col;
    return e;
}

static void enter(parser *P) {
    if (++P->depth > MAX_DEPTH) fail_at(P, peek(P), "%s", "template nested too deeply");
}

/* growable argument arrays */
typedef struct {
    jexpr **v;
    const char **kw;
    int n, cap;
} argv_t;

static void args_push(parser *P, argv_t *a, jexpr *e, const char *kw) {
    if (a->n == a->cap) {
        int cap = (int)lmx_grow_cap((size_t)a->cap * 2, (size_t)a->n + 1, 4, INT32_MAX);
        a->v = ja_regrow(P->A, a->v, (size_t)a->n, (size_t)cap, sizeof *a->v);
        a->kw = ja_regrow(P->A, a->kw, (size_t)a->n, (size_t)cap, sizeof *a->kw);
        a->cap = cap;
    }
    a->v[a->n] = e;
    a->kw[a->n] = kw;
    a->n++;
}

/* Before each item of a bracketed, comma-separated list: 0 at its closing
 * token (left next; a trailing comma is allowed), else 1 with the comma
 * between items taken. */
static int more_items(parser *P, int n, const char *close) {
    if (is_op(P, close)) return 0;
    if (n) {
        expect_op(P, ",");
        if (is_op(P, close)) return 0;
    }
    return 1;
}

static jexpr *parse_expr(parser *P);
static jexpr *parse_or(parser *P);
static jexpr *parse_unary(parser *P, int with_filter);
static jexpr *parse_primary(parser *P);

/* Comma-separated expressions; a tuple when there is a comma (or `()`). */
static jexpr *parse_tuple(parser *P, int with_condexpr, int explicit_parens) {
    jtok *at = peek(P);
    argv_t a = {0};
    int comma = 0;
    for (;;) {
        if (a.n) {
            if (!is_op(P, ",")) break;
            next(P);
            comma = 1;
        }
        jtok *t = peek(P);
        if (t->t == T_VAR_END || t->t == T_BLOCK_END || tok_is(t, T_OP, ")") || t->t == T_EOF)
            break;
        if (!comma && a.n) break;
        args_push(P, &a, with_condexpr ? parse_expr(P) : parse_or(P), NULL);
    }
    if (a.n == 1 && !comma) return a.v[0];
    if (!a.n && !explicit_parens) unexpected(P, "an expression");
    jexpr *e = mk(P, E_TUPLE, at);
    e->args = a.v;
    e->nargs = a.n;
    return e;
}

static jexpr *parse_expr(parser *P) {
    enter(P);
    jexpr *e = parse_or(P);
    while (is_kw(P, "if")) {
        jtok *at = next(P);
        jexpr *c = mk(P, E_COND, at);
        c->a = e;
        c->b = parse_or(P);
        if (is_kw(P, "else")) {
            next(P);
            c->c = parse_expr(P);
        }
        e = c;
    }
    P->depth--;
    return e;
}

static jexpr *binop(parser *P, int kind, int op, jtok *at, jexpr *a, jexpr *b) {
    jexpr *e = mk(P, kind, at);
    e->op = op;
    e->a = a;
    e->b = b;
    return e;
}

/* The left-associative binary operators, one level of precedence a row,
 * loosest first: a level's operands are the next level's expressions (or the
 * level's own operand parser where `not` and comparisons break the chain). */
typedef struct {
    const char *s; /* the operator token, or keyword (and, or) */
    int kind, op;
} binop_t;
static jexpr *parse_not(parser *P);
static jexpr *parse_pow_operand(parser *P) {
    return parse_unary(P, 1);
}
enum { LV_OR, LV_AND, LV_ADD, LV_CONCAT, LV_MUL, LV_POW };
static const struct {
    int kw;                       /* 1: the operators are keywords */
    binop_t ops[5];               /* ends at s NULL */
    jexpr *(*operand)(parser *P); /* NULL: the next level */
} levels[] = {
    [LV_OR] = {1, {{"or", E_OR, 0}}, NULL},
    [LV_AND] = {1, {{"and", E_AND, 0}}, parse_not},
    [LV_ADD] = {0, {{"+", E_BIN, OP_ADD}, {"-", E_BIN, OP_SUB}}, NULL},
    [LV_CONCAT] = {0, {{"~", E_CONCAT, 0}}, NULL},
    [LV_MUL] = {0,
                {{"*", E_BIN, OP_MUL},
                 {"/", E_BIN, OP_DIV},
                 {"//", E_BIN, OP_FLOORDIV},
                 {"%", E_BIN, OP_MOD}},
                NULL},
    [LV_POW] = {0, {{"**", E_BIN, OP_POW}}, parse_pow_operand},
};

/* Level lv's operator at the next token, or NULL. */
static const binop_t *level_op(parser *P, int lv) {
    for (const binop_t *o = levels[lv].ops; o->s; o++)
        if (levels[lv].kw ? is_kw(P, o->s) : is_op(P, o->s)) return o;
    return NULL;
}

static jexpr *parse_binary(parser *P, int lv) {
    jexpr *(*operand)(parser *) = levels[lv].operand;
    jexpr *e = operand ? operand(P) : parse_binary(P, lv + 1);
    const binop_t *o;
    while ((o = level_op(P, lv))) {
        jtok *at = next(P);
        jexpr *rhs = operand ? operand(P) : parse_binary(P, lv + 1);
        e = binop(P, o->kind, o->op, at, e, rhs);
    }
    return e;
}

static jexpr *parse_or(parser *P) {
    return parse_binary(P, LV_OR);
}

static jexpr *parse_compare(parser *P);
static jexpr *parse_not(parser *P) {
    if (is_kw(P, "not")) {
        jtok *at = next(P);
        enter(P);
        jexpr *e = mk(P, E_NOT, at);
        e->a = parse_not(P);
        P->depth--;
        return e;
    }
    return parse_compare(P);
}

static jexpr *parse_compare(parser *P) {
    jexpr *e = parse_binary(P, LV_ADD), *result = NULL;
    for (;;) {
        static const struct {
            const char *s;
            int op;
        } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<", OP_LT},
                   {"<=", OP_LE}, {">", OP_GT},  {">=", OP_GE}};
        int op = -1;
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
            if (is_op(P, ops[k].s)) op = ops[k].op;
        jtok *at = peek(P);
        if (op >= 0)
            next(P);
        else if (is_kw(P, "in")) {
            next(P);
            op = OP_IN;
        } else if (is_kw(P, "not") && tok_is(peekn(P, 1), T_NAME, "in")) {
            next(P);
            next(P);
            op = OP_NOTIN;
        } else
            break;
        jexpr *rhs = parse_binary(P, LV_ADD);
        jexpr *cmp = binop(P, E_BIN, op, at, e, rhs);
        result = result ? binop(P, E_AND, 0, at, result, cmp) : cmp; /* a < b < c */
        e = rhs;
    }
    return result ? result : e;
}

/* Call arguments after '(' up to and including ')', into e (a call, filter
 * or test). */
static void parse_call_args(parser *P, jexpr *e) {
    argv_t a = {0};
    expect_op(P, "(");
    while (more_items(P, a.n, ")")) {
        const char *kw = NULL;
        if (peek(P)->t == T_NAME && tok_is(peekn(P, 1), T_OP, "=")) {
            kw = expect_name(P);
            next(P);
        } else if (is_op(P, "*") || is_op(P, "**"))
            fail_at(P, peek(P), "%s", "*args and **kwargs in calls are not supported");
        else {
            for (int i = 0; i < a.n; i++)
                if (a.kw[i])
                    fail_at(P, peek(P), "%s", "positional argument follows keyword argument");
        }
        args_push(P, &a, parse_expr(P), kw);
    }
    next(P);
    e->args = a.v;
    e->kw = a.kw;
    e->nargs = a.n;
}

static jexpr *parse_call(parser *P, jexpr *fn) {
    jexpr *e = mk(P, E_CALL, peek(P));
    parse_call_args(P, e);
    e->a = fn;
    return e;
}

static jexpr *parse_subscript(parser *P, jexpr *obj) {
    jtok *at = next(P); /* '[' */
    jexpr *idx[3] = {0};
    int colons = 0;
    for (;;) {
        if (is_op(P, "]")) break;
        if (is_op(P, ":")) {
            if (++colons > 2) unexpected(P, "']'");
            next(P);
            continue;
        }
        if (idx[colons]) unexpected(P, "':' or ']'");
        idx[colons] = parse_expr(P);
    }
    next(P);
    if (!colons) {
        if (!idx[0]) fail_at(P, at, "%s", "empty subscript");
        return binop(P, E_GETITEM, 0, at, obj, idx[0]);
    }
    jexpr *e = mk(P, E_SLICE, at);
    e->a = obj;
    e->b = idx[0];
    e->c = idx[1];
    e->args = ja_alloc(P->A, sizeof *e->args);
    e->args[0] = idx[2];
    return e;
}

static jexpr *parse_postfix(parser *P, jexpr *e) {
    for (;;) {
        if (is_op(P, ".")) {
            jtok *at = next(P);
            if (peek(P)->t == T_INT) {
                jexpr *k = mk(P, E_CONST, peek(P));
                k->val = jv_int(next(P)->i);
                e = binop(P, E_GETITEM, 0, at, e, k);
            } else {
                jexpr *g = binop(P, E_GETATTR, 0, at, e, NULL);
                g->name = expect_name(P);
                e = g;
            }
        } else if (is_op(P, "[")) {
            e = parse_subscript(P, e);
        } else if (is_op(P, "(")) {
            e = parse_call(P, e);
        } else
            break;
    }
    return e;
}

static const char *dotted_name(parser *P) {
    const char *n = expect_name(P);
    while (is_op(P, ".") && peekn(P, 1)->t == T_NAME) {
        next(P);
        const char *m = expect_name(P);
        size_t a = strlen(n), b = strlen(m);
        char *s = ja_alloc(P->A, a + b + 2);
        memcpy(s, n, a);
        s[a] = '.';
        memcpy(s + a + 1, m, b);
        n = s;
    }
    return n;
}

/* `|name(args)`; with `first_bare`, the first filter has no leading '|' ({% filter %}). */
static jexpr *parse_filters(parser *P, jexpr *e, int first_bare) {
    while (first_bare || is_op(P, "|")) {
        if (!first_bare) next(P);
        first_bare = 0;
        jexpr *f = mk(P, E_FILTER, peek(P));
        f->name = dotted_name(P);
        f->a = e;
        if (is_op(P, "(")) parse_call_args(P, f);
        e = f;
    }
    return e;
}

static jexpr *parse_test(parser *P, jexpr *e) {
    jtok *at = next(P); /* 'is' */
    jexpr *t = mk(P, E_TEST, at);
    if (is_kw(P, "not")) {
        next(P);
        t->op = 1;
    }
    t->name = dotted_name(P);
    t->a = e;
    jtok *nt = peek(P);
    if (is_op(P, "("))
        parse_call_args(P, t);
    else if ((nt->t == T_NAME || nt->t == T_STRING || nt->t == T_INT || nt->t == T_FLOAT ||
              tok_is(nt, T_OP, "[") || tok_is(nt, T_OP, "{")) &&
             !tok_is(nt, T_NAME, "else") && !tok_is(nt, T_NAME, "or") &&
             !tok_is(nt, T_NAME, "and") && !tok_is(nt, T_NAME, "if") && !tok_is(nt, T_NAME, "in") &&
             !tok_is(nt, T_NAME, "not")) {
        if (tok_is(nt, T_NAME, "is"))
            fail_at(P, nt, "%s", "you cannot chain multiple tests with is");
        t->args = ja_alloc(P->A, sizeof *t->args);
        t->args[0] = parse_postfix(P, parse_primary(P));
        t->nargs = 1;
    }
    return t;
}

static jexpr *parse_unary(parser *P, int with_filter) {
    enter(P);
    jexpr *e;
    if (is_op(P, "-") || is_op(P, "+")) {
        jtok *at = next(P);
        e = mk(P, at->s[0] == '-' ? E_NEG : E_POS, at);
        e->a = parse_unary(P, 0);
    } else {
        e = parse_postfix(P, parse_primary(P));
    }
    if (with_filter) {
        for (;;) {
            if (is_op(P, "|"))
                e = parse_filters(P, e, 0);
            else if (is_kw(P, "is"))
                e = parse_test(P, e);
            else if (is_op(P, "("))
                e = parse_call(P, e);
            else
                break;
        }
    }
    P->depth--;
    return e;
}

/* A list or dict literal from its opening bracket to `close`; a dict's keys
 * and values alternate in args. */
static jexpr *parse_display(parser *P, int kind, const char *close) {
    jexpr *e = mk(P, kind, next(P));
    argv_t a = {0};
    while (more_items(P, a.n, close)) {
        args_push(P, &a, parse_expr(P), NULL);
        if (kind != E_DICT) continue;
        expect_op(P, ":");
        args_push(P, &a, parse_expr(P), NULL);
    }
    next(P);
    e->args = a.v;
    e->nargs = a.n;
    return e;
}

static jexpr *parse_primary(parser *P) {
    jtok *t = peek(P);
    jexpr *e;
    switch (t->t) {
    case T_NAME:
        next(P);
        e = mk(P, E_CONST, t);
        if (tok_is(t, T_NAME, "true") || tok_is(t, T_NAME, "True"))
            e->val = jv_bool(1);
        else if (tok_is(t, T_NAME, "false") || tok_is(t, T_NAME, "False"))
            e->val = jv_bool(0);
        else if (tok_is(t, T_NAME, "none") || tok_is(t, T_NAME, "None"))
            e->val = jv_none();
        else {
            e->kind = E_NAME;
            char *s = ja_alloc(P->A, t->n + 1);
            memcpy(s, t->s, t->n);
            e->name = s;
        }
        return e;
    case T_STRING: {
        jbuf b;
        jb_init(&b, P->A);
        jb_put(&b, "", 0);
        while (peek(P)->t == T_STRING) { /* adjacent literals concatenate */
            jtok *s = next(P);
            jb_put(&b, s->s, s->n);
        }
        e = mk(P, E_CONST, t);
        e->val = (jv){.t = JV_STR, .u.s = js_new(P->A, b.p, b.n)};
        return e;
    }
    case T_INT:
        next(P);
        e = mk(P, E_CONST, t);
        e->val = jv_int(t->i);
        return e;
    case T_FLOAT:
        next(P);
        e = mk(P, E_CONST, t);
        e->val = jv_float(t->f);
        return e;
    case T_OP:
        if (tok_is(t, T_OP, "(")) {
            next(P);
            e = parse_tuple(P, 1, 1);
            expect_op(P, ")");
            return e;
        }
        if (tok_is(t, T_OP, "[")) return parse_display(P, E_LIST, "]");
        if (tok_is(t, T_OP, "{")) return parse_display(P, E_DICT, "}");
        break;
    default:
        break;
    }
    unexpected(P, "an expression");
}

/* ---- statements ---- */

static jnode *mknode(parser *P, int kind, const jtok *at) {
    jnode *n = ja_alloc(P->A, sizeof *n);
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    return n;
}

/* Assignment target: a name, `a, b` / `(a, b)` (with_tuple), or `ns.attr` (with_ns). */
static jexpr *parse_target(parser *P, int with_tuple, int with_ns) {
    jtok *at = peek(P);
    int paren = 0;
    if (with_tuple && is_op(P, "(")) {
        next(P);
        paren = 1;
    }
    argv_t a = {0};
    for (;;) {
        jtok *nt = peek(P);
        jexpr *e = mk(P, E_NAME, nt);
        e->name = expect_name(P);
        if (with_ns && !a.n && !paren && is_op(P, ".")) {
            next(P);
            jexpr *g = mk(P, E_GETATTR, nt);
            g->a = e;
            g->name = expect_name(P);
            return g;
        }
        args_push(P, &a, e, NULL);
        if (!(with_tuple || paren) || !is_op(P, ",")) break;
        next(P);
        if (paren && is_op(P, ")")) break;
    }
    if (paren) expect_op(P, ")");
    if (a.n == 1 && !paren) return a.v[0];
    jexpr *t = mk(P, E_TUPLE, at);
    t->args = a.v;
    t->nargs = a.n;
    return t;
}

static jnode *parse_body(parser *P, const char *const *ends, const char **found, const jtok *open,
                         const char *what);

/* Parameter list of a macro or call block: (a, b=default, ...) */
static void parse_params(parser *P, jnode *n) {
    expect_op(P, "(");
    argv_t a = {0};
    while (more_items(P, a.n, ")")) {
        jtok *at = peek(P);
        jexpr *name = mk(P, E_NAME, at);
        name->name = expect_name(P);
        jexpr *def = NULL;
        if (is_op(P, "=")) {
            next(P);
            def = parse_expr(P);
        } else
            for (int i = 0; i < a.n; i++)
                if (a.v[i]) fail_at(P, at, "%s", "non-default argument follows default argument");
        args_push(P, &a, def, name->name);
    }
    next(P);
    n->nparams = a.n;
    n->params = a.kw;
    n->defaults = a.v;
}

static void expect_end_tag(parser *P) {
    expect_block_end(P);
}

/* After a block's opening tag: its body up to {% <end> %}, whose arguments
 * are left next. With own_scope (set, macro and call bodies, run apart from
 * the code around them) `break` and `continue` cannot reach an enclosing loop. */
static jnode *parse_block(parser *P, const jtok *open, const char *what, const char *end,
                          int own_scope) {
    const char *const ends[] = {end, NULL};
    const char *found;
    int loops = P->loops;
    if (own_scope) P->loops = 0;
    expect_block_end(P);
    jnode *body = parse_body(P, ends, &found, open, what);
    P->loops = loops;
    return body;
}

/* The statements: each parser fills n (made at the tag's '{%', the tag's
 * name taken) up to the '%}' that closes its last tag, which parse_stmt
 * takes. kw is the tag's name. */
typedef void stmt_fn(parser *P, jnode *n, const jtok *open, const jtok *kw);

static void stmt_if(parser *P, jnode *n, const jtok *open, const jtok *kw) {
    (void)kw;
    const char *found = NULL;
    jnode *cur = n;
    cur->expr = parse_tuple(P, 1, 0);
    expect_block_end(P);
    for (;;) {
        static const char *const ends[] = {"elif", "else", "endif", NULL};
        cur->body = parse_body(P, ends, &found, open, "if");
        if (!strcmp(found, "elif")) {
            jnode *e = mknode(P, S_IF, peek(P));
            e->expr = parse_tuple(P, 1, 0);
            expect_block_end(P);
            cur->else_ = e;
            cur = e;
            continue;
        }
        if (!strcmp(found, "else")) cur->else_ = parse_block(P, open, "if", "endif", 0);
        break;
    }
}

static void stmt_for(parser *P, jnode *n, const jtok *open, const jtok *kw) {
    (void)kw;
    const char *found = NULL;
    n->target = parse_target(P, 1, 0);
    if (!is_kw(P, "in")) unexpected(P, "'in'");
    next(P);
    n->expr = parse_tuple(P, 0, 0);
    if (is_kw(P, "if")) {
        next(P);
        n->cond = parse_expr(P);
    }
    if (is_kw(P, "recursive")) fail_at(P, peek(P), "%s", "recursive loops are not supported");
    expect_block_end(P);
    static const char *const ends[] = {"else", "endfor", NULL};
    P->loops++;
    n->body = parse_body(P, ends, &found, open, "for");
    P->loops--;
    if (!strcmp(found, "else")) n->else_ = parse_block(P, open, "for", "endfor", 0);
}

/* {% set x = value %}, or the block form {% set x | filters %}...{% endset %} */
static void stmt_set(parser *P, jnode *n, const jtok *open, const jtok *kw) {
    (void)kw;
    n->target = parse_target(P, 1, 1);
    if (is_op(P, "=")) {
        next(P);
        n->expr = parse_tuple(P, 1, 0);
        return;
    }
    n->kind = S_SETBLOCK;
    if (is_op(P, "|")) n->filter = parse_filters(P, NULL, 0);
    n->body = parse_block(P, open, "set", "endset", 1);
}

static void stmt_macro(parser *P, jnode *n, const jtok *open, const jtok *kw) {
    (void)kw;
    n->name = expect_name(P);
    parse_params(P, n);
    n->body = parse_block(P, open, "macro", "endmacro", 1);
    if (peek(P)->t == T_NAME) next(P); /* {% endmacro name %} */
}

static void stmt_call(parser *P, jnode *n, const jtok *open, const jtok *kw) {
    (void)kw;
    if (is_op(P, "(")) parse_params(P, n);
    n->expr = parse_expr(P);
    if (n->expr->kind != E_CALL) fail_at(P, open, "%s", "expected a call in {% call %}");
    n->body = parse_block(P, open, "call", "endcall", 1);
}

static void stmt_filter(parser *P, jnode *n, const jtok *open, const jtok *kw) {
    (void)kw;
    n->filter = parse_filters(P, NULL, 1);
    n->body = parse_block(P, open, "filter", "endfilter", 0);
}

static void stmt_with(parser *P, jnode *n, const jtok *open, const jtok *kw) {
    (void)kw;
    argv_t a = {0};
    while (peek(P)->t != T_BLOCK_END) {
        if (a.n) expect_op(P, ",");
        const char *name = expect_name(P);
        expect_op(P, "=");
        args_push(P, &a, parse_expr(P), name);
    }
    n->params = a.kw;
    n->wvals = a.v;
    n->nparams = a.n;
    n->body = parse_block(P, open, "with", "endwith", 0);
}

/* break, continue */
static void stmt_jump(parser *P, jnode *n, const jtok *open, const jtok *kw) {
    (void)open;
    if (!P->loops)
        fail_at(P, kw, "'%s' outside of a loop", n->kind == S_BREAK ? "break" : "continue");
}

static void stmt_do(parser *P, jnode *n, const jtok *open, const jtok *kw) {
    (void)open, (void)kw;
    n->expr = parse_tuple(P, 1, 0);
}

static jnode *parse_stmt(parser *P) {
    static const struct {
        const char *name;
        int kind;
        stmt_fn *parse;
    } stmts[] = {
        {"if", S_IF, stmt_if},
        {"for", S_FOR, stmt_for},
        {"set", S_SET, stmt_set},
        {"macro", S_MACRO, stmt_macro},
        {"call", S_CALLBLOCK, stmt_call},
        {"filter", S_FILTERBLOCK, stmt_filter},
        {"with", S_WITH, stmt_with},
        {"break", S_BREAK, stmt_jump},
        {"continue", S_CONTINUE, stmt_jump},
        {"do", S_DO, stmt_do},
    };
    jtok *open = peek(P); /* the BLOCK_BEGIN */
    next(P);
    jtok *kw = peek(P);
    if (kw->t != T_NAME) unexpected(P, "a statement name");
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        if (!tok_is(kw, T_NAME, stmts[i].name)) continue;
        next(P);
        jnode *n = mknode(P, stmts[i].kind, open);
        stmts[i].parse(P, n, open, kw);
        expect_end_tag(P);
        return n;
    }
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(kw->n > 40 ? 40 : kw->n), kw->s);
    fail_at(P, kw, "unknown or unexpected tag '%s'", name);
}

/* Statements until one of `ends` (a NULL-terminated list; NULL at top level). On
 * return, *found is the end tag's name and the tokens after it (its arguments and
 * the block end) are next. */
static jnode *parse_body(parser *P, const char *const *ends, const char **found, const jtok *open,
                         const char *what) {
    enter(P);
    jnode head = {0}, *tail = &head;
    for (;;) {
        jtok *t = peek(P);
        jnode *n = NULL;
        if (t->t == T_EOF) {
            if (ends) {
                char msg[200];
                snprintf(msg, sizeof msg,
                         "unexpected end of template: '%s' block opened at %d:%d is not closed "
                         "(expected '%s')",
                         what, open->line, open->col,
                         ends[0] && !ends[1]   ? ends[0]
                         : ends[1] && !ends[2] ? ends[1]
                                               : ends[2]);
                jfail(P->A->E, "%d:%d: %s", t->line, t->col, msg);
            }
            break;
        }
        if (t->t == T_TEXT) {
            next(P);
            n = mknode(P, S_TEXT, t);
            n->text = t->s;
            n->len = t->n;
        } else if (t->t == T_VAR_BEGIN) {
            next(P);
            n = mknode(P, S_OUTPUT, t);
            n->expr = parse_tuple(P, 1, 0);
            if (peek(P)->t != T_VAR_END) unexpected(P, "end of print statement '}}'");
            next(P);
        } else if (t->t == T_BLOCK_BEGIN) {
            jtok *kw = peekn(P, 1);
            int is_end = 0;
            for (int i = 0; ends && ends[i]; i++)
                if (tok_is(kw, T_NAME, ends[i])) {
                    *found = ends[i];
                    is_end = 1;
                }
            if (is_end) {
                next(P);
                next(P);
                break;
            }
            n = parse_stmt(P);
        } else
            unexpected(P, "template text or a tag");
        tail->next = n;
        tail = n;
    }
    P->depth--;
    return head.next;
}

jnode *jparse(jarena *A, jtok *toks, size_t ntoks) {
    parser P = {.A = A, .t = toks, .n = ntoks};
    const char *found = NULL;
    return parse_body(&P, NULL, &found, toks, "template");
}
