/* API errors in each dialect's shape: one place decides how a refusal looks
 * to an OpenAI, Ollama or Anthropic client. */
#include "server/core/error.h"

#include "server/core/gen.h"

/* Anthropic's error types by status (their API reference's list). */
static const char *anthropic_type(int status) {
    switch (status) {
    case 413:
        return "request_too_large";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    default:
        return status < 500 ? "invalid_request_error" : "api_error";
    }
}

json_t *lmx_err_json_style(const lmx_api_err *e, lmx_err_style style) {
    switch (style) {
    case LMX_ERRS_OLLAMA:
        return json_pack("{s:s}", "error", e->message);
    case LMX_ERRS_ANTHROPIC: {
        /* every Anthropic error body names its request, as theirs does */
        char id[64];
        lmx_rand_id(id, sizeof id, "req_");
        return json_pack("{s:s,s:{s:s,s:s},s:s}", "type", "error", "error", "type",
                         anthropic_type(e->status), "message", e->message, "request_id", id);
    }
    default:
        return lmx_err_json(e);
    }
}
