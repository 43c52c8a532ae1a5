/* Rolling top-N client labels (util/topn.c): bounded, recent activity wins,
 * kept labels' counts never go backwards. */
#include "test.h"

#include <stdio.h>

#include "util/topn.h"

static int slot_of(const lmx_topn *t, const char *key) {
    for (int i = 0; i < lmx_topn_slots(t); i++)
        if (lmx_topn_key(t, i) && !strcmp(lmx_topn_key(t, i), key)) return i;
    return -1;
}

TEST(topn_first_keys_take_free_labels_then_the_rest_is_other) {
    lmx_topn *t = lmx_topn_new(2, 300);
    CHECK(lmx_topn_hit(t, "a", 0) >= 0);
    CHECK(lmx_topn_hit(t, "b", 0) >= 0);
    CHECK(lmx_topn_hit(t, "c", 0) == -1);
    CHECK(lmx_topn_other(t) == 1);
    CHECK(slot_of(t, "c") == -1);
    lmx_topn_free(t);
}

TEST(topn_a_client_busy_later_takes_the_label_of_an_idle_one) {
    lmx_topn *t = lmx_topn_new(2, 60);
    for (int i = 0; i < 10; i++) lmx_topn_hit(t, "early", i);
    lmx_topn_hit(t, "steady", 0);
    /* ten minutes later "early" went idle; "late" becomes busy, "steady" keeps going */
    int promoted_at = -1;
    for (int i = 0; i < 20; i++) {
        lmx_topn_hit(t, "steady", 600 + i);
        if (lmx_topn_hit(t, "late", 600 + i) >= 0 && promoted_at < 0) promoted_at = i;
    }
    CHECK(promoted_at >= 0 && promoted_at < 5);
    CHECK(slot_of(t, "late") >= 0);
    CHECK(slot_of(t, "steady") >= 0);
    CHECK(slot_of(t, "early") == -1); /* fell back to "other" */
    CHECK(lmx_topn_evictions(t) == 1);
    /* the new label counts from its promotion; the earlier hits went to other */
    CHECK(lmx_topn_count(t, slot_of(t, "late")) == (uint64_t)(20 - promoted_at));
    CHECK(lmx_topn_other(t) == (uint64_t)promoted_at);
    lmx_topn_free(t);
}

TEST(topn_cardinality_stays_bounded_under_churn) {
    lmx_topn *t = lmx_topn_new(4, 30);
    char k[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof k, "bot-%d", i % 997);
        lmx_topn_hit(t, k, i * 0.01);
    }
    int used = 0;
    for (int i = 0; i < lmx_topn_slots(t); i++) used += lmx_topn_key(t, i) != NULL;
    CHECK(lmx_topn_slots(t) == 4 && used == 4);
    lmx_topn_free(t);
}

TEST(topn_kept_labels_never_go_backwards_and_equal_clients_do_not_flap) {
    lmx_topn *t = lmx_topn_new(3, 20);
    uint64_t last[3] = {0};
    const char *last_key[3] = {0};
    char k[32];
    /* three steady clients and a crowd of one-off ids; the steady ones keep
     * their labels and their counts only grow */
    for (int i = 0; i < 5000; i++) {
        double now = i * 0.05;
        lmx_topn_hit(t, "s1", now);
        lmx_topn_hit(t, "s2", now);
        lmx_topn_hit(t, "s3", now);
        snprintf(k, sizeof k, "once-%d", i);
        lmx_topn_hit(t, k, now);
        for (int s = 0; s < 3; s++) {
            const char *key = lmx_topn_key(t, s);
            if (last_key[s] && key && !strcmp(key, last_key[s]))
                CHECK(lmx_topn_count(t, s) >= last[s]);
            last[s] = lmx_topn_count(t, s);
            last_key[s] = key;
        }
    }
    CHECK(slot_of(t, "s1") >= 0 && slot_of(t, "s2") >= 0 && slot_of(t, "s3") >= 0);
    CHECK(lmx_topn_evictions(t) == 0);
    CHECK(lmx_topn_count(t, slot_of(t, "s1")) == 5000);
    CHECK(lmx_topn_other(t) == 5000);
    lmx_topn_free(t);
}

TEST(topn_an_evicted_client_that_gets_busy_again_wins_a_label_back_from_zero) {
    lmx_topn *t = lmx_topn_new(1, 10);
    for (int i = 0; i < 5; i++) lmx_topn_hit(t, "a", 0);
    for (int i = 0; i < 50; i++) lmx_topn_hit(t, "b", 100 + i * 0.1);
    CHECK(slot_of(t, "b") >= 0 && slot_of(t, "a") == -1);
    for (int i = 0; i < 200; i++) lmx_topn_hit(t, "a", 300 + i * 0.1);
    CHECK(slot_of(t, "a") >= 0);
    CHECK(lmx_topn_count(t, slot_of(t, "a")) < 200); /* restarted at its promotion */
    CHECK(lmx_topn_evictions(t) == 2);
    lmx_topn_free(t);
}
