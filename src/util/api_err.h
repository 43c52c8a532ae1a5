/* OpenAI-shaped API errors: an HTTP status plus {"error": {message, type,
 * param, code}}. Every refusal in the server is built here so the shapes stay
 * identical across endpoints. */
#ifndef LMX_UTIL_API_ERR_H
#define LMX_UTIL_API_ERR_H

#include <jansson.h>

typedef struct {
    int status;       /* HTTP status; 0 = no error */
    const char *type; /* "invalid_request_error", "server_error", ... */
    const char *code; /* machine-readable code or NULL */
    char param[64];   /* the offending parameter; "" = null */
    char message[768];
    int retry_after; /* seconds for a Retry-After header; 0 = none */
} lmx_api_err;

void lmx_err_set(lmx_api_err *e, int status, const char *type, const char *code, const char *param,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* 400 invalid_request_error naming `param` (may be NULL). */
#define lmx_err_bad(e, param, ...)                                                                 \
    lmx_err_set(e, 400, "invalid_request_error", NULL, param, __VA_ARGS__)

/* {"error": {...}} (new reference). */
json_t *lmx_err_json(const lmx_api_err *e);

#endif
