/* Matrix-kernel dispatch: picks the ISA (CPUID, LMX_ISA, lmx_isa_set), sets up
 * weight matrices (validating and optionally repacking them for the chosen
 * ISA), runs lmx_matmul over the thread pool, and holds the type-generic code:
 * half-precision conversions, dequantization and row lookup.
 *
 * lmx_matmul prepares (quantizes) the activations once into the caller's
 * scratch, then splits rows among threads; each thread walks the tokens in
 * blocks small enough that their prepared activations stay in L2 while the
 * thread's rows stream past. */
#include "engine/kernels_impl.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

/* ---- ISA selection ---- */

static atomic_int isa_cur = -1; /* chosen lazily; any thread may ask first */

int lmx_isa_supported(lmx_isa isa) {
    switch (isa) {
    case LMX_ISA_SCALAR:
        return 1;
    case LMX_ISA_AVX2:
#if defined(__x86_64__)
        /* F16C is not queryable on every compiler; every AVX2+FMA CPU has it. */
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
        return 0;
#endif
    case LMX_ISA_AVX512:
#if defined(__x86_64__)
        return lmx_isa_supported(LMX_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
#else
        return 0;
#endif
    }
    return 0;
}

const char *lmx_isa_name(lmx_isa isa) {
    switch (isa) {
    case LMX_ISA_SCALAR:
        return "scalar";
    case LMX_ISA_AVX2:
        return "avx2";
    case LMX_ISA_AVX512:
        return "avx512";
    }
    return "?";
}

lmx_isa lmx_isa_current(void) {
    int cur = atomic_load_explicit(&isa_cur, memory_order_relaxed);
    if (cur < 0) {
        lmx_isa best = lmx_isa_supported(LMX_ISA_AVX512) ? LMX_ISA_AVX512
                       : lmx_isa_supported(LMX_ISA_AVX2) ? LMX_ISA_AVX2
                                                         : LMX_ISA_SCALAR;
        const char *e = getenv("LMX_ISA");
        if (e) {
            for (int i = 0; i <= LMX_ISA_AVX512; i++)
                if (!strcmp(e, lmx_isa_name((lmx_isa)i)) && lmx_isa_supported((lmx_isa)i))
                    best = (lmx_isa)i;
        }
        atomic_store_explicit(&isa_cur, (int)best, memory_order_relaxed);
        cur = (int)best;
    }
    return (lmx_isa)cur;
}

int lmx_isa_set(lmx_isa isa) {
    if (!lmx_isa_supported(isa)) return -1;
    atomic_store_explicit(&isa_cur, (int)isa, memory_order_relaxed);
    return 0;
}

int lmx_kern_bf16_dot(void) {
    return lmx_isa_current() == LMX_ISA_AVX512 && lmx_avx512_bf16_dot();
}

static const lmx_kern_entry *entry_for(lmx_isa isa, lmx_dtype t) {
    switch (isa) {
    case LMX_ISA_AVX512:
        return lmx_kern_avx512(t);
    case LMX_ISA_AVX2:
        return lmx_kern_avx2(t);
    default:
        return lmx_kern_scalar(t);
    }
}

/* The kernel for a matrix: the best ISA up to the current one that reads the
 * matrix's layout; else (a matrix repacked before the ISA was lowered) the
 * ISA above that repacked it. */
static const lmx_kern_entry *entry_for_wmat(const lmx_wmat *w) {
    lmx_isa isa = lmx_isa_current();
    for (int i = isa; i >= 0; i--) {
        const lmx_kern_entry *e = entry_for((lmx_isa)i, w->type);
        if (e && e->layout == w->layout) return e;
    }
    for (int i = isa + 1; i <= LMX_ISA_AVX512; i++) {
        const lmx_kern_entry *e = entry_for((lmx_isa)i, w->type);
        if (e && e->layout == w->layout && lmx_isa_supported((lmx_isa)i)) return e;
    }
    return NULL;
}

/* ---- half precision ---- */

float lmx_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (e == 0x1f) {
        u = sign | 0x7f800000u | (m << 13);
    } else if (e) {
        u = sign | ((e + 112) << 23) | (m << 13);
    } else if (m) { /* subnormal: normalize */
        e = 113;
        while (!(m & 0x400)) {
            m <<= 1;
            e--;
        }
        u = sign | (e << 23) | ((m & 0x3ff) << 13);
    } else {
        u = sign;
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t lmx_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000, a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (a < 0x38800000u) {                                  /* subnormal or zero half */
        if (a < 0x33000000u) return (uint16_t)sign;         /* < 2^-25: rounds to 0 */
        uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000;
        int shift = 126 - (int)e; /* value = m * 2^(e-150); half ulp = 2^-24 */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a - 0x38000000u; /* rebias exponent 127 -> 15, still 13 extra bits */
    uint32_t q = r >> 13, rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) q++;
    return (uint16_t)(sign | q);
}

float lmx_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- dequantization (the ground truth of every block layout) ---- */

static void dequant_q4_0(const uint8_t *b, float *y) {
    float d = lmx_f16_to_f32(lmx_rd16(b));
    for (int i = 0; i < 16; i++) {
        y[i] = (float)((b[2 + i] & 0xF) - 8) * d;
        y[i + 16] = (float)((b[2 + i] >> 4) - 8) * d;
    }
}

static void dequant_q8_0(const uint8_t *b, float *y) {
    float d = lmx_f16_to_f32(lmx_rd16(b));
    for (int i = 0; i < 32; i++) y[i] = (float)(int8_t)b[2 + i] * d;
}

/* Q4_K / Q5_K: 4 chunks of 64 values; chunk c holds sub-blocks 2c (low
 * nibbles of qs[32c..32c+31]) and 2c+1 (high nibbles); Q5_K's 5th bit of
 * value l in sub-block j is bit j of qh[l]. */
static void dequant_qk45(const uint8_t *b, float *y, int five) {
    float d = lmx_f16_to_f32(lmx_rd16(b)), dmin = lmx_f16_to_f32(lmx_rd16(b + 2));
    const uint8_t *sc = b + 4, *qh = b + 16, *qs = b + (five ? 48 : 16);
    for (int j = 0; j < 8; j++) {
        int s, m;
        lmx_kscale(sc, j, &s, &m);
        float ds = d * (float)s, dm = dmin * (float)m;
        for (int l = 0; l < 32; l++) {
            int q = (qs[32 * (j / 2) + l] >> (4 * (j & 1))) & 0xF;
            if (five) q |= ((qh[l] >> j) & 1) << 4;
            y[32 * j + l] = ds * (float)q - dm;
        }
    }
}

/* Q6_K: two halves of 128; in half h, value i (0..127) has low 4 bits from
 * ql[64h + i%64] (low nibble for i < 64, high for i >= 64) and 2 high bits
 * from qh[32h + i%32] at bit 2*(i/32); scale scales[8h + i/16]. */
static void dequant_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = lmx_f16_to_f32(lmx_rd16(b + 208));
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 128; i++) {
            int lo = (ql[64 * h + i % 64] >> (4 * (i / 64))) & 0xF;
            int hi = (qh[32 * h + i % 32] >> (2 * (i / 32))) & 3;
            y[128 * h + i] = d * (float)sc[8 * h + i / 16] * (float)((lo | hi << 4) - 32);
        }
}

void lmx_dequant(lmx_dtype type, const void *src, float *dst, int64_t n) {
    const uint8_t *s = src;
    switch (type) {
    case LMX_F32:
        memcpy(dst, src, (size_t)n * 4);
        break;
    case LMX_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = lmx_f16_to_f32(lmx_rd16(s + 2 * i));
        break;
    case LMX_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = lmx_bf16_to_f32(lmx_rd16(s + 2 * i));
        break;
    case LMX_Q4_0:
        for (int64_t i = 0; i < n / QK; i++) dequant_q4_0(s + i * Q4_0_BYTES, dst + i * QK);
        break;
    case LMX_Q8_0:
        for (int64_t i = 0; i < n / QK; i++) dequant_q8_0(s + i * Q8_0_BYTES, dst + i * QK);
        break;
    case LMX_Q4_K:
        for (int64_t i = 0; i < n / QKK; i++) dequant_qk45(s + i * Q4_K_BYTES, dst + i * QKK, 0);
        break;
    case LMX_Q5_K:
        for (int64_t i = 0; i < n / QKK; i++) dequant_qk45(s + i * Q5_K_BYTES, dst + i * QKK, 1);
        break;
    case LMX_Q6_K:
        for (int64_t i = 0; i < n / QKK; i++) dequant_q6_k(s + i * Q6_K_BYTES, dst + i * QKK);
        break;
    default:
        memset(dst, 0, (size_t)n * sizeof *dst);
        break;
    }
}

/* ---- weight matrices ---- */

int lmx_repack_t16(lmx_wmat *w) {
    int64_t ng = (w->rows + 15) / 16, cols = w->cols;
    size_t n = ((size_t)ng * (size_t)cols * 32 + 63) & ~(size_t)63;
    void *mem = NULL;
    /* Huge pages for large matrices: filling 4 KiB pages took ~10 s of page
     * faults for a 1B model (~1 s now); fewer TLB misses when reading too. */
    size_t align = n >= (4u << 20) ? (2u << 20) : 64;
    if (posix_memalign(&mem, align, n)) return -1;
#ifdef MADV_HUGEPAGE
    if (align > 64) madvise(mem, n, MADV_HUGEPAGE);
#endif
    uint16_t *dst = mem;
    /* By blocks of 64 columns: 2 KiB of output, filled by the 16 rows while it
     * stays in L1. */
    for (int64_t g = 0; g < ng; g++) {
        uint16_t *d = dst + (size_t)g * (size_t)cols * 16;
        for (int64_t c0 = 0; c0 < cols; c0 += 64) {
            int64_t cn = cols - c0 < 64 ? cols - c0 : 64;
            for (int l = 0; l < 16; l++) {
                int64_t r = g * 16 + l;
                if (r >= w->rows) { /* the last group's padding */
                    for (int64_t c = 0; c < cn; c++) d[(c0 + c) * 16 + l] = 0;
                    continue;
                }
                const uint8_t *s = (const uint8_t *)w->data + (size_t)r * w->row_bytes + 2 * c0;
                for (int64_t c = 0; c < cn; c++) d[(c0 + c) * 16 + l] = lmx_rd16(s + 2 * c);
            }
        }
    }
    w->owned = dst;
    w->data = dst;
    w->layout = LMX_LAYOUT_T16;
    return 0;
}

int lmx_wmat_init(lmx_wmat *w, lmx_dtype type, int64_t rows, int64_t cols, const void *data) {
    memset(w, 0, sizeof *w);
    const lmx_dtype_info *in = lmx_dtype_get(type);
    if (!in || !in->supported || rows <= 0 || cols <= 0 || !data) return -1;
    size_t rb = lmx_dtype_row_bytes(type, cols);
    if (!rb) return -1;
    w->type = type;
    w->rows = rows;
    w->cols = cols;
    w->data = data;
    w->row_bytes = rb;
    const lmx_kern_entry *e = entry_for(lmx_isa_current(), type);
    if (e && e->repack && e->repack(w) != 0) return -1;
    return 0;
}

void lmx_wmat_free(lmx_wmat *w) {
    free(w->owned);
    w->owned = NULL;
}

void lmx_wmat_get_row(const lmx_wmat *w, int64_t r, float *dst) {
    if (w->layout == LMX_LAYOUT_GGUF) {
        lmx_dequant(w->type, (const uint8_t *)w->data + (size_t)r * w->row_bytes, dst, w->cols);
        return;
    }
    if (w->layout == LMX_LAYOUT_T16) {
        const uint16_t *g = lmx_t16_group(w, r / 16) + r % 16;
        for (int64_t c = 0; c < w->cols; c++) dst[c] = lmx_f16_to_f32(g[c * 16]);
        return;
    }
    /* X16: rebuild the row's GGUF blocks, then dequantize them. */
    uint8_t buf[8192], *tmp = w->row_bytes <= sizeof buf ? buf : malloc(w->row_bytes);
    if (!tmp) {
        memset(dst, 0, (size_t)w->cols * sizeof *dst);
        return;
    }
    lmx_avx512_unpack_row(w, r, tmp);
    lmx_dequant(w->type, tmp, dst, w->cols);
    if (tmp != buf) free(tmp);
}

/* ---- matmul ---- */

enum { TOK_BLOCK = LMX_TOK_BLOCK, ROW_ALIGN = 16 };

static size_t align64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

size_t lmx_matmul_scratch(lmx_dtype type, int64_t cols, int n_tok) {
    size_t best = 0;
    for (int i = 0; i <= LMX_ISA_AVX512; i++) {
        const lmx_kern_entry *e = entry_for((lmx_isa)i, type);
        if (e && e->prep) {
            size_t s = align64(e->xstride(cols)) * (size_t)(n_tok > 0 ? n_tok : 0) + 64;
            if (s > best) best = s;
        }
    }
    return best;
}

typedef struct {
    const lmx_wmat *w;
    const lmx_kern_entry *e;
    const float *x;
    int n_tok;
    float *y;
    int64_t ldy;
    uint8_t *xq; /* prepared activations (writable view of xa) */
    const uint8_t *xa;
    size_t xstride;
} mm_job;

static void prep_task(void *ctx, int ith, int nth) {
    mm_job *j = ctx;
    long b, e;
    lmx_split_range(j->n_tok, 1, ith, nth, &b, &e);
    for (long t = b; t < e; t++)
        j->e->prep(j->x + t * j->w->cols, j->w->cols, j->xq + (size_t)t * j->xstride);
}

static void mm_task(void *ctx, int ith, int nth) {
    mm_job *j = ctx;
    long b, e;
    lmx_split_range((long)j->w->rows, ROW_ALIGN, ith, nth, &b, &e);
    if (b >= e) return;
    for (int t0 = 0; t0 < j->n_tok; t0 += TOK_BLOCK) {
        int nt = j->n_tok - t0 < TOK_BLOCK ? j->n_tok - t0 : TOK_BLOCK;
        j->e->kern(j->w, j->xa + (size_t)t0 * j->xstride, j->xstride, nt, b, e,
                   j->y + (int64_t)t0 * j->ldy, j->ldy);
    }
}

void lmx_matmul(const lmx_wmat *w, const float *x, int n_tok, float *y, int64_t ldy, void *scratch,
                lmx_pool *pool) {
    if (n_tok <= 0) return;
    mm_job j = {.w = w, .x = x, .n_tok = n_tok, .y = y, .ldy = ldy};
    j.e = entry_for_wmat(w);
    if (!j.e) abort(); /* cannot happen for a matrix lmx_wmat_init accepted */
    if (j.e->prep) {
        j.xstride = align64(j.e->xstride(w->cols));
        j.xq = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
        j.xa = j.xq;
        if (n_tok == 1 || !pool)
            prep_task(&j, 0, 1);
        else
            lmx_pool_run(pool, prep_task, &j);
    } else {
        j.xa = (const uint8_t *)x; /* float kernels read the activations directly */
        j.xstride = (size_t)w->cols * sizeof(float);
    }
    if (pool)
        lmx_pool_run(pool, mm_task, &j);
    else
        mm_task(&j, 0, 1);
}
