/* A model's engine settings beyond context and parallelism: the KV cache
 * type and speculative decoding (sched/spec.h). A load request names some or
 * none; the daemon's defaults (lmx serve's flags and config) fill the rest. */
#ifndef LMX_MGR_TUNING_H
#define LMX_MGR_TUNING_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>

#include "engine/model.h"
#include "manager/store.h"
#include "sched/sched.h"
#include "util/api_err.h"

typedef struct {
    const char *kv_type;     /* "f16" | "f32" | "q8_0"; NULL: the default */
    const char *spec;        /* "off" | "lookup" | "draft"; NULL: the default */
    const char *draft_model; /* a name of the store or a .gguf path; NULL: the default */
    int draft_max;           /* drafts per step, 1..LMX_SPEC_MAX; 0: the default */
} lmx_tuning_req;

typedef struct {
    int kv_type;               /* lmx_kv_type (engine/kv.h) */
    int spec;                  /* lmx_spec_mode */
    int draft_max;             /* 0: the mode's default */
    char draft_model[256];     /* as named */
    char draft_path[PATH_MAX]; /* the file */
} lmx_tuning;

/* The request over the defaults (NULL: none), checked, the draft found. false
 * with e set: 400 for a bad value or a draft without a model, 404 for a draft
 * model that is neither in the store nor a file. */
bool lmx_tuning_resolve(const lmx_tuning_req *req, const lmx_tuning_req *dflt, lmx_store *store,
                        lmx_tuning *out, lmx_api_err *e);
/* Checks one setting's text (for flags and config): NULL when valid, else
 * what is wrong. */
const char *lmx_tuning_check(const char *kv_type, const char *spec, long draft_max);
const char *lmx_kv_type_name(int kv_type);
/* Adds the draft model's memory (weights, KV for n_seq sequences of n_ctx,
 * buffers) to est. 0, or -1 with err. */
int lmx_tuning_add_draft(const lmx_tuning *t, int n_ctx, int n_seq, lmx_mem_estimate *est,
                         char *err, size_t errlen);
/* {"mode","draft_model","draft_max","drafted","accepted","verifies","auto_off"} (new ref). */
json_t *lmx_tuning_spec_json(const lmx_tuning *t, const lmx_sched_stats *st);

#endif
