/* /v1/chat/completions: OpenAI's chat.completion and chat.completion.chunk
 * shapes.
 *
 * Streams follow OpenAI's order: per choice a first chunk with the role (sent
 * when the prompt has been read), content deltas, a chunk with the
 * finish_reason; with stream_options.include_usage every chunk carries
 * "usage": null and one last chunk with empty choices carries the usage; then
 * "data: [DONE]". */
#include <stdlib.h>
#include <string.h>

#include "server/chat_prompt.h"
#include "server/openai.h"

lmx_gen *lmx_chat_start(lmx_served *s, const lmx_oai_req *r, lmx_api_err *e) {
    int32_t *toks;
    int n;
    if (lmx_chat_prompt(s, r, &toks, &n, e)) return NULL;
    lmx_gen *g = lmx_gen_start(s, r, &toks, &n, 1, e);
    free(toks);
    return g;
}

static json_t *head(const lmx_gen *g, const char *object) {
    return json_pack("{s:s,s:s,s:I,s:s,s:s}", "id", g->id, "object", object, "created",
                     (json_int_t)g->created, "model", g->s->name, "system_fingerprint",
                     LMX_SYSTEM_FINGERPRINT);
}

json_t *lmx_chat_response(const lmx_gen *g) {
    json_t *o = head(g, "chat.completion"), *choices = json_array();
    for (int i = 0; i < g->n_choices; i++) {
        const lmx_choice *c = &g->ch[i];
        json_t *msg = json_pack("{s:s,s:s%,s:n}", "role", "assistant", "content",
                                c->text.p ? c->text.p : "", c->text.n, "refusal");
        if (!msg) /* not valid UTF-8 (cannot happen with whole tokens, but be safe) */
            msg = json_pack("{s:s,s:s,s:n}", "role", "assistant", "content", "", "refusal");
        json_t *lp = json_null();
        if (g->top_logprobs >= 0)
            lp = c->lp ? json_pack("{s:O,s:n}", "content", c->lp, "refusal")
                       : json_pack("{s:[],s:n}", "content", "refusal");
        json_array_append_new(choices,
                              json_pack("{s:i,s:o,s:o,s:s}", "index", i, "message", msg, "logprobs",
                                        lp, "finish_reason", c->finish ? c->finish : "stop"));
    }
    json_object_set_new(o, "choices", choices);
    json_object_set_new(o, "usage", lmx_gen_usage(g));
    return o;
}

static json_t *chunk(const lmx_gen *g, json_t *choices) {
    json_t *o = head(g, "chat.completion.chunk");
    json_object_set_new(o, "choices", choices);
    if (g->include_usage) json_object_set_new(o, "usage", json_null());
    return o;
}

static void emit(lmx_buf *out, json_t *o) {
    lmx_sse_json(out, o);
    json_decref(o);
}

void lmx_chat_stream(lmx_gen *g, int job, const lmx_event *ev, lmx_buf *out) {
    if (!ev) {
        if (g->include_usage) {
            json_t *o = head(g, "chat.completion.chunk");
            json_object_set_new(o, "choices", json_array());
            json_object_set_new(o, "usage", lmx_gen_usage(g));
            emit(out, o);
        }
        lmx_sse_done(out);
        return;
    }
    int base = job * g->n;
    switch (ev->type) {
    case LMX_EV_STARTED: {
        json_t *cs = json_array();
        for (int c = 0; c < g->n; c++)
            json_array_append_new(cs, json_pack("{s:i,s:{s:s,s:s,s:n},s:n,s:n}", "index", base + c,
                                                "delta", "role", "assistant", "content", "",
                                                "refusal", "logprobs", "finish_reason"));
        emit(out, chunk(g, cs));
        break;
    }
    case LMX_EV_TOKEN: {
        bool lp = g->top_logprobs >= 0 && ev->token >= 0;
        if (!ev->text_len && !lp) break;
        json_t *content = json_stringn(ev->text ? ev->text : "", ev->text_len);
        if (!content) content = json_string("");
        json_t *lpo = lp ? json_pack("{s:[o],s:n}", "content",
                                     lmx_gen_lp_entry(g, ev->token, ev->logprob, ev), "refusal")
                         : json_null();
        emit(out, chunk(g, json_pack("[{s:i,s:{s:o},s:o,s:n}]", "index", base + ev->choice, "delta",
                                     "content", content, "logprobs", lpo, "finish_reason")));
        break;
    }
    case LMX_EV_FINISH:
        emit(out, chunk(g, json_pack("[{s:i,s:{},s:n,s:s}]", "index", base + ev->choice, "delta",
                                     "logprobs", "finish_reason", ev->finish_reason)));
        break;
    default:
        break;
    }
}
