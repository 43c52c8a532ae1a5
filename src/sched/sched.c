/* Continuous batching over one engine context.
 *
 * Slots are the context's KV sequences. A slot is FREE (possibly holding a
 * finished sequence's KV as prefix cache), PREFILL (feeding its prompt in
 * chunks), DECODE (one token per step), or FOLLOW (a choice i > 0 of an n > 1
 * job, waiting for the leader's prefill to copy it). Each step builds one batch
 * from every DECODE slot's next token plus up to `prefill_chunk` prompt tokens,
 * runs lmx_forward once, then samples every sequence that got logits.
 *
 * Locks: s->mu guards the wait queue, the stop flag and the stats; each job's
 * mu guards its event list. The slots and the engine context belong to the
 * scheduler thread alone. */
#include "sched/sched.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/model.h"
#include "sched/queue.h"
#include "sched/prefix.h"
#include "sched/score.h"
#include "sched/spec.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/deadline.h"

typedef struct ev_node {
    lmx_event ev;
    struct ev_node *next;
} ev_node;

struct lmx_job {
    atomic_int refs;
    atomic_bool cancelled;
    int n_prompt, max_tokens, n_choices, top_logprobs, n_bias, n_stop;
    lmx_sample_params sp;
    lmx_logit_bias *bias;
    char **stop;
    bool ignore_eos, special_text;
    bool embed;
    bool score, prompt_only; /* sched.h: prompt scoring, nothing generated */
    double *acc;             /* embed: sum (MEAN) or copy (CLS, LAST) of the pooled hidden states */
    float *embd;             /* embed: the result, handed to the DONE event */
    lmx_gram *grammar;       /* NULL: unconstrained */
    /* events, guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ev_node *head, *tail;
    /* scheduler-thread state */
    int choices_left, completion_tokens, cached_tokens;
    char failure[200];        /* the engine error that ended the job, if any */
    double t_submit, t_admit; /* monotonic seconds */
    char tenant[64], client[128];
    double weight;
    int prio;
    lmx_fq_flow *flow; /* its fair-queue flow once admitted (under s->mu) */
    int32_t prompt[];  /* copied at submit, then the n_bias biases `bias` points at */
};

/* the biases follow the prompt in the job's one allocation */
_Static_assert(_Alignof(lmx_logit_bias) <= _Alignof(int32_t), "lmx_logit_bias alignment");

enum { SLOT_FREE, SLOT_PREFILL, SLOT_FOLLOW, SLOT_DECODE };

typedef struct {
    int id, state, choice;
    lmx_job *job;
    int32_t *hist; /* prompt + generated tokens; KV holds hist[0, n_kv) */
    int n_hist, n_kv, n_gen;
    int leader; /* FOLLOW: the slot whose prefill it copies */
    int32_t next_tok;
    lmx_sampler *smp;
    lmx_gram_state *gs; /* the job's grammar, this choice's state */
    lmx_detok dt;
    lmx_buf pending; /* text held back while it may be the start of a stop string */
    int stop_hit;    /* 1 + the index of the stop string that ended the choice; 0: none */
    int n_charged;   /* of n_gen, the tokens charged to its fair-queue flow */
    int n_draft;     /* draft tokens following next_tok in this step's batch (spec.h) */
    uint64_t last_used;
} slot;

struct lmx_sched {
    lmx_model *m;
    lmx_ctx *ctx;
    lmx_sched_opts o;
    int n_slots, n_vocab;
    int pool; /* embedding jobs' pooling: LMX_POOL_MEAN, _CLS or _LAST */
    slot *slots;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lmx_fq *q; /* the wait queue (sched/queue.h) */
    int n_queued, n_gram_queued;
    lmx_batch_cap cap; /* the latency target's batch cap (read under mu for stats) */
    int n_held;        /* choices queued or in a slot: what the waiting room is measured against */
    bool stopping, cancel_all;
    uint64_t clock;
    int n_decoded; /* sequences the last step decoded (the latency target's sample) */
    lmx_sched_stats stats;
    double t_kv_stats; /* when the KV block figures in stats were last taken */
    /* per-step buffers */
    int32_t *b_tok, *b_pos, *b_seq, *b_slot;
    bool *b_want, *b_hid;
    float *logits, *raw;
    int copy_row;   /* the row of logits a follower's copy goes to (after every wanted row) */
    int score_rows; /* a scoring prefill's positions per step (score.h); 0: none sized yet */
    float *hidden;  /* the hidden states embedding jobs asked for, one row per b_hid */
    /* constrained decoding: the vocabulary trie (built at the first
     * constrained job), the allowed ids and their logits */
    lmx_gram_vocab *gvocab;
    int32_t *allowed;
    float *kept;
    /* speculative decoding (spec.h; NULL: off): the target's distribution of
     * a verify row, dense and as the sampler's candidates */
    lmx_spec *spec;
    float *p_dense, *p_probs;
    int32_t *p_ids;
    int rows_max; /* logits rows a step may want */
    /* its counters (atomic: counted as tokens go out, read by stats) */
    atomic_uint_least64_t sp_drafted, sp_accepted, sp_verifies, sp_auto_off;
};

/* ---- jobs and events ---- */

static void push_event(lmx_job *j, const lmx_event *ev) {
    ev_node *n = malloc(sizeof *n);
    if (!n) { /* the event owned its buffers */
        free(ev->text);
        free(ev->embd);
        return;
    }
    n->ev = *ev;
    n->next = NULL;
    pthread_mutex_lock(&j->mu);
    if (j->tail)
        j->tail->next = n;
    else
        j->head = n;
    j->tail = n;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

lmx_event_type lmx_job_next(lmx_job *j, lmx_event *ev, int timeout_ms) {
    pthread_mutex_lock(&j->mu);
    if (!j->head && timeout_ms != 0) {
        struct timespec ts = lmx_deadline_ms(timeout_ms < 0 ? 0 : timeout_ms);
        while (!j->head) {
            if (timeout_ms < 0)
                pthread_cond_wait(&j->cv, &j->mu);
            else if (pthread_cond_timedwait(&j->cv, &j->mu, &ts))
                break;
        }
    }
    ev_node *n = j->head;
    if (n) {
        j->head = n->next;
        if (!j->head) j->tail = NULL;
    }
    pthread_mutex_unlock(&j->mu);
    if (!n) {
        memset(ev, 0, sizeof *ev);
        return LMX_EV_NONE;
    }
    *ev = n->ev;
    free(n);
    return ev->type;
}

void lmx_event_clear(lmx_event *ev) {
    free(ev->text);
    ev->text = NULL;
    free(ev->embd);
    ev->embd = NULL;
}

static void job_free(lmx_job *j) {
    for (ev_node *n = j->head, *nx; n; n = nx) {
        nx = n->next;
        free(n->ev.text);
        free(n->ev.embd);
        free(n);
    }
    free(j->acc);
    free(j->embd);
    for (int i = 0; i < j->n_stop; i++) free(j->stop[i]);
    free(j->stop);
    lmx_gram_release(j->grammar);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void lmx_job_release(lmx_job *j) {
    if (j && atomic_fetch_sub(&j->refs, 1) == 1) job_free(j);
}

void lmx_job_cancel(lmx_job *j) {
    atomic_store(&j->cancelled, true);
}

static void emit_error(lmx_job *j, const char *msg) {
    lmx_event ev = {.type = LMX_EV_ERROR};
    snprintf(ev.message, sizeof ev.message, "%s", msg);
    push_event(j, &ev);
}

static lmx_job *submit(lmx_sched *s, const lmx_job_params *p, int n_ctx, lmx_submit_status *status);

lmx_job *lmx_sched_submit(lmx_sched *s, const lmx_job_params *p, lmx_submit_status *status) {
    int n_ctx = lmx_ctx_n_ctx(s->ctx);
    if (!p->embed) return submit(s, p, n_ctx, status);
    /* An embedding generates nothing, so its prompt may fill the whole
     * context (the generic checks keep room for one token: pass n_ctx + 1). */
    lmx_job_params e = {.prompt = p->prompt,
                        .n_prompt = p->n_prompt,
                        .n_choices = 1,
                        .sample = lmx_sample_defaults(),
                        .top_logprobs = -1,
                        .embed = true,
                        .tenant = p->tenant,
                        .client = p->client,
                        .weight = p->weight,
                        .prio = p->prio};
    return submit(s, &e, n_ctx + 1, status);
}

static lmx_job *submit(lmx_sched *s, const lmx_job_params *p, int n_ctx,
                       lmx_submit_status *status) {
    if (p->n_prompt <= 0 || p->n_choices < 1 || p->n_choices > s->o.n_parallel ||
        p->top_logprobs > LMX_MAX_TOP_LOGPROBS || p->n_stop < 0 || p->n_bias < 0) {
        *status = LMX_SUBMIT_BAD;
        return NULL;
    }
    for (int i = 0; i < p->n_prompt; i++)
        if (p->prompt[i] < 0 || p->prompt[i] >= s->n_vocab) {
            *status = LMX_SUBMIT_BAD;
            return NULL;
        }
    if (p->n_prompt >= n_ctx || (p->max_tokens > 0 && p->n_prompt + p->max_tokens > n_ctx)) {
        *status = LMX_SUBMIT_TOO_LONG;
        return NULL;
    }
    /* one allocation for the job and the prompt and biases it copies */
    lmx_job *j = calloc(1, sizeof *j + sizeof(int32_t) * (size_t)p->n_prompt +
                               sizeof(lmx_logit_bias) * (size_t)p->n_bias);
    if (!j) {
        *status = LMX_SUBMIT_BAD;
        return NULL;
    }
    atomic_init(&j->refs, 2); /* the caller's and the scheduler's */
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->n_prompt = p->n_prompt;
    memcpy(j->prompt, p->prompt, sizeof(int32_t) * (size_t)p->n_prompt);
    j->bias = (lmx_logit_bias *)(j->prompt + p->n_prompt);
    j->n_bias = p->n_bias;
    if (p->n_bias) memcpy(j->bias, p->bias, sizeof *j->bias * (size_t)p->n_bias);
    j->max_tokens = p->max_tokens > 0 ? p->max_tokens : n_ctx - p->n_prompt;
    j->n_choices = p->n_choices;
    j->top_logprobs = p->top_logprobs;
    j->sp = p->sample;
    j->ignore_eos = p->ignore_eos;
    j->special_text = p->special_text;
    j->embed = p->embed;
    j->score = p->score && !p->embed;
    j->prompt_only = p->prompt_only && !p->embed;
    if (j->prompt_only) j->max_tokens = 0;
    if (j->embed) {
        j->max_tokens = 0;
        j->acc = calloc((size_t)s->m->hp.n_embd, sizeof *j->acc);
        if (!j->acc) goto bad;
    }
    j->grammar = lmx_gram_retain(p->grammar);
    if (p->n_stop) {
        j->stop = calloc((size_t)p->n_stop, sizeof(char *));
        for (int i = 0; j->stop && i < p->n_stop; i++) j->stop[i] = strdup(p->stop[i]);
        j->n_stop = p->n_stop;
    }
    if (p->n_stop && !j->stop) goto bad;
    j->t_submit = lmx_now_s();
    snprintf(j->tenant, sizeof j->tenant, "%s", p->tenant ? p->tenant : "");
    snprintf(j->client, sizeof j->client, "%s", p->client ? p->client : "");
    j->weight = p->weight > 0 ? p->weight : 1;
    j->prio = p->prio;

    pthread_mutex_lock(&s->mu);
    if (s->stopping) *status = LMX_SUBMIT_STOPPING;
    /* a job fits when its choices find running slots or places in the waiting
     * room (o.n_queue, counted in choices; 0: no waiting room at all) */
    else if (s->n_held + j->n_choices > s->o.n_parallel + s->o.n_queue)
        *status = LMX_SUBMIT_QUEUE_FULL;
    else
        *status = LMX_SUBMIT_OK;
    if (*status == LMX_SUBMIT_OK && !lmx_fq_push(s->q, j, j->tenant, j->client, j->weight, j->prio))
        *status = LMX_SUBMIT_BAD;
    if (*status == LMX_SUBMIT_OK) {
        s->n_held += j->n_choices;
        s->n_queued++;
        s->n_gram_queued += j->grammar != NULL;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (*status == LMX_SUBMIT_OK) return j;
    goto fail;
bad:
    *status = LMX_SUBMIT_BAD;
fail: /* never queued: the scheduler's reference goes with the caller's */
    j->refs = 1;
    lmx_job_release(j);
    return NULL;
}

/* ---- slots ---- */

static int n_active(const lmx_sched *s) {
    int n = 0;
    for (int i = 0; i < s->n_slots; i++) n += s->slots[i].state != SLOT_FREE;
    return n;
}

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb) {
    int n = 0;
    while (n < na && n < nb && a[n] == b[n]) n++;
    return n;
}

/* The free slot whose cached KV shares the longest prefix with the prompt —
 * when that prefix is worth keeping. A short common prefix (a BOS and a
 * system header) is cheap to recompute and not worth destroying another
 * conversation's cache for: then the least recently used slot is taken
 * (never-used slots first), and nothing is reused. */
static int pick_slot(lmx_sched *s, const int32_t *prompt, int n, int *reuse) {
    int best = -1, best_len = -1, lru = -1;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->state != SLOT_FREE) continue;
        if (lru < 0 || sl->last_used < s->slots[lru].last_used) lru = i;
        int len = prompt ? common_prefix(sl->hist, sl->n_kv, prompt, n) : 0;
        if (len > best_len || (len == best_len && sl->last_used < s->slots[best].last_used)) {
            best = i;
            best_len = len;
        }
    }
    if (best < 0) {
        *reuse = 0;
        return -1;
    }
    bool worth = best_len >= 64 || 2 * best_len >= n || s->slots[best].n_kv == best_len;
    if (!worth) {
        *reuse = 0;
        return lru;
    }
    *reuse = best_len;
    return best;
}

static size_t vocab_piece(void *ctx, int32_t id, char *buf, size_t cap) {
    return lmx_tok_piece(ctx, id, false, buf, cap);
}

/* The trie and buffers of constrained decoding, made once, when first needed. */
static bool grammar_ready(lmx_sched *s) {
    if (s->gvocab) return true;
    const lmx_tok *t = s->m->tok;
    bool *eog = calloc((size_t)s->n_vocab, 1);
    if (!s->allowed) s->allowed = malloc(sizeof(int32_t) * (size_t)s->n_vocab);
    if (!s->kept) s->kept = malloc(sizeof(float) * (size_t)s->n_vocab);
    if (eog && s->allowed && s->kept) {
        for (int32_t i = 0; i < s->n_vocab; i++) eog[i] = lmx_tok_is_eog(t, i);
        s->gvocab = lmx_gram_vocab_new(s->n_vocab, vocab_piece, (void *)t, eog);
    }
    free(eog);
    return s->gvocab != NULL;
}

static void slot_start(lmx_sched *s, slot *sl, lmx_job *j, int choice) {
    sl->job = j;
    sl->choice = choice;
    sl->n_gen = 0;
    sl->pending.n = 0;
    sl->stop_hit = 0;
    sl->n_charged = 0;
    sl->n_draft = 0;
    if (s->spec) lmx_spec_reset(s->spec, sl->id);
    lmx_sample_params sp = j->sp;
    sp.seed += (uint64_t)choice;
    lmx_sampler_free(sl->smp);
    sl->smp = lmx_sampler_create(s->n_vocab, &sp);
    if (sl->smp && j->n_bias) lmx_sampler_set_bias(sl->smp, j->bias, j->n_bias);
    lmx_gram_state_free(sl->gs);
    sl->gs = NULL;
    if (j->grammar) {
        sl->gs = grammar_ready(s) ? lmx_gram_state_new(j->grammar, s->gvocab) : NULL;
        if (!sl->gs) {
            if (!j->failure[0])
                snprintf(j->failure, sizeof j->failure,
                         "out of memory building the output grammar");
            atomic_store(&j->cancelled, true);
        }
    }
    lmx_detok_init(&sl->dt, s->m->tok);
    sl->dt.special = j->special_text;
    memcpy(sl->hist, j->prompt, sizeof(int32_t) * (size_t)j->n_prompt);
    sl->n_hist = j->n_prompt;
}

/* Takes the job lmx_fq_peek returned off the queue (under mu). */
static void unqueue(lmx_sched *s, lmx_job *j) {
    j->flow = lmx_fq_pop(s->q);
    s->n_queued--;
    s->n_gram_queued -= j->grammar != NULL;
}

/* Charges each running sequence's new tokens to its flow (under mu). */
static void charge_running(lmx_sched *s) {
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->state == SLOT_FREE || !sl->job->flow || sl->n_gen <= sl->n_charged) continue;
        lmx_fq_charge(s->q, sl->job->flow, sl->n_gen - sl->n_charged);
        sl->n_charged = sl->n_gen;
    }
}

/* Ends a waiting job "cancelled": out of the queue and its flow (under mu). */
static void end_waiting(lmx_sched *s, lmx_job *j) {
    unqueue(s, j);
    s->n_held -= j->n_choices;
    lmx_fq_done(s->q, j->flow, lmx_now_s());
    j->flow = NULL;
    emit_error(j, "cancelled");
    lmx_job_release(j);
}

static void admit(lmx_sched *s) {
    pthread_mutex_lock(&s->mu);
    charge_running(s);
    lmx_job *j;
    while ((j = lmx_fq_peek(s->q))) {
        if (atomic_load(&j->cancelled)) {
            end_waiting(s, j);
            continue;
        }
        int free_slots = 0;
        for (int i = 0; i < s->n_slots; i++) free_slots += s->slots[i].state == SLOT_FREE;
        int cap = s->cap.cap > j->n_choices ? s->cap.cap : j->n_choices; /* n > cap still runs */
        if (n_active(s) + j->n_choices > cap || free_slots < j->n_choices) break;
        unqueue(s, j);
        /* an embedding pooled over every token (MEAN, CLS) needs every token's
         * hidden state: it reuses no cached KV */
        bool whole = (j->embed && s->pool != LMX_POOL_LAST) || j->score; /* a score needs all */
        int reuse, lead = pick_slot(s, whole ? NULL : j->prompt, whole ? 0 : j->n_prompt, &reuse);
        slot *L = &s->slots[lead];
        if (reuse >= j->n_prompt) reuse = j->n_prompt - 1; /* the last token must run for logits */
        lmx_kv_truncate(s->ctx, lead, reuse);
        if (!whole) lmx_prefix_admit(s->ctx, lead, j->prompt, j->n_prompt - 1, reuse);
        reuse = L->n_kv = lmx_kv_len(s->ctx, lead);
        slot_start(s, L, j, 0);
        L->state = SLOT_PREFILL;
        j->cached_tokens = reuse;
        j->choices_left = j->n_choices;
        j->t_admit = lmx_now_s();
        s->stats.prompt_tokens += (uint64_t)j->n_prompt;
        s->stats.cached_tokens += (uint64_t)reuse;
        s->stats.prefix_hits += reuse > 0;
        for (int c = 1; c < j->n_choices; c++) {
            int r, f = pick_slot(s, NULL, 0, &r);
            slot *F = &s->slots[f];
            lmx_kv_clear(s->ctx, f);
            F->n_kv = 0;
            slot_start(s, F, j, c);
            F->state = SLOT_FOLLOW;
            F->leader = lead;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

static void slot_free(lmx_sched *s, slot *sl) {
    pthread_mutex_lock(&s->mu);
    s->n_held--;
    pthread_mutex_unlock(&s->mu);
    lmx_gram_state_free(sl->gs); /* its caches can be large: not kept with the KV */
    sl->gs = NULL;
    sl->state = SLOT_FREE;
    sl->job = NULL;
    sl->last_used = ++s->clock;
}

/* A choice ended (or its job failed/cancelled): free the slot, and when it was
 * the job's last, send DONE and drop the scheduler's reference. */
static void choice_done(lmx_sched *s, slot *sl, const char *finish) {
    lmx_job *j = sl->job;
    if (finish) {
        lmx_event ev = {.type = LMX_EV_FINISH,
                        .choice = sl->choice,
                        .finish_reason = finish,
                        .stop_index = sl->stop_hit};
        push_event(j, &ev);
    }
    j->completion_tokens += sl->n_gen;
    pthread_mutex_lock(&s->mu);
    if (j->flow && sl->n_gen > sl->n_charged)
        lmx_fq_charge(s->q, j->flow, sl->n_gen - sl->n_charged);
    sl->n_charged = sl->n_gen;
    if (j->choices_left == 1 && j->flow) {
        lmx_fq_done(s->q, j->flow, lmx_now_s());
        j->flow = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    slot_free(s, sl);
    if (--j->choices_left == 0) {
        lmx_event ev = {.type = LMX_EV_DONE,
                        .prompt_tokens = j->n_prompt,
                        .completion_tokens = j->completion_tokens,
                        .cached_tokens = j->cached_tokens,
                        .embd = j->embd,
                        .n_embd = j->embd ? s->m->hp.n_embd : 0};
        /* one terminal event: the failure, or the cancellation, or DONE */
        if (j->failure[0])
            emit_error(j, j->failure);
        else if (atomic_load(&j->cancelled))
            emit_error(j, "cancelled");
        else {
            j->embd = NULL; /* now the event's */
            push_event(j, &ev);
        }
        lmx_job_release(j);
    }
}

/* ---- text: UTF-8-safe pieces and stop strings ---- */

/* Appends piece to the held-back text; returns the bytes that can be sent now
 * (malloc'd into *out), and whether a stop string was found (text cut before it). */
static bool take_text(slot *sl, const char *piece, size_t n, bool final, char **out,
                      size_t *out_n) {
    lmx_job *j = sl->job;
    if (!lmx_buf_add(&sl->pending, piece, n)) {
        *out = NULL;
        *out_n = 0;
        return false;
    }
    char *p = sl->pending.p;
    size_t send = sl->pending.n;
    bool stopped = false;
    for (int i = 0; i < j->n_stop; i++) {
        size_t sn = strlen(j->stop[i]);
        if (!sn) continue;
        const char *hit = memmem(p, sl->pending.n, j->stop[i], sn);
        if (hit && (size_t)(hit - p) <= send) {
            /* the earliest match wins; on a tie, the first listed */
            if (!stopped || (size_t)(hit - p) < send) sl->stop_hit = i + 1;
            send = (size_t)(hit - p);
            stopped = true;
        }
    }
    if (!stopped && !final) {
        /* hold back the longest tail that could begin a stop string */
        size_t hold = 0;
        for (int i = 0; i < j->n_stop; i++) {
            size_t sn = strlen(j->stop[i]);
            for (size_t k = sn > 1 ? sn - 1 : 0; k > hold; k--)
                if (k <= sl->pending.n && !memcmp(p + sl->pending.n - k, j->stop[i], k)) {
                    hold = k;
                    break;
                }
        }
        send = sl->pending.n - hold;
    }
    *out = malloc(send + 1);
    if (*out) {
        memcpy(*out, p, send);
        (*out)[send] = 0;
    }
    *out_n = *out ? send : 0;
    if (stopped || final)
        sl->pending.n = 0;
    else {
        memmove(p, p + send, sl->pending.n - send);
        sl->pending.n -= send;
    }
    return stopped;
}

static void emit_text(slot *sl, int32_t tok, char *text, size_t n, const lmx_event *lp) {
    lmx_event ev = lp ? *lp : (lmx_event){0};
    ev.type = LMX_EV_TOKEN;
    ev.choice = sl->choice;
    ev.token = tok;
    ev.text = text;
    ev.text_len = n;
    push_event(sl->job, &ev);
}

/* Ends a choice without a new token: what was held back goes out first. */
static void finish_text(lmx_sched *s, slot *sl, const char *finish) {
    char *t;
    size_t n;
    char tail[64];
    size_t k = lmx_detok_flush(&sl->dt, tail, sizeof tail);
    take_text(sl, tail, k, true, &t, &n);
    if (n)
        emit_text(sl, -1, t, n, NULL);
    else
        free(t);
    choice_done(s, sl, finish);
}

/* Grammar mask: every token the grammar does not allow next gets -inf. Only
 * the allowed logits are kept aside, so the cost beyond the trie walk is one
 * pass over the row. false: nothing may follow. */
static bool constrain(lmx_sched *s, slot *sl, float *row) {
    lmx_job *j = sl->job;
    int left = j->max_tokens - sl->n_gen, ctx_left = lmx_ctx_n_ctx(s->ctx) - sl->n_hist;
    if (ctx_left < left) left = ctx_left;
    int n = lmx_gram_mask(sl->gs, left, s->allowed);
    if (n <= 0) return false;
    for (int k = 0; k < n; k++) s->kept[k] = row[s->allowed[k]];
    for (int i = 0; i < s->n_vocab; i++) row[i] = -INFINITY;
    for (int k = 0; k < n; k++) row[s->allowed[k]] = s->kept[k];
    return true;
}

static void commit_token(lmx_sched *s, slot *sl, int32_t tok, const lmx_event *lpp);

/* Samples slot sl's next token from its logits row (modified in place). */
static void sample_slot(lmx_sched *s, slot *sl, float *row) {
    lmx_job *j = sl->job;
    int nv = s->n_vocab;
    lmx_event lp = {0}, *lpp = NULL;
    if (j->top_logprobs >= 0) memcpy(s->raw, row, sizeof(float) * (size_t)nv);
    if (sl->gs && !constrain(s, sl, row)) {
        finish_text(s, sl, "stop");
        return;
    }
    int32_t tok = lmx_sampler_next(sl->smp, row, sl->hist, sl->n_hist);
    if (sl->gs) lmx_gram_accept(sl->gs, tok);
    if (j->top_logprobs >= 0) {
        lmx_logprobs(s->raw, nv, tok, j->top_logprobs, &lp);
        lpp = &lp;
    }
    commit_token(s, sl, tok, lpp);
}

/* The chosen token joins the sequence: its text goes out, and EOS, a stop
 * string, max_tokens or the context's end finish the choice. */
static void commit_token(lmx_sched *s, slot *sl, int32_t tok, const lmx_event *lpp) {
    lmx_job *j = sl->job;
    int n_ctx = lmx_ctx_n_ctx(s->ctx);
    if (!j->ignore_eos && lmx_tok_is_eog(s->m->tok, tok)) {
        finish_text(s, sl, "stop");
        return;
    }
    sl->hist[sl->n_hist++] = tok;
    sl->n_gen++;
    s->stats.completion_tokens++;
    char piece[512];
    size_t k = lmx_detok_push(&sl->dt, tok, piece, sizeof piece);
    bool at_limit = sl->n_gen >= j->max_tokens || sl->n_hist >= n_ctx;
    if (at_limit) k += lmx_detok_flush(&sl->dt, piece + k, sizeof piece - k);
    char *t;
    size_t n;
    bool stopped = take_text(sl, piece, k, at_limit, &t, &n);
    emit_text(sl, tok, t, n, lpp);
    if (stopped)
        choice_done(s, sl, "stop");
    else if (at_limit)
        choice_done(s, sl, "length");
    else {
        sl->next_tok = tok;
        sl->state = SLOT_DECODE;
    }
}

/* ---- embeddings ---- */

/* Whether an embedding job needs the hidden state at position pos. */
static bool embed_wants(const lmx_sched *s, int pos, int n_prompt) {
    return s->pool == LMX_POOL_MEAN || (s->pool == LMX_POOL_CLS && pos == 0) ||
           (s->pool == LMX_POOL_LAST && pos == n_prompt - 1);
}

/* Adds hidden state h (of position pos) to the job's pool. Positions arrive
 * in order, so the sum's rounding does not depend on how the prompt was
 * chunked or batched. */
static void embed_add(const lmx_sched *s, lmx_job *j, const float *h) {
    int d = s->m->hp.n_embd;
    for (int k = 0; k < d; k++) j->acc[k] = s->pool == LMX_POOL_MEAN ? j->acc[k] + h[k] : h[k];
}

/* The whole prompt has run: the pooled vector, L2-normalized, goes to DONE. */
static void embed_finish(lmx_sched *s, slot *sl) {
    lmx_job *j = sl->job;
    int d = s->m->hp.n_embd;
    j->embd = malloc(sizeof(float) * (size_t)d);
    if (!j->embd) {
        snprintf(j->failure, sizeof j->failure, "out of memory");
    } else {
        double scale = s->pool == LMX_POOL_MEAN ? 1.0 / j->n_prompt : 1.0, ss = 0;
        for (int k = 0; k < d; k++) ss += (j->acc[k] * scale) * (j->acc[k] * scale);
        double inv = ss > 0 ? 1.0 / sqrt(ss) : 0;
        for (int k = 0; k < d; k++) j->embd[k] = (float)(j->acc[k] * scale * inv);
    }
    choice_done(s, sl, NULL);
}

/* ---- the loop ---- */

static void fail_slot(lmx_sched *s, slot *sl, const char *msg) {
    if (sl->state == SLOT_FREE) return;
    lmx_kv_clear(s->ctx, sl->id);
    sl->n_kv = 0;
    if (!sl->job->failure[0]) snprintf(sl->job->failure, sizeof sl->job->failure, "%s", msg);
    atomic_store(&sl->job->cancelled, true); /* its other choices stop too */
    choice_done(s, sl, NULL);
}

static void fail_batch(lmx_sched *s, int n, const char *msg) {
    for (int i = 0; i < n; i++) fail_slot(s, &s->slots[s->b_slot[i]], msg);
}

/* A NaN or infinity in a row of logits means the model is broken on this
 * input: the job fails (and the manager counts it towards quarantine) rather
 * than sampling garbage. */
static bool finite_row(const float *lg, int n) {
    for (int k = 0; k < n; k++)
        if (!isfinite(lg[k])) return false;
    return true;
}

/* A prefill takes on the KV blocks other prompts finished meanwhile; true
 * when an earlier admitted prefill is computing the block it needs next:
 * then it waits for that block instead of computing it again. */
static bool prefix_wait(lmx_sched *s, slot *sl) {
    lmx_job *j = sl->job;
    if (j->embed || j->score) return false;
    int lim = j->n_prompt - 1, n = lmx_prefix_catch_up(s->ctx, sl->id, sl->hist, sl->n_kv, lim);
    if (n > sl->n_kv) {
        pthread_mutex_lock(&s->mu);
        s->stats.cached_tokens += (uint64_t)(n - sl->n_kv);
        s->stats.prefix_hits += j->cached_tokens == 0;
        pthread_mutex_unlock(&s->mu);
        j->cached_tokens += n - sl->n_kv;
        sl->n_kv = n;
    }
    for (int i = 0; i < s->n_slots; i++) {
        slot *o = &s->slots[i];
        if (o == sl || o->state != SLOT_PREFILL || o->job->embed || o->job->score) continue;
        double ta = o->job->t_admit, tb = j->t_admit;
        if ((ta < tb || (ta == tb && o->id < sl->id)) &&
            lmx_prefix_pending(s->ctx, sl->hist, sl->n_kv, lim, o->hist, o->n_kv, o->job->n_prompt))
            return true;
    }
    return false;
}

/* The KV block figures of the stats, taken on the scheduler thread (at most
 * every 100 ms while busy, and when it goes idle). */
static void kv_stats(lmx_sched *s, bool idle) {
    double now = lmx_now_s();
    if (!idle && now - s->t_kv_stats < 0.1) return;
    s->t_kv_stats = now;
    lmx_ctx_kv_info k;
    lmx_ctx_kv_stats(s->ctx, &k);
    pthread_mutex_lock(&s->mu);
    s->stats.kv_block_tokens = k.block_tokens;
    s->stats.kv_blocks_total = k.blocks_total;
    s->stats.kv_blocks_used = k.blocks_used;
    s->stats.kv_blocks_cached = k.blocks_cached;
    s->stats.kv_bytes = (int64_t)k.bytes;
    s->stats.kv_evictions = k.evictions;
    pthread_mutex_unlock(&s->mu);
}

/* ---- prompt scoring (score.h) ---- */

/* The rows of logits scoring prefills need, made when the first one runs:
 * score_rows beyond the decode rows, the follower's copy row last. */
static bool score_ready(lmx_sched *s, int *score_left) {
    if (s->score_rows) return true;
    int rows = lmx_score_rows(s->n_vocab, s->o.prefill_chunk);
    float *lg =
        realloc(s->logits, sizeof(float) * (size_t)s->n_vocab * (size_t)(s->rows_max + rows + 2));
    if (!lg) return false;
    s->logits = lg;
    s->score_rows = *score_left = rows;
    s->copy_row = s->rows_max + rows + 1;
    return true;
}

/* A scoring prefill's row of logits at position pos: the prompt events it
 * completes. true when the row is used up (not the prompt's last). */
static bool score_row(lmx_sched *s, slot *sl, int pos, const float *lg) {
    lmx_job *j = sl->job;
    lmx_event ev;
    if (pos == 0) {
        lmx_score_event(j->prompt, 0, NULL, s->n_vocab, 0, &ev);
        push_event(j, &ev);
    }
    if (pos + 1 >= j->n_prompt) return false;
    lmx_score_event(j->prompt, pos + 1, lg, s->n_vocab, j->top_logprobs, &ev);
    push_event(j, &ev);
    return true;
}

/* ---- speculative decoding (spec.h) ---- */

/* Asks the speculator for drafts for every decoding sequence it can serve
 * exactly: not grammar-constrained, no log-probabilities (their rows would
 * be the raw distribution of tokens never sampled plainly). At most what
 * max_tokens and the context leave after the token the target adds. */
static void spec_plan(lmx_sched *s) {
    int asked = 0, n_ctx = lmx_ctx_n_ctx(s->ctx);
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        sl->n_draft = 0;
        if (sl->state != SLOT_DECODE || sl->job->grammar || sl->job->top_logprobs >= 0) continue;
        int k = sl->job->max_tokens - sl->n_gen - 1, room = n_ctx - 1 - sl->n_kv;
        asked += lmx_spec_want(s->spec, i, sl->hist, sl->n_hist, k < room ? k : room);
    }
    char err[256];
    if (!asked || lmx_spec_propose(s->spec, err, sizeof err)) return; /* a failed draft: plain */
    const int32_t *d;
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].state == SLOT_DECODE) s->slots[i].n_draft = lmx_spec_drafts(s->spec, i, &d);
}

/* Verifies sl's drafts against the target's rows lg (after next_tok, then
 * after each draft): tokens are chosen as plain decoding chooses them
 * (greedy), or by rejection sampling against the sampler's distribution, and
 * committed one by one while they agree with the drafts — so EOS, stop
 * strings and max_tokens end the run exactly where they would have. The KV
 * of the rejected drafts is dropped. */
static void spec_verify(lmx_sched *s, slot *sl, float *lg) {
    int k = sl->n_draft, nv = s->n_vocab, base = sl->n_hist - 1, acc = 0;
    const int32_t *d;
    lmx_spec_drafts(s->spec, sl->id, &d);
    sl->n_draft = 0;
    atomic_fetch_add(&s->sp_drafted, (uint64_t)k);
    atomic_fetch_add(&s->sp_verifies, 1);
    bool greedy = sl->job->sp.temperature <= 0;
    for (int r = 0; r <= k; r++) {
        float *row = lg + (size_t)r * nv;
        if (!finite_row(row, nv)) {
            fail_slot(s, sl, "non-finite logits");
            return;
        }
        int32_t tok;
        if (greedy) {
            tok = lmx_sampler_next(sl->smp, row, sl->hist, sl->n_hist);
        } else {
            int n = lmx_sampler_dist(sl->smp, row, sl->hist, sl->n_hist, s->p_ids, s->p_probs);
            memset(s->p_dense, 0, sizeof(float) * (size_t)nv);
            for (int c = 0; c < n; c++) s->p_dense[s->p_ids[c]] = s->p_probs[c];
            lmx_rng *rng = lmx_sampler_rng(sl->smp);
            tok = r < k ? lmx_spec_reject(s->p_dense, NULL, nv, d[r], rng)
                        : lmx_spec_draw(s->p_dense, nv, rng);
        }
        bool kept = r < k && tok == d[r];
        if (kept) atomic_fetch_add(&s->sp_accepted, 1); /* before its text can reach a client */
        commit_token(s, sl, tok, NULL);
        if (sl->state != SLOT_DECODE || !kept) break;
        acc++;
    }
    if (lmx_spec_result(s->spec, sl->id, k, acc)) atomic_fetch_add(&s->sp_auto_off, 1);
    int keep = base + 1 + acc; /* next_tok and the drafts kept */
    lmx_kv_truncate(s->ctx, sl->id, keep);
    sl->n_kv = lmx_kv_len(s->ctx, sl->id);
    if (sl->n_kv < keep && sl->state == SLOT_DECODE)
        fail_slot(s, sl, "out of KV cache blocks while dropping rejected draft tokens");
}

static bool step(lmx_sched *s) {
    /* cancelled sequences leave first: their KV stays as cache up to what was computed */
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->state != SLOT_FREE && atomic_load(&sl->job->cancelled)) choice_done(s, sl, NULL);
    }
    if (!s->gvocab) { /* build the trie outside s->mu, so submitters are not held meanwhile */
        bool want = false;
        pthread_mutex_lock(&s->mu);
        want = s->n_gram_queued > 0;
        pthread_mutex_unlock(&s->mu);
        if (want) grammar_ready(s);
    }
    admit(s);
    if (s->spec) spec_plan(s);
    int n = 0, budget = s->o.prefill_chunk;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->state != SLOT_DECODE) continue;
        const int32_t *d = NULL;
        if (sl->n_draft) lmx_spec_drafts(s->spec, i, &d);
        for (int t = 0; t <= sl->n_draft; t++) { /* next_tok, then its drafts */
            s->b_tok[n] = t ? d[t - 1] : sl->next_tok;
            s->b_pos[n] = sl->n_kv + t;
            s->b_seq[n] = i;
            s->b_slot[n] = i;
            s->b_want[n] = true;
            s->b_hid[n] = false;
            n++;
        }
    }
    s->n_decoded = n;
    int score_left = s->score_rows; /* rows of logits scoring prefills may still take */
    for (int i = 0; i < s->n_slots && budget > 0; i++) {
        slot *sl = &s->slots[i];
        if (sl->state != SLOT_PREFILL || prefix_wait(s, sl)) continue;
        if (sl->job->score && !score_ready(s, &score_left)) {
            fail_slot(s, sl, "out of memory for prompt scoring");
            continue;
        }
        int left = sl->job->n_prompt - sl->n_kv, k = left < budget ? left : budget;
        if (sl->job->score) {
            k = k < score_left ? k : score_left;
            score_left -= k;
            if (k == 0) continue;
        }
        for (int t = 0; t < k; t++) {
            s->b_tok[n] = sl->hist[sl->n_kv + t];
            s->b_pos[n] = sl->n_kv + t;
            s->b_seq[n] = i;
            s->b_slot[n] = i;
            s->b_want[n] = !sl->job->embed && (t == left - 1 || sl->job->score);
            s->b_hid[n] = sl->job->embed && embed_wants(s, sl->n_kv + t, sl->job->n_prompt);
            n++;
        }
        budget -= k;
    }
    kv_stats(s, n == 0);
    if (n == 0) return false;
    char err[256];
    if (lmx_forward_ex(s->ctx, &(lmx_batch){n, s->b_tok, s->b_pos, s->b_seq, s->b_want}, s->logits,
                       s->b_hid, s->hidden, err, sizeof err)) {
        fail_batch(s, n, err);
        return true;
    }
    s->stats.steps++;
    for (int i = 0; i < n; i++) s->slots[s->b_slot[i]].n_kv = s->b_pos[i] + 1;
    int hrow = 0;
    for (int i = 0; i < n; i++)
        if (s->b_hid[i])
            embed_add(s, s->slots[s->b_slot[i]].job, s->hidden + (size_t)hrow++ * s->m->hp.n_embd);
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->state == SLOT_PREFILL && sl->job->embed && sl->n_kv == sl->job->n_prompt)
            embed_finish(s, sl);
    }
    int row = 0;
    for (int i = 0; i < n; i++) {
        if (!s->b_want[i]) continue;
        slot *sl = &s->slots[s->b_slot[i]];
        float *lg = s->logits + (size_t)row++ * s->n_vocab;
        if (sl->n_draft) { /* its drafts' rows follow */
            i += sl->n_draft;
            row += sl->n_draft;
            spec_verify(s, sl, lg);
            continue;
        }
        if (!finite_row(lg, s->n_vocab)) {
            fail_slot(s, sl, "non-finite logits");
            continue;
        }
        if (sl->state == SLOT_PREFILL && sl->job->score && score_row(s, sl, s->b_pos[i], lg))
            continue;
        if (sl->state == SLOT_PREFILL) {
            lmx_job *j = sl->job;
            double now = lmx_now_s();
            lmx_event ev = {.type = LMX_EV_STARTED,
                            .prompt_tokens = j->n_prompt,
                            .cached_tokens = j->cached_tokens,
                            .queue_ms = (j->t_admit - j->t_submit) * 1e3,
                            .prefill_ms = (now - j->t_admit) * 1e3};
            push_event(j, &ev);
            /* followers copy the prompt's KV and sample from the same logits */
            for (int f = 0; f < s->n_slots; f++) {
                slot *F = &s->slots[f];
                if (F->state != SLOT_FOLLOW || F->leader != sl->id || F->job != j) continue;
                lmx_kv_copy_prefix(s->ctx, sl->id, f, sl->n_kv);
                F->n_kv = sl->n_kv;
                if (j->prompt_only) {
                    choice_done(s, F, "length");
                    continue;
                }
                memcpy(s->raw, lg, sizeof(float) * (size_t)s->n_vocab);
                float *copy = s->logits + (size_t)s->copy_row * s->n_vocab;
                memcpy(copy, lg, sizeof(float) * (size_t)s->n_vocab);
                sample_slot(s, F, copy);
            }
            if (j->prompt_only) {
                choice_done(s, sl, "length");
                continue;
            }
        }
        sample_slot(s, sl, lg);
    }
    return true;
}

/* Shutting down with cancel_running: every waiting job ends "cancelled" (under mu). */
static void drain_cancelled(lmx_sched *s) {
    lmx_job *j;
    while ((j = lmx_fq_peek(s->q))) end_waiting(s, j);
}

static void *sched_main(void *arg) {
    lmx_sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        if (s->cancel_all) drain_cancelled(s);
        bool stop = s->stopping && !lmx_fq_len(s->q);
        pthread_mutex_unlock(&s->mu);
        if (s->cancel_all)
            for (int i = 0; i < s->n_slots; i++)
                if (s->slots[i].state != SLOT_FREE) atomic_store(&s->slots[i].job->cancelled, true);
        double t0 = lmx_now_s();
        bool busy = step(s);
        if (busy && s->n_decoded > 0) {
            pthread_mutex_lock(&s->mu);
            lmx_batch_cap_observe(&s->cap, (lmx_now_s() - t0) * 1e3);
            pthread_mutex_unlock(&s->mu);
        }
        if (!busy) {
            if (stop && n_active(s) == 0) break;
            pthread_mutex_lock(&s->mu);
            if (!lmx_fq_len(s->q) && !s->stopping) pthread_cond_wait(&s->cv, &s->mu);
            pthread_mutex_unlock(&s->mu);
        }
    }
    return NULL;
}

lmx_sched *lmx_sched_create(lmx_model *m, lmx_pool *pool, const lmx_sched_opts *opts, char *err,
                            size_t errlen) {
    lmx_sched *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->m = m;
    s->o = *opts;
    if (s->o.n_parallel <= 0) s->o.n_parallel = LMX_DEFAULT_PARALLEL;
    if (s->o.n_queue < 0) s->o.n_queue = LMX_DEFAULT_QUEUE;
    if (s->o.n_cache < 0)
        s->o.n_cache = 0;
    else if (s->o.n_cache == 0)
        s->o.n_cache = s->o.n_parallel;
    if (s->o.prefill_chunk <= 0) s->o.prefill_chunk = 256;
    s->n_slots = s->o.n_parallel + s->o.n_cache;
    lmx_batch_cap_init(&s->cap, s->o.n_parallel, s->o.itl_target_ms);
    s->q = lmx_fq_new();
    s->n_vocab = m->hp.n_vocab;
    s->pool = m->hp.pooling_type == LMX_POOL_CLS || m->hp.pooling_type == LMX_POOL_LAST
                  ? m->hp.pooling_type
                  : LMX_POOL_MEAN;
    /* with speculation each decoding sequence brings up to draft_max more rows */
    int k = 0;
    if (s->o.spec != LMX_SPEC_OFF) {
        k = s->o.draft_max > 0            ? s->o.draft_max
            : s->o.spec == LMX_SPEC_DRAFT ? LMX_SPEC_DRAFT_MAX
                                          : LMX_SPEC_LOOKUP_MAX;
        if (k > LMX_SPEC_MAX) k = LMX_SPEC_MAX;
    }
    s->rows_max = s->o.n_parallel * (k + 1);
    int cap = s->rows_max + s->o.prefill_chunk;
    lmx_ctx_opts co = {.n_ctx = s->o.n_ctx,
                       .n_seq = s->n_slots,
                       .n_batch = cap,
                       .kv_f32 = s->o.kv_f32,
                       .kv_q8_0 = s->o.kv_q8_0,
                       .pool = pool};
    s->ctx = lmx_ctx_create(m, &co, err, errlen);
    if (!s->ctx) {
        free(s);
        return NULL;
    }
    int n_ctx = lmx_ctx_n_ctx(s->ctx);
    if (k) {
        lmx_spec_opts po = {.mode = s->o.spec,
                            .draft_max = k,
                            .draft = s->o.draft,
                            .min_accept = s->o.spec_min_accept};
        s->spec = lmx_spec_create(&po, m, s->n_slots, n_ctx, s->o.kv_f32, s->o.kv_q8_0, pool, err,
                                  errlen);
        s->p_dense = malloc(sizeof(float) * (size_t)s->n_vocab);
        s->p_probs = malloc(sizeof(float) * (size_t)s->n_vocab);
        s->p_ids = malloc(sizeof(int32_t) * (size_t)s->n_vocab);
        if (!s->spec || !s->p_dense || !s->p_probs || !s->p_ids) {
            if (s->spec) snprintf(err, errlen, "out of memory");
            lmx_spec_free(s->spec);
            free(s->p_dense), free(s->p_probs), free(s->p_ids);
            lmx_ctx_free(s->ctx);
            lmx_fq_free(s->q);
            free(s);
            return NULL;
        }
    }
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    s->b_tok = malloc(sizeof(int32_t) * (size_t)cap);
    s->b_pos = malloc(sizeof(int32_t) * (size_t)cap);
    s->b_seq = malloc(sizeof(int32_t) * (size_t)cap);
    s->b_slot = malloc(sizeof(int32_t) * (size_t)cap);
    s->b_want = malloc((size_t)cap);
    s->b_hid = malloc((size_t)cap);
    s->hidden = malloc(sizeof(float) * (size_t)cap * (size_t)m->hp.n_embd);
    s->copy_row = s->rows_max + 1; /* after the decode rows (and their drafts) */
    s->logits = malloc(sizeof(float) * (size_t)s->n_vocab * (size_t)(s->copy_row + 1));
    s->raw = malloc(sizeof(float) * (size_t)s->n_vocab);
    bool ok = s->q && s->slots && s->b_tok && s->b_pos && s->b_seq && s->b_slot && s->b_want &&
              s->logits && s->raw && s->b_hid && s->hidden;
    for (int i = 0; ok && i < s->n_slots; i++) {
        s->slots[i].id = i;
        s->slots[i].hist = malloc(sizeof(int32_t) * (size_t)(n_ctx + 1));
        ok = s->slots[i].hist != NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (!ok || pthread_create(&s->thread, NULL, sched_main, s)) {
        snprintf(err, errlen, "out of memory starting the scheduler");
        s->thread = 0;
        lmx_sched_destroy(s, true);
        return NULL;
    }
    return s;
}

void lmx_sched_destroy(lmx_sched *s, bool cancel_running) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    s->cancel_all = cancel_running;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->thread) pthread_join(s->thread, NULL);
    if (s->slots)
        for (int i = 0; i < s->n_slots; i++) {
            free(s->slots[i].hist);
            lmx_buf_free(&s->slots[i].pending);
            lmx_sampler_free(s->slots[i].smp);
            lmx_gram_state_free(s->slots[i].gs);
        }
    free(s->slots);
    free(s->b_tok), free(s->b_pos), free(s->b_seq), free(s->b_slot), free(s->b_want);
    free(s->b_hid), free(s->hidden);
    free(s->logits), free(s->raw);
    lmx_gram_vocab_free(s->gvocab);
    free(s->allowed), free(s->kept);
    lmx_spec_free(s->spec);
    free(s->p_dense), free(s->p_probs), free(s->p_ids);
    lmx_ctx_free(s->ctx);
    lmx_fq_free(s->q);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

int lmx_sched_n_ctx(const lmx_sched *s) {
    return lmx_ctx_n_ctx(s->ctx);
}

int lmx_sched_pooling(const lmx_sched *s) {
    return s->pool;
}

void lmx_sched_get_stats(lmx_sched *s, lmx_sched_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    out->queued = s->n_queued;
    out->slots = s->n_slots;
    out->n_queue = s->o.n_queue;
    out->batch_cap = s->cap.cap;
    out->spec_mode = s->spec ? s->o.spec : LMX_SPEC_OFF;
    out->spec_draft_max = s->spec ? lmx_spec_max(s->spec) : 0;
    out->spec_drafted = atomic_load(&s->sp_drafted);
    out->spec_accepted = atomic_load(&s->sp_accepted);
    out->spec_verifies = atomic_load(&s->sp_verifies);
    out->spec_auto_off = atomic_load(&s->sp_auto_off);
    out->itl_p95_ms = s->cap.p95_ms;
    out->drain_per_s = lmx_fq_drain_rate(s->q, lmx_now_s());
    pthread_mutex_unlock(&s->mu);
    /* running/cached are read racily from the scheduler's slots: a gauge, not a promise */
    int run = 0, cached = 0;
    for (int i = 0; i < s->n_slots; i++) {
        run += s->slots[i].state != SLOT_FREE;
        cached += s->slots[i].state == SLOT_FREE && s->slots[i].n_kv > 0;
    }
    out->running = run;
    out->cached_slots = cached;
    out->kv_used = (int64_t)(out->kv_blocks_used + out->kv_blocks_cached) * out->kv_block_tokens;
    out->kv_capacity = (int64_t)out->kv_blocks_total * out->kv_block_tokens;
}

void lmx_sched_each_tenant(lmx_sched *s, void (*fn)(void *ctx, const char *tenant, int queued),
                           void *ctx) {
    pthread_mutex_lock(&s->mu);
    lmx_fq_each_tenant(s->q, fn, ctx);
    pthread_mutex_unlock(&s->mu);
}
