/* Public API of the chat-template engine (template.h): parse once, render many.
 * Parsing normalizes newlines as Jinja2 does (\r\n and \r become \n, one trailing
 * newline is dropped), lexes and parses into the template's own arena. Rendering
 * converts the JSON context to values in a per-render arena, runs the tree and
 * copies the output out; errors longjmp back here and the arena goes in one free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja.h"
#include "text/template.h"

#define DEFAULT_MAX_OUTPUT (16u << 20)
#define DEFAULT_MAX_STEPS  2000000L
#define PARSE_ARENA_CAP    (64u << 20)
#define RENDER_ARENA_CAP   (512u << 20)

struct lmx_tmpl {
    jarena A;
    jnode *root;
};

static void set_err(char *err, size_t errlen, const char *msg) {
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

lmx_tmpl *lmx_tmpl_parse(const char *src, size_t len, char *err, size_t errlen) {
    lmx_tmpl *volatile t = calloc(1, sizeof *t);
    jerr *volatile E = calloc(1, sizeof *E);
    if (!t || !E) {
        free(t);
        free(E);
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    t->A.cap = PARSE_ARENA_CAP;
    t->A.E = E;
    if (setjmp(E->jb)) {
        set_err(err, errlen, E->msg);
        ja_free(&t->A);
        free(t);
        free(E);
        return NULL;
    }
    char *s = ja_alloc(&t->A, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else
            s[n++] = src[i];
    }
    if (n && s[n - 1] == '\n') n--; /* keep_trailing_newline=False */
    s[n] = 0;
    jtok *toks;
    size_t ntok = jlex(&t->A, s, n, &toks);
    t->root = jparse(&t->A, toks, ntok);
    t->A.E = NULL;
    free(E);
    return t;
}

void lmx_tmpl_free(lmx_tmpl *t) {
    if (!t) return;
    ja_free(&t->A);
    free(t);
}

typedef struct {
    jerr E;
    jarena A;
    jctx C;
    jbuf out;
} render_state;

char *lmx_tmpl_render(const lmx_tmpl *t, const json_t *context, lmx_tmpl_opts *opts, char *err,
                      size_t errlen) {
    if (opts) opts->raised = 0;
    if (!t) {
        set_err(err, errlen, "no template");
        return NULL;
    }
    if (context && !json_is_object(context)) {
        set_err(err, errlen, "template context must be a JSON object");
        return NULL;
    }
    render_state *R = calloc(1, sizeof *R);
    if (!R) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    R->A.cap = RENDER_ARENA_CAP;
    R->A.E = &R->E;
    if (setjmp(R->E.jb)) {
        if (R->E.raised || !R->E.line)
            set_err(err, errlen, R->E.msg);
        else if (err && errlen)
            snprintf(err, errlen, "%s (template line %d)", R->E.msg, R->E.line);
        if (opts) opts->raised = R->E.raised;
        if (opts) opts->budget = R->E.budget;
        ja_free(&R->A);
        free(R);
        return NULL;
    }
    jctx *C = &R->C;
    C->A = &R->A;
    C->E = &R->E;
    C->now = opts ? opts->now : 0;
    C->max_steps = opts && opts->max_steps > 0 ? opts->max_steps : DEFAULT_MAX_STEPS;
    C->globals = ja_alloc(C->A, sizeof *C->globals);
    if (context) {
        jv ctx = jv_from_json(C->A, context, 0);
        C->globals->vars = *ctx.u.d;
    }
    jb_init(&R->out, C->A);
    R->out.limit = opts && opts->max_output ? opts->max_output : DEFAULT_MAX_OUTPUT;
    jb_put(&R->out, "", 0);
    C->out = &R->out;
    jexec(C, t->root, C->globals);
    char *res = malloc(R->out.n + 1);
    if (res) {
        memcpy(res, R->out.p, R->out.n);
        res[R->out.n] = 0;
    } else
        set_err(err, errlen, "out of memory");
    ja_free(&R->A);
    free(R);
    return res;
}
