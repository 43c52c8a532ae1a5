/* The OpenAI endpoints' handlers: /v1/models, /v1/chat/completions,
 * /v1/completions, and the plain /health probe. Parsing is core/request.c's,
 * prompts and encoders are openai_chat.c's and openai_completions.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/manager.h"
#include "server/api/openai_api.h"

#include "server/api/model_list.h"
#include "server/api/openai_chat.h"
#include "server/api/openai_completions.h"
#include "server/api/skills_chat.h"
#include "server/core/compat_fmt.h"
#include "server/core/compat_models.h"
#include "server/core/request.h"
#include "server/http/http.h"
#include "server/core/mgr_error.h"

static void chat_end(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out) {
    lmx_chat_stream(g, job, ev, out);
}
static void cmpl_end(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out) {
    lmx_completions_stream(g, job, ev, out);
}
void lmx_oai_sse_error(lmx_gen *g, const lmx_api_err *e, lmx_buf *out) {
    (void)g;
    json_t *o = lmx_err_json(e);
    lmx_sse_json(out, o);
    json_decref(o);
}
static json_t *chat_body(lmx_gen *g) {
    return lmx_chat_response(g);
}
static json_t *cmpl_body(lmx_gen *g) {
    return lmx_completions_response(g);
}

const lmx_gen_fmt lmx_fmt_chat = {"text/event-stream", chat_end, lmx_oai_sse_error, chat_body,
                                  true};
const lmx_gen_fmt lmx_fmt_completions = {"text/event-stream", cmpl_end, lmx_oai_sse_error,
                                         cmpl_body, true};

lmx_gen *lmx_oai_start(lmx_served *s, lmx_oai_kind kind, const lmx_oai_req *q, lmx_api_err *e) {
    lmx_gen *g = kind == LMX_OAI_CHAT ? lmx_chat_start(s, q, e) : lmx_completions_start(s, q, e);
    if (!g) lmx_mgr_release(s);
    return g;
}

int lmx_oai_parse_named(lmx_req *r, json_t *body, lmx_oai_kind kind, lmx_oai_req *q,
                        lmx_api_err *e) {
    if (lmx_oai_parse(body, kind, q, e)) {
        const json_t *mv = json_object_get(body, "model");
        if (json_is_string(mv)) lmx_req_set_model(r, json_string_value(mv));
        return -1;
    }
    lmx_req_set_model(r, q->model);
    return 0;
}

lmx_gen *lmx_oai_begin(lmx_req *r, json_t *body, lmx_oai_kind kind, lmx_oai_req *q,
                       lmx_oai_acquire_fn acquire, double *load_s, lmx_api_err *e) {
    lmx_compat_no_limit(body);
    if (lmx_oai_parse_named(r, body, kind, q, e)) return NULL;
    lmx_served *s = acquire(r, body, q->model, load_s, e);
    return s ? lmx_oai_start(s, kind, q, e) : NULL;
}

/* The model of a /v1 request. LM Studio's "ttl" is honoured here too: the
 * model is loaded just in time with that idle ttl (or its ttl refreshed). */
static lmx_served *v1_acquire(lmx_req *r, const json_t *body, const char *model, double *load_s,
                              lmx_api_err *e) {
    (void)load_s;
    lmx_compat_load lo = {0};
    int has_ttl = lmx_compat_seconds(body, "ttl", &lo.ttl_s, e);
    lo.ttl_given = has_ttl > 0;
    if (has_ttl < 0) return NULL;
    if (has_ttl) return lmx_compat_acquire(lmx_req_app(r), model, &lo, NULL, e);
    return lmx_api_acquire(lmx_req_app(r)->mgr, model, e);
}

static int generate(lmx_req *r, lmx_oai_kind kind) {
    lmx_api_err e = {0};
    json_t *body = lmx_req_json(r, false, &e);
    if (!body) return lmx_reply_err(r, &e);
    lmx_oai_req q;
    if (kind == LMX_OAI_CHAT && lmx_skills_chat_wanted(body)) { /* server-side skill loop */
        lmx_compat_no_limit(body);
        int ok = lmx_skills_chat(r, body);
        json_decref(body);
        return ok;
    }
    lmx_gen *g = lmx_oai_begin(r, body, kind, &q, v1_acquire, NULL, &e);
    const lmx_gen_fmt *fmt = kind == LMX_OAI_CHAT ? &lmx_fmt_chat : &lmx_fmt_completions;
    int ok = g ? lmx_reply_gen(r, g, fmt, q.stream) : lmx_reply_err(r, &e);
    lmx_oai_req_free(&q);
    json_decref(body);
    return ok;
}

LMX_HANDLER_CALL(lmx_h_chat, generate, LMX_OAI_CHAT)
LMX_HANDLER_CALL(lmx_h_completions, generate, LMX_OAI_COMPLETIONS)

int lmx_h_models(lmx_req *r, const char *id) {
    lmx_mgr *m = lmx_req_app(r)->mgr;
    if (*id) { /* answered from the list: a GET never loads a model */
        lmx_api_err e;
        json_t *o = lmx_model_get(m, id, &e);
        if (!o) return lmx_reply_err(r, &e);
        lmx_req_set_model(r, id);
        return lmx_reply_json(r, 200, o);
    }
    return lmx_reply_json(r, 200, lmx_model_list(m));
}

int lmx_h_health(lmx_req *r, const char *rest) {
    (void)rest;
    return lmx_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}
