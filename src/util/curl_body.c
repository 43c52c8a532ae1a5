/* The bounded in-memory response body (see curl_body.h). */
#include "util/curl_body.h"

size_t lmx_curl_body_write(char *data, size_t size, size_t nmemb, void *body) {
    lmx_curl_body *b = body;
    size_t n = size * nmemb;
    if (b->max && b->buf.n + n > b->max) {
        b->too_big = true;
        return 0;
    }
    return lmx_buf_add(&b->buf, data, n) ? n : 0;
}

int lmx_curl_body_progress(void *body, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow) {
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const lmx_curl_body *b = body;
    return b->cancel && atomic_load(b->cancel);
}
