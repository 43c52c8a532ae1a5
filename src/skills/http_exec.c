/* POST a skill's arguments to its URL and read a JSON answer, bounded in
 * time (the skill's timeout) and size (its max_output). */
#include "skills/http_exec.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/curl_body.h"

lmx_hx_rc lmx_http_exec(const lmx_skill *k, const json_t *args, const atomic_bool *cancel,
                        json_t **result, char *err, size_t n) {
    *result = NULL;
    CURL *c = curl_easy_init();
    if (!c) return snprintf(err, n, "out of memory"), LMX_HX_FAILED;
    char *payload = json_dumps(args, JSON_COMPACT);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    const char *hk;
    json_t *hv;
    json_object_foreach(k->headers, hk, hv) {
        char line[2048];
        snprintf(line, sizeof line, "%s: %s", hk, json_string_value(hv));
        h = curl_slist_append(h, line);
    }
    lmx_curl_body b = {.max = k->limits.max_output, .cancel = cancel};
    curl_easy_setopt(c, CURLOPT_URL, k->url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, lmx_curl_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, lmx_curl_body_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &b);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(k->limits.timeout_s * 1000));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    lmx_hx_rc out = LMX_HX_OK;
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        out = LMX_HX_TIMEOUT;
        snprintf(err, n, "no answer from %s within %g s", k->url, k->limits.timeout_s);
    } else if (rc == CURLE_ABORTED_BY_CALLBACK) {
        out = LMX_HX_CANCELLED;
        snprintf(err, n, "cancelled");
    } else if (rc == CURLE_WRITE_ERROR && b.too_big) {
        out = LMX_HX_FAILED;
        snprintf(err, n, "the answer is larger than max_output (%zu bytes)", k->limits.max_output);
    } else if (rc != CURLE_OK) {
        out = LMX_HX_UNREACHABLE;
        snprintf(err, n, "%s: %s", k->url, curl_easy_strerror(rc));
    } else if (status / 100 != 2) {
        out = LMX_HX_FAILED;
        snprintf(err, n, "%s answered HTTP %ld%s%.300s", k->url, status, b.buf.p ? ": " : "",
                 b.buf.p ? b.buf.p : "");
    } else {
        json_error_t je;
        *result = b.buf.p ? json_loads(b.buf.p, JSON_DECODE_ANY, &je) : NULL;
        if (!*result) {
            out = LMX_HX_FAILED;
            snprintf(err, n, "%s answered something that is not JSON", k->url);
        }
    }
    lmx_buf_free(&b.buf);
    free(payload);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return out;
}
