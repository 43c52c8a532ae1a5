/* The admin API's download routes (manager/download.h does the work):
 *   POST   /admin/models/download            {repo, file?|quant?, revision?} → 202 {"id","state"}
 *   GET    /admin/models/download            {"object":"list","data":[DL_STATUS...]}
 *   GET    /admin/models/download/{id}        DL_STATUS
 *   GET    /admin/models/download/{id}/events SSE of DL_STATUS until a final state
 *   DELETE /admin/models/download/{id}        DL_STATUS, cancelled */
#include <stdlib.h>
#include <string.h>

#include "manager/download.h"
#include "server/api/download_api.h"
#include "server/core/json_handler.h"
#include "server/http/http.h"
#include "server/core/mgr_error.h"
#include "server/api/mgr_views.h"

static int not_found(lmx_req *r, const char *id) {
    lmx_api_err e;
    lmx_err_set(&e, 404, "invalid_request_error", "download_not_found", NULL,
                "No download with id '%s'.", id);
    return lmx_reply_err(r, &e);
}

static const char *opt_string(const json_t *body, const char *key, bool *bad) {
    const json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) return NULL;
    if (!json_is_string(v)) *bad = true;
    return json_string_value(v);
}

static json_t *download_start(lmx_req *r, json_t *body, lmx_api_err *e) {
    bool bad = false;
    const char *bad_key = NULL;
    const char *repo = opt_string(body, "repo", &bad);
    if (bad) bad_key = "repo";
    const char *file = opt_string(body, "file", &bad);
    if (bad && !bad_key) bad_key = "file";
    const char *quant = opt_string(body, "quant", &bad);
    if (bad && !bad_key) bad_key = "quant";
    const char *rev = opt_string(body, "revision", &bad);
    if (bad && !bad_key) bad_key = "revision";
    if (!json_is_object(body)) {
        lmx_err_bad(e, NULL, "The body must be a JSON object.");
    } else if (bad_key) {
        lmx_err_bad(e, bad_key, "\"%s\" must be a string.", bad_key);
    } else if (!repo) {
        lmx_err_bad(e, "repo", "\"repo\" is required ('org/name').");
    } else if (file && quant) {
        lmx_err_bad(e, "file", "Give \"file\" or \"quant\", not both.");
    }
    if (e->status) return NULL;
    /* "org/repo:QUANT" in repo is accepted too: the id form clients know */
    char repo_buf[256];
    const char *colon = strchr(repo, ':');
    if (colon && !quant && !file && strlen(repo) < sizeof repo_buf) {
        snprintf(repo_buf, sizeof repo_buf, "%.*s", (int)(colon - repo), repo);
        quant = colon + 1;
        repo = repo_buf;
    }
    lmx_req_set_model(r, repo);
    lmx_dl *d = lmx_req_app(r)->downloads;
    char id[64];
    if (lmx_api_dl_start(d, repo, file, quant, rev, id, sizeof id, e)) return NULL;
    json_t *st = lmx_view_dl_status(d, id);
    const char *state = json_string_value(json_object_get(st, "state"));
    json_t *o = json_pack("{s:s,s:s}", "id", id, "state", state ? state : "queued");
    /* the rest of the status too, so a client needs no second request */
    if (st) json_object_update_missing(o, st);
    json_decref(st);
    return o;
}

LMX_HANDLER_CALL(lmx_h_download_start, lmx_reply_work, 202, download_start)

int lmx_h_download_list(lmx_req *r, const char *rest) {
    (void)rest;
    json_t *a = lmx_view_dl_list(lmx_req_app(r)->downloads);
    return lmx_reply_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data", a));
}

/* ---- the events stream ---- */

typedef struct {
    lmx_dl *d;
    char id[64];
    unsigned long seen;
    char *last; /* the last status sent: any download's change wakes us, only ours is sent */
    bool ended;
} dl_stream;

static bool ev_next(void *st, lmx_buf *out, int timeout_ms) {
    dl_stream *s = st;
    if (s->ended) return false;
    json_t *o = lmx_view_dl_wait(s->d, s->id, &s->seen, s->last ? timeout_ms : 0);
    if (!o) { /* gone: nothing more to say */
        s->ended = true;
        return false;
    }
    char *now = json_dumps(o, JSON_COMPACT);
    if (now && (!s->last || strcmp(now, s->last))) {
        lmx_sse_json(out, o);
        free(s->last);
        s->last = now;
    } else {
        free(now);
    }
    if (lmx_dl_final(json_string_value(json_object_get(o, "state")))) s->ended = true;
    json_decref(o);
    return !s->ended;
}

static void ev_free(void *st) {
    dl_stream *s = st;
    free(s->last);
    free(s);
}

static void ev_hangup(void *st) {
    ((dl_stream *)st)->ended = true;
}

static void ev_keepalive(void *st, lmx_buf *out) {
    (void)st;
    lmx_sse_keepalive(out);
}

static int events(lmx_req *r, const char *id) {
    lmx_dl *d = lmx_req_app(r)->downloads;
    json_t *o = lmx_view_dl_status(d, id);
    if (!o) return not_found(r, id);
    json_decref(o);
    dl_stream *s = calloc(1, sizeof *s);
    if (!s) {
        lmx_api_err e;
        lmx_err_set(&e, 500, "server_error", NULL, NULL, "Out of memory.");
        return lmx_reply_err(r, &e);
    }
    s->d = d;
    snprintf(s->id, sizeof s->id, "%s", id);
    static const lmx_stream_ops ops = {ev_next, ev_hangup, ev_keepalive, ev_free};
    return lmx_reply_stream(r, "text/event-stream", &ops, s);
}

/* GET /admin/models/download/{id} and .../{id}/events */
int lmx_h_download_get(lmx_req *r, const char *rest) {
    size_t n = strlen(rest);
    const char *sfx = "/events";
    if (n > strlen(sfx) && !strcmp(rest + n - strlen(sfx), sfx)) {
        char id[64];
        if (n - strlen(sfx) >= sizeof id) return not_found(r, rest);
        snprintf(id, sizeof id, "%.*s", (int)(n - strlen(sfx)), rest);
        return events(r, id);
    }
    json_t *o = lmx_view_dl_status(lmx_req_app(r)->downloads, rest);
    if (!o) return not_found(r, rest);
    return lmx_reply_json(r, 200, o);
}

int lmx_h_download_cancel(lmx_req *r, const char *rest) {
    lmx_dl *d = lmx_req_app(r)->downloads;
    lmx_api_err e = {0};
    if (lmx_api_dl_cancel(d, rest, &e)) return lmx_reply_err(r, &e);
    json_t *o = lmx_view_dl_status(d, rest);
    if (!o) return not_found(r, rest);
    return lmx_reply_json(r, 200, o);
}
