/* Log lines on stderr, JSON or text. One fwrite per line under a lock, so
 * lines from concurrent connections never interleave. */
#include "util/log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int min_rank = 1; /* info; config reload may change it from any thread */
static atomic_int as_text = 0;  /* 0 json, 1 text */

static int rank(const char *level) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(level, names[i])) return i;
    return 1;
}

void lmx_log_set_level(const char *level) {
    atomic_store(&min_rank, level && *level ? rank(level) : 1);
}

void lmx_log_set_format(const char *fmt) {
    bool text = fmt && !strcmp(fmt, "text");
    if (!fmt || !*fmt || !strcmp(fmt, "auto")) text = isatty(2);
    atomic_store(&as_text, text);
}

/* "ts level msg k=v k=v": strings bare unless they hold a space or '"'. */
static char *text_line(const char *ts, const char *level, const char *msg, json_t *fields) {
    size_t cap = 256 + strlen(msg), n = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    n = (size_t)snprintf(s, cap, "%.10s %.12s %-5s %s", ts, ts + 11, level, msg);
    const char *k;
    json_t *v;
    json_object_foreach(fields, k, v) {
        char *val = NULL;
        const char *sv = json_string_value(v);
        if (sv && !strpbrk(sv, " \"=\n") && *sv)
            val = strdup(sv);
        else
            val = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!val) continue;
        size_t need = n + strlen(k) + strlen(val) + 4;
        if (need > cap) {
            char *t = realloc(s, cap = need * 2);
            if (!t) {
                free(val);
                break;
            }
            s = t;
        }
        n += (size_t)snprintf(s + n, cap - n, " %s=%s", k, val);
        free(val);
    }
    return s;
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
    if (atomic_load(&as_text)) {
        char *s = text_line(ts, level, msg, fields);
        json_decref(fields);
        if (!s) return;
        size_t n = strlen(s);
        pthread_mutex_lock(&log_mu);
        fwrite(s, 1, n, stderr);
        fputc('\n', stderr);
        fflush(stderr);
        pthread_mutex_unlock(&log_mu);
        free(s);
        return;
    }
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
