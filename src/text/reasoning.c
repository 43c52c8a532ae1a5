/* The <think>…</think> splitter (see reasoning.h for the rules).
 *
 * State machine over a held-back buffer: `buf` holds the text not yet
 * decided; each feed appends to it and runs the machine until it needs more
 * text. What can be held is small: whitespace and a partial tag (plus, in the
 * thought, the whitespace before a possible </think>, dropped if the tag
 * comes). */
#include "text/reasoning.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static const char OPEN[] = "<think>", CLOSE[] = "</think>";
#define N_OPEN  (sizeof OPEN - 1)
#define N_CLOSE (sizeof CLOSE - 1)

enum {
    ST_START,      /* nothing decided: whitespace, maybe <think> next */
    ST_THINK_LEAD, /* just after <think>: dropping whitespace */
    ST_THINK,      /* in the thought */
    ST_AFTER,      /* just after </think>: dropping whitespace */
    ST_CONTENT,    /* the answer: everything passes */
};

struct lmx_rsn {
    int state;
    lmx_buf held; /* text not yet sorted into reasoning or content */
};

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int append(char **p, size_t *n, const char *s, size_t k) {
    return lmx_str_append(p, n, s, k) ? 0 : -1;
}

void lmx_rsn_out_clear(lmx_rsn_out *o) {
    free(o->reasoning);
    free(o->content);
    memset(o, 0, sizeof *o);
}

lmx_rsn *lmx_rsn_new(bool in_thought) {
    lmx_rsn *r = calloc(1, sizeof *r);
    if (r) r->state = in_thought ? ST_THINK_LEAD : ST_START;
    return r;
}

void lmx_rsn_free(lmx_rsn *r) {
    if (!r) return;
    lmx_buf_free(&r->held);
    free(r);
}

bool lmx_rsn_in_thought(const lmx_rsn *r) {
    return r->state == ST_THINK_LEAD || r->state == ST_THINK;
}

/* Drops the first k bytes of the held text. */
static void drop(lmx_rsn *r, size_t k) {
    if (!k) return;
    memmove(r->held.p, r->held.p + k, r->held.n - k);
    r->held.n -= k;
}

static size_t skip_ws(const lmx_rsn *r) {
    size_t i = 0;
    while (i < r->held.n && is_ws(r->held.p[i])) i++;
    return i;
}

/* Runs the machine on the held text; final: no more text will come. */
static int run(lmx_rsn *r, lmx_rsn_out *o, bool final) {
    for (;;) {
        switch (r->state) {
        case ST_START: {
            size_t i = skip_ws(r), rest = r->held.n - i;
            if (rest >= N_OPEN && !memcmp(r->held.p + i, OPEN, N_OPEN)) {
                drop(r, i + N_OPEN);
                r->state = ST_THINK_LEAD;
                continue;
            }
            if (!final && rest < N_OPEN && !memcmp(r->held.p + i, OPEN, rest)) return 0; /* wait */
            r->state = ST_CONTENT; /* no thought: everything held is answer */
            continue;
        }
        case ST_THINK_LEAD:
        case ST_AFTER: {
            size_t i = skip_ws(r);
            drop(r, i);
            if (!r->held.n) return 0; /* all whitespace so far (or the end) */
            r->state = r->state == ST_AFTER ? ST_CONTENT : ST_THINK;
            continue;
        }
        case ST_THINK: {
            const char *hit = memmem(r->held.p, r->held.n, CLOSE, N_CLOSE);
            size_t send;
            if (hit) {
                send = (size_t)(hit - r->held.p);
            } else {
                /* hold a tail that may begin </think>, and the whitespace before it */
                size_t hold = 0;
                if (!final)
                    for (size_t k = N_CLOSE - 1; k > 0; k--)
                        if (k <= r->held.n && !memcmp(r->held.p + r->held.n - k, CLOSE, k)) {
                            hold = k;
                            break;
                        }
                send = r->held.n - hold;
            }
            size_t keep = send;
            while (keep > 0 && is_ws(r->held.p[keep - 1])) keep--; /* trailing whitespace waits */
            if (append(&o->reasoning, &o->n_reasoning, r->held.p, keep)) return -1;
            if (hit) {
                drop(r, send + N_CLOSE);
                r->state = ST_AFTER;
                continue;
            }
            drop(r, final ? r->held.n : keep); /* at the end, trailing whitespace is dropped */
            return 0;
        }
        default: /* ST_CONTENT */
            if (append(&o->content, &o->n_content, r->held.p, r->held.n)) return -1;
            r->held.n = 0;
            return 0;
        }
    }
}

int lmx_rsn_feed(lmx_rsn *r, const char *text, size_t len, lmx_rsn_out *out) {
    if (r->state == ST_CONTENT) return append(&out->content, &out->n_content, text, len);
    if (!lmx_buf_add(&r->held, text, len)) return -1;
    return run(r, out, false);
}

int lmx_rsn_finish(lmx_rsn *r, lmx_rsn_out *out) {
    return run(r, out, true);
}

bool lmx_rsn_prompt_opens(const char *prompt, size_t len) {
    while (len > 0 && is_ws(prompt[len - 1])) len--;
    return len >= N_OPEN && !memcmp(prompt + len - N_OPEN, OPEN, N_OPEN);
}

bool lmx_rsn_template_thinks(const char *tmpl, size_t len) {
    return memmem(tmpl, len, OPEN, N_OPEN) || memmem(tmpl, len, CLOSE, N_CLOSE);
}
