/* Manager outcomes → HTTP status, OpenAI type and code (mgr_error.h). */
#include "server/core/mgr_error.h"

#include <stdio.h>

typedef struct {
    int status;
    const char *type, *code;
} mapping;

#define BAD "invalid_request_error"
#define SRV "server_error"

static const mapping map[] = {
    [LMX_MGR_OK] = {500, SRV, NULL},
    [LMX_MGR_INVALID] = {400, BAD, NULL},
    [LMX_MGR_BAD_NAME] = {400, BAD, "invalid_model_name"},
    [LMX_MGR_NO_DEFAULT] = {400, BAD, "model_required"},
    [LMX_MGR_AMBIGUOUS] = {400, BAD, "ambiguous_file"},
    [LMX_MGR_NOT_FOUND] = {404, BAD, NULL}, /* the code names what: not_found_code */
    [LMX_MGR_FORBIDDEN] = {403, "permission_error", "repo_forbidden"},
    [LMX_MGR_UNSTABLE] = {409, BAD, "model_unstable"},
    [LMX_MGR_LOADING] = {503, SRV, "model_loading"},
    [LMX_MGR_LOADED] = {409, BAD, "model_loaded"},
    [LMX_MGR_FINISHED] = {409, BAD, "download_finished"},
    [LMX_MGR_OUTSIDE_STORE] = {409, BAD, "model_outside_store"},
    [LMX_MGR_INVALID_MODEL] = {422, BAD, "model_invalid"},
    [LMX_MGR_INCOMPLETE] = {422, BAD, "model_incomplete"},
    [LMX_MGR_UNSUPPORTED_ARCH] = {422, BAD, "model_unsupported_arch"},
    [LMX_MGR_UNSUPPORTED_TYPE] = {422, BAD, "model_unsupported_type"},
    [LMX_MGR_CANARY_FAILED] = {422, BAD, "model_canary_failed"},
    [LMX_MGR_DRAFT_MISMATCH] = {400, BAD, "draft_model_mismatch"},
    [LMX_MGR_NO_MEMORY] = {507, SRV, "insufficient_memory"},
    /* the file asked for more than the machine gave: a property of the request */
    [LMX_MGR_LOAD_OUT_OF_MEMORY] = {507, BAD, "insufficient_memory"},
    [LMX_MGR_NO_STORAGE] = {507, SRV, "insufficient_storage"},
    [LMX_MGR_HUB_UNREACHABLE] = {502, SRV, "hub_unreachable"},
    [LMX_MGR_HUB_ERROR] = {502, SRV, "hub_error"},
    [LMX_MGR_INTERNAL] = {500, SRV, NULL},
};

static const char *not_found_code(lmx_mgr_what w) {
    switch (w) {
    case LMX_MGR_W_MODEL:
        return "model_not_found";
    case LMX_MGR_W_FILE:
        return "file_not_found";
    case LMX_MGR_W_REVISION:
        return "revision_not_found";
    case LMX_MGR_W_REPO:
        return "repo_not_found";
    case LMX_MGR_W_DOWNLOAD:
        return "download_not_found";
    default:
        return "not_found";
    }
}

void lmx_err_from_mgr(lmx_api_err *out, const lmx_mgr_err *m) {
    mapping mp =
        (unsigned)m->status < sizeof map / sizeof *map ? map[m->status] : map[LMX_MGR_INTERNAL];
    if (m->status == LMX_MGR_NOT_FOUND) mp.code = not_found_code(m->what);
    lmx_err_set(out, mp.status, mp.type, mp.code, m->arg, "%s", m->message);
    out->retry_after = m->retry_after_s;
    /* the remedies that name an admin route are the server's to give */
    if (m->status == LMX_MGR_UNSTABLE)
        lmx_err_set(out, mp.status, mp.type, mp.code, m->arg,
                    "%s Load it again (POST /admin/models/load) to clear it.", m->message);
    else if (m->status == LMX_MGR_LOADED)
        lmx_err_set(out, mp.status, mp.type, mp.code, m->arg,
                    "The model '%s' is loaded; unload it first (POST /admin/models/unload).",
                    m->name);
}

lmx_served *lmx_api_acquire(lmx_mgr *m, const char *name, lmx_api_err *e) {
    lmx_mgr_err me;
    lmx_served *s = lmx_mgr_acquire(m, name, &me);
    if (!s) lmx_err_from_mgr(e, &me);
    return s;
}

lmx_served *lmx_api_load(lmx_mgr *m, const lmx_load_req *q, lmx_api_err *e) {
    lmx_mgr_err me;
    lmx_served *s = lmx_mgr_load(m, q, &me);
    if (!s) lmx_err_from_mgr(e, &me);
    return s;
}

/* A manager call's int result passed on, a failure mapped into e. */
static int mapped(int rc, const lmx_mgr_err *me, lmx_api_err *e) {
    if (rc) lmx_err_from_mgr(e, me);
    return rc;
}

int lmx_api_unload(lmx_mgr *m, const char *model, lmx_api_err *e) {
    lmx_mgr_err me;
    return mapped(lmx_mgr_unload(m, model, &me), &me, e);
}

int lmx_api_delete(lmx_mgr *m, const char *model, lmx_api_err *e) {
    lmx_mgr_err me;
    return mapped(lmx_mgr_delete(m, model, &me), &me, e);
}

int lmx_api_dl_start(lmx_dl *d, const char *repo, const char *file, const char *quant,
                     const char *revision, char *id, size_t idlen, lmx_api_err *e) {
    lmx_mgr_err me;
    return mapped(lmx_dl_start(d, repo, file, quant, revision, id, idlen, &me), &me, e);
}

int lmx_api_dl_cancel(lmx_dl *d, const char *id, lmx_api_err *e) {
    lmx_mgr_err me;
    return mapped(lmx_dl_cancel(d, id, &me), &me, e);
}
