/* Internals of the Jinja2 interpreter (see template.h), shared by its files:
 *   jinja_value.c  arena, string builder, values, Python str()/repr(), JSON in/out
 *   jinja_lex.c    source -> tokens (trim_blocks, lstrip_blocks, whitespace control)
 *   jinja_parse.c  tokens -> statement and expression trees
 *   jinja_eval.c   executes the tree: scopes, loops, macros, operators
 *   jinja_builtins.c  filters, tests, methods of str/dict/list, globals
 *   template.c     the public API: glues the above together
 *
 * Memory: everything a parse or a render allocates comes from one arena (jarena),
 * freed in one go. Errors longjmp to the jerr set up by the entry point, so no
 * code below needs to unwind or free anything. */
#ifndef LMX_JINJA_H
#define LMX_JINJA_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

/* ---- errors ---- */
typedef struct jerr {
    jmp_buf jb;
    char msg[1024];
    int raised; /* 1: from raise_exception(), msg verbatim */
    int line;   /* line of the statement being run, for runtime messages (0: none) */
    int budget; /* 1: a budget (operations, memory, output, call depth) was exceeded */
} jerr;
_Noreturn void jfail(jerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- arena ---- */
typedef struct jchunk jchunk;
typedef struct jarena {
    jchunk *head;
    size_t total, cap; /* bytes allocated so far; limit (jfail past it) */
    jerr *E;
} jarena;
void *ja_alloc(jarena *A, size_t n); /* zeroed, 16-byte aligned */
/* A growing arena array's next block: cap elements of elem bytes, the first
 * n copied from old (which stays in the arena until it is freed). */
void *ja_regrow(jarena *A, const void *old, size_t n, size_t cap, size_t elem);
void ja_free(jarena *A);

/* ---- growable string in the arena ---- */
typedef struct jbuf {
    char *p;
    size_t n, cap;
    size_t limit; /* 0: none; else jfail when n would pass it */
    jarena *A;
} jbuf;
void jb_init(jbuf *b, jarena *A);
void jb_put(jbuf *b, const char *s, size_t n);
void jb_puts(jbuf *b, const char *s);
void jb_putc(jbuf *b, char c);
void jb_printf(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- values ---- */
enum { JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_FUNC };

typedef struct jstr {
    size_t len;
    char s[]; /* NUL-terminated UTF-8 */
} jstr;

typedef struct jv {
    int t;
    union {
        int b;
        long long i;
        double f;
        jstr *s; /* JV_STR; for JV_UNDEF the name that was undefined, or NULL */
        struct jlist *l;
        struct jdict *d;
        struct jfunc *fn;
    } u;
} jv;

typedef struct jlist {
    size_t n, cap;
    jv *v;
    int tuple;
} jlist;

typedef struct jdict {
    size_t n, cap;
    jv *k, *v;
    int ns; /* a namespace() object: attributes settable with {% set ns.x = %} */
} jdict;

enum { JF_BUILTIN, JF_METHOD, JF_MACRO, JF_CALLER, JF_CYCLE };
struct jnode;
struct jscope;
typedef struct jfunc {
    int kind;
    const char *name;         /* builtin / method name */
    jv self;                  /* JF_METHOD: the object; JF_CYCLE: loop index0 */
    const struct jnode *node; /* JF_MACRO / JF_CALLER */
    struct jscope *closure;   /* scope the macro was defined in */
} jfunc;

jv jv_undef(jstr *name);
jv jv_none(void);
jv jv_bool(int b);
jv jv_int(long long i);
jv jv_float(double f);
jv jv_strn(jarena *A, const char *s, size_t n);
jv jv_cstr(jarena *A, const char *s);
jv jv_newlist(jarena *A, size_t cap);
jv jv_newdict(jarena *A);
jv jv_func(jarena *A, int kind, const char *name, jv self);
jstr *js_new(jarena *A, const char *s, size_t n);
void jl_push(jarena *A, jlist *l, jv v);
void jd_set(jarena *A, jdict *d, jv k, jv v);
int jd_get(const jdict *d, jv k, jv *out);
int jd_gets(const jdict *d, const char *key, jv *out);
void jd_sets(jarena *A, jdict *d, const char *key, jv v);

int jv_truthy(jv v);
int jv_eq(jv a, jv b);
int jv_cmp(jerr *E, jv a, jv b); /* <0, 0, >0; jfail when not orderable */
int jv_isnum(jv v);              /* int, float or bool */
double jv_num(jv v);
const char *jv_typename(jv v);
void jv_str(jbuf *b, jv v);  /* Python str() */
void jv_repr(jbuf *b, jv v); /* Python repr() */
jstr *jv_tostr(jarena *A, jv v);
void jfmt_float(char *buf, size_t n, double f); /* Python repr of a float */
jv jv_from_json(jarena *A, const json_t *j, int depth);
typedef struct jjson_opts {
    int indent; /* <0: none */
    const char *item_sep, *key_sep;
    int sort_keys;
} jjson_opts;
void jv_tojson(jerr *E, jbuf *b, jv v, const jjson_opts *o, int level);

/* UTF-8 helpers */
size_t ju_len(const char *s, size_t n);               /* code points */
size_t ju_offset(const char *s, size_t n, size_t cp); /* byte offset of code point cp */

/* ---- tokens ---- */
enum {
    T_TEXT,
    T_VAR_BEGIN,
    T_VAR_END,
    T_BLOCK_BEGIN,
    T_BLOCK_END,
    T_NAME,
    T_STRING,
    T_INT,
    T_FLOAT,
    T_OP,
    T_EOF
};
typedef struct jtok {
    int t, line, col;
    const char *s; /* TEXT, NAME, OP: the text; STRING: unescaped (arena) */
    size_t n;
    long long i;
    double f;
} jtok;
/* Lexes src (newlines already normalized). Returns the token count; tokens end with T_EOF. */
size_t jlex(jarena *A, const char *src, size_t len, jtok **out);

/* ---- syntax trees ---- */
enum {
    E_CONST,
    E_NAME,
    E_LIST,
    E_TUPLE,
    E_DICT,
    E_GETATTR,
    E_GETITEM,
    E_SLICE,
    E_CALL,
    E_FILTER,
    E_TEST,
    E_NOT,
    E_NEG,
    E_POS,
    E_BIN,
    E_AND,
    E_OR,
    E_COND,
    E_CONCAT
};
/* E_BIN operators */
enum {
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_FLOORDIV,
    OP_MOD,
    OP_POW,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_IN,
    OP_NOTIN
};

typedef struct jexpr {
    int kind, op, line, col;
    jv val;                  /* E_CONST */
    const char *name;        /* E_NAME, E_GETATTR attr, E_FILTER / E_TEST name */
    struct jexpr *a, *b, *c; /* operands; E_SLICE: a[b:c:args[0]]; E_TEST: negated in op */
    struct jexpr **args;     /* E_LIST/E_TUPLE items, E_DICT k,v pairs, call/filter/test args */
    const char **kw;         /* per arg: keyword name or NULL */
    int nargs;
} jexpr;

enum {
    S_TEXT,
    S_OUTPUT,
    S_IF,
    S_FOR,
    S_SET,
    S_SETBLOCK,
    S_MACRO,
    S_CALLBLOCK,
    S_BREAK,
    S_CONTINUE,
    S_FILTERBLOCK,
    S_DO,
    S_WITH
};

typedef struct jnode {
    int kind, line, col;
    const char *text; /* S_TEXT */
    size_t len;
    jexpr *expr;   /* output, if condition, for iterable, set value, call, do */
    jexpr *target; /* for / set target */
    jexpr *cond;   /* for ... if cond */
    jexpr *filter; /* S_SETBLOCK / S_FILTERBLOCK: filter chain applied to a placeholder */
    struct jnode *body, *else_, *next;
    const char *name; /* macro name */
    const char **params;
    jexpr **defaults; /* per param, or NULL */
    int nparams;
    jexpr **wvals; /* S_WITH: values for params */
} jnode;

/* Parses tokens into a statement list; jfail with "LINE:COL: message" on error. */
jnode *jparse(jarena *A, jtok *toks, size_t ntoks);

/* ---- evaluation ---- */
typedef struct jscope {
    struct jscope *parent;
    jdict vars;
} jscope;

typedef struct jctx {
    jarena *A;
    jerr *E;
    jbuf *out;
    jscope *globals;
    time_t now;
    long steps, max_steps;
    int depth; /* macro call depth */
    int brk;   /* 1: break, 2: continue pending */
} jctx;

void jexec(jctx *C, const jnode *n, jscope *S);
/* Counts n operations against max_steps (jfail past it): statements, loop
 * iterations, expression evaluations, and the elements a builtin builds. */
void jcharge(jctx *C, long n);
jv jeval(jctx *C, const jexpr *e, jscope *S);
jv jcall(jctx *C, jv fn, jv *args, const char **kw, int nargs);

/* builtins (jinja_builtins.c) */
jv jfilter(jctx *C, const char *name, jv *args, const char **kw, int nargs);
int jtest(jctx *C, const char *name, jv *args, int nargs);
jv jbuiltin_call(jctx *C, jfunc *f, jv *args, const char **kw, int nargs);
int jbuiltin_global(const char *name);
int jhas_method(jv self, const char *name);
jv jgetattr(jctx *C, jv obj, const char *name);
jv jgetitem(jctx *C, jv obj, jv key);

#endif
