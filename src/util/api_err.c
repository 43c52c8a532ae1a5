/* OpenAI error objects. The "type" follows OpenAI's vocabulary: client mistakes
 * are invalid_request_error (with "param" naming the field), a missing model is
 * invalid_request_error with code model_not_found, overload is
 * rate_limit_error / code queue_full, and our own failures are server_error. */
#include "util/api_err.h"

#include <stdarg.h>
#include <stdio.h>

void lmx_err_set(lmx_api_err *e, int status, const char *type, const char *code, const char *param,
                 const char *fmt, ...) {
    e->status = status;
    e->type = type;
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    e->retry_after = 0;
}

json_t *lmx_err_json(const lmx_api_err *e) {
    json_t *o = json_object();
    json_object_set_new(o, "message", json_string(e->message));
    json_object_set_new(o, "type", json_string(e->type ? e->type : "server_error"));
    json_object_set_new(o, "param", e->param[0] ? json_string(e->param) : json_null());
    json_object_set_new(o, "code", e->code ? json_string(e->code) : json_null());
    json_t *w = json_object();
    json_object_set_new(w, "error", o);
    return w;
}
