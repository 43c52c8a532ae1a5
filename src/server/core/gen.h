/* One request's generation: the scheduler jobs it submitted (one per prompt;
 * each with n choices) and what their events have produced so far. The HTTP
 * layer pulls events; openai_chat.c / openai_completions.c turn them into
 * OpenAI's response bodies and stream chunks. */
#ifndef LMX_SRV_CORE_GEN_H
#define LMX_SRV_CORE_GEN_H

#include <jansson.h>
#include <stdbool.h>

#include "manager/served.h"
#include "sched/sched.h"
#include "server/core/request.h"
#include "server/http/sse.h"
#include "text/reasoning.h"
#include "text/toolcall.h"
#include "util/api_err.h"

typedef struct {
    lmx_buf text;       /* non-streamed: the text so far */
    json_t *lp;         /* chat: logprobs.content[]; completions: the logprobs object */
    const char *finish; /* "stop" | "length" once finished */
    int stop_index;     /* ended by a stop string: 1 + its index in the request's stop; else 0 */
    size_t text_off;    /* completions: characters of the choice's text so far (echo included) */
    lmx_tc *tc;         /* chat with tools, streamed: this choice's tool-call parser */
    lmx_rsn *rsn;       /* reasoning split: this choice's <think> splitter */
    lmx_buf reasoning;  /* non-streamed, reasoning split: the thought so far */
} lmx_choice;

typedef struct lmx_gen {
    lmx_oai_kind kind;
    lmx_served *s;
    bool owns_ref; /* frees release the manager reference on s */
    char id[48];
    long long created;
    int n_jobs, n; /* jobs, choices per job */
    lmx_job **jobs;
    bool *job_started, *job_done;
    char **echo; /* completions with echo: each job's prompt text */
    struct lmx_echo_lp *elp; /* completions with echo: each job's prompt log-probabilities */
    int n_choices;
    lmx_choice *ch;
    int top_logprobs; /* -1: none */
    bool stream, include_usage;
    int prompt_tokens, completion_tokens, cached_tokens;
    double queue_ms, prefill_ms; /* the slowest job's, from the scheduler */
    double t_submit;             /* monotonic (lmx_now_s): when the jobs were submitted */
    bool failed;                 /* an LMX_EV_ERROR arrived */
    char err[256];
    int rr; /* round-robin start for lmx_gen_next */
    /* chat with tools (tc_family != LMX_TC_NONE): output is parsed for calls */
    lmx_tc_family tc_family;
    json_t *tools;       /* the request's tools (own reference) */
    bool parallel_calls; /* false: only the first call of a choice is returned */
    char *tc_prefix;     /* forced call opening, already in the prompt (or NULL) */
    /* reasoning split (set by the endpoint): each choice's output goes through
     * a <think> splitter; TOKEN and FINISH events then carry the answer in
     * their text and the thought in g->thought (and the choice's text /
     * reasoning collect them) */
    bool reasoning;
    bool think_open;      /* the prompt opened the thought: output starts inside it */
    int reasoning_tokens; /* tokens generated inside thoughts (usage) */
    /* the thought the reasoning split took out of the TOKEN or FINISH event
     * lmx_gen_next returned last (its text keeps the answer); owned, replaced
     * by the next call */
    char *thought;
    size_t thought_len;
    /* an endpoint's own per-generation state (Ollama, LM Studio, Responses and
     * Anthropic encoders keep ids and stream position here); freed with g */
    void *api;
    void (*api_free)(void *api);
} lmx_gen;

/* prefix + 24 random alphanumerics (cap >= strlen(prefix) + 25): response,
 * message and call ids. */
void lmx_rand_id(char *out, size_t cap, const char *prefix);

/* Checks the context limits and submits one job per prompt. NULL with e set
 * (400 context_length_exceeded, 429 queue_full, 503 stopping...). On success
 * the generation takes over the caller's manager reference on s (released by
 * lmx_gen_free); on failure the caller keeps it. */
/* The cheap checks of a request against the model (context length, n,
 * logit_bias ids): 0, or -1 with e set. lmx_gen_start runs them first. */
int lmx_gen_check(const lmx_served *s, const lmx_oai_req *r, const int *n_prompt, int n_jobs,
                  lmx_api_err *e);
lmx_gen *lmx_gen_start(lmx_served *s, const lmx_oai_req *r, int32_t *const *prompts,
                       const int *n_prompt, int n_jobs, lmx_api_err *e);
/* The fleet's part of a submission, for every endpoint that submits jobs:
 * the calling tenant/client/class into p (from the request being handled,
 * tenancy.h); the per-request and per-client prompt-token limits and the
 * queue-wait limit (false with e set: 400 prompt_too_long, 429 rate_limited
 * or model_busy); and the 429 queue_full answer with its Retry-After from the
 * queue's measured drain rate. */
void lmx_gen_identify(lmx_job_params *p);
bool lmx_gen_admit(lmx_served *s, const int *n_prompt, int n_jobs, lmx_api_err *e);
void lmx_gen_queue_full(lmx_served *s, lmx_api_err *e);
/* Cancels unfinished jobs and frees everything. */
void lmx_gen_free(lmx_gen *g);
void lmx_gen_cancel(lmx_gen *g);

/* The next event of any unfinished job, waiting up to timeout_ms; sets *job.
 * LMX_EV_NONE on timeout. Bookkeeping (usage, finish, failure, and for
 * non-streamed requests the text and log-probabilities) is done here. */
lmx_event_type lmx_gen_next(lmx_gen *g, lmx_event *ev, int *job, int timeout_ms);
bool lmx_gen_done(const lmx_gen *g); /* every job finished, or one failed */

/* A log-probability entry for token id in OpenAI's chat shape:
 * {token, logprob, bytes[, top_logprobs]} (top: NULL to leave it out). */
json_t *lmx_gen_lp_entry(const lmx_gen *g, int32_t id, float logprob, const lmx_event *top);
json_t *lmx_gen_usage(const lmx_gen *g);
/* Completions' logprobs object: {tokens, token_logprobs, top_logprobs,
 * text_offset}, empty; and one token appended to it (logprob NAN: null, and
 * null alternatives — a prompt's first token). */
json_t *lmx_gen_cmpl_lp_new(void);
void lmx_gen_cmpl_lp_add(const lmx_gen *g, json_t *lp, int32_t id, const lmx_event *ev,
                         size_t text_offset);
/* text_offset in characters: the index of the character that holds the
 * first byte of `piece` when it follows *chars characters (a piece that
 * begins inside a character — a byte-fallback token — gets that character's
 * index); *chars then counts the piece's characters too. */
size_t lmx_gen_char_off(size_t *chars, const char *piece, size_t n);
/* A token's piece as it appears in the output text (control tokens: empty). */
size_t lmx_gen_text_piece(const lmx_gen *g, int32_t id, char *buf, size_t cap);
/* The piece of token id (as lmx_served_piece). */
size_t lmx_gen_piece(const lmx_gen *g, int32_t id, char *buf, size_t cap);

#endif
