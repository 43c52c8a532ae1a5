/* JSON log lines on stderr. One fwrite per line under a lock, so lines from
 * concurrent connections never interleave. */
#include "util/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int min_rank = 1; /* info; config reload may change it from any thread */

static int rank(const char *level) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(level, names[i])) return i;
    return 1;
}

void lmx_log_set_level(const char *level) {
    atomic_store(&min_rank, level && *level ? rank(level) : 1);
}

void lmx_log(const char *level, const char *msg, json_t *fields) {
    if (rank(level) < atomic_load(&min_rank)) {
        json_decref(fields);
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t k = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + k, sizeof ts - k, ".%03dZ", (int)(tv.tv_usec / 1000));
    json_t *o = json_object();
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(level));
    json_object_set_new(o, "msg", json_string(msg));
    if (fields) json_object_update(o, fields);
    json_decref(fields);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return;
    size_t n = strlen(s);
    s[n] = '\n';
    pthread_mutex_lock(&log_mu);
    fwrite(s, 1, n + 1, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_mu);
    free(s);
}
