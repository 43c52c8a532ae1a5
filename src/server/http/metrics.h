/* Prometheus metrics: counters and histograms fed by every finished HTTP
 * request (http.c's completion callback), gauges read from the manager and
 * the schedulers when /metrics is scraped, rendered in the text exposition
 * format (version 0.0.4).
 *
 * Label cardinality is bounded: a model label is a model the manager served
 * (or "unknown", "none" without one), the api label is the matched route's
 * path (or "other"). Thread-safe: one lock guards the series. */
#ifndef LMX_SRV_HTTP_METRICS_H
#define LMX_SRV_HTTP_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "manager/manager.h"
#include "server/http/http.h"

typedef struct {
    const char *api;    /* the route's path, NULL: none matched */
    const char *model;  /* the name the request gave ("" or NULL: none) */
    const char *served; /* the model that generated (NULL: none) */
    int status;
    double duration_s;
    int prompt_tokens, completion_tokens;
    double ttft_s; /* < 0: no first token */
} lmx_metrics_req;

/* Tenants' and clients' series come from here when set (lmx serve sets it). */
struct lmx_tenancy;
extern struct lmx_tenancy *lmx_metrics_tenancy;

/* Starts the uptime clock (lmx serve, once it listens). */
void lmx_metrics_start(void);
/* Records one finished request. */
void lmx_metrics_observe(const lmx_metrics_req *q);
/* Bytes a download wrote (the downloader calls it as data arrives). */
void lmx_metrics_add_download_bytes(uint64_t n);
/* Marks a model name as known (a loaded model's name), so requests naming it
 * get their own label. */
void lmx_metrics_know_model(const char *name);

/* Every metric as exposition text (malloc'd, NUL terminated; the caller
 * frees it); mgr (may be NULL) gives the per-model gauges. NULL when out of
 * memory. */
char *lmx_metrics_render(lmx_mgr *mgr);

/* GET /metrics */
lmx_handler_fn lmx_h_metrics;

#endif
