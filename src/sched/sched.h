/* The scheduler: one batch loop per loaded model, shared by every request.
 *
 * HTTP threads submit jobs (token ids + sampling + limits) and pull events
 * (text pieces, log-probabilities, the finish) from the job; one scheduler
 * thread drives the engine: each step evaluates every running sequence's next
 * token together in one forward pass, and feeds new prompts in chunks between
 * decode steps so streams never stall for long. Finished sequences leave
 * their KV in the slot as a prefix cache, and every full KV block any
 * sequence computed stays registered by content (engine/kv.h): a new prompt
 * that starts with cached tokens — its slot's or any other's — prefills only
 * the rest, and a prompt whose next block another prefill is computing waits
 * for it (sched/prefix.h). The engine's batch invariance makes the reused KV
 * identical to recomputed KV.
 *
 * Threads: lmx_sched_submit / lmx_job_* may be called from any thread; only
 * the scheduler thread touches the engine context. */
#ifndef LMX_SCHED_H
#define LMX_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"
#include "engine/sample.h"
#include "text/grammar.h"

/* Sequences decoded at once when nothing says otherwise (lmx serve --parallel). */
#define LMX_DEFAULT_PARALLEL 8
/* Jobs that may wait beyond those before a submit is refused (lmx serve --queue). */
#define LMX_DEFAULT_QUEUE 64

typedef struct {
    int n_parallel;   /* sequences decoding at once (default LMX_DEFAULT_PARALLEL) */
    int n_queue;      /* choices waiting beyond those (0: none, negative: LMX_DEFAULT_QUEUE);
                         more → LMX_SUBMIT_QUEUE_FULL at once */
    int n_ctx;        /* positions per sequence (0: engine default) */
    int n_cache;      /* extra KV slots kept only as prefix cache (default: n_parallel) */
    int prefill_chunk;/* prompt tokens per step at most (default 256) */
    bool kv_f32, kv_q8_0; /* KV cache type: F32 or Q8_0 instead of F16 */
    double itl_target_ms;
    /* speculative decoding (sched/spec.h): LMX_SPEC_OFF, _LOOKUP or _DRAFT;
     * the draft model (DRAFT; not owned; same vocabulary or create fails);
     * drafts per step (0: the mode's default); auto-off threshold (0: the
     * default; < 0: never off) */
    int spec;
    lmx_model *draft;
    int draft_max;
    double spec_min_accept; /* > 0: cap the batch so decode steps' p95 stays under it (queue.h) */
} lmx_sched_opts;

typedef struct lmx_sched lmx_sched;
typedef struct lmx_job lmx_job;

/* Starts the batch loop on `m` (not owned; must outlive the scheduler). */
lmx_sched *lmx_sched_create(lmx_model *m, lmx_pool *pool, const lmx_sched_opts *opts, char *err,
                            size_t errlen);
/* Stops accepting jobs, finishes or cancels running ones (cancel_running),
 * joins the thread. */
void lmx_sched_destroy(lmx_sched *s, bool cancel_running);

int lmx_sched_n_ctx(const lmx_sched *s);

/* How embedding jobs pool the hidden states of their tokens: the model's
 * {arch}.pooling_type when it is CLS (first token) or LAST (last token), else
 * MEAN (mean over every token — also for models that say NONE or nothing). */
int lmx_sched_pooling(const lmx_sched *s);

typedef struct {
    const int32_t *prompt; /* copied at submit */
    int n_prompt;
    int max_tokens;        /* <= 0: up to the end of the context */
    int n_choices;         /* >= 1; choices share one prefill; choice i uses seed + i */
    lmx_sample_params sample;
    const lmx_logit_bias *bias; /* copied */
    int n_bias;
    int top_logprobs;      /* -1: no log-probabilities; 0..20: the chosen token's and that many */
    const char *const *stop; /* stop strings (copied); generation ends before them */
    int n_stop;
    bool ignore_eos;
    /* Prompt scoring (sched/score.h): every prompt token's log-probability
     * comes as an LMX_EV_PROMPT event, in order, before STARTED — the first
     * without one (NAN), the others with top_logprobs (>= 0) alternatives.
     * Such a job reuses no cached KV: every position is computed. */
    bool score;
    /* Nothing is generated: each choice finishes "length" once the prompt
     * has run (max_tokens is ignored). */
    bool prompt_only;
    bool special_text;     /* control tokens' text is part of the output (tool-call markers) */
    /* An embedding job: the prompt is evaluated (batched with other work, up
     * to the whole context) and nothing is generated; DONE carries the pooled,
     * L2-normalized final hidden state (lmx_sched_pooling says how it is
     * pooled). Sampling fields, max_tokens and n_choices are ignored. */
    bool embed;
    /* Optional: the output must be a sentence of this grammar (the job takes
     * a reference; each choice runs its own state of it). Before each draw the
     * tokens it does not allow get -inf logits; log-probabilities stay those
     * of the raw distribution. A choice that reaches a point where nothing
     * may follow finishes with "stop". */
    lmx_gram *grammar;
    /* Fair queueing (sched/queue.h): who asked, the tenant's weight (<= 0:
     * 1) and the class (0 interactive, 1 batch). NULL names share one flow. */
    const char *tenant, *client;
    double weight;
    int prio;
} lmx_job_params;

typedef enum {
    LMX_SUBMIT_OK = 0,
    LMX_SUBMIT_QUEUE_FULL,   /* → 429 */
    LMX_SUBMIT_TOO_LONG,     /* prompt does not fit the context → 400 context_length_exceeded */
    LMX_SUBMIT_BAD,          /* invalid parameters → 400 */
    LMX_SUBMIT_STOPPING,     /* the scheduler is shutting down → 503 */
} lmx_submit_status;

/* Queues a job; NULL with *status set when refused. The caller owns one
 * reference (lmx_job_release). */
lmx_job *lmx_sched_submit(lmx_sched *s, const lmx_job_params *p, lmx_submit_status *status);

typedef enum {
    LMX_EV_NONE = 0, /* timed out waiting */
    LMX_EV_STARTED,  /* prefill finished (first token is next); cached_tokens known */
    LMX_EV_TOKEN,    /* text of one generated token (may be empty while UTF-8 or a stop string is pending) */
    LMX_EV_FINISH,   /* a choice ended: finish_reason */
    LMX_EV_DONE,     /* every choice ended: usage; no more events */
    LMX_EV_ERROR,    /* the job failed: message; no more events */
    LMX_EV_PROMPT,   /* a scoring job's prompt token: token, logprob (NAN: none), top */
} lmx_event_type;

#define LMX_MAX_TOP_LOGPROBS 20

typedef struct {
    lmx_event_type type;
    int choice;
    /* TOKEN */
    int32_t token;
    char *text;          /* malloc'd, owned by the event (lmx_event_clear frees) */
    size_t text_len;
    float logprob;       /* of the chosen token under the model's raw distribution */
    int n_top;
    int32_t top_id[LMX_MAX_TOP_LOGPROBS];
    float top_logprob[LMX_MAX_TOP_LOGPROBS];
    /* FINISH */
    const char *finish_reason; /* "stop" | "length" */
    int stop_index;            /* ended by a stop string: 1 + its index in the job's stop[]; else 0 */
    /* STARTED / DONE */
    int prompt_tokens, completion_tokens, cached_tokens;
    /* STARTED: time queued (submit → slot) and prefilling (slot → first logits) */
    double queue_ms, prefill_ms;
    /* DONE of an embedding job: n_embd floats, malloc'd, owned by the event */
    float *embd;
    int n_embd;
    /* ERROR */
    char message[256];
} lmx_event;

/* Waits up to timeout_ms (-1: forever) for the job's next event. Returns its
 * type (LMX_EV_NONE on timeout). */
lmx_event_type lmx_job_next(lmx_job *j, lmx_event *ev, int timeout_ms);
void lmx_event_clear(lmx_event *ev);

/* The client went away: the sequence stops at the next step, its KV slot is freed. */
void lmx_job_cancel(lmx_job *j);
void lmx_job_release(lmx_job *j);

typedef struct {
    int queued, running, slots, cached_slots;
    uint64_t prompt_tokens, cached_tokens, completion_tokens, steps;
    uint64_t prefix_hits;          /* admitted prompts that reused cached KV */
    int n_queue;                   /* the queue's limit */
    int batch_cap;                 /* sequences admitted at most now (the latency target's cap) */
    double drain_per_s;            /* jobs ending per second lately (0: none ended lately) */
    double itl_p95_ms;             /* p95 of recent decode steps (0: not measured yet) */
    int64_t kv_used, kv_capacity;  /* KV positions in blocks held or cached, and in all blocks */
    /* the paged KV (engine/kv.h), as of the last step: blocks of kv_block_tokens
     * positions held by sequences, registered and held by none (prefix cache),
     * the pool's size; the memory they take now; blocks evicted so far */
    int kv_block_tokens, kv_blocks_used, kv_blocks_cached, kv_blocks_total;
    int64_t kv_bytes;
    uint64_t kv_evictions;
    /* speculative decoding: the mode, K, draft tokens verified and kept,
     * verify steps, and times a sequence's proposing switched itself off */
    int spec_mode, spec_draft_max;
    uint64_t spec_drafted, spec_accepted, spec_verifies, spec_auto_off;
} lmx_sched_stats;
void lmx_sched_get_stats(lmx_sched *s, lmx_sched_stats *out);
/* Calls fn for each tenant with jobs waiting, under the scheduler's lock. */
void lmx_sched_each_tenant(lmx_sched *s, void (*fn)(void *ctx, const char *tenant, int queued),
                           void *ctx);

#endif
