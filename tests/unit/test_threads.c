#include "test.h"

#include <stdatomic.h>

#include "engine/threads.h"

static void count_task(void *ctx, int ith, int nth) {
    (void)nth;
    atomic_fetch_add((atomic_long *)ctx, ith + 1);
}

TEST(pool_runs_every_share_once_per_job) {
    lmx_pool *p = lmx_pool_create(3);
    CHECK(p);
    atomic_long sum = 0;
    for (int i = 0; i < 1000; i++) lmx_pool_run(p, count_task, &sum);
    lmx_pool_destroy(p);
    CHECK_EQ_INT(sum, 1000 * (1 + 2 + 3));
}

TEST(split_range_covers_everything_aligned) {
    long covered = 0, prev_end = 0;
    for (int i = 0; i < 3; i++) {
        long b, e;
        lmx_split_range(1000, 32, i, 3, &b, &e);
        CHECK_EQ_INT(b, prev_end);
        CHECK(b % 32 == 0);
        covered += e - b;
        prev_end = e;
    }
    CHECK_EQ_INT(covered, 1000);
}
