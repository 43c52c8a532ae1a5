/* Read-bandwidth probe. Each thread sums its share of the buffer with wide
 * loads (AVX2 when the CPU has it, chosen per call) so the loop is limited by
 * memory, not by instructions. */
#include "engine/membw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        _mm_prefetch((const char *)(p + i + 2048), _MM_HINT_T1);
        _mm_prefetch((const char *)(p + i + 2048 + 64), _MM_HINT_T1);
        a0 = _mm256_xor_si256(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_xor_si256(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_xor_si256(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_xor_si256(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    a0 = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    return (uint64_t)_mm256_extract_epi64(a0, 0) ^ (uint64_t)_mm256_extract_epi64(a0, 3);
}
#endif

static uint64_t read_plain(const uint8_t *p, size_t n) {
    uint64_t a = 0, b = 0;
    for (size_t i = 0; i + 16 <= n; i += 16) {
        uint64_t x, y;
        memcpy(&x, p + i, 8);
        memcpy(&y, p + i + 8, 8);
        a ^= x;
        b ^= y;
    }
    return a ^ b;
}

typedef struct {
    const uint8_t *buf;
    size_t bytes;
    volatile uint64_t sink[256];
} job;

static void read_task(void *arg, int ith, int nth) {
    job *j = arg;
    long b, e;
    lmx_split_range((long)j->bytes, 4096, ith, nth, &b, &e);
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) {
        j->sink[ith & 255] = read_avx2(j->buf + b, (size_t)(e - b));
        return;
    }
#endif
    j->sink[ith & 255] = read_plain(j->buf + b, (size_t)(e - b));
}

double lmx_membw_measure(lmx_pool *pool, size_t bytes, int passes) {
    uint8_t *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) return 0;
#ifdef MADV_HUGEPAGE
    madvise(buf, bytes, MADV_HUGEPAGE); /* as the repacked weights may get: compare like with like */
#endif
    /* Fault every page in before timing, with distinct contents: identical pages
     * could be merged by the host (KSM) and read from cache, inflating the figure. */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(buf + i, &x, 8);
    }
    job j = {.buf = buf, .bytes = bytes};
    double best = 0;
    for (int p = 0; p < passes; p++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        lmx_pool_run(pool, read_task, &j);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        if (s > 0 && bytes / s > best) best = (double)bytes / s;
    }
    munmap(buf, bytes);
    return best;
}
