/* The wait queue of one model's scheduler: weighted fair queueing across
 * tenants and, within a tenant, across clients, with a strict priority class
 * (interactive before batch).
 *
 * Start-time fair queueing, two levels deep: each tenant and each client has
 * a virtual time, advanced by the service it got divided by its weight. The
 * next job is the oldest job of the client with the smallest virtual time,
 * inside the tenant with the smallest virtual time. Service is charged as it
 * happens (lmx_fq_charge: one unit when a job is admitted, one per token it
 * decodes), so a tenant of weight 3 gets three times the decode tokens of a
 * tenant of weight 1 while both wait, whatever their requests' lengths. A flow
 * (tenant or client) that went idle restarts at the current virtual time: it
 * cannot bank credit while absent, nor be punished for past bursts.
 *
 * Not thread-safe: the scheduler calls it under its own lock. Memory is one
 * node per waiting job plus one record per active flow; idle flows are freed. */
#ifndef LMX_SCHED_QUEUE_H
#define LMX_SCHED_QUEUE_H

#include <stdbool.h>

#define LMX_FQ_CLASSES 2 /* 0: interactive, 1: batch (agent runs, embeddings) */

typedef struct lmx_fq lmx_fq;
typedef struct lmx_fq_flow lmx_fq_flow; /* a client flow: a handle for charging */

lmx_fq *lmx_fq_new(void);
void lmx_fq_free(lmx_fq *q); /* the items it still holds are the caller's */

/* Queues item for (tenant, client) in class prio; weight (> 0) is the
 * tenant's. NULL names are "". false when out of memory. */
bool lmx_fq_push(lmx_fq *q, void *item, const char *tenant, const char *client, double weight,
                 int prio);
/* The next item by the policy above, NULL when empty. */
void *lmx_fq_peek(lmx_fq *q);
/* Removes the item lmx_fq_peek returned and charges its admission; returns its
 * flow, which stays alive (for lmx_fq_charge) until lmx_fq_done. */
lmx_fq_flow *lmx_fq_pop(lmx_fq *q);
/* Service received by a running job of the flow (decoded tokens). */
void lmx_fq_charge(lmx_fq *q, lmx_fq_flow *f, double cost);
/* The running job of the flow ended at monotonic time now (seconds): an idle
 * flow is freed, and the end counts towards the drain rate. */
void lmx_fq_done(lmx_fq *q, lmx_fq_flow *f, double now);
/* Jobs ended per second, measured over the last ones (up to 32, within 60 s);
 * 0 when nothing ended recently. Retry-After is computed from it. */
double lmx_fq_drain_rate(const lmx_fq *q, double now);

int lmx_fq_len(const lmx_fq *q);
/* Calls fn for each tenant with waiting jobs (in both classes together). */
void lmx_fq_each_tenant(const lmx_fq *q, void (*fn)(void *ctx, const char *tenant, int queued),
                        void *ctx);

/* The latency target: the running batch is capped so that the p95 of the
 * decode steps' durations (each sequence's inter-token latency) stays under
 * target_ms. Each step that decoded reports its duration; every 16 steps the
 * cap moves by one: down while the p95 is over the target, up while it is
 * under 70% of it. target_ms <= 0: the cap stays at max (the p95 is still
 * measured, for the metrics). */
typedef struct {
    int max, cap;
    double target_ms;
    double ring[64];
    int n, pos, since;
    double p95_ms;
} lmx_batch_cap;

void lmx_batch_cap_init(lmx_batch_cap *c, int max, double target_ms);
/* Returns the cap after counting a step of step_ms that decoded. */
int lmx_batch_cap_observe(lmx_batch_cap *c, double step_ms);

#endif
