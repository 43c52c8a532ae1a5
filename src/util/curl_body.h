/* A libcurl response body collected into memory, bounded: the write
 * callback every client (the admin CLI, skills over HTTP, MCP over HTTP)
 * passes as CURLOPT_WRITEFUNCTION with one of these as CURLOPT_WRITEDATA. */
#ifndef LMX_UTIL_CURL_BODY_H
#define LMX_UTIL_CURL_BODY_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

typedef struct {
    lmx_buf buf;               /* the body so far (buf.p NULL while none came) */
    size_t max;                /* the most bytes kept; 0: no bound */
    bool too_big;              /* the transfer was ended for passing max */
    const atomic_bool *cancel; /* set: the transfer ends (NULL: never) */
} lmx_curl_body;

/* Appends what came; a body past max, or out of memory, ends the transfer
 * (libcurl's CURLE_WRITE_ERROR). */
size_t lmx_curl_body_write(char *data, size_t size, size_t nmemb, void *body);
/* CURLOPT_XFERINFOFUNCTION (with the body as CURLOPT_XFERINFODATA and
 * CURLOPT_NOPROGRESS 0): ends the transfer once *cancel is set. */
int lmx_curl_body_progress(void *body, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow);

#endif
