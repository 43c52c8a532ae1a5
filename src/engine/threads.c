/* Thread pool: spin-then-sleep workers that claim shares of a job.
 *
 * A job has n shares (n = pool size). Shares are not tied to threads: the
 * caller and the workers claim them from one atomic word whose high half is
 * the job's generation and low half the next share, so a worker that is not
 * scheduled (another process holds its core) never stalls a job — the caller
 * simply runs that share itself. Results do not depend on who runs a share,
 * so the engine's batch invariance holds whatever the scheduling.
 *
 * Workers spin on the word for a while (decode issues a job every few tens
 * of microseconds), yielding now and then, before sleeping on the condition
 * variable; `sleepers` tells the caller whether a broadcast is needed. */
#include "engine/threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_ITERS 20000 /* then sleep (about half a millisecond) */
#define YIELD_EVERY 256   /* pauses between sched_yield calls while spinning */

struct lmx_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu; /* guards sleeping/waking only */
    pthread_mutex_t drive; /* one driver at a time: several models' schedulers share the pool */
    pthread_cond_t cv;
    _Atomic uint64_t work; /* generation << 32 | next share to claim */
    atomic_int pending;    /* shares of the current job not yet finished */
    atomic_int sleepers;   /* workers blocked on cv */
    atomic_bool stop;
    lmx_task_fn fn;        /* written only while no share is pending */
    void *ctx;
};

/* Claims and runs shares of generation `gen` until none is left. */
static void run_shares(lmx_pool *pool, uint32_t gen) {
    uint64_t cur = atomic_load_explicit(&pool->work, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(cur >> 32) != gen || (int)(uint32_t)cur >= pool->n) return;
        if (!atomic_compare_exchange_weak_explicit(&pool->work, &cur, cur + 1,
                                                   memory_order_acq_rel, memory_order_acquire))
            continue;
        /* our claimed share keeps the job pending, so fn/ctx are this job's */
        pool->fn(pool->ctx, (int)(uint32_t)cur, pool->n);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
        cur = atomic_load_explicit(&pool->work, memory_order_acquire);
    }
}

static void *worker_main(void *p) {
    lmx_pool *pool = p;
    uint32_t seen = 0; /* generations start at 0: a job published before we ran is not missed */
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = (uint32_t)(atomic_load_explicit(&pool->work, memory_order_acquire) >> 32)) ==
               seen) {
            if (atomic_load(&pool->stop)) return NULL;
            if (++spins < SPIN_ITERS) {
                if (spins % YIELD_EVERY == 0) sched_yield();
                else cpu_relax();
                continue;
            }
            pthread_mutex_lock(&pool->mu);
            atomic_fetch_add(&pool->sleepers, 1);
            while ((uint32_t)(atomic_load(&pool->work) >> 32) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->cv, &pool->mu);
            atomic_fetch_sub(&pool->sleepers, 1);
            pthread_mutex_unlock(&pool->mu);
            spins = 0;
        }
        seen = g;
        if (atomic_load(&pool->stop)) return NULL;
        run_shares(pool, g);
    }
}

int lmx_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

lmx_pool *lmx_pool_create(int n_threads) {
    if (n_threads <= 0) n_threads = lmx_cpu_count();
    if (n_threads > 256) n_threads = 256;
    lmx_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_mutex_init(&pool->drive, NULL);
    pthread_cond_init(&pool->cv, NULL);
    pool->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!pool->threads) {
        free(pool);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++)
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0) {
            pool->n = i; /* run with the threads we got */
            break;
        }
    return pool;
}

void lmx_pool_destroy(lmx_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->stop, true);
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_mutex_destroy(&pool->drive);
    pthread_cond_destroy(&pool->cv);
    free(pool->threads);
    free(pool);
}

int lmx_pool_size(const lmx_pool *pool) { return pool ? pool->n : 1; }

void lmx_pool_run(lmx_pool *pool, lmx_task_fn fn, void *ctx) {
    if (!pool || pool->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->drive);
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store(&pool->pending, pool->n);
    uint32_t gen = (uint32_t)(atomic_load(&pool->work) >> 32) + 1;
    atomic_store_explicit(&pool->work, (uint64_t)gen << 32, memory_order_release);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->cv);
        pthread_mutex_unlock(&pool->mu);
    }
    run_shares(pool, gen);
    int spins = 0;
    while (atomic_load_explicit(&pool->pending, memory_order_acquire) > 0)
        if (++spins % YIELD_EVERY == 0) sched_yield();
        else cpu_relax();
    pthread_mutex_unlock(&pool->drive);
}

void lmx_split_range(long n, long align, int ith, int nth, long *begin, long *end) {
    if (align < 1) align = 1;
    long units = (n + align - 1) / align;
    long per = units / nth, extra = units % nth;
    long ub = ith * per + (ith < extra ? ith : extra);
    long ue = ub + per + (ith < extra ? 1 : 0);
    long b = ub * align, e = ue * align;
    *begin = b < n ? b : n;
    *end = e < n ? e : n;
}
