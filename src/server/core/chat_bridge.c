/* Running a translated request through the chat machinery (chat_bridge.h). */
#include "server/core/chat_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/manager.h"
#include "server/api/openai_chat.h"
#include "server/core/chat_prompt.h"
#include "server/core/request.h"
#include "server/core/mgr_error.h"

int lmx_bridge_field_policy(const lmx_bridge_field *fields, size_t n, const char *k) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(fields[i].name, k)) return (int)fields[i].p;
    return -1;
}

json_t *lmx_buf_json_string(lmx_buf *b) {
    json_t *s = lmx_jtext(b->p, b->n);
    lmx_buf_free(b);
    return s;
}

void lmx_bridge_parse(const lmx_gen *g, lmx_bridge_calls *c, const char *text, size_t len,
                      bool finish, lmx_bridge_text_fn on_text, lmx_bridge_call_fn on_call, void *st,
                      lmx_buf *out) {
    if (!c->tc) c->tc = lmx_chat_parser(g, 0);
    if (!c->tc || (!finish && !len)) return;
    lmx_tc_delta d = {0};
    if (finish)
        lmx_tc_finish(c->tc, &d);
    else
        lmx_tc_feed(c->tc, text, len, &d);
    for (int i = 0; i < d.n; i++) {
        const lmx_tc_item *it = &d.items[i];
        if (it->index < 0) {
            on_text(st, out, it->text, it->len);
        } else if (c->parallel || !c->n_calls) {
            c->n_calls++;
            on_call(st, out, it->id, it->name, it->text);
        }
    }
    lmx_tc_delta_clear(&d);
}

void lmx_sse_event(lmx_buf *out, const char *name, const json_t *o) {
    lmx_buf_add(out, "event: ", 7);
    lmx_buf_add(out, name, strlen(name));
    lmx_buf_add(out, "\n", 1);
    lmx_sse_json(out, o);
}

/* s with every `from` that is a whole field name replaced by `to`. */
static void replace_name(char *s, size_t cap, const char *from, const char *to) {
    char tmp[1024];
    size_t o = 0, nf = strlen(from), nt = strlen(to);
    for (const char *p = s; *p && o + 1 < sizeof tmp;) {
        bool at = !strncmp(p, from, nf) &&
                  (p == s || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z'))) &&
                  !(p[nf] == '_' || (p[nf] >= 'a' && p[nf] <= 'z'));
        if (at && o + nt + 1 < sizeof tmp) {
            memcpy(tmp + o, to, nt);
            o += nt;
            p += nf;
        } else
            tmp[o++] = *p++;
    }
    tmp[o] = 0;
    snprintf(s, cap, "%s", tmp);
}

static void rename_err(lmx_api_err *e, const lmx_bridge_name *names) {
    for (; names && names->chat; names++) {
        replace_name(e->param, sizeof e->param, names->chat, names->api);
        replace_name(e->message, sizeof e->message, names->chat, names->api);
    }
}

static lmx_served *acquire(lmx_req *r, json_t *chat, const lmx_bridge_name *names, lmx_oai_req *q,
                           lmx_api_err *e) {
    if (lmx_oai_parse(chat, LMX_OAI_CHAT, q, e)) {
        rename_err(e, names);
        return NULL;
    }
    lmx_req_set_model(r, q->model);
    return lmx_api_acquire(lmx_req_app(r)->mgr, q->model, e);
}

lmx_gen *lmx_bridge_start(lmx_req *r, json_t *chat, const lmx_bridge_name *names, bool *stream,
                          lmx_api_err *e) {
    lmx_oai_req q;
    lmx_gen *g = NULL;
    lmx_served *s = acquire(r, chat, names, &q, e);
    if (s) {
        g = lmx_chat_start(s, &q, e);
        if (!g) {
            lmx_mgr_release(s);
            rename_err(e, names);
        }
    }
    *stream = q.stream;
    lmx_oai_req_free(&q);
    return g;
}

int lmx_bridge_count(lmx_req *r, json_t *chat, const lmx_bridge_name *names, lmx_api_err *e) {
    lmx_oai_req q;
    int n = -1;
    lmx_served *s = acquire(r, chat, names, &q, e);
    if (s) {
        int32_t *toks = NULL;
        if (!lmx_chat_prompt(s, &q, NULL, &toks, &n, e))
            free(toks);
        else {
            n = -1;
            rename_err(e, names);
        }
        lmx_mgr_release(s);
    }
    lmx_oai_req_free(&q);
    return n;
}
