/* /v1/skills: the registry's listing, one skill, and invocation. The work is
 * the skills layer's (src/skills); this maps it onto HTTP. */
#include "server/api/skills_api.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "skills/registry.h"

/* Each failure's HTTP status, error type, code and param, by lmx_skr code. */
static const struct {
    int status;
    const char *type, *code, *param;
} skr_err[] = {
    [LMX_SKR_BAD_REF] = {400, "invalid_request_error", "invalid_skill", NULL},
    [LMX_SKR_NOT_FOUND] = {404, "not_found_error", "skill_not_found", NULL},
    [LMX_SKR_INVALID_ARGS] = {400, "invalid_request_error", "invalid_arguments", "arguments"},
    [LMX_SKR_BUSY] = {429, "rate_limit_error", "skill_busy", NULL},
    [LMX_SKR_TIMEOUT] = {504, "server_error", "skill_timeout", NULL},
    [LMX_SKR_FAILED] = {502, "server_error", "skill_failed", NULL},
    [LMX_SKR_BAD_OUTPUT] = {502, "server_error", "skill_bad_output", NULL},
    [LMX_SKR_UNAVAILABLE] = {503, "server_error", "skill_unavailable", NULL},
    [LMX_SKR_CANCELLED] = {499, "server_error", "cancelled", NULL},
};

void lmx_skr_api_err(const lmx_skr *r, lmx_api_err *e) {
    memset(e, 0, sizeof *e);
    if (r->code <= LMX_SKR_OK || (size_t)r->code >= sizeof skr_err / sizeof *skr_err) return;
    lmx_err_set(e, skr_err[r->code].status, skr_err[r->code].type, skr_err[r->code].code,
                skr_err[r->code].param, "%s", r->message);
    if (r->code == LMX_SKR_BUSY) e->retry_after = r->retry_after > 0 ? r->retry_after : 1;
}

json_t *lmx_skr_details(const lmx_skr *r) {
    json_t *d = json_object();
    if (r->name[0]) {
        json_object_set_new(d, "skill", json_string(r->name));
        json_object_set_new(d, "version", json_string(r->version));
    }
    if (r->violations) json_object_set(d, "violations", r->violations);
    if (r->code == LMX_SKR_FAILED || r->code == LMX_SKR_TIMEOUT) {
        if (r->exit_status >= 0 && r->code == LMX_SKR_FAILED && !r->signal && r->stderr_tail[0])
            json_object_set_new(d, "exit_status", json_integer(r->exit_status));
        else if (r->exit_status > 0)
            json_object_set_new(d, "exit_status", json_integer(r->exit_status));
        if (r->signal) json_object_set_new(d, "signal", json_integer(r->signal));
        if (r->stderr_tail[0]) json_object_set_new(d, "stderr", json_string(r->stderr_tail));
    }
    return d;
}

typedef struct {
    lmx_req *r;
    atomic_bool cancel, done;
} watch;

static void *watcher(void *p) {
    watch *w = p;
    while (!atomic_load(&w->done)) {
        if (lmx_req_hung_up(w->r)) {
            atomic_store(&w->cancel, true);
            break;
        }
        usleep(100 * 1000);
    }
    return NULL;
}

void lmx_skills_invoke_for(lmx_req *r, lmx_skills *s, lmx_skill *k, const char *ref,
                           const json_t *args, lmx_skr *out) {
    watch w = {.r = r};
    atomic_init(&w.cancel, false);
    atomic_init(&w.done, false);
    pthread_t t;
    bool watching = !pthread_create(&t, NULL, watcher, &w);
    if (k)
        lmx_skills_invoke_skill(s, k, args, &w.cancel, out);
    else
        lmx_skills_invoke(s, ref, args, &w.cancel, out);
    atomic_store(&w.done, true);
    if (watching) pthread_join(t, NULL);
}

static lmx_skills *registry(lmx_req *r, lmx_api_err *e) {
    lmx_skills *s = lmx_req_app(r)->skills;
    if (!s)
        lmx_err_set(e, 404, "not_found_error", "skill_not_found", NULL, "Skills are not enabled.");
    return s;
}

int lmx_h_skills(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e;
    lmx_skills *s = registry(r, &e);
    if (!s) return lmx_reply_err(r, &e);
    return lmx_reply_json(r, 200, lmx_skills_list_json(s));
}

/* GET /v1/skills/NS/NAME[@SEL] */
int lmx_h_skill_get(lmx_req *r, const char *ref) {
    lmx_api_err e;
    lmx_skills *s = registry(r, &e);
    if (!s) return lmx_reply_err(r, &e);
    bool nf;
    char err[900];
    lmx_skill *k = lmx_skills_get(s, ref, &nf, err, sizeof err);
    if (!k) {
        lmx_err_set(&e, nf ? 404 : 400, nf ? "not_found_error" : "invalid_request_error",
                    nf ? "skill_not_found" : "invalid_skill", NULL, "%s", err);
        return lmx_reply_err(r, &e);
    }
    json_t *o = lmx_skill_json(k);
    lmx_skill_unref(k);
    return lmx_reply_json(r, 200, o);
}

/* POST /v1/skills/NS/NAME[@SEL]/invoke {"arguments": {...}} */
int lmx_h_skill_invoke(lmx_req *r, const char *rest) {
    lmx_api_err e = {0};
    lmx_skills *s = registry(r, &e);
    if (!s) return lmx_reply_err(r, &e);
    size_t n = strlen(rest);
    static const char suffix[] = "/invoke";
    if (n <= sizeof suffix - 1 || strcmp(rest + n - (sizeof suffix - 1), suffix)) {
        lmx_err_set(&e, 404, "not_found_error", NULL, NULL,
                    "POST /v1/skills/NAMESPACE/NAME[@VERSION]/invoke runs a skill.");
        return lmx_reply_err(r, &e);
    }
    char ref[300];
    snprintf(ref, sizeof ref, "%.*s", (int)(n - (sizeof suffix - 1)), rest);
    json_t *body = lmx_req_json(r, false, &e);
    if (!body) return lmx_reply_err(r, &e);
    json_t *args = json_object_get(body, "arguments");
    /* arguments may also come as a JSON string, as in OpenAI tool calls */
    json_t *parsed = NULL;
    if (json_is_string(args)) {
        parsed = json_loads(json_string_value(args), 0, NULL);
        if (!parsed) {
            json_decref(body);
            lmx_err_set(&e, 400, "invalid_request_error", "invalid_arguments", "arguments",
                        "'arguments' is a string that does not parse as JSON.");
            return lmx_reply_err(r, &e);
        }
        args = parsed;
    }
    if (!json_is_object(body) || (!args && json_object_size(body))) {
        json_decref(body);
        lmx_err_set(&e, 400, "invalid_request_error", NULL, "arguments",
                    "Expected {\"arguments\": {...}}.");
        return lmx_reply_err(r, &e);
    }
    json_t *empty = args ? NULL : json_object();
    lmx_skr res;
    lmx_skills_invoke_for(r, s, NULL, ref, args ? args : empty, &res);
    json_decref(empty);
    json_decref(parsed);
    json_decref(body);
    lmx_req_set_model(r, res.name[0] ? res.name : ref);
    int ok;
    if (res.code == LMX_SKR_OK) {
        ok = lmx_reply_json(r, 200,
                            json_pack("{s:s,s:s,s:s,s:O,s:f}", "object", "skill.result", "skill",
                                      res.name, "version", res.version, "result", res.result,
                                      "duration_s", res.duration_s));
    } else {
        lmx_skr_api_err(&res, &e);
        if (res.code == LMX_SKR_BUSY || res.code == LMX_SKR_CANCELLED) {
            ok = lmx_reply_err(r, &e); /* Retry-After comes with it */
        } else {
            json_t *o = lmx_err_json_style(&e, LMX_ERRS_OPENAI);
            json_t *d = lmx_skr_details(&res);
            json_object_update(json_object_get(o, "error"), d);
            json_decref(d);
            ok = lmx_reply_json(r, e.status, o);
        }
    }
    lmx_skr_free(&res);
    return ok;
}
