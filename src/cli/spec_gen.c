/* One job on a one-slot scheduler (spec_gen.h). */
#include "cli/spec_gen.h"

#include <stdio.h>
#include <string.h>

#include "cli/job_wait.h"
#include "cli/model_ref.h"
#include "sched/sched.h"
#include "sched/spec.h"
#include "util/clock.h"

bool lmx_spec_gen_parse(const char *v, lmx_spec_gen_opts *o) {
    int mode = lmx_spec_mode_parse(v);
    if (mode < 0) return false;
    o->spec = mode;
    return true;
}

/* lmx_spec_gen_run's job as it runs: its timings, its tokens counted (and
 * kept, and their text handed on). */
typedef struct {
    lmx_spec_gen_result *out;
    int32_t *tokens;
    int max_tokens;
    double t0, t1; /* submitted; first token */
    void (*on_text)(void *ctx, const char *text, size_t n);
    void *ctx;
} gen_state;

static void on_gen_event(void *p, const lmx_event *ev) {
    gen_state *g = p;
    lmx_spec_gen_result *out = g->out;
    if (ev->type == LMX_EV_STARTED) {
        g->t1 = lmx_now_s();
        out->prefill_s = g->t1 - g->t0;
    } else if (ev->type == LMX_EV_TOKEN) {
        if (ev->token >= 0 && g->tokens && out->n_gen < g->max_tokens)
            g->tokens[out->n_gen] = ev->token;
        out->n_gen += ev->token >= 0;
        if (g->on_text && ev->text_len) g->on_text(g->ctx, ev->text, ev->text_len);
    }
}

int lmx_spec_gen_run(lmx_model *m, const lmx_spec_gen_opts *o, const int32_t *prompt, int n_prompt,
                     int max_tokens, const lmx_sample_params *sp, bool ignore_eos,
                     void (*on_text)(void *ctx, const char *text, size_t n), void *ctx,
                     int32_t *tokens, lmx_spec_gen_result *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    lmx_model *draft = NULL;
    if (o->spec == LMX_SPEC_DRAFT) {
        char path[4096];
        if (!o->draft) {
            snprintf(err, errlen, "--spec draft needs --draft-model MODEL");
            return -1;
        }
        if (!lmx_cli_model_path("draft model", o->draft, path, sizeof path)) {
            snprintf(err, errlen, "draft model '%s' not found", o->draft);
            return -1;
        }
        draft = lmx_model_open(path, NULL, err, errlen);
        if (!draft) return -1;
    }
    lmx_sched_opts so = {.n_parallel = 1,
                         .n_cache = -1,
                         .n_ctx = o->n_ctx,
                         .kv_f32 = o->kv_f32,
                         .kv_q8_0 = o->kv_q8_0,
                         .spec = o->spec,
                         .draft = draft,
                         .draft_max = o->draft_max,
                         .spec_min_accept = o->force ? -1 : 0};
    lmx_sched *s = lmx_sched_create(m, o->pool, &so, err, errlen);
    if (!s) {
        lmx_model_free(draft);
        return -1;
    }
    lmx_job_params jp = {.prompt = prompt,
                         .n_prompt = n_prompt,
                         .max_tokens = max_tokens,
                         .n_choices = 1,
                         .sample = *sp,
                         .top_logprobs = -1,
                         .ignore_eos = ignore_eos};
    lmx_submit_status st;
    gen_state g = {
        .out = out, .tokens = tokens, .max_tokens = max_tokens, .on_text = on_text, .ctx = ctx};
    g.t0 = g.t1 = lmx_now_s();
    lmx_job *j = lmx_sched_submit(s, &jp, &st);
    int rc = -1;
    if (j)
        rc = lmx_cli_job_wait(j, -1, on_gen_event, &g, err, errlen);
    else
        snprintf(err, errlen, "%s",
                 st == LMX_SUBMIT_TOO_LONG ? "the prompt does not fit the context"
                                           : "the job was refused");
    out->decode_s = lmx_now_s() - g.t1;
    lmx_sched_stats ss;
    lmx_sched_get_stats(s, &ss);
    out->drafted = ss.spec_drafted;
    out->accepted = ss.spec_accepted;
    out->auto_off = ss.spec_auto_off;
    lmx_job_release(j);
    lmx_sched_destroy(s, true);
    lmx_model_free(draft);
    return rc;
}
