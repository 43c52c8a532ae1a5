/* Agent metrics and analytics (see stats.h). */
#include "agents/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"
#include "util/grow.h"

#define LOG_CAP   20000
#define N_BUCKETS 10
static const double BUCKETS[N_BUCKETS] = {0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600};

typedef struct {
    char name[48];    /* metric name */
    char labels[256]; /* rendered label set: role="r",model="m" */
    double v;
    double buckets[N_BUCKETS]; /* histograms: cumulative counts */
    double sum;
    bool hist;
} series;

typedef struct {
    double ts;
    char kind; /* 'r' run, 't' tool call */
    bool ok;
    char role[65], model[129], tool[65];
} outcome;

struct lmx_astats {
    series *s;
    int n, cap;
    int log_n, log_head; /* ring */
    double refused;
    outcome log[LOG_CAP]; /* in the one allocation: it never grows */
};

lmx_astats *lmx_astats_new(void) {
    return calloc(1, sizeof(lmx_astats));
}

void lmx_astats_free(lmx_astats *s) {
    if (!s) return;
    free(s->s);
    free(s);
}

/* label value escaped for the exposition format */
static void esc(char *out, size_t cap, const char *v) {
    size_t o = 0;
    for (const char *p = v ? v : ""; *p && o + 3 < cap; p++) {
        if (*p == '"' || *p == '\\') out[o++] = '\\';
        out[o++] = *p == '\n' ? ' ' : *p;
    }
    out[o] = 0;
}

static series *get(lmx_astats *s, const char *name, const char *labels, bool hist) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->s[i].name, name) && !strcmp(s->s[i].labels, labels)) return &s->s[i];
    if (!lmx_grow_int(&s->s, &s->cap, s->n + 1, sizeof *s->s, 32)) return NULL;
    series *x = &s->s[s->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    snprintf(x->labels, sizeof x->labels, "%s", labels);
    x->hist = hist;
    return x;
}

static const char *js(const json_t *o, const char *k) {
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static void labels2(char *out, size_t cap, const char *k1, const char *v1, const char *k2,
                    const char *v2, const char *k3, const char *v3) {
    char a[130], b[130], c[130];
    esc(a, sizeof a, v1);
    esc(b, sizeof b, v2);
    esc(c, sizeof c, v3);
    if (k3)
        snprintf(out, cap, "%s=\"%s\",%s=\"%s\",%s=\"%s\"", k1, a, k2, b, k3, c);
    else
        snprintf(out, cap, "%s=\"%s\",%s=\"%s\"", k1, a, k2, b);
}

static void log_add(lmx_astats *s, char kind, double ts, bool ok, const char *role,
                    const char *model, const char *tool) {
    outcome *o = &s->log[s->log_head];
    s->log_head = (s->log_head + 1) % LOG_CAP;
    if (s->log_n < LOG_CAP) s->log_n++;
    o->ts = ts;
    o->kind = kind;
    o->ok = ok;
    snprintf(o->role, sizeof o->role, "%s", role);
    snprintf(o->model, sizeof o->model, "%s", model);
    snprintf(o->tool, sizeof o->tool, "%s", tool ? tool : "");
}

void lmx_astats_run(lmx_astats *s, const json_t *run, double now) {
    if (!s) return;
    char l[512];
    const char *role = js(run, "_role_key"), *model = js(run, "model"), *st = js(run, "status");
    labels2(l, sizeof l, "role", role, "model", model, "status", st);
    series *x = get(s, "lmx_agent_runs_total", l, false);
    if (x) x->v++;
    labels2(l, sizeof l, "role", role, "model", model, NULL, NULL);
    double d = now - json_number_value(json_object_get(run, "created_at"));
    x = get(s, "lmx_agent_run_duration_seconds", l, true);
    if (x) {
        x->v++;
        x->sum += d;
        for (int i = 0; i < N_BUCKETS; i++)
            if (d <= BUCKETS[i]) x->buckets[i]++;
    }
    log_add(s, 'r', now, !strcmp(st, "completed"), role, model, NULL);
}

void lmx_astats_step(lmx_astats *s, const json_t *run, const char *type, bool failed) {
    if (!s) return;
    char l[512];
    labels2(l, sizeof l, "role", js(run, "_role_key"), "model", js(run, "model"), "result",
            failed ? "failed" : "completed");
    char name[48];
    snprintf(name, sizeof name, "lmx_agent_%s_steps_total", type);
    series *x = get(s, name, l, false);
    if (x) x->v++;
}

void lmx_astats_retry(lmx_astats *s, const json_t *run) {
    if (!s) return;
    char l[512];
    labels2(l, sizeof l, "role", js(run, "_role_key"), "model", js(run, "model"), NULL, NULL);
    series *x = get(s, "lmx_agent_retries_total", l, false);
    if (x) x->v++;
}

void lmx_astats_tool(lmx_astats *s, const json_t *run, const char *tool, bool error) {
    if (!s) return;
    char l[512];
    labels2(l, sizeof l, "role", js(run, "_role_key"), "tool", tool, NULL, NULL);
    series *x = get(s, "lmx_agent_tool_calls_total", l, false);
    if (x) x->v++;
    if (error && (x = get(s, "lmx_agent_tool_errors_total", l, false))) x->v++;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    log_add(s, 't', (double)ts.tv_sec + ts.tv_nsec / 1e9, !error, js(run, "_role_key"),
            js(run, "model"), tool);
}

void lmx_astats_refused(lmx_astats *s) {
    if (s) s->refused++;
}

/* adds one outcome to group[key] = {name, total, ok} */
static void tally(json_t *groups, const char *key, bool ok) {
    json_t *g = json_object_get(groups, key);
    if (!g) {
        g = json_pack("{s:i,s:i}", "total", 0, "succeeded", 0);
        json_object_set_new(groups, key, g);
    }
    json_object_set_new(g, "total",
                        json_integer(json_integer_value(json_object_get(g, "total")) + 1));
    if (ok)
        json_object_set_new(g, "succeeded",
                            json_integer(json_integer_value(json_object_get(g, "succeeded")) + 1));
}

/* {key: {total, succeeded}} → [{NAME: key, total, succeeded, success_rate}] */
static json_t *rates(json_t *groups, const char *name) {
    json_t *a = json_array();
    const char *k;
    json_t *g;
    json_object_foreach(groups, k, g) {
        json_int_t t = json_integer_value(json_object_get(g, "total")),
                   ok = json_integer_value(json_object_get(g, "succeeded"));
        json_array_append_new(a, json_pack("{s:s,s:I,s:I,s:f}", name, k, "total", (json_int_t)t,
                                           "succeeded", (json_int_t)ok, "success_rate",
                                           t ? (double)ok / t : 0.0));
    }
    json_decref(groups);
    return a;
}

json_t *lmx_astats_analytics(lmx_astats *s, double now, double window_s) {
    json_t *role = json_object(), *model = json_object(), *tool = json_object(),
           *status = json_object();
    int runs = 0, ok = 0;
    for (int i = 0; s && i < s->log_n; i++) {
        const outcome *o = &s->log[i];
        if (o->ts < now - window_s) continue;
        if (o->kind == 'r') {
            runs++;
            ok += o->ok;
            tally(role, o->role, o->ok);
            tally(model, o->model, o->ok);
        } else
            tally(tool, o->tool, o->ok);
    }
    (void)status;
    json_decref(status);
    return json_pack("{s:f,s:{s:i,s:i,s:f},s:o,s:o,s:o}", "window_s", window_s, "runs", "total",
                     runs, "succeeded", ok, "success_rate", runs ? (double)ok / runs : 0.0,
                     "by_role", rates(role, "role"), "by_model", rates(model, "model"), "by_tool",
                     rates(tool, "tool"));
}

static const struct {
    const char *name, *type, *help;
} FAMILIES[] = {
    {"lmx_agent_runs_total", "counter", "Agent runs that ended, by role, model and final status."},
    {"lmx_agent_model_steps_total", "counter",
     "Model steps of agent runs (each attempt), by result."},
    {"lmx_agent_retries_total", "counter", "Model step retries of agent runs."},
    {"lmx_agent_tool_calls_total", "counter", "Client-side tool calls answered, by role and tool."},
    {"lmx_agent_tool_errors_total", "counter",
     "Tool outputs submitted as errors, by role and tool."},
    {"lmx_agent_run_duration_seconds", "histogram", "Agent run duration, creation to end."},
};

char *lmx_astats_render(lmx_astats *s, int queued) {
    lmx_buf b = {0}; /* failed appends leave the text short, never broken */
    lmx_buf_printf(&b,
                   "# HELP lmx_agent_queued_runs Agent runs waiting for an executor.\n"
                   "# TYPE lmx_agent_queued_runs gauge\nlmx_agent_queued_runs %d\n",
                   queued);
    lmx_buf_printf(
        &b,
        "# HELP lmx_agent_runs_refused_total Run creations refused with agents_queue_full.\n"
        "# TYPE lmx_agent_runs_refused_total counter\nlmx_agent_runs_refused_total %.0f\n",
        s ? s->refused : 0);
    for (size_t f = 0; f < sizeof FAMILIES / sizeof FAMILIES[0]; f++) {
        lmx_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", FAMILIES[f].name, FAMILIES[f].help,
                       FAMILIES[f].name, FAMILIES[f].type);
        for (int i = 0; s && i < s->n; i++) {
            const series *x = &s->s[i];
            if (strcmp(x->name, FAMILIES[f].name)) continue;
            if (!x->hist) {
                lmx_buf_printf(&b, "%s{%s} %.0f\n", x->name, x->labels, x->v);
                continue;
            }
            for (int k = 0; k < N_BUCKETS; k++)
                lmx_buf_printf(&b, "%s_bucket{%s,le=\"%g\"} %.0f\n", x->name, x->labels, BUCKETS[k],
                               x->buckets[k]);
            lmx_buf_printf(&b, "%s_bucket{%s,le=\"+Inf\"} %.0f\n", x->name, x->labels, x->v);
            lmx_buf_printf(&b, "%s_sum{%s} %.6f\n%s_count{%s} %.0f\n", x->name, x->labels, x->sum,
                           x->name, x->labels, x->v);
        }
    }
    if (!b.p) lmx_buf_printf(&b, "%s", "");
    return b.p;
}
