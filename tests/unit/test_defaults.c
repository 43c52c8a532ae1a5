/* Memory-aware default parallelism and context (manager/defaults.c). */
#include "manager/defaults.h"
#include "test.h"

#define MIB (1ull << 20)

TEST(defaults_keep_8_by_4096_when_memory_is_plenty) {
    lmx_defaults_in in = {.fixed = 100 * MIB,
                          .kv_per_token = 1024,
                          .available = 1ull << 40,
                          .ctx_max = 4096,
                          .parallel_max = 8};
    lmx_defaults_out o;
    lmx_defaults_choose(&in, &o);
    CHECK(o.n_parallel == 8 && o.n_ctx == 4096 && !o.reduced && o.fits);
    CHECK(o.needed == 100 * MIB + 1024ull * 4096 * 8);
}

TEST(defaults_shrink_parallel_then_context_to_fit) {
    /* 1 MiB per position: 4096 positions = 4 GiB per slot */
    lmx_defaults_in in = {
        .fixed = 1024 * MIB, .kv_per_token = MIB, .ctx_max = 4096, .parallel_max = 8};
    lmx_defaults_out o;
    in.available = 1024 * MIB + 3 * 4096 * MIB + 5; /* room for 3 full slots */
    lmx_defaults_choose(&in, &o);
    CHECK(o.n_parallel == 3 && o.n_ctx == 4096 && o.reduced && o.fits);
    in.available = 1024 * MIB + 3000 * MIB; /* not one full slot: parallel 1, context 2816 */
    lmx_defaults_choose(&in, &o);
    CHECK(o.n_parallel == 1 && o.n_ctx == 2816 && o.reduced && o.fits);
    in.available = 1024 * MIB + 100 * MIB; /* below the floor: the floor, and it does not fit */
    lmx_defaults_choose(&in, &o);
    CHECK(o.n_parallel == 1 && o.n_ctx == LMX_DEFAULT_CTX_FLOOR && !o.fits);
    in.ctx_max = 512; /* a model trained on less than the floor keeps its own */
    lmx_defaults_choose(&in, &o);
    CHECK(o.n_ctx == 512 && o.n_parallel == 1);
}

TEST(defaults_never_change_values_the_user_gave) {
    lmx_defaults_in in = {.fixed = 1024 * MIB,
                          .kv_per_token = MIB,
                          .available = 1100 * MIB,
                          .ctx_max = 4096,
                          .parallel_max = 8,
                          .parallel_given = 4,
                          .ctx_given = 8192};
    lmx_defaults_out o;
    lmx_defaults_choose(&in, &o);
    CHECK(o.n_parallel == 4 && o.n_ctx == 8192 && !o.reduced && !o.fits);
    in.ctx_given = 0; /* parallel given: only the context shrinks */
    in.available = 1024 * MIB + 4 * 2048 * MIB;
    lmx_defaults_choose(&in, &o);
    CHECK(o.n_parallel == 4 && o.n_ctx == 2048 && o.reduced && o.fits);
    in.ctx_given = 4096; /* context given: only parallel shrinks */
    in.parallel_given = 0;
    lmx_defaults_choose(&in, &o);
    CHECK(o.n_parallel == 2 && o.n_ctx == 4096 && o.reduced && o.fits);
}
