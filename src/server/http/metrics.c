/* Prometheus metrics: the series requests feed, and the exposition text.
 *
 * Series live in fixed tables under one lock (mu): a request's observation
 * is a few comparisons and increments. The tables are bounded (a model label
 * only for models the manager served, the api label only for routes), and a
 * series that finds its table full is counted under the label "other" so
 * totals stay right. */
#include "server/http/metrics.h"

#include "skills/skill_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents/runtime.h"
#include "manager/served.h"
#include "server/http/http.h"
#include "server/core/tenancy.h"
#include "server/http/metrics_ops.h"
#include "util/buf.h"
#include "util/clock.h"

#define MAX_MODELS 64
#define MAX_REQ    1024
#define MAX_DUR    512

static const double ttft_le[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const double dur_le[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
#define N_TTFT (sizeof ttft_le / sizeof ttft_le[0])
#define N_DUR  (sizeof dur_le / sizeof dur_le[0])

typedef struct {
    char api[64], model[128];
    int status;
    uint64_t n;
} req_series;

typedef struct {
    char api[64], model[128];
    uint64_t b[N_DUR], count; /* b[i]: observations <= dur_le[i] (not cumulative) */
    double sum;
} dur_series;

typedef struct {
    char name[128];
    uint64_t prompt, completion;
    uint64_t ttft_b[N_TTFT], ttft_count;
    double ttft_sum;
} model_series;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static req_series reqs[MAX_REQ];
static int n_reqs;
static dur_series durs[MAX_DUR];
static int n_durs;
static model_series models[MAX_MODELS + 1]; /* + "other" */
static int n_models;
static char known[MAX_MODELS][128];
static int n_known;
static atomic_uint_fast64_t download_bytes;
static double t_start = -1;
lmx_tenancy *lmx_metrics_tenancy;

void lmx_metrics_start(void) {
    pthread_mutex_lock(&mu);
    if (t_start < 0) t_start = lmx_now_s();
    pthread_mutex_unlock(&mu);
}

void lmx_metrics_add_download_bytes(uint64_t n) {
    atomic_fetch_add(&download_bytes, n);
}

static bool is_known(const char *name) {
    for (int i = 0; i < n_known; i++)
        if (!strcmp(known[i], name)) return true;
    return false;
}

static void know(const char *name) {
    if (!name || !*name || is_known(name) || strlen(name) >= sizeof known[0]) return;
    if (n_known < MAX_MODELS) snprintf(known[n_known++], sizeof known[0], "%s", name);
}

void lmx_metrics_know_model(const char *name) {
    pthread_mutex_lock(&mu);
    know(name);
    pthread_mutex_unlock(&mu);
}

static model_series *model_get(const char *name) {
    for (int i = 0; i < n_models; i++)
        if (!strcmp(models[i].name, name)) return &models[i];
    model_series *m = &models[n_models < MAX_MODELS ? n_models++ : MAX_MODELS];
    if (m == &models[MAX_MODELS]) name = "other";
    snprintf(m->name, sizeof m->name, "%s", name);
    return m;
}

static void bucket(uint64_t *b, const double *le, size_t n, double v) {
    for (size_t i = 0; i < n; i++)
        if (v <= le[i]) {
            b[i]++;
            return;
        }
}

void lmx_metrics_observe(const lmx_metrics_req *q) {
    const char *api = q->api ? q->api : "other";
    pthread_mutex_lock(&mu);
    if (t_start < 0) t_start = lmx_now_s();
    know(q->served);
    const char *model = q->served && *q->served   ? q->served
                        : !q->model || !*q->model ? "none"
                        : is_known(q->model)      ? q->model
                                                  : "unknown";
    req_series *rs = NULL;
    for (int i = 0; i < n_reqs && !rs; i++)
        if (reqs[i].status == q->status && !strcmp(reqs[i].api, api) &&
            !strcmp(reqs[i].model, model))
            rs = &reqs[i];
    if (!rs && n_reqs < MAX_REQ) {
        rs = &reqs[n_reqs++];
        snprintf(rs->api, sizeof rs->api, "%s", api);
        snprintf(rs->model, sizeof rs->model, "%s", model);
        rs->status = q->status;
    }
    if (rs) rs->n++;
    dur_series *ds = NULL;
    for (int i = 0; i < n_durs && !ds; i++)
        if (!strcmp(durs[i].api, api) && !strcmp(durs[i].model, model)) ds = &durs[i];
    if (!ds && n_durs < MAX_DUR) {
        ds = &durs[n_durs++];
        snprintf(ds->api, sizeof ds->api, "%s", api);
        snprintf(ds->model, sizeof ds->model, "%s", model);
    }
    if (ds && isfinite(q->duration_s)) {
        bucket(ds->b, dur_le, N_DUR, q->duration_s);
        ds->count++;
        ds->sum += q->duration_s;
    }
    if (q->prompt_tokens > 0 || q->completion_tokens > 0 || q->ttft_s >= 0) {
        model_series *ms = model_get(model);
        ms->prompt += (uint64_t)(q->prompt_tokens > 0 ? q->prompt_tokens : 0);
        ms->completion += (uint64_t)(q->completion_tokens > 0 ? q->completion_tokens : 0);
        if (q->ttft_s >= 0 && isfinite(q->ttft_s)) {
            bucket(ms->ttft_b, ttft_le, N_TTFT, q->ttft_s);
            ms->ttft_count++;
            ms->ttft_sum += q->ttft_s;
        }
    }
    pthread_mutex_unlock(&mu);
}

/* ---- exposition ---- */

/* A label value with \, " and newline escaped, as the format requires. */
static void label(FILE *f, const char *v) {
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '\\')
            fputs("\\\\", f);
        else if (*v == '"')
            fputs("\\\"", f);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
    fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A float as the format reads it (Go's ParseFloat): %.17g round-trips. */
static void num(FILE *f, double v) {
    if (isnan(v))
        fputs("NaN", f);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf" : "-Inf", f);
    else
        fprintf(f, "%.17g", v);
}

static void histogram(FILE *f, const char *name, const char *labels_api, const char *model,
                      const uint64_t *b, const double *le, size_t n, uint64_t count, double sum) {
    uint64_t cum = 0;
    for (size_t i = 0; i <= n; i++) {
        cum += i < n ? b[i] : 0;
        fprintf(f, "%s_bucket{", name);
        if (labels_api) fputs("api=", f), label(f, labels_api), fputc(',', f);
        fputs("model=", f), label(f, model);
        fputs(",le=\"", f);
        if (i < n)
            fprintf(f, "%g", le[i]); /* short and exact enough for bounds */
        else
            fputs("+Inf", f);
        fprintf(f, "\"} %llu\n", (unsigned long long)(i < n ? cum : count));
    }
    fprintf(f, "%s_sum{", name);
    if (labels_api) fputs("api=", f), label(f, labels_api), fputc(',', f);
    fputs("model=", f), label(f, model), fputs("} ", f), num(f, sum), fputc('\n', f);
    fprintf(f, "%s_count{", name);
    if (labels_api) fputs("api=", f), label(f, labels_api), fputc(',', f);
    fputs("model=", f), label(f, model), fprintf(f, "} %llu\n", (unsigned long long)count);
}

static uint64_t resident_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long size = 0, rss = 0;
    int ok = fscanf(f, "%llu %llu", &size, &rss);
    fclose(f);
    return ok == 2 ? rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void model_line(FILE *f, const char *name, const char *model, const char *extra) {
    fprintf(f, "%s{model=", name);
    label(f, model);
    if (extra) fputs(extra, f);
    fputs("} ", f);
}

/* One model's sample of a real-valued series. */
static void model_num(FILE *f, const char *name, const char *model, double v) {
    model_line(f, name, model, NULL);
    num(f, v);
    fputc('\n', f);
}

/* One model's gauge split three ways: first_state (running / used), cached,
 * and free (clamped at 0: the counts are read without one lock). */
static void by_state(FILE *f, const char *name, const char *model, const char *first_state,
                     int first, int cached, int free_n) {
    char extra[48];
    snprintf(extra, sizeof extra, ",state=\"%s\"", first_state);
    model_line(f, name, model, extra);
    fprintf(f, "%d\n", first);
    model_line(f, name, model, ",state=\"cached\"");
    fprintf(f, "%d\n", cached);
    model_line(f, name, model, ",state=\"free\"");
    fprintf(f, "%d\n", free_n > 0 ? free_n : 0);
}

typedef struct {
    FILE *f;
    const char *model;
} tenant_depth;

static void tenant_depth_line(void *ctx, const char *tenant, int queued) {
    tenant_depth *td = ctx;
    fputs("lmx_queue_depth_by_tenant{model=", td->f), label(td->f, td->model);
    fputs(",tenant=", td->f), label(td->f, tenant);
    fprintf(td->f, "} %d\n", queued);
}

/* One model's sample of a counter. */
static void model_u64(FILE *f, const char *name, const char *model, uint64_t v) {
    model_line(f, name, model, NULL);
    fprintf(f, "%llu\n", (unsigned long long)v);
}

/* The derived per-model series: each writes one model's samples. */
static void put_tenants(FILE *f, const char *name, const lmx_served *m, const lmx_sched_stats *s) {
    (void)name, (void)s;
    tenant_depth td = {f, m->name};
    lmx_sched_each_tenant(m->sched, tenant_depth_line, &td);
}

static void put_kv_ratio(FILE *f, const char *name, const lmx_served *m, const lmx_sched_stats *s) {
    double cap = (double)s->kv_capacity;
    model_num(f, name, m->name, cap > 0 ? (double)s->kv_used / cap : 0);
}

static void put_kv_slots(FILE *f, const char *name, const lmx_served *m, const lmx_sched_stats *s) {
    int free_slots = s->slots - s->running - s->cached_slots;
    by_state(f, name, m->name, "running", s->running, s->cached_slots, free_slots);
}

static void put_kv_blocks(FILE *f, const char *name, const lmx_served *m,
                          const lmx_sched_stats *s) {
    int rest = s->kv_blocks_total - s->kv_blocks_used - s->kv_blocks_cached;
    by_state(f, name, m->name, "used", s->kv_blocks_used, s->kv_blocks_cached, rest);
}

static void put_hit_ratio(FILE *f, const char *name, const lmx_served *m,
                          const lmx_sched_stats *s) {
    model_num(f, name, m->name,
              s->prompt_tokens ? (double)s->cached_tokens / (double)s->prompt_tokens : 0);
}

static void put_load_s(FILE *f, const char *name, const lmx_served *m, const lmx_sched_stats *s) {
    (void)s;
    model_num(f, name, m->name, m->load_time_ms / 1000.0);
}

/* The series read from each loaded model's scheduler when /metrics is
 * scraped, in the order they are written: a field of lmx_sched_stats (at
 * off, of type kind; V_MS: milliseconds written as seconds) or, where put
 * is set, what it derives. */
typedef enum { V_INT, V_I64, V_U64, V_DBL, V_MS } sched_kind;

typedef struct {
    const char *name, *type, *help;
    sched_kind kind;
    size_t off;
    void (*put)(FILE *f, const char *name, const lmx_served *m, const lmx_sched_stats *s);
} sched_stat;

#define ST(field) offsetof(lmx_sched_stats, field), NULL

static const sched_stat sched_series[] = {
    {"lmx_queue_depth", "gauge", "Requests waiting for a sequence slot.", V_INT, ST(queued)},
    {"lmx_queue_depth_by_tenant", "gauge", "Requests waiting for a sequence slot, by tenant.",
     .put = put_tenants},
    {"lmx_queue_limit", "gauge", "Requests that may wait per model before 429 queue_full.", V_INT,
     ST(n_queue)},
    {"lmx_queue_drain_per_second", "gauge",
     "Requests finishing per second lately (what Retry-After is computed from).", V_DBL,
     ST(drain_per_s)},
    {"lmx_batch_cap", "gauge",
     "Sequences admitted at most now (below --parallel while the latency target caps it).", V_INT,
     ST(batch_cap)},
    {"lmx_decode_step_p95_seconds", "gauge",
     "p95 of recent decode steps: each running sequence's inter-token latency.", V_MS,
     ST(itl_p95_ms)},
    {"lmx_active_sequences", "gauge", "Sequences being prefilled or decoded.", V_INT, ST(running)},
    {"lmx_kv_cache_used_ratio", "gauge",
     "Share of the KV cache's positions holding a sequence's or the prefix cache's tokens.",
     .put = put_kv_ratio},
    {"lmx_kv_cache_slots", "gauge",
     "KV cache slots: running a sequence, holding a prefix cache, or free.", .put = put_kv_slots},
    {"lmx_kv_cache_blocks", "gauge",
     "Paged KV blocks: held by sequences, cached (registered, held by none), free.",
     .put = put_kv_blocks},
    {"lmx_kv_cache_bytes", "gauge", "Memory the KV cache's blocks take now.", V_I64, ST(kv_bytes)},
    {"lmx_kv_cache_evictions_total", "counter",
     "Cached KV blocks evicted (least recently released first) to make room.", V_U64,
     ST(kv_evictions)},
    {"lmx_prefix_cache_hit_ratio", "gauge",
     "Share of admitted prompt tokens taken from the prefix cache instead of prefilled.",
     .put = put_hit_ratio},
    {"lmx_prefix_cache_hits_total", "counter",
     "Prompts that reused a cached prefix's KV instead of prefilling it.", V_U64, ST(prefix_hits)},
    {"lmx_prefix_cache_cached_tokens_total", "counter",
     "Prompt tokens taken from the prefix cache instead of prefilled.", V_U64, ST(cached_tokens)},
    {"lmx_spec_draft_tokens_total", "counter",
     "Speculative decoding: draft tokens verified by the model (docs/speculative.md).", V_U64,
     ST(spec_drafted)},
    {"lmx_spec_accepted_tokens_total", "counter",
     "Speculative decoding: draft tokens the model's own choice agreed with (kept).", V_U64,
     ST(spec_accepted)},
    {"lmx_spec_auto_off_total", "counter",
     "Speculative decoding: times a sequence stopped proposing for low acceptance.", V_U64,
     ST(spec_auto_off)},
    {"lmx_model_load_seconds", "gauge", "How long loading each loaded model took.",
     .put = put_load_s},
};

/* One model's sample of series g. */
static void sched_sample(FILE *f, const sched_stat *g, const lmx_served *m,
                         const lmx_sched_stats *s) {
    if (g->put) {
        g->put(f, g->name, m, s);
        return;
    }
    const void *v = (const char *)s + g->off;
    switch (g->kind) {
    case V_INT:
        model_line(f, g->name, m->name, NULL), fprintf(f, "%d\n", *(const int *)v);
        break;
    case V_I64:
        model_line(f, g->name, m->name, NULL), fprintf(f, "%lld\n", (long long)*(const int64_t *)v);
        break;
    case V_U64:
        model_u64(f, g->name, m->name, *(const uint64_t *)v);
        break;
    case V_DBL:
        model_num(f, g->name, m->name, *(const double *)v);
        break;
    case V_MS:
        model_num(f, g->name, m->name, *(const double *)v / 1000.0);
        break;
    }
}

char *lmx_metrics_render(lmx_mgr *mgr) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    lmx_served **list = NULL;
    int n = mgr ? lmx_mgr_list(mgr, &list) : 0;
    lmx_sched_stats *st = n > 0 ? calloc((size_t)n, sizeof *st) : NULL;
    if (n > 0 && !st) n = 0;
    for (int i = 0; i < n; i++) {
        lmx_sched_get_stats(list[i]->sched, &st[i]);
        lmx_metrics_know_model(list[i]->name);
    }

    pthread_mutex_lock(&mu);
    family(f, "lmx_requests_total", "counter",
           "HTTP requests finished, by route, model and status.");
    for (int i = 0; i < n_reqs; i++) {
        fputs("lmx_requests_total{api=", f), label(f, reqs[i].api);
        fputs(",model=", f), label(f, reqs[i].model);
        fprintf(f, ",status=\"%d\"} %llu\n", reqs[i].status, (unsigned long long)reqs[i].n);
    }
    family(f, "lmx_request_duration_seconds", "histogram",
           "Time from a request's arrival to its last byte, by route and model.");
    for (int i = 0; i < n_durs; i++)
        histogram(f, "lmx_request_duration_seconds", durs[i].api, durs[i].model, durs[i].b, dur_le,
                  N_DUR, durs[i].count, durs[i].sum);
    family(f, "lmx_prompt_tokens_total", "counter", "Prompt tokens of finished requests.");
    for (int i = 0; i < n_models; i++)
        model_u64(f, "lmx_prompt_tokens_total", models[i].name, models[i].prompt);
    family(f, "lmx_completion_tokens_total", "counter", "Generated tokens of finished requests.");
    for (int i = 0; i < n_models; i++)
        model_u64(f, "lmx_completion_tokens_total", models[i].name, models[i].completion);
    family(f, "lmx_time_to_first_token_seconds", "histogram",
           "Time a request waited in the queue plus its prompt's prefill.");
    for (int i = 0; i < n_models; i++)
        if (models[i].ttft_count)
            histogram(f, "lmx_time_to_first_token_seconds", NULL, models[i].name, models[i].ttft_b,
                      ttft_le, N_TTFT, models[i].ttft_count, models[i].ttft_sum);
    double up = t_start < 0 ? 0 : lmx_now_s() - t_start;
    pthread_mutex_unlock(&mu);

    for (size_t k = 0; k < sizeof sched_series / sizeof sched_series[0]; k++) {
        const sched_stat *g = &sched_series[k];
        family(f, g->name, g->type, g->help);
        for (int i = 0; i < n; i++) sched_sample(f, g, list[i], &st[i]);
    }
    family(f, "lmx_models_loaded", "gauge", "Models loaded and routable.");
    fprintf(f, "lmx_models_loaded %d\n", n);
    family(f, "lmx_download_bytes_total", "counter", "Bytes written by model downloads.");
    fprintf(f, "lmx_download_bytes_total %llu\n", (unsigned long long)atomic_load(&download_bytes));
    family(f, "lmx_uptime_seconds", "gauge", "Seconds since the server started.");
    fputs("lmx_uptime_seconds ", f), num(f, up), fputc('\n', f);
    family(f, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    fprintf(f, "process_resident_memory_bytes %llu\n", (unsigned long long)resident_bytes());
    lmx_skm_render(f); /* per-skill series (skills/skill_metrics.h) */

    if (lmx_metrics_tenancy) lmx_tenancy_metrics(lmx_metrics_tenancy, f);
    if (mgr) lmx_metrics_ops(mgr, f);
    lmx_mgr_list_release(list, n);
    free(st);
    if (fclose(f)) {
        free(text);
        return NULL;
    }
    return text;
}

int lmx_h_metrics(lmx_req *r, const char *rest) {
    (void)rest;
    char *text = lmx_metrics_render(lmx_req_app(r)->mgr);
    lmx_agents *ag = lmx_req_app(r)->agents;
    char *at = text && ag ? lmx_agents_metrics(ag) : NULL;
    if (at) { /* the agent runtime's series follow the server's */
        size_t n = strlen(text);
        lmx_str_append(&text, &n, at, strlen(at)); /* out of memory: the server's alone */
        free(at);
    }
    if (!text) {
        lmx_api_err e;
        lmx_err_set(&e, 500, "server_error", NULL, NULL, "Out of memory rendering the metrics.");
        return lmx_reply_err(r, &e);
    }
    int ok = lmx_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text);
    free(text);
    return ok;
}
