/* The scheduler's fair queue (sched/queue.c): weights, client fairness within
 * a tenant, priority classes, idle flows, the drain rate and the batch cap. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "sched/queue.h"

/* Items are small integers cast to pointers: tenant * 1000 + sequence. */
#define ITEM(t, k)   ((void *)(intptr_t)((t)*1000 + (k) + 1))
#define TENANT_OF(p) (((int)(intptr_t)(p)-1) / 1000)

TEST(fq_weights_3_to_1_give_service_3_to_1_while_both_wait) {
    lmx_fq *q = lmx_fq_new();
    for (int k = 0; k < 400; k++) {
        CHECK(lmx_fq_push(q, ITEM(0, k), "a", "a1", 3, 0));
        CHECK(lmx_fq_push(q, ITEM(1, k), "b", "b1", 1, 0));
    }
    int tokens[2] = {0, 0};
    /* 200 jobs of 10 tokens each, run one at a time, charged as they decode */
    for (int n = 0; n < 200; n++) {
        void *it = lmx_fq_peek(q);
        CHECK(it != NULL);
        lmx_fq_flow *f = lmx_fq_pop(q);
        for (int t = 0; t < 10; t++) lmx_fq_charge(q, f, 1);
        tokens[TENANT_OF(it)] += 10;
        lmx_fq_done(q, f, n * 0.01);
    }
    double ratio = (double)tokens[0] / tokens[1];
    CHECK(ratio > 2.9 && ratio < 3.1);
    lmx_fq_free(q);
}

TEST(fq_long_jobs_do_not_buy_more_tokens_than_the_weight) {
    /* tenant a asks for 40 tokens per job, b for 5: equal weights still give
     * equal tokens, not equal jobs */
    lmx_fq *q = lmx_fq_new();
    for (int k = 0; k < 300; k++) {
        lmx_fq_push(q, ITEM(0, k), "a", "x", 1, 0);
        lmx_fq_push(q, ITEM(1, k), "b", "y", 1, 0);
    }
    int tokens[2] = {0, 0};
    for (int n = 0; n < 150; n++) {
        void *it = lmx_fq_peek(q);
        lmx_fq_flow *f = lmx_fq_pop(q);
        int len = TENANT_OF(it) == 0 ? 40 : 5;
        lmx_fq_charge(q, f, len);
        tokens[TENANT_OF(it)] += len;
        lmx_fq_done(q, f, 0);
    }
    double ratio = (double)tokens[0] / tokens[1];
    CHECK(ratio > 0.8 && ratio < 1.25);
    lmx_fq_free(q);
}

TEST(fq_a_newly_arrived_client_goes_before_a_greedy_clients_backlog) {
    lmx_fq *q = lmx_fq_new();
    for (int k = 0; k < 10; k++) lmx_fq_push(q, ITEM(1, k), "t", "greedy", 1, 0);
    for (int n = 0; n < 3; n++) { /* the greedy client has been served */
        lmx_fq_peek(q);
        lmx_fq_flow *f = lmx_fq_pop(q);
        lmx_fq_charge(q, f, 20);
        lmx_fq_done(q, f, 0);
    }
    lmx_fq_push(q, ITEM(2, 0), "t", "polite", 1, 0);
    CHECK(lmx_fq_peek(q) == ITEM(2, 0));
    lmx_fq_free(q);
}

TEST(fq_interactive_class_goes_before_batch_and_fifo_within_a_client) {
    lmx_fq *q = lmx_fq_new();
    lmx_fq_push(q, ITEM(1, 0), "t", "c", 1, 1);
    lmx_fq_push(q, ITEM(1, 1), "t", "c", 1, 1);
    lmx_fq_push(q, ITEM(2, 0), "t", "c", 1, 0);
    CHECK_EQ_INT(lmx_fq_len(q), 3);
    void *order[3];
    for (int n = 0; n < 3; n++) {
        order[n] = lmx_fq_peek(q);
        lmx_fq_done(q, lmx_fq_pop(q), 0);
    }
    CHECK(order[0] == ITEM(2, 0) && order[1] == ITEM(1, 0) && order[2] == ITEM(1, 1));
    CHECK(lmx_fq_peek(q) == NULL);
    CHECK(lmx_fq_pop(q) == NULL);
    lmx_fq_free(q);
}

static void count_tenant(void *ctx, const char *tenant, int queued) {
    int *n = ctx;
    if (!strcmp(tenant, "a"))
        n[0] += queued;
    else if (!strcmp(tenant, "b"))
        n[1] += queued;
    n[2]++;
}

TEST(fq_reports_queue_depth_per_tenant_across_classes) {
    lmx_fq *q = lmx_fq_new();
    lmx_fq_push(q, ITEM(0, 0), "a", "1", 1, 0);
    lmx_fq_push(q, ITEM(0, 1), "a", "2", 1, 1);
    lmx_fq_push(q, ITEM(1, 0), "b", "1", 1, 1);
    int n[3] = {0, 0, 0};
    lmx_fq_each_tenant(q, count_tenant, n);
    CHECK_EQ_INT(n[0], 2);
    CHECK_EQ_INT(n[1], 1);
    CHECK_EQ_INT(n[2], 2);
    lmx_fq_free(q);
}

TEST(fq_drain_rate_counts_recent_ends_and_decays_when_they_stop) {
    lmx_fq *q = lmx_fq_new();
    CHECK_NEAR(lmx_fq_drain_rate(q, 100), 0, 1e-9);
    for (int k = 0; k < 10; k++) {
        lmx_fq_push(q, ITEM(0, k), "a", "c", 1, 0);
        lmx_fq_peek(q);
        lmx_fq_done(q, lmx_fq_pop(q), 100 + k * 0.5); /* 2 per second */
    }
    double r = lmx_fq_drain_rate(q, 104.5);
    CHECK(r > 1.8 && r < 2.3);
    CHECK(lmx_fq_drain_rate(q, 130) < 0.5); /* nothing ended for 25 s */
    CHECK_NEAR(lmx_fq_drain_rate(q, 200), 0, 1e-9);
    lmx_fq_free(q);
}

TEST(batch_cap_shrinks_over_the_latency_target_and_grows_back_under_it) {
    lmx_batch_cap c;
    lmx_batch_cap_init(&c, 8, 20);
    for (int i = 0; i < 16 * 4; i++) lmx_batch_cap_observe(&c, 30);
    CHECK_EQ_INT(c.cap, 4);
    for (int i = 0; i < 16 * 10; i++) lmx_batch_cap_observe(&c, 5);
    CHECK_EQ_INT(c.cap, 8);
    lmx_batch_cap_init(&c, 8, 0); /* no target: never moves, still measures */
    for (int i = 0; i < 64; i++) lmx_batch_cap_observe(&c, 1000);
    CHECK_EQ_INT(c.cap, 8);
    CHECK_NEAR(c.p95_ms, 1000, 1e-9);
}

TEST(fq_two_slots_charged_per_step_give_tokens_3_to_1) {
    /* the scheduler's use: two slots, each running job charged one unit per
     * decode step, jobs of 128 tokens, both tenants always waiting */
    lmx_fq *q = lmx_fq_new();
    int k = 0;
    for (; k < 8; k++) {
        lmx_fq_push(q, ITEM(0, k), "gold", "g", 3, 0);
        lmx_fq_push(q, ITEM(1, k), "silver", "s", 1, 0);
    }
    struct {
        void *item;
        lmx_fq_flow *f;
        int left;
    } slot[2] = {{0}};
    long tokens[2] = {0, 0};
    for (int step = 0; step < 20000; step++) {
        for (int i = 0; i < 2; i++)
            if (!slot[i].item) {
                slot[i].item = lmx_fq_peek(q);
                slot[i].f = lmx_fq_pop(q);
                slot[i].left = 128;
            }
        for (int i = 0; i < 2; i++) {
            lmx_fq_charge(q, slot[i].f, 1);
            tokens[TENANT_OF(slot[i].item)]++;
            if (--slot[i].left == 0) {
                int t = TENANT_OF(slot[i].item);
                lmx_fq_done(q, slot[i].f, step);
                lmx_fq_push(q, ITEM(t, k++ % 900), t ? "silver" : "gold", t ? "s" : "g", t ? 1 : 3,
                            0);
                slot[i].item = NULL;
            }
        }
    }
    double ratio = (double)tokens[0] / tokens[1];
    CHECK(ratio > 2.9 && ratio < 3.1);
    lmx_fq_free(q);
}
