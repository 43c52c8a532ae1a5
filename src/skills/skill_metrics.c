/* Per-skill counters and histograms behind one lock. */
#include "skills/skill_metrics.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>

#define MAX_SKILLS 256
#define N_OUTCOMES 10
#define N_KILLS    7

static const char *const outcomes[N_OUTCOMES] = {
    "ok",           "invalid_arguments", "skill_not_found",   "skill_busy", "skill_timeout",
    "skill_failed", "skill_bad_output",  "skill_unavailable", "cancelled",  "bad_request"};
static const char *const kills[N_KILLS] = {"timeout", "cpu",    "memory", "file_size",
                                           "output",  "cancel", "signal"};
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

typedef struct {
    char name[160];
    unsigned long long by_outcome[N_OUTCOMES], by_kill[N_KILLS];
    unsigned long long hist[N_BUCKETS], count;
    double sum;
} series;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static series table[MAX_SKILLS];
static int n_series;

static int index_of(const char *const *l, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (s && !strcmp(l[i], s)) return i;
    return -1;
}

void lmx_skm_observe(const char *skill, const char *outcome, double seconds, const char *kill) {
    pthread_mutex_lock(&lock);
    series *s = NULL;
    for (int i = 0; i < n_series && !s; i++)
        if (!strcmp(table[i].name, skill)) s = &table[i];
    if (!s && n_series < MAX_SKILLS) {
        s = &table[n_series++];
        snprintf(s->name, sizeof s->name, "%s", skill);
        for (char *c = s->name; *c; c++) /* a label value: no quotes, escapes or lines */
            if (*c == '"' || *c == '\\' || *c == '\n') *c = '_';
    }
    if (s) {
        int o = index_of(outcomes, N_OUTCOMES, outcome);
        if (o >= 0) s->by_outcome[o]++;
        int k = index_of(kills, N_KILLS, kill);
        if (k >= 0) s->by_kill[k]++;
        for (size_t b = 0; b < N_BUCKETS; b++)
            if (seconds <= buckets[b]) s->hist[b]++;
        s->count++;
        s->sum += seconds;
    }
    pthread_mutex_unlock(&lock);
}

/* A counter family by skill and one more label (key): each series' counts
 * (the array at off in series) under the label values, zero ones left out.
 * Called under the lock. */
static void counter_by(FILE *f, const char *name, const char *help, const char *key,
                       const char *const *values, int n, size_t off) {
    fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int i = 0; i < n_series; i++) {
        const unsigned long long *counts = (const void *)((const char *)&table[i] + off);
        for (int v = 0; v < n; v++)
            if (counts[v])
                fprintf(f, "%s{skill=\"%s\",%s=\"%s\"} %llu\n", name, table[i].name, key, values[v],
                        counts[v]);
    }
}

void lmx_skm_render(FILE *f) {
    pthread_mutex_lock(&lock);
    counter_by(f, "lmx_skill_invocations_total", "Skill invocations by outcome.", "outcome",
               outcomes, N_OUTCOMES, offsetof(series, by_outcome));
    fprintf(f, "# HELP lmx_skill_duration_seconds Skill invocation latency (that ran or queued).\n"
               "# TYPE lmx_skill_duration_seconds histogram\n");
    for (int i = 0; i < n_series; i++) {
        for (size_t b = 0; b < N_BUCKETS; b++)
            fprintf(f, "lmx_skill_duration_seconds_bucket{skill=\"%s\",le=\"%g\"} %llu\n",
                    table[i].name, buckets[b], table[i].hist[b]);
        fprintf(f, "lmx_skill_duration_seconds_bucket{skill=\"%s\",le=\"+Inf\"} %llu\n",
                table[i].name, table[i].count);
        fprintf(f, "lmx_skill_duration_seconds_sum{skill=\"%s\"} %.6f\n", table[i].name,
                table[i].sum);
        fprintf(f, "lmx_skill_duration_seconds_count{skill=\"%s\"} %llu\n", table[i].name,
                table[i].count);
    }
    counter_by(f, "lmx_skill_sandbox_kills_total", "Sandboxed programs stopped by a limit.",
               "reason", kills, N_KILLS, offsetof(series, by_kill));
    pthread_mutex_unlock(&lock);
}
