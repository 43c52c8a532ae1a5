/* The engine's compute thread pool.
 *
 * lmx_pool_run(pool, fn, ctx) calls fn(ctx, i, n) once for every i < n
 * (n = pool size), the calling thread taking i = 0, and returns when all are
 * done. Workers spin briefly between jobs and then sleep, so the many short
 * jobs of one decode step (a few per layer) cost microseconds, not a wake-up
 * each. Several threads may drive a pool: their jobs run one after another. */
#ifndef LMX_THREADS_H
#define LMX_THREADS_H

typedef struct lmx_pool lmx_pool;
typedef void (*lmx_task_fn)(void *ctx, int ith, int nth);

lmx_pool *lmx_pool_create(int n_threads); /* n_threads <= 0: all cores */
void lmx_pool_destroy(lmx_pool *pool);
int lmx_pool_size(const lmx_pool *pool);
void lmx_pool_run(lmx_pool *pool, lmx_task_fn fn, void *ctx);

int lmx_cpu_count(void);

/* Split [0, n) into nth nearly equal ranges, aligned to `align`; this thread's. */
void lmx_split_range(long n, long align, int ith, int nth, long *begin, long *end);

#endif
