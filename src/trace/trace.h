/* Distributed tracing: W3C trace context and spans exported over OTLP/HTTP.
 *
 * A request carries a `traceparent` (00-TRACEID-SPANID-FLAGS); LMX's spans
 * join that trace, and the response names LMX's request span in its own
 * traceparent. Finished spans go into a bounded buffer (lmx_trace_span: an
 * O(1) append under a lock, never I/O); one exporter thread sends them in
 * batches as OTLP/HTTP JSON (libcurl) to the configured collector, at least
 * every second. When the buffer is full new spans are dropped and counted:
 * tracing never blocks or slows a request. Without an endpoint, spans are
 * not kept at all. */
#ifndef LMX_TRACE_H
#define LMX_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t trace_id[16], span_id[8];
    bool sampled;
} lmx_trace_ctx;

/* Parses a traceparent header; false (ctx untouched) when absent or
 * malformed, or when its ids are all zero (the spec's invalid values). */
bool lmx_trace_parse(const char *traceparent, lmx_trace_ctx *ctx);
/* "00-TRACEID-SPANID-01" (cap >= 56). */
void lmx_trace_format(const lmx_trace_ctx *ctx, char *out, size_t cap);
/* A new random span id; a new random trace id too when fresh_trace. */
void lmx_trace_new_ids(lmx_trace_ctx *ctx, bool fresh_trace);

typedef struct {
    const char *key, *str; /* a string attribute when str != NULL */
    int64_t num;           /* else an integer one */
} lmx_trace_attr;

/* Records a finished span of the trace (parent_span NULL: a root span).
 * Times are wall-clock nanoseconds since the epoch. Copies everything. */
void lmx_trace_span(const uint8_t trace_id[16], const uint8_t span_id[8],
                    const uint8_t *parent_span, const char *name, uint64_t start_ns,
                    uint64_t end_ns, bool error, const lmx_trace_attr *attrs, int n_attrs);
/* Now, as wall-clock nanoseconds; and a monotonic time (lmx_now_s) converted. */
uint64_t lmx_trace_now_ns(void);
uint64_t lmx_trace_mono_to_ns(double mono_s);

/* The request span the current thread works for (set by the HTTP layer
 * around a handler; NULL elsewhere). */
extern _Thread_local const lmx_trace_ctx *lmx_trace_current;
/* An operation that started at mono_start (lmx_now_s) and ends now: a
 * child of lmx_trace_current's span when set, else the root of a new trace
 * (a model load on demand is part of its request; a download is its own). */
void lmx_trace_op(const char *name, double mono_start, bool error, const lmx_trace_attr *attrs,
                  int n_attrs);

/* Starts the exporter for endpoint (an OTLP/HTTP traces URL, e.g.
 * http://127.0.0.1:4318/v1/traces); "" or NULL: tracing off. */
int lmx_trace_start(const char *endpoint, const char *service, char *err, size_t errlen);
bool lmx_trace_enabled(void);
/* Sends what is buffered and stops the exporter. */
void lmx_trace_stop(void);
/* Spans dropped because the buffer was full or a send failed. */
uint64_t lmx_trace_dropped(void);

#endif
