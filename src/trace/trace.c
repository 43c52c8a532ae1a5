/* W3C trace context and the OTLP/HTTP JSON exporter (see trace.h). */
#include "trace/trace.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define MAX_SPANS 4096 /* buffered spans at most: ~1 MB */
#define BATCH     512
#define MAX_ATTRS 8

typedef struct {
    uint8_t trace_id[16], span_id[8], parent[8];
    bool has_parent, error;
    char name[48];
    uint64_t start_ns, end_ns;
    int n_attrs;
    struct {
        char key[40], str[96];
        bool is_str;
        int64_t num;
    } attrs[MAX_ATTRS];
} span;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static span *ring; /* MAX_SPANS, a FIFO: head is the oldest */
static int head, count;
static bool running, stopping;
static pthread_t thread;
static char *endpoint, *service;
static atomic_uint_fast64_t dropped;

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1; /* the spec allows lowercase only */
}

static bool hex_bytes(const char *s, uint8_t *out, int n) {
    bool nonzero = false;
    for (int i = 0; i < n; i++) {
        int a = hexval(s[2 * i]), b = a < 0 ? -1 : hexval(s[2 * i + 1]);
        if (b < 0) return false;
        out[i] = (uint8_t)(a << 4 | b);
        nonzero |= out[i] != 0;
    }
    return nonzero;
}

bool lmx_trace_parse(const char *tp, lmx_trace_ctx *ctx) {
    if (!tp) return false;
    while (*tp == ' ' || *tp == '\t') tp++;
    /* version 00 is exactly 55 characters; later versions may append fields */
    if (strlen(tp) < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return false;
    if (hexval(tp[0]) < 0 || hexval(tp[1]) < 0 || !strncmp(tp, "ff", 2)) return false;
    if (!strncmp(tp, "00", 2) && tp[55] && tp[55] != ' ' && tp[55] != '\t') return false;
    if (tp[55] && strncmp(tp, "00", 2) && tp[55] != '-') return false;
    lmx_trace_ctx c;
    uint8_t flags;
    if (!hex_bytes(tp + 3, c.trace_id, 16) || !hex_bytes(tp + 36, c.span_id, 8)) return false;
    if (hexval(tp[53]) < 0 || hexval(tp[54]) < 0) return false;
    flags = (uint8_t)(hexval(tp[53]) << 4 | hexval(tp[54]));
    c.sampled = flags & 1;
    *ctx = c;
    return true;
}

static void hex(const uint8_t *b, int n, char *out) {
    for (int i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

void lmx_trace_format(const lmx_trace_ctx *ctx, char *out, size_t cap) {
    char t[33], s[17];
    hex(ctx->trace_id, 16, t);
    hex(ctx->span_id, 8, s);
    snprintf(out, cap, "00-%s-%s-01", t, s);
}

static void rand_bytes(uint8_t *b, size_t n) {
    do {
        if (getrandom(b, n, 0) != (ssize_t)n)
            for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rand();
    } while (!memcmp(b, "\0\0\0\0\0\0\0\0", n < 8 ? n : 8) && n >= 8); /* never all zero */
}

void lmx_trace_new_ids(lmx_trace_ctx *ctx, bool fresh_trace) {
    if (fresh_trace) rand_bytes(ctx->trace_id, 16);
    rand_bytes(ctx->span_id, 8);
    ctx->sampled = true;
}

uint64_t lmx_trace_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t lmx_trace_mono_to_ns(double mono_s) {
    struct timespec m;
    clock_gettime(CLOCK_MONOTONIC, &m);
    double now_mono = (double)m.tv_sec + (double)m.tv_nsec * 1e-9;
    double ago = now_mono - mono_s;
    uint64_t now = lmx_trace_now_ns();
    uint64_t d = ago > 0 ? (uint64_t)(ago * 1e9) : 0;
    return d < now ? now - d : 0;
}

_Thread_local const lmx_trace_ctx *lmx_trace_current;

void lmx_trace_op(const char *name, double mono_start, bool error, const lmx_trace_attr *attrs,
                  int n_attrs) {
    if (!lmx_trace_enabled()) return;
    const lmx_trace_ctx *cur = lmx_trace_current;
    lmx_trace_ctx s = {0};
    if (cur) memcpy(s.trace_id, cur->trace_id, 16);
    lmx_trace_new_ids(&s, !cur);
    lmx_trace_span(s.trace_id, s.span_id, cur ? cur->span_id : NULL, name,
                   lmx_trace_mono_to_ns(mono_start), lmx_trace_now_ns(), error, attrs, n_attrs);
}

bool lmx_trace_enabled(void) {
    pthread_mutex_lock(&mu);
    bool r = running;
    pthread_mutex_unlock(&mu);
    return r;
}

void lmx_trace_span(const uint8_t trace_id[16], const uint8_t span_id[8],
                    const uint8_t *parent_span, const char *name, uint64_t start_ns,
                    uint64_t end_ns, bool error, const lmx_trace_attr *attrs, int n_attrs) {
    pthread_mutex_lock(&mu);
    if (!running) {
        pthread_mutex_unlock(&mu);
        return;
    }
    if (count == MAX_SPANS) {
        pthread_mutex_unlock(&mu);
        atomic_fetch_add(&dropped, 1);
        return;
    }
    span *s = &ring[(head + count) % MAX_SPANS];
    count++;
    memcpy(s->trace_id, trace_id, 16);
    memcpy(s->span_id, span_id, 8);
    s->has_parent = parent_span != NULL;
    if (parent_span) memcpy(s->parent, parent_span, 8);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->start_ns = start_ns;
    s->end_ns = end_ns < start_ns ? start_ns : end_ns;
    s->error = error;
    s->n_attrs = n_attrs < MAX_ATTRS ? n_attrs : MAX_ATTRS;
    for (int i = 0; i < s->n_attrs; i++) {
        snprintf(s->attrs[i].key, sizeof s->attrs[i].key, "%s", attrs[i].key);
        s->attrs[i].is_str = attrs[i].str != NULL;
        if (attrs[i].str) snprintf(s->attrs[i].str, sizeof s->attrs[i].str, "%s", attrs[i].str);
        s->attrs[i].num = attrs[i].num;
    }
    if (count >= BATCH) pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

/* OTLP/JSON: ids as hex, times as decimal strings, kind 2 (server) for the
 * request span and 1 (internal) for the rest. */
static json_t *span_json(const span *s) {
    char t[33], id[17], p[17], a[24], b[24];
    hex(s->trace_id, 16, t);
    hex(s->span_id, 8, id);
    snprintf(a, sizeof a, "%llu", (unsigned long long)s->start_ns);
    snprintf(b, sizeof b, "%llu", (unsigned long long)s->end_ns);
    json_t *attrs = json_array();
    for (int i = 0; i < s->n_attrs; i++) {
        char n[24];
        snprintf(n, sizeof n, "%lld", (long long)s->attrs[i].num);
        json_array_append_new(attrs, json_pack("{s:s,s:{s:s}}", "key", s->attrs[i].key, "value",
                                               s->attrs[i].is_str ? "stringValue" : "intValue",
                                               s->attrs[i].is_str ? s->attrs[i].str : n));
    }
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:i,s:s,s:s,s:o,s:{s:i}}", "traceId", t, "spanId", id, "name", s->name,
        "kind", s->has_parent && strcmp(s->name, "request") ? 1 : 2, "startTimeUnixNano", a,
        "endTimeUnixNano", b, "attributes", attrs, "status", "code", s->error ? 2 : 0);
    if (s->has_parent) {
        hex(s->parent, 8, p);
        json_object_set_new(o, "parentSpanId", json_string(p));
    }
    return o;
}

static size_t sink(char *p, size_t sz, size_t n, void *u) {
    (void)p, (void)u;
    return sz * n;
}

static void send_batch(CURL *c, span *batch, int n) {
    json_t *spans = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(spans, span_json(&batch[i]));
    json_t *doc = json_pack("{s:[{s:{s:[{s:s,s:{s:s}}]},s:[{s:{s:s},s:o}]}]}", "resourceSpans",
                            "resource", "attributes", "key", "service.name", "value", "stringValue",
                            service, "scopeSpans", "scope", "name", "lmx", "spans", spans);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!body) {
        atomic_fetch_add(&dropped, (uint64_t)n);
        return;
    }
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, endpoint);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    long code = 0;
    if (curl_easy_perform(c) != CURLE_OK ||
        (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code), code < 200 || code >= 300))
        atomic_fetch_add(&dropped,
                         (uint64_t)n); /* a collector that is down loses spans, not requests */
    curl_slist_free_all(h);
    free(body);
}

static void *exporter(void *arg) {
    (void)arg;
    CURL *c = curl_easy_init();
    span *batch = malloc(sizeof(span) * BATCH);
    for (;;) {
        pthread_mutex_lock(&mu);
        if (!count && !stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&cv, &mu, &ts);
        }
        int n = count < BATCH ? count : BATCH;
        for (int i = 0; batch && i < n; i++) batch[i] = ring[(head + i) % MAX_SPANS];
        if (batch) {
            head = (head + n) % MAX_SPANS;
            count -= n;
        }
        bool stop = stopping && !count;
        pthread_mutex_unlock(&mu);
        if (n && c && batch) send_batch(c, batch, n);
        if (stop) break;
    }
    free(batch);
    if (c) curl_easy_cleanup(c);
    return NULL;
}

int lmx_trace_start(const char *ep, const char *svc, char *err, size_t errlen) {
    if (!ep || !*ep) return 0;
    if (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)) {
        snprintf(err, errlen, "otlp_endpoint: '%s' is not an http(s) URL", ep);
        return -1;
    }
    ring = calloc(MAX_SPANS, sizeof *ring);
    endpoint = strdup(ep);
    service = strdup(svc && *svc ? svc : "lmx");
    if (!ring || !endpoint || !service) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    running = true;
    if (pthread_create(&thread, NULL, exporter, NULL)) {
        running = false;
        snprintf(err, errlen, "cannot start the trace exporter");
        return -1;
    }
    return 0;
}

void lmx_trace_stop(void) {
    pthread_mutex_lock(&mu);
    bool was = running;
    stopping = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    if (was) pthread_join(thread, NULL);
    pthread_mutex_lock(&mu);
    running = false;
    pthread_mutex_unlock(&mu);
    free(ring);
    ring = NULL;
    free(endpoint);
    free(service);
    endpoint = service = NULL;
}

uint64_t lmx_trace_dropped(void) {
    return atomic_load(&dropped);
}
