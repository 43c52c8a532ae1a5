/* Running a request's jobs and collecting their events.
 *
 * Events of several jobs (a /v1/completions prompt list) are pulled round
 * robin: each unfinished job is asked without waiting, and only when none has
 * anything does the caller wait, on one job, for at most a short slice — so a
 * streamed choice of job 2 is not held back behind job 1's whole output. */
#include "server/core/gen.h"

#include "manager/manager.h"
#include "server/core/echo_lp.h"
#include "server/core/tenancy.h"
#include "util/clock.h"
#include "text/json_schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void lmx_rand_id(char *out, size_t cap, const char *prefix) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static _Atomic unsigned long long ctr;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lmx_rng r;
    lmx_rng_seed(&r, (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
                         (++ctr * 0xD1B54A32D192ED03ull));
    size_t n = (size_t)snprintf(out, cap, "%s", prefix), end = n + 24;
    for (; n + 1 < cap && n < end; n++) out[n] = al[lmx_rng_next(&r) % 62];
    out[n < cap ? n : cap - 1] = 0;
}

void lmx_gen_identify(lmx_job_params *p) {
    const lmx_caller *c = lmx_caller_current;
    if (!c) return;
    p->tenant = c->tenant;
    p->client = c->client;
    p->weight = c->weight;
    p->prio = p->embed ? 1 : c->prio;
}

void lmx_gen_queue_full(lmx_served *s, lmx_api_err *e) {
    lmx_sched_stats st;
    lmx_sched_get_stats(s->sched, &st);
    lmx_err_set(e, 429, "rate_limit_error", "queue_full", NULL,
                "The server is busy: every decoding slot of '%s' is in use and its queue of %d "
                "is full. Retry after the time in Retry-After.",
                s->name, st.n_queue);
    e->retry_after = lmx_retry_after(st.queued, st.drain_per_s);
    if (lmx_caller_current) lmx_caller_current->refused = "queue_full";
}

bool lmx_gen_admit(lmx_served *s, const int *n_prompt, int n_jobs, lmx_api_err *e) {
    lmx_tenancy *t = lmx_tenancy_current;
    lmx_caller *c = lmx_caller_current;
    if (!t || !c) return true;
    int total = 0;
    for (int k = 0; k < n_jobs; k++) total += n_prompt[k];
    if (!lmx_tenancy_prompt(t, c, total, e)) return false;
    lmx_sched_stats st;
    lmx_sched_get_stats(s->sched, &st);
    if (!lmx_tenancy_queue_ok(t, st.queued, st.drain_per_s, e)) {
        c->refused = "model_busy";
        return false;
    }
    return true;
}

int lmx_gen_check(const lmx_served *s, const lmx_oai_req *r, const int *n_prompt, int n_jobs,
                  lmx_api_err *e) {
    int n_ctx = s->n_ctx;
    for (int k = 0; k < n_jobs; k++) {
        int want = n_prompt[k] + r->max_tokens;
        if (n_prompt[k] >= n_ctx || (r->max_tokens && want > n_ctx)) {
            const char *param = r->kind == LMX_OAI_CHAT ? "messages" : "prompt";
            if (r->max_tokens)
                lmx_err_set(e, 400, "invalid_request_error", "context_length_exceeded", param,
                            "This model's maximum context length is %d tokens. However, you "
                            "requested %d tokens (%d in the %s, %d in the completion). Please "
                            "reduce the length of the %s or completion.",
                            n_ctx, want, n_prompt[k], param, r->max_tokens, param);
            else
                lmx_err_set(e, 400, "invalid_request_error", "context_length_exceeded", param,
                            "This model's maximum context length is %d tokens. However, your "
                            "%s resulted in %d tokens. Please reduce the length of the %s.",
                            n_ctx, param, n_prompt[k], param);
            return -1;
        }
    }
    if (r->n > s->n_parallel) {
        lmx_err_bad(
            e, "n",
            "Invalid 'n': this server decodes at most %d sequences at once (--parallel); got %d.",
            s->n_parallel, r->n);
        return -1;
    }
    for (int i = 0; i < r->n_bias; i++)
        if (r->bias[i].id >= s->m->hp.n_vocab) {
            lmx_err_bad(e, "logit_bias",
                        "Invalid 'logit_bias': token id %d is not in the vocabulary (%d tokens).",
                        r->bias[i].id, s->m->hp.n_vocab);
            return -1;
        }
    return 0;
}

lmx_gen *lmx_gen_start(lmx_served *s, const lmx_oai_req *r, int32_t *const *prompts,
                       const int *n_prompt, int n_jobs, lmx_api_err *e) {
    if (lmx_gen_check(s, r, n_prompt, n_jobs, e)) return NULL;
    if (!lmx_gen_admit(s, n_prompt, n_jobs, e)) return NULL;
    /* the schema is compiled only now that the cheap checks passed */
    lmx_gram *schema_gram = NULL;
    if (!r->grammar && r->schema) {
        char err[512];
        schema_gram = lmx_json_schema_grammar(r->schema, "response_format.json_schema.schema", err,
                                              sizeof err);
        if (!schema_gram) {
            lmx_err_bad(e, "response_format.json_schema.schema", "%s", err);
            return NULL;
        }
    }
    lmx_gram *grammar = r->grammar ? r->grammar : schema_gram;
    lmx_gen *g = calloc(1, sizeof *g);
    if (!g) goto oom;
    g->kind = r->kind;
    g->s = s;
    lmx_rand_id(g->id, sizeof g->id, r->kind == LMX_OAI_CHAT ? "chatcmpl-" : "cmpl-");
    g->created = (long long)time(NULL);
    g->t_submit = lmx_now_s();
    g->n_jobs = n_jobs;
    g->n = r->n;
    g->n_choices = n_jobs * r->n;
    g->top_logprobs = r->top_logprobs;
    g->stream = r->stream;
    g->include_usage = r->include_usage;
    g->jobs = calloc((size_t)n_jobs, sizeof *g->jobs);
    g->job_started = calloc((size_t)n_jobs, 1);
    g->job_done = calloc((size_t)n_jobs, 1);
    g->ch = calloc((size_t)g->n_choices, sizeof *g->ch);
    if (!g->jobs || !g->job_started || !g->job_done || !g->ch) goto oom;
    for (int k = 0; k < n_jobs; k++) {
        lmx_job_params p = {.prompt = prompts[k],
                            .n_prompt = n_prompt[k],
                            .max_tokens = r->max_tokens,
                            .n_choices = r->n,
                            .sample = r->sample,
                            .bias = r->bias,
                            .n_bias = r->n_bias,
                            .top_logprobs = r->top_logprobs,
                            .stop = r->stop,
                            .n_stop = r->n_stop,
                            .special_text = r->special_text,
                            .ignore_eos = r->ignore_eos,
                            /* echo with logprobs scores the prompt (echo_lp.h) */
                            .score = r->echo && r->top_logprobs >= 0,
                            .prompt_only = r->prompt_only,
                            .grammar = grammar};
        lmx_gen_identify(&p);
        lmx_submit_status st;
        g->jobs[k] = lmx_sched_submit(s->sched, &p, &st);
        if (!g->jobs[k]) {
            if (st == LMX_SUBMIT_QUEUE_FULL) {
                lmx_gen_queue_full(s, e);
            } else if (st == LMX_SUBMIT_STOPPING)
                lmx_err_set(e, 503, "server_error", "shutting_down", NULL,
                            "The server is shutting down.");
            else if (st == LMX_SUBMIT_TOO_LONG)
                lmx_err_set(
                    e, 400, "invalid_request_error", "context_length_exceeded", NULL,
                    "This model's maximum context length is %d tokens; the request does not fit.",
                    s->n_ctx);
            else
                lmx_err_bad(e, NULL,
                            "The request was refused by the scheduler (invalid parameters).");
            lmx_gen_free(g);
            lmx_gram_release(schema_gram);
            return NULL;
        }
    }
    g->owns_ref = true;
    lmx_gram_release(schema_gram); /* each job holds its own reference */
    return g;
oom:
    lmx_gen_free(g);
    lmx_gram_release(schema_gram);
    lmx_err_set(e, 500, "server_error", NULL, NULL, "out of memory");
    return NULL;
}

void lmx_gen_cancel(lmx_gen *g) {
    for (int k = 0; k < g->n_jobs; k++)
        if (g->jobs[k] && !g->job_done[k]) lmx_job_cancel(g->jobs[k]);
}

void lmx_gen_free(lmx_gen *g) {
    if (!g) return;
    if (g->api_free) g->api_free(g->api);
    if (g->jobs) {
        lmx_gen_cancel(g);
        for (int k = 0; k < g->n_jobs; k++) lmx_job_release(g->jobs[k]);
    }
    if (g->echo)
        for (int k = 0; k < g->n_jobs; k++) free(g->echo[k]);
    free(g->echo);
    lmx_echo_lp_free(g);
    for (int i = 0; g->ch && i < g->n_choices; i++) {
        lmx_buf_free(&g->ch[i].text);
        lmx_tc_free(g->ch[i].tc);
        lmx_rsn_free(g->ch[i].rsn);
        lmx_buf_free(&g->ch[i].reasoning);
        json_decref(g->ch[i].lp);
    }
    free(g->ch);
    free(g->thought);
    json_decref(g->tools);
    free(g->tc_prefix);
    free(g->jobs);
    free(g->job_started);
    free(g->job_done);
    /* last: the jobs above belong to the model's scheduler */
    if (g->owns_ref) {
        /* an engine failure (not a client that went away) counts towards quarantine */
        if (g->failed && strcmp(g->err, "cancelled")) lmx_mgr_report_failure(g->s, g->err);
        lmx_mgr_release(g->s);
    }
    free(g);
}

bool lmx_gen_done(const lmx_gen *g) {
    if (g->failed) return true;
    for (int k = 0; k < g->n_jobs; k++)
        if (!g->job_done[k]) return false;
    return true;
}

size_t lmx_gen_piece(const lmx_gen *g, int32_t id, char *buf, size_t cap) {
    return lmx_served_piece(g->s, id, buf, cap);
}

static json_t *bytes_of(const char *s, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer((unsigned char)s[i]));
    return a;
}

/* Token text as a JSON string: invalid UTF-8 (a lone byte of a multi-byte
 * character) becomes U+FFFD, as OpenAI shows it; bytes[] keeps the truth. */
static json_t *token_string(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    if (j) return j;
    char buf[256];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < sizeof buf; i++) {
        if ((unsigned char)s[i] < 0x80)
            buf[o++] = s[i];
        else
            o += (size_t)snprintf(buf + o, sizeof buf - o, "\xEF\xBF\xBD");
    }
    j = json_stringn(buf, o);
    return j ? j : json_string("");
}

json_t *lmx_gen_lp_entry(const lmx_gen *g, int32_t id, float logprob, const lmx_event *top) {
    char piece[256];
    size_t n = lmx_gen_piece(g, id, piece, sizeof piece);
    json_t *o = json_object();
    json_object_set_new(o, "token", token_string(piece, n));
    json_object_set_new(o, "logprob", json_real(logprob));
    json_object_set_new(o, "bytes", bytes_of(piece, n));
    if (top) {
        json_t *a = json_array();
        for (int k = 0; k < top->n_top; k++)
            json_array_append_new(a,
                                  lmx_gen_lp_entry(g, top->top_id[k], top->top_logprob[k], NULL));
        json_object_set_new(o, "top_logprobs", a);
    }
    return o;
}

json_t *lmx_gen_usage(const lmx_gen *g) {
    return json_pack("{s:i,s:i,s:i,s:{s:i},s:{s:i}}", "prompt_tokens", g->prompt_tokens,
                     "completion_tokens", g->completion_tokens, "total_tokens",
                     g->prompt_tokens + g->completion_tokens, "prompt_tokens_details",
                     "cached_tokens", g->cached_tokens, "completion_tokens_details",
                     "reasoning_tokens", g->reasoning_tokens);
}

/* Non-streamed bookkeeping of text and log-probabilities. */
static void collect(lmx_gen *g, int job, const lmx_event *ev) {
    lmx_choice *c = &g->ch[job * g->n + ev->choice];
    if (ev->text_len) lmx_buf_add(&c->text, ev->text, ev->text_len);
    if (g->thought_len) lmx_buf_add(&c->reasoning, g->thought, g->thought_len);
    if (ev->type != LMX_EV_TOKEN || g->top_logprobs < 0 || ev->token < 0) return;
    if (g->kind == LMX_OAI_CHAT) {
        if (!c->lp) c->lp = json_array();
        json_array_append_new(c->lp, lmx_gen_lp_entry(g, ev->token, ev->logprob, ev));
        return;
    }
    if (!c->lp) c->lp = lmx_gen_cmpl_lp_new();
    char piece[256];
    size_t n = lmx_gen_text_piece(g, ev->token, piece, sizeof piece);
    lmx_gen_cmpl_lp_add(g, c->lp, ev->token, ev, lmx_gen_char_off(&c->text_off, piece, n));
}

json_t *lmx_gen_cmpl_lp_new(void) {
    return json_pack("{s:[],s:[],s:[],s:[]}", "tokens", "token_logprobs", "top_logprobs",
                     "text_offset");
}

void lmx_gen_cmpl_lp_add(const lmx_gen *g, json_t *lp, int32_t id, const lmx_event *ev,
                         size_t text_offset) {
    char piece[256];
    size_t n = lmx_gen_piece(g, id, piece, sizeof piece);
    json_array_append_new(json_object_get(lp, "tokens"), token_string(piece, n));
    bool none = isnan(ev->logprob);
    json_array_append_new(json_object_get(lp, "token_logprobs"),
                          none ? json_null() : json_real(ev->logprob));
    json_t *top = none ? json_null() : json_object();
    for (int k = 0; !none && k < ev->n_top; k++) {
        size_t m = lmx_gen_piece(g, ev->top_id[k], piece, sizeof piece);
        json_t *key = token_string(piece, m);
        json_object_set_new(top, json_string_value(key), json_real(ev->top_logprob[k]));
        json_decref(key);
    }
    json_array_append_new(json_object_get(lp, "top_logprobs"), top);
    json_array_append_new(json_object_get(lp, "text_offset"),
                          json_integer((json_int_t)text_offset));
}

static bool utf8_cont(unsigned char b) {
    return (b & 0xC0) == 0x80;
}

size_t lmx_gen_char_off(size_t *chars, const char *piece, size_t n) {
    size_t off = *chars;
    if (n && utf8_cont((unsigned char)piece[0]) && off) off--;
    for (size_t i = 0; i < n; i++) *chars += !utf8_cont((unsigned char)piece[i]);
    return off;
}

size_t lmx_gen_text_piece(const lmx_gen *g, int32_t id, char *buf, size_t cap) {
    size_t n = lmx_tok_piece(g->s->m->tok, id, false, buf, cap);
    return n < cap ? n : cap;
}

/* The reasoning split of a TOKEN or FINISH event: its text goes through the
 * choice's splitter; the answer replaces the text, the thought goes to
 * g->thought. A token counts as reasoning when the thought was open before
 * or after it. */
static void split(lmx_gen *g, int job, lmx_event *ev) {
    lmx_choice *c = &g->ch[job * g->n + ev->choice];
    if (!c->rsn) c->rsn = lmx_rsn_new(g->think_open);
    if (!c->rsn) return;
    lmx_rsn_out o = {0};
    if (ev->type == LMX_EV_TOKEN) {
        bool before = lmx_rsn_in_thought(c->rsn);
        lmx_rsn_feed(c->rsn, ev->text ? ev->text : "", ev->text_len, &o);
        if (ev->token >= 0 && (before || lmx_rsn_in_thought(c->rsn))) g->reasoning_tokens++;
    } else {
        lmx_rsn_finish(c->rsn, &o);
    }
    free(ev->text);
    ev->text = o.content;
    ev->text_len = o.n_content;
    g->thought = o.reasoning;
    g->thought_len = o.n_reasoning;
}

lmx_event_type lmx_gen_next(lmx_gen *g, lmx_event *ev, int *job, int timeout_ms) {
    memset(ev, 0, sizeof *ev);
    free(g->thought);
    g->thought = NULL;
    g->thought_len = 0;
    *job = -1;
    if (lmx_gen_done(g)) return LMX_EV_NONE;
    lmx_event_type t = LMX_EV_NONE;
    int first = -1;
    for (int i = 0; i < g->n_jobs && t == LMX_EV_NONE; i++) {
        int k = (g->rr + i) % g->n_jobs;
        if (g->job_done[k]) continue;
        if (first < 0) first = k;
        t = lmx_job_next(g->jobs[k], ev, 0);
        if (t != LMX_EV_NONE) *job = k;
    }
    if (t == LMX_EV_NONE && first >= 0 && timeout_ms != 0) {
        t = lmx_job_next(g->jobs[first], ev, timeout_ms);
        if (t != LMX_EV_NONE) *job = first;
    }
    if (t == LMX_EV_NONE) return t;
    g->rr = (*job + 1) % g->n_jobs;
    if (g->reasoning && (t == LMX_EV_TOKEN || t == LMX_EV_FINISH)) split(g, *job, ev);
    switch (t) {
    case LMX_EV_PROMPT:
        lmx_echo_lp_add(g, *job, ev);
        break;
    case LMX_EV_STARTED:
        g->job_started[*job] = true;
        lmx_echo_lp_started(g, *job);
        if (ev->queue_ms > g->queue_ms) g->queue_ms = ev->queue_ms;
        if (ev->prefill_ms > g->prefill_ms) g->prefill_ms = ev->prefill_ms;
        break;
    case LMX_EV_TOKEN:
        if (!g->stream) collect(g, *job, ev);
        break;
    case LMX_EV_FINISH:
        g->ch[*job * g->n + ev->choice].finish = ev->finish_reason;
        g->ch[*job * g->n + ev->choice].stop_index = ev->stop_index;
        if (!g->stream) collect(g, *job, ev); /* what the reasoning split held back */
        break;
    case LMX_EV_DONE:
        g->job_done[*job] = true;
        g->prompt_tokens += ev->prompt_tokens;
        g->completion_tokens += ev->completion_tokens;
        g->cached_tokens += ev->cached_tokens;
        break;
    case LMX_EV_ERROR:
        g->job_done[*job] = true;
        g->failed = true;
        snprintf(g->err, sizeof g->err, "%s", ev->message);
        break;
    default:
        break;
    }
    return t;
}
