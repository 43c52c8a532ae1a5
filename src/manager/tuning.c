/* Per-model KV type and speculative decoding settings (tuning.h). */
#include "manager/tuning.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/kv.h"
#include "sched/spec.h"

/* The KV cache types by name: one list both ways (parse and print). */
static const struct {
    const char *name;
    int type;
} kv_types[] = {{"f16", LMX_KV_F16}, {"f32", LMX_KV_F32}, {"q8_0", LMX_KV_Q8_0}};
#define N_KV_TYPES (sizeof kv_types / sizeof kv_types[0])

static int kv_parse(const char *s) {
    for (size_t i = 0; i < N_KV_TYPES; i++)
        if (!strcmp(s, kv_types[i].name)) return kv_types[i].type;
    return -1;
}

const char *lmx_kv_type_name(int kv_type) {
    for (size_t i = 0; i < N_KV_TYPES; i++)
        if (kv_types[i].type == kv_type) return kv_types[i].name;
    return "f16"; /* the default type */
}

const char *lmx_tuning_check(const char *kv_type, const char *spec, long draft_max) {
    if (kv_type && *kv_type && kv_parse(kv_type) < 0) return "kv_type must be f16, f32 or q8_0";
    if (spec && *spec && lmx_spec_mode_parse(spec) < 0)
        return "speculative must be off, lookup or draft";
    if (draft_max < 0 || draft_max > LMX_SPEC_MAX) return "draft_max must be from 1 to 32";
    return NULL;
}

static const char *pick(const char *a, const char *b) {
    return a && *a ? a : b && *b ? b : NULL;
}

bool lmx_tuning_resolve(const lmx_tuning_req *req, const lmx_tuning_req *dflt, lmx_store *store,
                        lmx_tuning *out, lmx_mgr_err *e) {
    static const lmx_tuning_req none = {0};
    if (!req) req = &none;
    if (!dflt) dflt = &none;
    memset(out, 0, sizeof *out);
    const char *kv = pick(req->kv_type, dflt->kv_type), *sp = pick(req->spec, dflt->spec);
    const char *dm = pick(req->draft_model, dflt->draft_model);
    out->draft_max = req->draft_max > 0 ? req->draft_max : dflt->draft_max;
    const char *bad = lmx_tuning_check(kv, sp, out->draft_max);
    if (bad) {
        const char *param = strstr(bad, "kv_type")     ? "kv_type"
                            : strstr(bad, "draft_max") ? "draft_max"
                                                       : "speculative";
        lmx_mgr_fail(e, LMX_MGR_INVALID, LMX_MGR_W_NONE, param, "%s.", bad);
        return false;
    }
    out->kv_type = kv ? kv_parse(kv) : LMX_KV_F16;
    out->spec = sp ? lmx_spec_mode_parse(sp) : LMX_SPEC_OFF;
    if (out->spec != LMX_SPEC_DRAFT) return true;
    if (!dm) {
        lmx_mgr_fail(e, LMX_MGR_INVALID, LMX_MGR_W_NONE, "draft_model",
                     "speculative: draft needs a draft model (draft_model, --draft-model).");
        return false;
    }
    if (strlen(dm) >= sizeof out->draft_model) {
        lmx_mgr_fail(e, LMX_MGR_INVALID, LMX_MGR_W_NONE, "draft_model",
                     "'draft_model' is too long.");
        return false;
    }
    snprintf(out->draft_model, sizeof out->draft_model, "%s", dm);
    lmx_store_entry se;
    bool stored = store && lmx_store_get(store, dm, &se);
    if (stored) {
        snprintf(out->draft_path, sizeof out->draft_path, "%s", se.path);
        lmx_store_entry_free(&se);
    } else {
        size_t n = strlen(dm);
        if (n > 5 && !strcmp(dm + n - 5, ".gguf") && access(dm, R_OK) == 0) {
            snprintf(out->draft_path, sizeof out->draft_path, "%s", dm);
        } else {
            lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_MODEL, "draft_model",
                         "Draft model '%s' is neither in the store nor a readable .gguf file.", dm);
            return false;
        }
    }
    return true;
}

int lmx_tuning_add_draft(const lmx_tuning *t, int n_ctx, int n_seq, lmx_mem_estimate *est,
                         char *err, size_t errlen) {
    if (t->spec != LMX_SPEC_DRAFT) return 0;
    lmx_mem_estimate d;
    char e2[256];
    if (lmx_model_estimate(t->draft_path, n_ctx > 0 ? n_ctx : est->n_ctx, n_seq, 256, t->kv_type,
                           &d, e2, sizeof e2)) {
        snprintf(err, errlen, "draft model: %s", e2);
        return -1;
    }
    est->weights += d.weights;
    est->kv += d.kv;
    est->compute += d.compute;
    est->total += d.total;
    return 0;
}
