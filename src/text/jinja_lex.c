/* Lexer: template source -> tokens.
 *
 * Text outside tags becomes T_TEXT; {{ }} and {% %} become BEGIN/END tokens around
 * expression tokens; {# #} vanish. Whitespace handling follows Jinja2 with
 * trim_blocks and lstrip_blocks on:
 *   - `{%-` / `{{-` / `{#-` strip all whitespace before the tag, `-%}` / `-}}` / `-#}`
 *     all whitespace after it;
 *   - lstrip_blocks: a block or comment tag preceded on its line only by spaces/tabs
 *     takes those with it (unless opened with `{%+`);
 *   - trim_blocks: one newline right after `%}` or `#}` goes (unless `+%}`).
 * `{% raw %}...{% endraw %}` is turned into text here. While brackets are open inside
 * a tag, `}}` and `%}` are not tag ends (as in Jinja2, so `{{ {'a': {}} }}` works). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja.h"
#include "util/grow.h"

typedef struct {
    jarena *A;
    const char *src;
    size_t len, pos;
    jtok *t;
    size_t n, cap;
    int line_starting; /* the last consumed character was a newline (or at start) */
    size_t cur_off;    /* line/col cache: cur_line:cur_col is the position of cur_off */
    int cur_line, cur_col;
} lexer;

static void pos_of(const char *src, size_t off, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (src[i] == '\n')
            l++, c = 1;
        else if (((unsigned char)src[i] & 0xC0) != 0x80)
            c++;
    }
    *line = l;
    *col = c;
}

_Noreturn static void lex_fail(lexer *L, size_t off, const char *msg) {
    int line, col;
    pos_of(L->src, off, &line, &col);
    jfail(L->A->E, "%d:%d: %s", line, col, msg);
}

static jtok *emit(lexer *L, int type, size_t off, const char *s, size_t n) {
    if (L->n == L->cap) {
        size_t cap = lmx_grow_cap(L->cap * 2, L->n + 1, 256, SIZE_MAX);
        L->t = ja_regrow(L->A, L->t, L->n, cap, sizeof *L->t);
        L->cap = cap;
    }
    jtok *t = &L->t[L->n++];
    memset(t, 0, sizeof *t);
    t->t = type;
    t->s = s;
    t->n = n;
    if (off < L->cur_off) L->cur_off = 0, L->cur_line = 1, L->cur_col = 1;
    for (size_t i = L->cur_off; i < off; i++) {
        if (L->src[i] == '\n')
            L->cur_line++, L->cur_col = 1;
        else if (((unsigned char)L->src[i] & 0xC0) != 0x80)
            L->cur_col++;
    }
    L->cur_off = off;
    t->line = L->cur_line;
    t->col = L->cur_col;
    return t;
}

static int is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static int is_name0(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static int is_digit(char c) {
    return c >= '0' && c <= '9';
}

static void put_utf8(jbuf *b, unsigned long cp) {
    char t[4];
    if (cp < 0x80)
        t[0] = (char)cp, jb_put(b, t, 1);
    else if (cp < 0x800) {
        t[0] = (char)(0xC0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3F));
        jb_put(b, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        jb_put(b, t, 3);
    } else {
        t[0] = (char)(0xF0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        jb_put(b, t, 4);
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A string literal at L->pos; Python unicode-escape rules for backslashes. */
static void lex_string(lexer *L) {
    size_t start = L->pos;
    char q = L->src[L->pos++];
    jbuf b;
    jb_init(&b, L->A);
    jb_put(&b, "", 0);
    for (;;) {
        if (L->pos >= L->len) lex_fail(L, start, "unterminated string literal");
        char c = L->src[L->pos];
        if (c == q) {
            L->pos++;
            break;
        }
        if (c != '\\') {
            jb_putc(&b, c);
            L->pos++;
            continue;
        }
        if (L->pos + 1 >= L->len) lex_fail(L, start, "unterminated string literal");
        char e = L->src[L->pos + 1];
        L->pos += 2;
        switch (e) {
        case 'n':
            jb_putc(&b, '\n');
            break;
        case 't':
            jb_putc(&b, '\t');
            break;
        case 'r':
            jb_putc(&b, '\r');
            break;
        case 'a':
            jb_putc(&b, '\a');
            break;
        case 'b':
            jb_putc(&b, '\b');
            break;
        case 'f':
            jb_putc(&b, '\f');
            break;
        case 'v':
            jb_putc(&b, '\v');
            break;
        case '\\':
            jb_putc(&b, '\\');
            break;
        case '\'':
            jb_putc(&b, '\'');
            break;
        case '"':
            jb_putc(&b, '"');
            break;
        case '\n':
            break;
        case 'x':
        case 'u':
        case 'U': {
            int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            unsigned long cp = 0;
            for (int i = 0; i < nd; i++) {
                int h = L->pos < L->len ? hexval(L->src[L->pos]) : -1;
                if (h < 0) lex_fail(L, L->pos, "truncated \\x/\\u escape in string");
                cp = cp * 16 + (unsigned long)h;
                L->pos++;
            }
            if (cp > 0x10FFFF) lex_fail(L, L->pos, "illegal Unicode character in string");
            put_utf8(&b, cp);
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                unsigned long cp = (unsigned long)(e - '0');
                for (int i = 0;
                     i < 2 && L->pos < L->len && L->src[L->pos] >= '0' && L->src[L->pos] <= '7';
                     i++)
                    cp = cp * 8 + (unsigned long)(L->src[L->pos++] - '0');
                put_utf8(&b, cp);
            } else {
                jb_putc(&b, '\\');
                jb_putc(&b, e);
            }
        }
    }
    jtok *t = emit(L, T_STRING, start, b.p, b.n);
    (void)t;
}

static void lex_number(lexer *L) {
    size_t s = L->pos;
    int isf = 0;
    while (L->pos < L->len && (is_digit(L->src[L->pos]) || L->src[L->pos] == '_')) L->pos++;
    if (L->pos + 1 < L->len && L->src[L->pos] == '.' && is_digit(L->src[L->pos + 1])) {
        isf = 1;
        L->pos++;
        while (L->pos < L->len && (is_digit(L->src[L->pos]) || L->src[L->pos] == '_')) L->pos++;
    }
    if (L->pos < L->len && (L->src[L->pos] == 'e' || L->src[L->pos] == 'E')) {
        size_t p = L->pos + 1;
        if (p < L->len && (L->src[p] == '+' || L->src[p] == '-')) p++;
        if (p < L->len && is_digit(L->src[p])) {
            isf = 1;
            while (p < L->len && is_digit(L->src[p])) p++;
            L->pos = p;
        }
    }
    char tmp[64];
    size_t n = 0;
    for (size_t i = s; i < L->pos && n < sizeof tmp - 1; i++)
        if (L->src[i] != '_') tmp[n++] = L->src[i];
    tmp[n] = 0;
    jtok *t = emit(L, isf ? T_FLOAT : T_INT, s, L->src + s, L->pos - s);
    if (isf)
        t->f = strtod(tmp, NULL);
    else {
        char *end;
        t->i = strtoll(tmp, &end, 10);
        if (L->pos - s >
            18) { /* does not fit: keep it as a float like a big Python int would print */
            t->t = T_FLOAT;
            t->f = strtod(tmp, NULL);
        }
    }
}

static const char *ops2[] = {"//", "**", "==", "!=", "<=", ">=", NULL};
static const char ops1[] = "+-*/%~<>=()[]{},.:|";

/* Expression tokens until the tag's end; returns after consuming the end marker. */
static void lex_tag(lexer *L, int block, size_t open_off) {
    int depth = 0;
    const char *endc = block ? "%}" : "}}";
    for (;;) {
        while (L->pos < L->len && is_ws(L->src[L->pos])) L->pos++;
        if (L->pos >= L->len)
            lex_fail(L, open_off, block ? "unclosed block tag '{%'" : "unclosed variable tag '{{'");
        const char *p = L->src + L->pos;
        size_t left = L->len - L->pos;
        if (depth == 0) {
            int mod = 0;
            if (left >= 3 && (p[0] == '-' || (block && p[0] == '+')) && !memcmp(p + 1, endc, 2))
                mod = p[0];
            if (mod || (left >= 2 && !memcmp(p, endc, 2))) {
                emit(L, block ? T_BLOCK_END : T_VAR_END, L->pos, p, 0);
                L->pos += mod ? 3 : 2;
                if (mod == '-')
                    while (L->pos < L->len && is_ws(L->src[L->pos])) L->pos++;
                else if (block && !mod && L->pos < L->len && L->src[L->pos] == '\n')
                    L->pos++;
                L->line_starting = L->pos > 0 && L->src[L->pos - 1] == '\n';
                return;
            }
        }
        char c = *p;
        if (c == '\'' || c == '"') {
            lex_string(L);
        } else if (is_digit(c)) {
            lex_number(L);
        } else if (is_name0(c)) {
            size_t s = L->pos;
            while (L->pos < L->len && (is_name0(L->src[L->pos]) || is_digit(L->src[L->pos])))
                L->pos++;
            emit(L, T_NAME, s, L->src + s, L->pos - s);
        } else {
            int done = 0;
            for (int i = 0; ops2[i]; i++)
                if (left >= 2 && !memcmp(p, ops2[i], 2)) {
                    emit(L, T_OP, L->pos, p, 2);
                    L->pos += 2;
                    done = 1;
                    break;
                }
            if (!done) {
                if (!c || !strchr(ops1, c)) {
                    char msg[64];
                    if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
                        snprintf(msg, sizeof msg, "unexpected character '%c'", c);
                    else
                        snprintf(msg, sizeof msg, "unexpected character 0x%02x", (unsigned char)c);
                    lex_fail(L, L->pos, msg);
                }
                if (c == '(' || c == '[' || c == '{') depth++;
                if (c == ')' || c == ']' || c == '}') {
                    if (depth == 0) lex_fail(L, L->pos, "unbalanced closing bracket");
                    depth--;
                }
                emit(L, T_OP, L->pos, p, 1);
                L->pos++;
            }
        }
    }
}

/* Offset of the next "{{", "{%" or "{#" at or after pos, or len. */
static size_t next_tag(lexer *L, size_t pos) {
    for (size_t i = pos; i + 1 < L->len; i++)
        if (L->src[i] == '{' &&
            (L->src[i + 1] == '{' || L->src[i + 1] == '%' || L->src[i + 1] == '#'))
            return i;
    return L->len;
}

/* Text [s, e) before a tag whose opening modifier is mod: apply `-` and lstrip_blocks. */
static void emit_text(lexer *L, size_t s, size_t e, int mod, int lstrip) {
    if (mod == '-') {
        while (e > s && is_ws(L->src[e - 1])) e--;
    } else if (mod != '+' && lstrip) {
        size_t l = e;
        while (l > s && L->src[l - 1] != '\n') l--;
        int only_ws = 1;
        for (size_t i = l; i < e; i++)
            if (!is_ws(L->src[i])) only_ws = 0;
        if (only_ws && (l > s || L->line_starting)) e = l;
    }
    if (e > s) emit(L, T_TEXT, s, L->src + s, e - s);
}

/* After `{% raw %}`: find `{% endraw %}` and emit what lies between as text. */
static void lex_raw(lexer *L, size_t open_off) {
    size_t i = L->pos;
    for (;;) {
        i = next_tag(L, i);
        if (i >= L->len) lex_fail(L, open_off, "unclosed 'raw' block: missing {% endraw %}");
        if (L->src[i + 1] == '%') {
            size_t p = i + 2;
            int mod = 0;
            if (p < L->len && (L->src[p] == '-' || L->src[p] == '+')) mod = L->src[p++];
            while (p < L->len && is_ws(L->src[p])) p++;
            if (L->len - p >= 6 && !memcmp(L->src + p, "endraw", 6)) {
                p += 6;
                while (p < L->len && is_ws(L->src[p])) p++;
                int emod = 0;
                if (p < L->len && (L->src[p] == '-' || L->src[p] == '+')) emod = L->src[p++];
                if (L->len - p >= 2 && !memcmp(L->src + p, "%}", 2)) {
                    emit_text(L, L->pos, i, mod, 1);
                    L->pos = p + 2;
                    if (emod == '-')
                        while (L->pos < L->len && is_ws(L->src[L->pos])) L->pos++;
                    else if (!emod && L->pos < L->len && L->src[L->pos] == '\n')
                        L->pos++;
                    L->line_starting = L->pos > 0 && L->src[L->pos - 1] == '\n';
                    return;
                }
            }
        }
        i += 2;
    }
}

size_t jlex(jarena *A, const char *src, size_t len, jtok **out) {
    lexer L = {.A = A, .src = src, .len = len, .line_starting = 1, .cur_line = 1, .cur_col = 1};
    while (L.pos < L.len) {
        size_t k = next_tag(&L, L.pos);
        if (k >= L.len) {
            emit(&L, T_TEXT, L.pos, L.src + L.pos, L.len - L.pos);
            break;
        }
        char kind = L.src[k + 1];
        int mod =
            (k + 2 < L.len && (L.src[k + 2] == '-' || L.src[k + 2] == '+')) ? L.src[k + 2] : 0;
        if (kind == '{' && mod == '+') mod = 0; /* `{{+` is `{{` followed by unary plus */
        emit_text(&L, L.pos, k, mod, kind != '{');
        L.pos = k + 2 + (mod ? 1 : 0);
        if (kind == '#') {
            size_t e = L.pos;
            while (e + 1 < L.len && !(L.src[e] == '#' && L.src[e + 1] == '}')) e++;
            if (e + 1 >= L.len) lex_fail(&L, k, "unclosed comment '{#'");
            int emod = e > L.pos && L.src[e - 1] == '-';
            L.pos = e + 2;
            if (emod)
                while (L.pos < L.len && is_ws(L.src[L.pos])) L.pos++;
            else if (L.pos < L.len && L.src[L.pos] == '\n')
                L.pos++;
            L.line_starting = L.src[L.pos - 1] == '\n';
            continue;
        }
        size_t first = L.n;
        emit(&L, kind == '%' ? T_BLOCK_BEGIN : T_VAR_BEGIN, k, L.src + k, 2);
        lex_tag(&L, kind == '%', k);
        if (kind == '%' && L.n - first == 3 && L.t[first + 1].t == T_NAME &&
            L.t[first + 1].n == 3 && !memcmp(L.t[first + 1].s, "raw", 3)) {
            L.n = first;
            lex_raw(&L, k);
        }
    }
    emit(&L, T_EOF, L.len, L.src + L.len, 0);
    *out = L.t;
    return L.n;
}
