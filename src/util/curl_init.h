/* libcurl's process-wide setup (and the TLS library's under it), done once
 * whichever module makes the first transfer: the hub client, the admin CLI. */
#ifndef LMX_UTIL_CURL_INIT_H
#define LMX_UTIL_CURL_INIT_H

/* curl_global_init, once per process; thread-safe. */
void lmx_curl_init(void);

#endif
