/* /v1/completions: the legacy text-completion API.
 *
 * The prompt may be a string, a list of strings, a list of token ids or a list
 * of lists of token ids; each prompt is one scheduler job with n choices, and
 * choice indices run prompt by prompt (prompt k's choices are k*n .. k*n+n-1),
 * as OpenAI numbers them. echo prepends the prompt text to each choice, and
 * with logprobs the prompt's tokens head the logprobs (echo_lp.h); with
 * max_tokens 0 (only with echo) that is all: nothing is generated. */
#include <stdlib.h>
#include <string.h>

#include "server/api/openai_chat.h"
#include "server/api/openai_completions.h"
#include "server/core/chat_prompt.h"
#include "server/core/echo_lp.h"

/* The prompt text of a token-id prompt (for echo), detokenized as llama.cpp
 * does (BOS/EOS dropped, SentencePiece's leading space removed). */
static char *ids_text(const lmx_served *s, const int32_t *ids, int n) {
    size_t cap = (size_t)n * 8 + 16;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    size_t k = lmx_tok_decode(s->m->tok, ids, n, true, false, buf, cap);
    if (k >= cap) {
        char *b2 = realloc(buf, k + 1);
        if (!b2) {
            free(buf);
            return NULL;
        }
        buf = b2;
        k = lmx_tok_decode(s->m->tok, ids, n, true, false, buf, k + 1);
    }
    buf[k] = 0;
    return buf;
}

lmx_gen *lmx_completions_start(lmx_served *s, const lmx_oai_req *r, lmx_api_err *e) {
    json_t *p = r->prompt;
    int n_jobs = 1;
    bool nested = false;
    if (json_is_array(p)) {
        json_t *first = json_array_get(p, 0);
        if (json_is_string(first) || json_is_array(first)) {
            n_jobs = (int)json_array_size(p);
            nested = true;
        }
    }
    if ((long)n_jobs * r->n > s->n_parallel * 16L) {
        lmx_err_bad(e, "prompt", "Invalid 'prompt': too many prompts (%d) for one request.",
                    n_jobs);
        return NULL;
    }
    int32_t **toks = calloc((size_t)n_jobs, sizeof *toks);
    int *nt = calloc((size_t)n_jobs, sizeof *nt);
    char **echo = calloc((size_t)n_jobs, sizeof *echo);
    lmx_gen *g = NULL;
    if (!toks || !nt || !echo) {
        lmx_err_set(e, 500, "server_error", NULL, NULL, "out of memory");
        goto out;
    }
    for (int k = 0; k < n_jobs; k++) {
        json_t *x = nested ? json_array_get(p, (size_t)k) : p;
        if (json_is_string(x)) {
            if (lmx_srv_tokenize(s, json_string_value(x), json_string_length(x), true, &toks[k],
                                 &nt[k], e))
                goto out;
            echo[k] = strdup(json_string_value(x));
            if (!echo[k]) {
                lmx_err_set(e, 500, "server_error", NULL, NULL, "out of memory");
                goto out;
            }
        } else { /* token ids */
            size_t n = json_array_size(x);
            toks[k] = malloc(sizeof(int32_t) * (n ? n : 1));
            if (!toks[k]) {
                lmx_err_set(e, 500, "server_error", NULL, NULL, "out of memory");
                goto out;
            }
            for (size_t i = 0; i < n; i++) {
                json_int_t id = json_integer_value(json_array_get(x, i));
                if (id >= s->m->hp.n_vocab) {
                    lmx_err_bad(
                        e, "prompt",
                        "Invalid 'prompt': token id %lld is not in the vocabulary (%d tokens).",
                        (long long)id, s->m->hp.n_vocab);
                    goto out;
                }
                toks[k][i] = (int32_t)id;
            }
            nt[k] = (int)n;
            echo[k] = ids_text(s, toks[k], nt[k]);
            if (!echo[k]) {
                lmx_err_set(e, 500, "server_error", NULL, NULL, "out of memory");
                goto out;
            }
        }
        if (nt[k] == 0) {
            lmx_err_bad(e, "prompt", "Invalid 'prompt': it is empty (no tokens).");
            goto out;
        }
    }
    g = lmx_gen_start(s, r, toks, nt, n_jobs, e);
    if (g && r->echo) {
        g->echo = echo;
        echo = NULL;
    }
out:
    for (int k = 0; k < n_jobs; k++) {
        if (toks) free(toks[k]);
        if (echo) free(echo[k]);
    }
    free(toks), free(nt), free(echo);
    return g;
}

static json_t *head(const lmx_gen *g) {
    return json_pack("{s:s,s:s,s:I,s:s,s:s}", "id", g->id, "object", "text_completion", "created",
                     (json_int_t)g->created, "model", g->s->name, "system_fingerprint",
                     LMX_SYSTEM_FINGERPRINT);
}

static json_t *text_of(const char *a, size_t na, const char *b, size_t nb) {
    char *s = malloc(na + nb + 1);
    if (!s) return json_string("");
    memcpy(s, a, na);
    memcpy(s + na, b, nb);
    json_t *j = json_stringn(s, na + nb);
    free(s);
    return j ? j : json_string("");
}

json_t *lmx_completions_response(const lmx_gen *g) {
    json_t *o = head(g), *choices = json_array();
    for (int i = 0; i < g->n_choices; i++) {
        const lmx_choice *c = &g->ch[i];
        const char *ec = g->echo ? g->echo[i / g->n] : "";
        json_t *lp = json_null();
        if (g->top_logprobs >= 0) lp = lmx_echo_lp_merge(g, i / g->n, c->lp);
        json_array_append_new(
            choices,
            json_pack("{s:o,s:i,s:o,s:s}", "text",
                      text_of(ec, strlen(ec), c->text.p ? c->text.p : "", c->text.n), "index", i,
                      "logprobs", lp, "finish_reason", c->finish ? c->finish : "stop"));
    }
    json_object_set_new(o, "choices", choices);
    json_t *u = lmx_gen_usage(g);
    json_object_set_new(o, "usage", u);
    return o;
}

static void emit(const lmx_gen *g, lmx_buf *out, json_t *choices) {
    json_t *o = head(g);
    json_object_set_new(o, "choices", choices);
    if (g->include_usage) json_object_set_new(o, "usage", json_null());
    lmx_sse_json(out, o);
    json_decref(o);
}

void lmx_completions_stream(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out) {
    if (!ev) {
        if (g->include_usage) {
            json_t *o = head(g);
            json_object_set_new(o, "choices", json_array());
            json_object_set_new(o, "usage", lmx_gen_usage(g));
            lmx_sse_json(out, o);
            json_decref(o);
        }
        lmx_sse_done(out);
        return;
    }
    int base = job * g->n;
    if (ev->type == LMX_EV_STARTED && g->echo) {
        json_t *cs = json_array(), *plp = lmx_echo_lp_prompt(g, job);
        for (int c = 0; c < g->n; c++)
            json_array_append_new(cs, json_pack("{s:s,s:i,s:O,s:n}", "text", g->echo[job], "index",
                                                base + c, "logprobs", plp ? plp : json_null(),
                                                "finish_reason"));
        emit(g, out, cs);
    } else if (ev->type == LMX_EV_TOKEN) {
        bool lp = g->top_logprobs >= 0 && ev->token >= 0;
        if (!ev->text_len && !lp) return;
        json_t *lpo = json_null();
        if (lp) {
            char piece[256];
            size_t n = lmx_gen_text_piece(g, ev->token, piece, sizeof piece);
            lmx_choice *c = &g->ch[base + ev->choice];
            lpo = lmx_gen_cmpl_lp_new();
            lmx_gen_cmpl_lp_add(g, lpo, ev->token, ev, lmx_gen_char_off(&c->text_off, piece, n));
        }
        emit(g, out,
             json_pack("[{s:o,s:i,s:o,s:n}]", "text", text_of(ev->text, ev->text_len, "", 0),
                       "index", base + ev->choice, "logprobs", lpo, "finish_reason"));
    } else if (ev->type == LMX_EV_FINISH) {
        emit(g, out,
             json_pack("[{s:s,s:i,s:n,s:s}]", "text", "", "index", base + ev->choice, "logprobs",
                       "finish_reason", ev->finish_reason));
    }
}
