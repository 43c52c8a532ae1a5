/* The prompt's log-probabilities of an echoed completion: see echo_lp.h.
 *
 * text_offset: the token pieces are matched against the echoed text left to
 * right. SentencePiece's leading space (and the space a tokenizer's clean-up
 * drops before punctuation) may be missing from the text: a piece that does
 * not match with its leading space is matched without it. Control tokens
 * (BOS) have no text and take the offset where they stand. When the text
 * does not spell the pieces (a string that tokenization normalized), the
 * offsets still advance by each piece's length and stay within the text. */
#include "server/core/echo_lp.h"

#include <stdlib.h>
#include <string.h>

struct lmx_echo_lp {
    json_t *lp;   /* {tokens, token_logprobs, top_logprobs, text_offset} */
    size_t pos;   /* bytes of the echoed text matched so far */
    size_t chars; /* the characters in them */
};

void lmx_echo_lp_add(lmx_gen *g, int job, const lmx_event *ev) {
    if (!g->echo) return;
    if (!g->elp && !(g->elp = calloc((size_t)g->n_jobs, sizeof *g->elp))) return;
    struct lmx_echo_lp *e = &g->elp[job];
    if (!e->lp && !(e->lp = lmx_gen_cmpl_lp_new())) return;
    const char *t = g->echo[job];
    size_t len = strlen(t), left = len - e->pos;
    char piece[256];
    size_t n = lmx_gen_text_piece(g, ev->token, piece, sizeof piece);
    const char *p = piece;
    bool fits = n <= left && !memcmp(t + e->pos, p, n);
    if (!fits && n && p[0] == ' ') p++, n--;
    if (n > left) n = left;
    size_t off = lmx_gen_char_off(&e->chars, t + e->pos, n);
    e->pos += n;
    lmx_gen_cmpl_lp_add(g, e->lp, ev->token, ev, off);
}

void lmx_echo_lp_started(lmx_gen *g, int job) {
    if (!g->echo) return;
    size_t chars = 0;
    lmx_gen_char_off(&chars, g->echo[job], strlen(g->echo[job]));
    for (int c = 0; c < g->n; c++) g->ch[job * g->n + c].text_off = chars;
}

json_t *lmx_echo_lp_prompt(const lmx_gen *g, int job) {
    return g->elp ? g->elp[job].lp : NULL;
}

json_t *lmx_echo_lp_merge(const lmx_gen *g, int job, json_t *gen_lp) {
    json_t *p = lmx_echo_lp_prompt(g, job);
    if (!p) return gen_lp ? json_incref(gen_lp) : lmx_gen_cmpl_lp_new();
    json_t *o = json_deep_copy(p);
    if (!o || !gen_lp) return o;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) json_array_extend(v, json_object_get(gen_lp, k));
    return o;
}

void lmx_echo_lp_free(lmx_gen *g) {
    for (int k = 0; g->elp && k < g->n_jobs; k++) json_decref(g->elp[k].lp);
    free(g->elp);
    g->elp = NULL;
}
