/* Served models: a loaded model with its scheduler and chat template, under
 * the name clients use ("stories260K" for .../stories260K.gguf). The API
 * modules render them in their own shapes (/v1/models: model_list.c). */
#ifndef LMX_MGR_SERVED_H
#define LMX_MGR_SERVED_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "engine/model.h"
#include "sched/sched.h"
#include "text/template.h"
#include "text/toolcall.h"

typedef struct lmx_served {
    char name[256];
    struct lmx_mgr *mgr; /* the manager that loaded it (NULL: standalone) */
    int refs;            /* requests holding it; guarded by the manager's lock */
    void *mgr_entry;     /* the manager's bookkeeping for it (manager.c) */
    lmx_model *m;
    lmx_model *draft; /* speculative decoding's draft model, or NULL */
    lmx_sched *sched;
    int n_ctx, n_parallel;
    time_t created;
    double load_time_ms; /* opening the file to ready */
    /* chat template */
    lmx_tmpl *tmpl;
    bool tmpl_is_default;      /* the model has none: ChatML */
    bool tmpl_no_system;       /* raises on a system message: merge it into the first user turn */
    bool tmpl_alternate;       /* raises on two user turns in a row: merge consecutive same roles */
    bool tmpl_tools;           /* the template mentions tools */
    lmx_tc_family tc_family;   /* how the model writes tool calls (from the template) */
    bool tc_mistral_args;      /* Mistral's [TOOL_CALLS]NAME[ARGS]{...} form */
    bool tmpl_reasoning;       /* the template writes <think> thoughts (text/reasoning.h) */
    char *bos_text, *eos_text; /* token texts ("" if none) */
    int32_t bos_id;            /* -1 if none */
    /* what the model listings show */
    char quant[32];
    uint64_t n_params;
} lmx_served;

typedef struct {
    const char *path;
    int n_ctx, n_parallel, n_queue;
    double itl_target_ms;
    lmx_pool *pool;
    int kv_type;            /* lmx_kv_type (engine/kv.h): 0 F16 */
    int spec;               /* lmx_spec_mode (sched/spec.h): 0 off */
    const char *draft_path; /* spec == LMX_SPEC_DRAFT: the draft model's .gguf */
    int draft_max;          /* 0: the mode's default */
    lmx_model_opts model; /* the engine's (progress callback); zero: none */
} lmx_served_opts;

/* Loads the model, creates its scheduler, parses and probes its template.
 * NULL with a one-line message in err. */
lmx_served *lmx_served_load(const lmx_served_opts *o, char *err, size_t errlen);
/* cancel_running: cut in-flight jobs short instead of finishing them. */
void lmx_served_free(lmx_served *s, bool cancel_running);

/* The template used for models that have none (ChatML). */
const char *lmx_served_default_template(void);

/* The bytes of token `id` as output text (control tokens as their text), NUL
 * terminated; returns the length (< cap, cut if longer). */
size_t lmx_served_piece(const lmx_served *s, int32_t id, char *buf, size_t cap);

#endif
