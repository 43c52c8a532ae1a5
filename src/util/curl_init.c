/* libcurl's global init, once (see curl_init.h). */
#include "util/curl_init.h"

#include <curl/curl.h>
#include <pthread.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void init_once(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void lmx_curl_init(void) {
    pthread_once(&curl_once, init_once);
}
