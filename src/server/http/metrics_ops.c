/* The gauges the operations pack alerts on (ops/prometheus/lmx-alerts.yml)
 * that the manager knows: memory headroom, models by state (quarantine
 * included) and load failures recorded in the ledger. Read from the
 * manager's records at scrape time. */
#include "server/http/metrics_ops.h"

#include <stdlib.h>
#include <string.h>

#include "trace/trace.h"

static void count_failure(void *ud, const lmx_ledger_row *r) {
    *(long *)ud += r->result && strcmp(r->result, "ok") != 0;
}

static const char *const states[] = {"loading", "canary",      "ready",
                                     "failed",  "quarantined", "unloading"};

void lmx_metrics_ops(lmx_mgr *mgr, FILE *f) {
    lmx_mgr_memory mem;
    lmx_mgr_memory_get(mgr, &mem);
    fputs("# HELP lmx_memory_limit_bytes Memory models may use (the limit or what the machine "
          "gives).\n# TYPE lmx_memory_limit_bytes gauge\n",
          f);
    fprintf(f, "lmx_memory_limit_bytes %lld\n", (long long)mem.limit);
    fputs("# HELP lmx_memory_available_bytes Memory available now for loading models.\n"
          "# TYPE lmx_memory_available_bytes gauge\n",
          f);
    fprintf(f, "lmx_memory_available_bytes %lld\n", (long long)mem.available);
    fputs("# HELP lmx_memory_used_by_models_bytes Memory the loaded models use.\n"
          "# TYPE lmx_memory_used_by_models_bytes gauge\n",
          f);
    fprintf(f, "lmx_memory_used_by_models_bytes %lld\n", (long long)mem.used_by_models);

    lmx_mgr_model *models;
    int n_models = lmx_mgr_models(mgr, &models);
    fputs("# HELP lmx_models_by_state Models the manager tracks, by state.\n"
          "# TYPE lmx_models_by_state gauge\n",
          f);
    for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
        int n = 0;
        for (int i = 0; i < n_models; i++) n += !strcmp(models[i].state, states[k]);
        fprintf(f, "lmx_models_by_state{state=\"%s\"} %d\n", states[k], n);
    }
    free(models);

    long fails = 0;
    lmx_mgr_ledger_each(mgr, count_failure, &fails);
    fputs("# HELP lmx_model_load_failures_total Model loads that failed (from the ledger).\n"
          "# TYPE lmx_model_load_failures_total counter\n",
          f);
    fprintf(f, "lmx_model_load_failures_total %ld\n", fails);
    fputs("# HELP lmx_trace_spans_dropped_total Trace spans dropped: buffer full or collector "
          "down.\n# TYPE lmx_trace_spans_dropped_total counter\n",
          f);
    fprintf(f, "lmx_trace_spans_dropped_total %llu\n", (unsigned long long)lmx_trace_dropped());
}
