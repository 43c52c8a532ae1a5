/* Weighted fair queueing for the scheduler's wait queue (see queue.h).
 *
 * Tenants and clients are short linked lists scanned linearly: their number is
 * bounded by the jobs waiting or running on one model (a few hundred at most),
 * and a scan is cheaper than keeping a heap ordered while virtual times move
 * with every decoded token. */
#include "sched/queue.h"

#include <stdlib.h>
#include <string.h>

typedef struct node {
    void *item;
    struct node *next;
} node;

typedef struct tenant tenant;

struct lmx_fq_flow {
    char *name;
    double vt;
    node *head, *tail;
    int queued, running;
    tenant *t;
    struct lmx_fq_flow *next;
};

typedef struct cls cls;

struct tenant {
    char *name;
    double weight, vt;
    double cvt; /* its clients' virtual time: where a newly active client starts */
    int queued;
    lmx_fq_flow *clients;
    cls *c;
    tenant *next;
};

struct cls {
    tenant *tenants;
    double V; /* the tenants' virtual time: where a newly active tenant starts */
};

#define DRAIN_RING 32

struct lmx_fq {
    cls c[LMX_FQ_CLASSES];
    int n;
    double ends[DRAIN_RING]; /* when the last jobs ended (a ring) */
    int n_ends, end_pos;
    lmx_fq_flow *peeked; /* the flow whose head lmx_fq_peek returned */
};

lmx_fq *lmx_fq_new(void) {
    return calloc(1, sizeof(lmx_fq));
}

static void flow_free(lmx_fq_flow *f) {
    for (node *n = f->head, *nx; n; n = nx) {
        nx = n->next;
        free(n);
    }
    free(f->name);
    free(f);
}

void lmx_fq_free(lmx_fq *q) {
    if (!q) return;
    for (int k = 0; k < LMX_FQ_CLASSES; k++)
        for (tenant *t = q->c[k].tenants, *tn; t; t = tn) {
            tn = t->next;
            for (lmx_fq_flow *f = t->clients, *fn; f; f = fn) {
                fn = f->next;
                flow_free(f);
            }
            free(t->name);
            free(t);
        }
    free(q);
}

static tenant *tenant_get(cls *c, const char *name, double weight) {
    tenant **pp = &c->tenants;
    for (; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->name, name)) {
            (*pp)->weight = weight; /* a config reload may have changed it */
            return *pp;
        }
    tenant *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    t->weight = weight;
    t->vt = c->V; /* no credit banked while idle */
    t->c = c;
    *pp = t;
    return t;
}

static lmx_fq_flow *client_get(tenant *t, const char *name) {
    lmx_fq_flow **pp = &t->clients;
    for (; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->name, name)) return *pp;
    lmx_fq_flow *f = calloc(1, sizeof *f);
    if (!f || !(f->name = strdup(name))) {
        free(f);
        return NULL;
    }
    f->vt = t->cvt;
    f->t = t;
    *pp = f;
    return f;
}

static void tenant_maybe_free(tenant *t) {
    if (t->clients) return;
    for (tenant **pp = &t->c->tenants; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    free(t->name);
    free(t);
}

/* Frees a flow that neither waits nor runs, and its tenant when it was the last. */
static void maybe_free(lmx_fq_flow *f) {
    if (f->queued || f->running) return;
    tenant *t = f->t;
    for (lmx_fq_flow **pp = &t->clients; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    flow_free(f);
    tenant_maybe_free(t);
}

bool lmx_fq_push(lmx_fq *q, void *item, const char *tenant_name, const char *client, double weight,
                 int prio) {
    if (prio < 0) prio = 0;
    if (prio >= LMX_FQ_CLASSES) prio = LMX_FQ_CLASSES - 1;
    if (!(weight > 0)) weight = 1;
    cls *c = &q->c[prio];
    tenant *t = tenant_get(c, tenant_name ? tenant_name : "", weight);
    if (!t) return false;
    lmx_fq_flow *f = client_get(t, client ? client : "");
    node *n = f ? malloc(sizeof *n) : NULL;
    if (!n) {
        if (f)
            maybe_free(f);
        else
            tenant_maybe_free(t);
        return false;
    }
    n->item = item;
    n->next = NULL;
    if (f->tail)
        f->tail->next = n;
    else
        f->head = n;
    f->tail = n;
    f->queued++;
    t->queued++;
    q->n++;
    q->peeked = NULL;
    return true;
}

void *lmx_fq_peek(lmx_fq *q) {
    q->peeked = NULL;
    for (int k = 0; k < LMX_FQ_CLASSES; k++) {
        tenant *best = NULL;
        for (tenant *t = q->c[k].tenants; t; t = t->next)
            if (t->queued && (!best || t->vt < best->vt)) best = t;
        if (!best) continue;
        lmx_fq_flow *bf = NULL;
        for (lmx_fq_flow *f = best->clients; f; f = f->next)
            if (f->queued && (!bf || f->vt < bf->vt)) bf = f;
        q->peeked = bf;
        return bf->head->item;
    }
    return NULL;
}

lmx_fq_flow *lmx_fq_pop(lmx_fq *q) {
    if (!q->peeked && !lmx_fq_peek(q)) return NULL;
    lmx_fq_flow *f = q->peeked;
    q->peeked = NULL;
    node *n = f->head;
    f->head = n->next;
    if (!f->head) f->tail = NULL;
    free(n);
    tenant *t = f->t;
    f->queued--;
    t->queued--;
    q->n--;
    f->running++;
    if (t->vt > t->c->V) t->c->V = t->vt;
    if (f->vt > t->cvt) t->cvt = f->vt;
    lmx_fq_charge(q, f, 1.0); /* admission has a cost of its own (a prefill, a slot) */
    return f;
}

void lmx_fq_charge(lmx_fq *q, lmx_fq_flow *f, double cost) {
    (void)q;
    f->vt += cost;
    f->t->vt += cost / f->t->weight;
}

void lmx_fq_done(lmx_fq *q, lmx_fq_flow *f, double now) {
    if (f->running > 0) f->running--;
    maybe_free(f);
    q->ends[q->end_pos] = now;
    q->end_pos = (q->end_pos + 1) % DRAIN_RING;
    if (q->n_ends < DRAIN_RING) q->n_ends++;
}

double lmx_fq_drain_rate(const lmx_fq *q, double now) {
    /* ends within the last minute, oldest first; the window runs to now, so a
     * queue that stopped draining is seen to drain slowly */
    int n = 0;
    double oldest = now;
    for (int i = 0; i < q->n_ends; i++) {
        double t = q->ends[i];
        if (now - t > 60) continue;
        n++;
        if (t < oldest) oldest = t;
    }
    if (n == 0) return 0;
    double span = now - oldest;
    if (span < 0.25) span = 0.25; /* a burst of ends is not an infinite rate */
    return n / span;
}

int lmx_fq_len(const lmx_fq *q) {
    return q->n;
}

void lmx_fq_each_tenant(const lmx_fq *q, void (*fn)(void *ctx, const char *tenant, int queued),
                        void *ctx) {
    /* the same tenant may wait in both classes: report it once, summed */
    for (int k = 0; k < LMX_FQ_CLASSES; k++)
        for (const tenant *t = q->c[k].tenants; t; t = t->next) {
            if (!t->queued) continue;
            bool seen = false;
            for (int j = 0; j < k && !seen; j++)
                for (const tenant *u = q->c[j].tenants; u && !seen; u = u->next)
                    seen = u->queued && !strcmp(u->name, t->name);
            if (seen) continue;
            int n = t->queued;
            for (int j = k + 1; j < LMX_FQ_CLASSES; j++)
                for (const tenant *u = q->c[j].tenants; u; u = u->next)
                    if (!strcmp(u->name, t->name)) n += u->queued;
            fn(ctx, t->name, n);
        }
}

/* ---- the latency target ---- */

void lmx_batch_cap_init(lmx_batch_cap *c, int max, double target_ms) {
    memset(c, 0, sizeof *c);
    c->max = c->cap = max > 0 ? max : 1;
    c->target_ms = target_ms;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int lmx_batch_cap_observe(lmx_batch_cap *c, double step_ms) {
    c->ring[c->pos] = step_ms;
    c->pos = (c->pos + 1) % 64;
    if (c->n < 64) c->n++;
    if (++c->since < 16) return c->cap;
    c->since = 0;
    double v[64];
    memcpy(v, c->ring, sizeof(double) * (size_t)c->n);
    qsort(v, (size_t)c->n, sizeof *v, cmp_double);
    c->p95_ms = v[(c->n * 95 - 1) / 100];
    if (c->target_ms <= 0) return c->cap; /* measured for the metrics, never capped */
    if (c->p95_ms > c->target_ms && c->cap > 1) {
        c->cap--;
        c->n = c->pos = 0; /* judge the new cap on its own steps */
    } else if (c->p95_ms < 0.7 * c->target_ms && c->cap < c->max) {
        c->cap++;
        c->n = c->pos = 0;
    }
    return c->cap;
}
