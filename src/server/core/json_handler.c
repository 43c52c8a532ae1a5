/* A JSON handler's opening and closing (json_handler.h). */
#include "server/core/json_handler.h"

int lmx_reply_work(lmx_req *r, int status, lmx_json_work *work) {
    lmx_api_err e = {0};
    json_t *body = lmx_req_json(r, false, &e);
    if (!body) return lmx_reply_err(r, &e);
    json_t *o = work(r, body, &e);
    json_decref(body);
    return o ? lmx_reply_json(r, status, o) : lmx_reply_err(r, &e);
}
