/* Matrix kernels in CPU time: GFLOP/s per CPU-second of one lmx_matmul on
 * one thread, for the three matrix shapes of a 1B Llama (8192x2048,
 * 2048x8192, 2048x2048), at n_tok tokens. Thread CPU time is the figure that
 * other work on a shared machine inflates least (wall time is ±40% there);
 * compare builds by linking this file against each build's liblmx.a and
 * running them interleaved. Also prints the machine's FMA peak measured the
 * same way, so a kernel's figure reads as a fraction of it.
 *
 * Build (after `make build/liblmx.a`):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc bench/bench_matmul_cpu.c build/liblmx.a -lm -pthread \
 *      -o build/bench_matmul_cpu
 * Run: build/bench_matmul_cpu [n_tok (64)] [reps (5)] [type-name ...] (default f16)
 *      (LMX_ISA=... to force a path). Each figure is the best of `reps`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <immintrin.h>

#include "engine/kernels.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The FMA units' peak, in the same terms: 24 independent chains of 512-bit
 * FMAs (more than latency x throughput), 0 when the CPU lacks AVX-512. */
__attribute__((target("avx512f,fma"))) static double peak_avx512(void) {
    __m512 a[24], m = _mm512_set1_ps(0.9999f), b = _mm512_set1_ps(1e-4f);
    for (int i = 0; i < 24; i++) a[i] = _mm512_set1_ps((float)i * 1e-3f);
    long n = 20000000;
    double t0 = cpu_now();
    for (long k = 0; k < n; k++)
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) a[i] = _mm512_fmadd_ps(a[i], m, b);
    double d = cpu_now() - t0;
    float sink = 0;
    for (int i = 0; i < 24; i++) sink += _mm512_reduce_add_ps(a[i]);
    if (sink == 12345.f) printf(" ");
    return 2.0 * 16 * 24 * (double)n / d / 1e9;
}

static uint32_t seed = 12345;
static float rndf(void) {
    seed = seed * 1664525u + 1013904223u;
    return (float)(int)(seed >> 9) / (float)(1 << 22) - 1.0f;
}

int main(int argc, char **argv) {
    int n_tok = argc > 1 ? atoi(argv[1]) : 64, reps = argc > 2 ? atoi(argv[2]) : 5;
    static const int64_t shapes[][2] = {{8192, 2048}, {2048, 8192}, {2048, 2048}};
    if (n_tok < 1 || reps < 1) return 2;
    double peak = 0;
    if (__builtin_cpu_supports("avx512f"))
        for (int r = 0; r < 3; r++) {
            double p = peak_avx512();
            peak = p > peak ? p : peak;
        }
    printf("isa %s, 1 thread, %d tokens, best of %d; AVX-512 FMA peak %.1f GFLOP/s-cpu\n",
           lmx_isa_name(lmx_isa_current()), n_tok, reps, peak);
    for (int ti = 0; ti < LMX_DTYPE_MAX; ti++) {
        lmx_dtype t = (lmx_dtype)ti;
        const lmx_dtype_info *in = lmx_dtype_get(t);
        if (!in || !in->supported) continue;
        int want = argc <= 3 && t == LMX_F16;
        for (int a = 3; a < argc; a++) want |= !strcmp(argv[a], lmx_dtype_name(t));
        if (!want) continue;
        for (int s = 0; s < 3; s++) {
            int64_t rows = shapes[s][0], cols = shapes[s][1];
            size_t rb = lmx_dtype_row_bytes(t, cols);
            if (!rb) continue;
            /* weights: dequantizable values of this type from random floats */
            float *row = malloc(sizeof(float) * (size_t)cols);
            uint8_t *wd = calloc((size_t)rows, rb);
            for (int64_t r = 0; r < rows; r++) {
                uint8_t *p = wd + (size_t)r * rb;
                for (int64_t c = 0; c < cols; c++) row[c] = rndf() * 0.05f;
                if (t == LMX_F32)
                    memcpy(p, row, rb);
                else if (t == LMX_F16)
                    for (int64_t c = 0; c < cols; c++) {
                        uint16_t h = lmx_f32_to_f16(row[c]);
                        memcpy(p + 2 * c, &h, 2);
                    }
                else
                    for (size_t i = 0; i < rb; i++) p[i] = (uint8_t)(rndf() * 127.0f) & 0x77;
            }
            lmx_wmat w;
            if (lmx_wmat_init(&w, t, rows, cols, wd)) return 1;
            float *x = malloc(sizeof(float) * (size_t)(cols * n_tok));
            for (int64_t i = 0; i < cols * n_tok; i++) x[i] = rndf();
            float *y = malloc(sizeof(float) * (size_t)(rows * n_tok));
            void *scr = malloc(lmx_matmul_scratch(t, cols, n_tok) + 64);
            double best = 1e30;
            for (int r = 0; r < reps; r++) {
                double t0 = cpu_now();
                lmx_matmul(&w, x, n_tok, y, rows, scr, NULL);
                double d = cpu_now() - t0;
                if (d < best) best = d;
            }
            printf("%-6s %5lldx%-5lld %8.1f GFLOP/s-cpu %8.2f GB/s-cpu\n", lmx_dtype_name(t),
                   (long long)rows, (long long)cols,
                   2.0 * (double)rows * (double)cols * n_tok / best / 1e9,
                   (double)rb * (double)rows / best / 1e9);
            lmx_wmat_free(&w);
            free(row), free(wd), free(x), free(y), free(scr);
        }
    }
    return 0;
}
