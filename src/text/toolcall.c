/* Tool-call parsing (see toolcall.h for the formats).
 *
 * The parser keeps the text not yet resolved in a buffer and rescans it on
 * every feed. It is in one of two modes:
 *   text: looking for the earliest call marker; what precedes it is content.
 *         A tail that could still become a marker, and trailing whitespace
 *         (dropped if a call follows), are held back.
 *   call: a marker (or, for the bare-JSON families, a '{' opening the output)
 *         was seen; waiting until the call is complete — its closing tag, or
 *         the brace that balances the first — then parsing it. A call that
 *         does not parse gives back its whitespace and marker as content and
 *         the scan resumes right after the marker.
 * Every decision depends only on the text itself, never on where the pieces
 * were cut, so streamed and whole-text parsing agree. */
#include "text/toolcall.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/grow.h"

#define TAG_OPEN  "<tool_call>"
#define TAG_CLOSE "</tool_call>"
#define PYTAG     "<|python_tag|>"
#define MISTRAL   "[TOOL_CALLS]"

enum { K_TAG, K_PYTAG, K_MISTRAL, K_BARE };

typedef struct {
    char *id, *name, *args;
} call;

struct lmx_tc {
    lmx_tc_family f;
    const json_t *tools;
    uint64_t rng;
    char *buf; /* unresolved text: buf[0..n) */
    size_t n, cap;
    bool at_start;   /* only whitespace (and calls) so far: a bare '{' may open a call */
    bool after_call; /* drop whitespace (and ';') right after a call */
    bool in_call;
    int kind;
    size_t call_at;  /* in call mode: offset of the marker (whitespace before it) */
    lmx_buf content; /* every content byte so far */
    call *calls;
    int n_calls, calls_cap;
    bool oom;
};

/* ---- small helpers ---- */

static bool is_ws(char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static const char *find(const char *s, size_t n, const char *pat) {
    return memmem(s, n, pat, strlen(pat));
}

static bool starts(const char *s, size_t n, const char *pat) {
    size_t k = strlen(pat);
    return n >= k && !memcmp(s, pat, k);
}

/* s[0..n) is a proper, non-empty prefix of pat. */
static bool partial(const char *s, size_t n, const char *pat) {
    size_t k = strlen(pat);
    return n && n < k && !memcmp(s, pat, n);
}

static uint64_t next_rand(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- families ---- */

lmx_tc_family lmx_tc_detect(const char *t, size_t n) {
    if (!t) return LMX_TC_GENERIC;
    if (find(t, n, "[TOOL_CALLS]")) return LMX_TC_MISTRAL;
    if (find(t, n, "<function=") && find(t, n, "<parameter=")) return LMX_TC_QWEN3_CODER;
    if (find(t, n, "<tool_call>")) return LMX_TC_HERMES;
    if (find(t, n, "<|python_tag|>") || (find(t, n, "<|start_header_id|>") &&
                                         find(t, n, "\"parameters\"") && find(t, n, "ipython")))
        return LMX_TC_LLAMA3;
    return LMX_TC_GENERIC;
}

const char *lmx_tc_family_name(lmx_tc_family f) {
    static const char *names[] = {"none", "hermes", "qwen3-coder", "llama3", "mistral", "generic"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "?";
}

const char *lmx_tc_marker(lmx_tc_family f) {
    switch (f) {
    case LMX_TC_HERMES:
    case LMX_TC_QWEN3_CODER:
    case LMX_TC_GENERIC:
        return TAG_OPEN;
    case LMX_TC_LLAMA3:
        return PYTAG;
    case LMX_TC_MISTRAL:
        return MISTRAL;
    default:
        return NULL;
    }
}

char *lmx_tc_forced_prefix(lmx_tc_family f, const char *name, bool mistral_args) {
    lmx_buf out = {0};
    bool ok = true;
    json_t *j = name ? json_string(name) : NULL;
    char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL; /* the name as a JSON string */
    json_decref(j);
    if (name && !q) return NULL;
    switch (f) {
    case LMX_TC_HERMES:
    case LMX_TC_GENERIC:
        ok = lmx_buf_add(&out, "<tool_call>\n", 12);
        if (q)
            ok = ok && lmx_buf_add(&out, "{\"name\": ", 9) && lmx_buf_add(&out, q, strlen(q)) &&
                 lmx_buf_add(&out, ", \"arguments\": ", 15);
        break;
    case LMX_TC_QWEN3_CODER:
        ok = lmx_buf_add(&out, "<tool_call>\n", 12);
        if (name)
            ok = ok && lmx_buf_add(&out, "<function=", 10) &&
                 lmx_buf_add(&out, name, strlen(name)) && lmx_buf_add(&out, ">\n", 2);
        break;
    case LMX_TC_LLAMA3:
        ok = lmx_buf_add(&out, "{\"name\": ", 9);
        if (q)
            ok = ok && lmx_buf_add(&out, q, strlen(q)) &&
                 lmx_buf_add(&out, ", \"parameters\": ", 16);
        break;
    case LMX_TC_MISTRAL:
        ok = lmx_buf_add(&out, MISTRAL, strlen(MISTRAL));
        if (name && mistral_args)
            ok = ok && lmx_buf_add(&out, name, strlen(name)) && lmx_buf_add(&out, "[ARGS]", 6);
        else if (q)
            ok = ok && lmx_buf_add(&out, "[{\"name\": ", 10) && lmx_buf_add(&out, q, strlen(q)) &&
                 lmx_buf_add(&out, ", \"arguments\": ", 15);
        break;
    default:
        break;
    }
    free(q);
    if (!ok || !out.p) {
        lmx_buf_free(&out);
        return NULL;
    }
    return out.p;
}

static bool bare_json(lmx_tc_family f) {
    return f == LMX_TC_LLAMA3 || f == LMX_TC_GENERIC;
}

static int kind_of_marker(const char *m) {
    if (!strcmp(m, TAG_OPEN)) return K_TAG;
    if (!strcmp(m, PYTAG)) return K_PYTAG;
    return K_MISTRAL;
}

/* ---- JSON scanning ---- */

#define NEED_MORE (-2)
#define INVALID   (-1)

/* End (exclusive) of the JSON value starting at s[i] (after whitespace is
 * skipped by the caller): NEED_MORE when the text stops inside it, INVALID
 * when it cannot be a value. Brackets are only balanced, not checked: the
 * caller validates with jansson. */
static long value_end(const char *s, size_t n, size_t i) {
    if (i >= n) return NEED_MORE;
    char c = s[i];
    if (c == '{' || c == '[' || c == '"') {
        int depth = 0;
        bool str = false, esc = false;
        for (size_t k = i; k < n; k++) {
            char x = s[k];
            if (str) {
                if (esc)
                    esc = false;
                else if (x == '\\')
                    esc = true;
                else if (x == '"') {
                    str = false;
                    if (depth == 0) return (long)k + 1;
                }
                continue;
            }
            if (x == '"')
                str = true;
            else if (x == '{' || x == '[')
                depth++;
            else if (x == '}' || x == ']') {
                if (--depth == 0) return (long)k + 1;
                if (depth < 0) return INVALID;
            }
        }
        return NEED_MORE;
    }
    if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
        size_t k = i;
        while (k < n && ((s[k] && strchr("+-.eE", s[k])) || (s[k] >= '0' && s[k] <= '9') ||
                         (s[k] >= 'a' && s[k] <= 'z')))
            k++;
        return k < n ? (long)k : NEED_MORE;
    }
    return INVALID;
}

static size_t skip_ws(const char *s, size_t n, size_t i) {
    while (i < n && is_ws(s[i])) i++;
    return i;
}

/* The raw text of a top-level member of a valid JSON object s[0..n). */
static bool member(const char *s, size_t n, const char *key, size_t *a, size_t *b) {
    size_t i = skip_ws(s, n, 0);
    if (i >= n || s[i] != '{') return false;
    i++;
    for (;;) {
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != '"') return false;
        long ke = value_end(s, n, i);
        if (ke < 0) return false;
        json_t *k = json_loadb(s + i, (size_t)ke - i, JSON_DECODE_ANY, NULL);
        bool hit = json_is_string(k) && !strcmp(json_string_value(k), key);
        json_decref(k);
        i = skip_ws(s, n, (size_t)ke);
        if (i >= n || s[i] != ':') return false;
        i = skip_ws(s, n, i + 1);
        long ve = value_end(s, n, i);
        if (ve < 0) return false;
        if (hit) {
            *a = i;
            *b = (size_t)ve;
            return true;
        }
        i = skip_ws(s, n, (size_t)ve);
        if (i >= n || s[i] != ',') return false;
        i++;
    }
}

/* ---- building calls ---- */

static bool add_call(lmx_tc *p, const char *name, size_t name_len, const char *args,
                     size_t args_len) {
    if (!lmx_grow_int(&p->calls, &p->calls_cap, p->n_calls + 1, sizeof *p->calls, 4)) return false;
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char id[32] = "call_";
    for (int k = 0; k < 24; k++) id[5 + k] = al[next_rand(&p->rng) % 62];
    id[29] = 0;
    call *c = &p->calls[p->n_calls];
    c->id = dupn(id, 29);
    c->name = dupn(name, name_len);
    c->args = dupn(args, args_len);
    if (!c->id || !c->name || !c->args) {
        free(c->id);
        free(c->name);
        free(c->args);
        return false;
    }
    p->n_calls++;
    return true;
}

/* A call object {"name": N, "arguments"|"parameters": {...} or "..."}. */
static bool parse_call_obj(lmx_tc *p, const char *s, size_t n) {
    json_t *o = json_loadb(s, n, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return false;
    }
    json_t *name = json_object_get(o, "name");
    bool ok = json_is_string(name) && json_string_length(name) > 0;
    const char *key = json_object_get(o, "arguments") ? "arguments" : "parameters";
    json_t *args = json_object_get(o, key);
    size_t a = 0, b = 0;
    const char *at = "{}";
    size_t al = 2;
    if (ok && args && !json_is_null(args)) {
        if (json_is_object(args)) {
            ok = member(s, n, key, &a, &b);
            at = s + a;
            al = b - a;
        } else if (json_is_string(args)) {
            at = json_string_value(args);
            al = json_string_length(args);
        } else
            ok = false;
    }
    if (ok) ok = add_call(p, json_string_value(name), json_string_length(name), at, al);
    json_decref(o);
    return ok;
}

/* JSON type of parameter `param` of function `fn` in the request's tools. */
static const char *param_type(const json_t *tools, const char *fn, size_t fn_len,
                              const char *param) {
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t) {
        const json_t *f = json_object_get(t, "function");
        if (!f) f = t;
        const json_t *nm = json_object_get(f, "name");
        if (!json_is_string(nm) || json_string_length(nm) != fn_len ||
            memcmp(json_string_value(nm), fn, fn_len))
            continue;
        const json_t *ty = json_object_get(
            json_object_get(json_object_get(json_object_get(f, "parameters"), "properties"), param),
            "type");
        return json_string_value(ty);
    }
    return NULL;
}

static bool put_json_string(lmx_buf *b, const char *s, size_t k) {
    json_t *j = json_stringn(s, k);
    char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    bool ok = d && lmx_buf_add(b, d, strlen(d));
    free(d);
    json_decref(j);
    return ok;
}

/* <function=N><parameter=P>\nvalue\n</parameter>...</function> (body trimmed). */
static bool parse_xml_call(lmx_tc *p, const char *s, size_t n) {
    if (!starts(s, n, "<function=")) return false;
    size_t i = 10;
    const char *gt = memchr(s + i, '>', n - i);
    if (!gt || gt == s + i) return false;
    const char *name = s + i;
    size_t name_len = (size_t)(gt - name);
    for (size_t k = 0; k < name_len; k++)
        if (is_ws(name[k]) || name[k] == '<') return false;
    i = (size_t)(gt - s) + 1;
    lmx_buf args = {0};
    bool ok = lmx_buf_add(&args, "{", 1), first = true;
    while (ok) {
        i = skip_ws(s, n, i);
        if (i >= n || starts(s + i, n - i, "</function>")) break;
        if (!starts(s + i, n - i, "<parameter=")) {
            ok = false;
            break;
        }
        i += 11;
        const char *pg = memchr(s + i, '>', n - i);
        if (!pg) {
            ok = false;
            break;
        }
        char *pname = dupn(s + i, (size_t)(pg - (s + i)));
        i = (size_t)(pg - s) + 1;
        const char *end = find(s + i, n - i, "</parameter>");
        const char *v = s + i;
        size_t vn = end ? (size_t)(end - v) : n - i;
        if (!pname || !end) {
            free(pname);
            ok = false;
            break;
        }
        if (vn && v[0] == '\n') v++, vn--;
        if (vn && v[vn - 1] == '\n') vn--;
        ok = (first || lmx_buf_add(&args, ",", 1)) &&
             put_json_string(&args, pname, strlen(pname)) && lmx_buf_add(&args, ":", 1);
        first = false;
        const char *ty = param_type(p->tools, name, name_len, pname);
        free(pname);
        json_t *j = NULL;
        if (ok && !(ty && !strcmp(ty, "string"))) j = json_loadb(v, vn, JSON_DECODE_ANY, NULL);
        if (ok) {
            size_t a = skip_ws(v, vn, 0), b = vn;
            while (b > a && is_ws(v[b - 1])) b--;
            ok = j ? lmx_buf_add(&args, v + a, b - a) : put_json_string(&args, v, vn);
        }
        json_decref(j);
        i = (size_t)(end - s) + 12;
    }
    if (ok && i < n) { /* "</function>" then nothing */
        i += 11;
        ok = skip_ws(s, n, i) == n;
    }
    ok = ok && lmx_buf_add(&args, "}", 1) && add_call(p, name, name_len, args.p, args.n);
    lmx_buf_free(&args);
    return ok;
}

/* ---- output ---- */

static bool push_item(lmx_tc_delta *d, lmx_tc_item it) {
    if (!lmx_grow_int(&d->items, &d->cap, d->n + 1, sizeof *d->items, 8)) return false;
    d->items[d->n++] = it;
    return true;
}

static void emit_content(lmx_tc *p, lmx_tc_delta *d, const char *s, size_t k) {
    if (!k) return;
    for (size_t i = 0; i < k; i++)
        if (!is_ws(s[i])) p->at_start = false;
    if (!lmx_buf_add(&p->content, s, k)) {
        p->oom = true;
        return;
    }
    if (!d) return;
    if (d->n && d->items[d->n - 1].index < 0) { /* extend the last content item */
        lmx_tc_item *it = &d->items[d->n - 1];
        if (!lmx_str_append(&it->text, &it->len, s, k)) p->oom = true;
        return;
    }
    lmx_tc_item it = {.index = -1, .text = dupn(s, k), .len = k};
    if (!it.text || !push_item(d, it)) {
        free(it.text);
        p->oom = true;
    }
}

static void emit_calls_from(lmx_tc *p, lmx_tc_delta *d, int from) {
    if (!d) return;
    for (int i = from; i < p->n_calls; i++) {
        const call *c = &p->calls[i];
        lmx_tc_item it = {.index = i,
                          .id = strdup(c->id),
                          .name = strdup(c->name),
                          .text = strdup(c->args),
                          .len = strlen(c->args)};
        if (!it.id || !it.name || !it.text || !push_item(d, it)) {
            free(it.id);
            free(it.name);
            free(it.text);
            p->oom = true;
        }
    }
}

static void consume(lmx_tc *p, size_t k) {
    if (!k) return;
    memmove(p->buf, p->buf + k, p->n - k);
    p->n -= k;
}

/* ---- the scan ---- */

/* Call mode: 1 parsed (*used: bytes of the call from the marker), 0 needs more
 * text, -1 not a call. s starts at the marker. */
static int scan_call(lmx_tc *p, const char *s, size_t n, bool final, size_t *used) {
    int before = p->n_calls;
    bool ok = false;
    switch (p->kind) {
    case K_TAG: {
        size_t b = strlen(TAG_OPEN), a = skip_ws(s, n, b);
        if (a >= n) return final ? -1 : 0;
        if (s[a] == '{') { /* JSON body: its end is found string-aware */
            long ve = value_end(s, n, a);
            if (ve == NEED_MORE) return final ? -1 : 0;
            if (ve < 0) return -1;
            size_t e = skip_ws(s, n, (size_t)ve);
            if (starts(s + e, n - e, TAG_CLOSE))
                *used = e + strlen(TAG_CLOSE);
            else if (e >= n || partial(s + e, n - e, TAG_CLOSE)) {
                if (!final) return 0;
                *used = n; /* the model stopped before </tool_call> */
            } else
                return -1;
            ok = parse_call_obj(p, s + a, (size_t)ve - a);
            break;
        }
        const char *end = find(s + b, n - b, TAG_CLOSE);
        if (!end && !final) return 0;
        size_t e = end ? (size_t)(end - s) : n;
        *used = end ? e + strlen(TAG_CLOSE) : n;
        while (e > a && is_ws(s[e - 1])) e--;
        ok = parse_xml_call(p, s + a, e - a);
        break;
    }
    case K_PYTAG:
    case K_BARE: {
        size_t a = p->kind == K_PYTAG ? skip_ws(s, n, strlen(PYTAG)) : 0;
        if (a >= n) return final ? -1 : 0;
        long ve = value_end(s, n, a);
        if (ve == NEED_MORE) return final ? -1 : 0;
        if (ve < 0 || s[a] != '{') return -1;
        *used = (size_t)ve;
        ok = parse_call_obj(p, s + a, (size_t)ve - a);
        break;
    }
    case K_MISTRAL: {
        size_t a = skip_ws(s, n, strlen(MISTRAL));
        if (a >= n) return final ? -1 : 0;
        if (s[a] == '[') { /* [{...}, ...] */
            long ve = value_end(s, n, a);
            if (ve == NEED_MORE) return final ? -1 : 0;
            if (ve < 0) return -1;
            *used = (size_t)ve;
            json_t *arr = json_loadb(s + a, (size_t)ve - a, 0, NULL);
            ok = json_is_array(arr) && json_array_size(arr) > 0;
            /* each element's raw text: walk the array */
            size_t i = a + 1;
            for (size_t k = 0; ok && k < json_array_size(arr); k++) {
                i = skip_ws(s, (size_t)ve, i);
                long ee = value_end(s, (size_t)ve, i);
                ok = ee > 0 && parse_call_obj(p, s + i, (size_t)ee - i);
                i = skip_ws(s, (size_t)ve, (size_t)(ee > 0 ? ee : 0));
                if (i < (size_t)ve && s[i] == ',') i++;
            }
            json_decref(arr);
            break;
        }
        /* NAME[ARGS]{...} or NAME[CALL_ID]id[ARGS]{...} */
        size_t i = a;
        while (i < n && i - a < 256 &&
               ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
            i++;
        if (i - a >= 256 || i == a) return i >= n && !final ? 0 : -1;
        size_t name_end = i;
        if (i >= n || partial(s + i, n - i, "[ARGS]") || partial(s + i, n - i, "[CALL_ID]"))
            return final ? -1 : 0;
        if (starts(s + i, n - i, "[CALL_ID]")) {
            i += 9;
            while (i < n && i - name_end < 128 && s[i] != '[' && !is_ws(s[i])) i++;
            if (i >= n || partial(s + i, n - i, "[ARGS]")) return final ? -1 : 0;
        }
        if (!starts(s + i, n - i, "[ARGS]")) return -1;
        i = skip_ws(s, n, i + 6);
        long ve = value_end(s, n, i);
        if (ve == NEED_MORE) return final ? -1 : 0;
        if (ve < 0 || s[i] != '{') return -1;
        json_t *o = json_loadb(s + i, (size_t)ve - i, 0, NULL);
        ok = json_is_object(o) && add_call(p, s + a, name_end - a, s + i, (size_t)ve - i);
        json_decref(o);
        *used = (size_t)ve;
        break;
    }
    }
    if (!ok) { /* undo a partly added group (Mistral arrays) */
        while (p->n_calls > before) {
            call *c = &p->calls[--p->n_calls];
            free(c->id);
            free(c->name);
            free(c->args);
        }
        return -1;
    }
    return 1;
}

static void run(lmx_tc *p, lmx_tc_delta *d, bool final) {
    const char *markers[2] = {lmx_tc_marker(p->f), NULL};
    if (p->f == LMX_TC_GENERIC) markers[0] = TAG_OPEN;
    if (p->f == LMX_TC_NONE) {
        emit_content(p, d, p->buf, p->n);
        consume(p, p->n);
        return;
    }
    for (;;) {
        char *s = p->buf;
        size_t n = p->n;
        if (p->in_call) {
            size_t used = 0, at = p->call_at;
            int before = p->n_calls;
            int r = scan_call(p, s + at, n - at, final, &used);
            if (r == 0) return;
            p->in_call = false;
            if (r > 0) {
                emit_calls_from(p, d, before);
                consume(p, at + used);
                p->after_call = true;
                p->at_start = true;
            } else { /* give back the whitespace and the marker */
                size_t ml = p->kind == K_BARE ? 1 : strlen(markers[0]);
                emit_content(p, d, s, at + ml);
                consume(p, at + ml);
                p->at_start = false;
                p->after_call = false;
            }
            continue;
        }
        if (p->after_call) {
            size_t i = 0;
            while (i < n && (is_ws(s[i]) || (s[i] == ';' && bare_json(p->f)))) i++;
            consume(p, i);
            if (i == n) return;
            p->after_call = false;
            continue;
        }
        /* the earliest marker, or a '{' opening the output */
        size_t i = n;
        int kind = -1;
        if (p->at_start && bare_json(p->f)) {
            size_t k = skip_ws(s, n, 0);
            if (k < n && s[k] == '{') i = k, kind = K_BARE;
        }
        if (kind < 0 && markers[0]) {
            const char *m = find(s, n, markers[0]);
            if (m) i = (size_t)(m - s), kind = kind_of_marker(markers[0]);
        }
        size_t ws = i; /* whitespace right before i is held / dropped */
        while (ws > 0 && is_ws(s[ws - 1])) ws--;
        if (kind >= 0) {
            emit_content(p, d, s, ws);
            consume(p, ws);
            p->in_call = true;
            p->kind = kind;
            p->call_at = i - ws;
            continue;
        }
        if (final) {
            emit_content(p, d, s, p->n_calls ? ws : n);
            consume(p, n);
            return;
        }
        /* hold a tail that may start a marker, and trailing whitespace */
        size_t hold = 0;
        if (markers[0]) {
            size_t ml = strlen(markers[0]);
            for (size_t k = ml - 1; k > 0; k--)
                if (k <= n && !memcmp(s + n - k, markers[0], k)) {
                    hold = k;
                    break;
                }
        }
        size_t e = n - hold;
        while (e > 0 && is_ws(s[e - 1])) e--;
        emit_content(p, d, s, e);
        consume(p, e);
        return;
    }
}

/* ---- API ---- */

lmx_tc *lmx_tc_new(lmx_tc_family f, const json_t *tools, uint64_t seed) {
    lmx_tc *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->f = f;
    p->tools = tools;
    p->rng = seed;
    p->at_start = true;
    if (!lmx_grow(&p->buf, &p->cap, 256, 1, 64)) {
        free(p);
        return NULL;
    }
    return p;
}

void lmx_tc_free(lmx_tc *p) {
    if (!p) return;
    for (int i = 0; i < p->n_calls; i++) {
        free(p->calls[i].id);
        free(p->calls[i].name);
        free(p->calls[i].args);
    }
    free(p->calls);
    free(p->buf);
    lmx_buf_free(&p->content);
    free(p);
}

void lmx_tc_delta_clear(lmx_tc_delta *d) {
    for (int i = 0; i < d->n; i++) {
        free(d->items[i].id);
        free(d->items[i].name);
        free(d->items[i].text);
    }
    free(d->items);
    memset(d, 0, sizeof *d);
}

int lmx_tc_feed(lmx_tc *p, const char *text, size_t len, lmx_tc_delta *d) {
    if (!lmx_grow(&p->buf, &p->cap, p->n + len + 1, 1, 64)) return -1;
    memcpy(p->buf + p->n, text, len);
    p->n += len;
    run(p, d, false);
    return p->oom ? -1 : 0;
}

int lmx_tc_finish(lmx_tc *p, lmx_tc_delta *d) {
    run(p, d, true);
    return p->oom ? -1 : 0;
}

const char *lmx_tc_content(const lmx_tc *p, size_t *len) {
    if (len) *len = p->content.n;
    return p->content.p ? p->content.p : "";
}

int lmx_tc_n_calls(const lmx_tc *p) {
    return p->n_calls;
}

void lmx_tc_call(const lmx_tc *p, int i, const char **id, const char **name, const char **args) {
    const call *c = &p->calls[i];
    if (id) *id = c->id;
    if (name) *name = c->name;
    if (args) *args = c->args;
}
