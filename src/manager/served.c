/* Loading a model for serving. Besides the engine model and its scheduler this
 * reads what the API modules need from the GGUF metadata: the chat template
 * (probed once so requests know whether it refuses system messages or
 * same-role turns in a row), the BOS/EOS token texts the template is given,
 * and the figures the model listings report. */
#include "manager/served.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dtype.h"
#include "engine/gguf.h"
#include "engine/gguf_stats.h"
#include "engine/kv.h"
#include "engine/tokenizer.h"
#include "sched/spec.h"
#include "text/reasoning.h"
#include "util/clock.h"

/* Used when the GGUF has no tokenizer.chat_template (documented in
 * docs/openai-fields.md). */
static const char chatml[] =
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

const char *lmx_served_default_template(void) {
    return chatml;
}

static char *token_text(const lmx_tok *t, int32_t id) {
    size_t n;
    const char *s = id >= 0 ? lmx_tok_text(t, id, &n) : NULL;
    return s ? strndup(s, n) : strdup("");
}

/* The token's output bytes, control tokens as their text (logprobs show them). */
size_t lmx_served_piece(const lmx_served *s, int32_t id, char *buf, size_t cap) {
    size_t n = lmx_tok_piece(s->m->tok, id, true, buf, cap - 1);
    if (n > cap - 1) n = cap - 1;
    buf[n] = 0;
    return n;
}

/* A one-message conversation costs a real template a few thousand
 * operations; one that needs more than this would tax every request. */
#define PROBE_MAX_STEPS 200000

/* Renders a probe conversation: true unless the template raised. *budget:
 * it exceeded a budget (err says which). */
static bool renders(const lmx_served *s, const char *msgs_json, bool *budget, char *err,
                    size_t errlen) {
    json_t *ctx =
        json_pack("{s:o,s:b,s:s,s:s}", "messages", json_loads(msgs_json, 0, NULL),
                  "add_generation_prompt", 1, "bos_token", s->bos_text, "eos_token", s->eos_text);
    lmx_tmpl_opts o = {.max_steps = PROBE_MAX_STEPS};
    char *out = lmx_tmpl_render(s->tmpl, ctx, &o, err, errlen);
    json_decref(ctx);
    free(out);
    if (budget) *budget = !out && o.budget;
    return out != NULL || !o.raised;
}

static void read_meta(lmx_served *s) {
    uint32_t type = lmx_gguf_main_type(s->m->gguf, &s->n_params);
    snprintf(s->quant, sizeof s->quant, "%s", lmx_dtype_name(type));
}

lmx_served *lmx_served_load(const lmx_served_opts *o, char *err, size_t errlen) {
    lmx_served *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *base = strrchr(o->path, '/');
    base = base ? base + 1 : o->path;
    snprintf(s->name, sizeof s->name, "%s", base);
    size_t bl = strlen(s->name);
    if (bl > 5 && !strcmp(s->name + bl - 5, ".gguf")) s->name[bl - 5] = 0;
    s->created = time(NULL);
    double t_load = lmx_now_s();
    s->m = lmx_model_open(o->path, &o->model, err, errlen);
    if (!s->m) goto fail;
    if (o->spec == LMX_SPEC_DRAFT) {
        char derr[512];
        s->draft = lmx_model_open(o->draft_path ? o->draft_path : "", NULL, derr, sizeof derr);
        if (!s->draft) {
            snprintf(err, errlen, "draft model: %s", derr);
            goto fail;
        }
    }
    lmx_sched_opts so = {.n_parallel = o->n_parallel,
                         .n_queue = o->n_queue,
                         .n_ctx = o->n_ctx,
                         .itl_target_ms = o->itl_target_ms,
                         .kv_f32 = o->kv_type == LMX_KV_F32,
                         .kv_q8_0 = o->kv_type == LMX_KV_Q8_0,
                         .spec = o->spec,
                         .draft = s->draft,
                         .draft_max = o->draft_max};
    s->sched = lmx_sched_create(s->m, o->pool, &so, err, errlen);
    if (!s->sched) goto fail;
    s->n_ctx = lmx_sched_n_ctx(s->sched);
    s->n_parallel = o->n_parallel > 0 ? o->n_parallel : LMX_DEFAULT_PARALLEL;
    s->bos_id = lmx_tok_bos(s->m->tok);
    s->bos_text = token_text(s->m->tok, s->bos_id);
    s->eos_text = token_text(s->m->tok, lmx_tok_eos(s->m->tok));
    size_t tl;
    const char *src = lmx_gguf_get_str(s->m->gguf, "tokenizer.chat_template", &tl);
    char terr[256];
    if (src) {
        s->tmpl = lmx_tmpl_parse(src, tl, terr, sizeof terr);
        if (!s->tmpl) {
            snprintf(err, errlen, "%s: tokenizer.chat_template: %s", o->path, terr);
            goto fail;
        }
        s->tmpl_tools = memmem(src, tl, "tools", 5) != NULL;
        s->tc_family = lmx_tc_detect(src, tl);
        s->tc_mistral_args = memmem(src, tl, "[ARGS]", 6) != NULL;
        s->tmpl_reasoning = lmx_rsn_template_thinks(src, tl);
    } else {
        s->tmpl = lmx_tmpl_parse(chatml, sizeof chatml - 1, terr, sizeof terr);
        s->tmpl_is_default = true;
        s->tc_family = LMX_TC_GENERIC;
        if (!s->tmpl) {
            snprintf(err, errlen, "default template: %s", terr);
            goto fail;
        }
    }
    /* probes: only meaningful when a lone user turn renders; a template over
     * its budget on that is hostile or broken, and the model is refused */
    bool over = false;
    char perr[256] = "";
    if (renders(s, "[{\"role\":\"user\",\"content\":\"U\"}]", &over, perr, sizeof perr)) {
        s->tmpl_no_system = !renders(
            s, "[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"U\"}]",
            NULL, terr, sizeof terr);
        s->tmpl_alternate = !renders(
            s, "[{\"role\":\"user\",\"content\":\"A\"},{\"role\":\"user\",\"content\":\"B\"}]",
            NULL, terr, sizeof terr);
    }
    if (over) {
        snprintf(err, errlen,
                 "%s: tokenizer.chat_template exceeds its budget on a one-message conversation "
                 "(%s); a template that costs this much would tax every request, so the model is "
                 "refused",
                 o->path, perr);
        goto fail;
    }
    read_meta(s);
    s->load_time_ms = (lmx_now_s() - t_load) * 1000.0;
    return s;
fail:
    lmx_served_free(s, true);
    return NULL;
}

void lmx_served_free(lmx_served *s, bool cancel_running) {
    if (!s) return;
    lmx_sched_destroy(s->sched, cancel_running);
    lmx_tmpl_free(s->tmpl);
    lmx_model_free(s->m);
    lmx_model_free(s->draft);
    free(s->bos_text);
    free(s->eos_text);
    free(s);
}
