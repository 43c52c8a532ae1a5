/* GGUF reader: a bounds-checked cursor over an mmap'ed file.
 *
 * Parsing never trusts a length: every read goes through `rd_*`, which fails
 * once the cursor would pass the end of the mapping, and every allocation size
 * derived from the file is first bounded by what the remaining bytes could
 * possibly hold (a hostile count of 2^63 entries fails before any malloc). */
#include "engine/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/dtype.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define MAX_KEY_LEN 65536
#define MAX_NAME_LEN 4096

typedef struct {
    const uint8_t *p, *end;
    const char *path;
    char *err;
    size_t errlen;
    int failed;
} cursor;

static void failf(cursor *c, const char *fmt, ...) {
    if (c->failed) return;
    c->failed = 1;
    int n = snprintf(c->err, c->errlen, "%s: ", c->path);
    if (n < 0 || (size_t)n >= c->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static size_t remaining(const cursor *c) { return (size_t)(c->end - c->p); }

static const uint8_t *take(cursor *c, size_t n, const char *what) {
    if (c->failed) return NULL;
    if (n > remaining(c)) {
        failf(c, "%s: file truncated (needs %zu more bytes, %zu left)", what, n, remaining(c));
        return NULL;
    }
    const uint8_t *q = c->p;
    c->p += n;
    return q;
}

static uint32_t rd_u32(cursor *c, const char *what) {
    const uint8_t *q = take(c, 4, what);
    uint32_t v = 0;
    if (q) memcpy(&v, q, 4);
    return v;
}

static uint64_t rd_u64(cursor *c, const char *what) {
    const uint8_t *q = take(c, 8, what);
    uint64_t v = 0;
    if (q) memcpy(&v, q, 8);
    return v;
}

/* A GGUF string: u64 length + bytes. Returns the start of its length prefix. */
static const uint8_t *rd_str(cursor *c, const char *what, uint64_t max_len) {
    const uint8_t *start = c->p;
    uint64_t n = rd_u64(c, what);
    if (c->failed) return NULL;
    if (n > max_len) {
        failf(c, "%s: string length %llu is too large", what, (unsigned long long)n);
        return NULL;
    }
    if (!take(c, (size_t)n, what)) return NULL;
    return start;
}

static const size_t scalar_size[LMX_GGUF_NTYPES] = {
    [LMX_GGUF_U8] = 1,  [LMX_GGUF_I8] = 1,  [LMX_GGUF_U16] = 2, [LMX_GGUF_I16] = 2,
    [LMX_GGUF_U32] = 4, [LMX_GGUF_I32] = 4, [LMX_GGUF_F32] = 4, [LMX_GGUF_BOOL] = 1,
    [LMX_GGUF_U64] = 8, [LMX_GGUF_I64] = 8, [LMX_GGUF_F64] = 8,
};

const char *lmx_gguf_type_name(uint32_t type) {
    static const char *names[LMX_GGUF_NTYPES] = {"u8",  "i8",   "u16",    "i16",   "u32",
                                                 "i32", "f32",  "bool",   "string", "array",
                                                 "u64", "i64",  "f64"};
    return type < LMX_GGUF_NTYPES ? names[type] : "unknown";
}

static char *dup_str(const uint8_t *s) {
    uint64_t n;
    memcpy(&n, s, 8);
    char *d = malloc((size_t)n + 1);
    if (!d) return NULL;
    memcpy(d, s + 8, (size_t)n);
    d[n] = 0;
    return d;
}

static int parse_value(cursor *c, lmx_gguf_kv *kv) {
    if (kv->type >= LMX_GGUF_NTYPES) {
        failf(c, "key '%s': unknown value type %u", kv->key, kv->type);
        return -1;
    }
    kv->val = c->p;
    if (kv->type == LMX_GGUF_STR) return rd_str(c, kv->key, remaining(c)) ? 0 : -1;
    if (kv->type != LMX_GGUF_ARR) return take(c, scalar_size[kv->type], kv->key) ? 0 : -1;

    kv->arr_type = rd_u32(c, kv->key);
    kv->arr_n = rd_u64(c, kv->key);
    if (c->failed) return -1;
    if (kv->arr_type >= LMX_GGUF_NTYPES || kv->arr_type == LMX_GGUF_ARR) {
        failf(c, "key '%s': unsupported array element type %u", kv->key, kv->arr_type);
        return -1;
    }
    kv->val = c->p;
    if (kv->arr_type == LMX_GGUF_STR) {
        if (kv->arr_n > remaining(c) / 8) {
            failf(c, "key '%s': array of %llu strings cannot fit in the file", kv->key,
                  (unsigned long long)kv->arr_n);
            return -1;
        }
        kv->arr_strs = malloc(sizeof(*kv->arr_strs) * (size_t)(kv->arr_n ? kv->arr_n : 1));
        if (!kv->arr_strs) {
            failf(c, "key '%s': out of memory", kv->key);
            return -1;
        }
        for (uint64_t i = 0; i < kv->arr_n; i++)
            if (!(kv->arr_strs[i] = rd_str(c, kv->key, remaining(c)))) return -1;
        return 0;
    }
    size_t es = scalar_size[kv->arr_type];
    if (kv->arr_n > remaining(c) / es) {
        failf(c, "key '%s': array of %llu elements runs past the end of the file", kv->key,
              (unsigned long long)kv->arr_n);
        return -1;
    }
    take(c, (size_t)kv->arr_n * es, kv->key);
    return c->failed ? -1 : 0;
}

static int map_file(const char *path, uint8_t **map, size_t *size, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_size < 24) {
        snprintf(err, errlen, "%s: file too small to be GGUF (%lld bytes)", path,
                 (long long)st.st_size);
        close(fd);
        return -1;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
        return -1;
    }
    *map = m;
    *size = (size_t)st.st_size;
    return 0;
}

/* Parses one file (one split). Metadata is kept only for the first. */
static int parse_file(lmx_gguf *g, int fi, const char *path, char *err, size_t errlen) {
    cursor c = {g->files[fi].map, g->files[fi].map + g->files[fi].size, path, err, errlen, 0};
    uint32_t magic = rd_u32(&c, "header");
    if (magic != GGUF_MAGIC) {
        failf(&c, "not a GGUF file (bad magic 0x%08x)", magic);
        return -1;
    }
    uint32_t version = rd_u32(&c, "header");
    if (version != 2 && version != 3) {
        failf(&c, "unsupported GGUF version %u (2 and 3 are supported)", version);
        return -1;
    }
    uint64_t n_tensors = rd_u64(&c, "header"), n_kv = rd_u64(&c, "header");
    if (c.failed) return -1;
    /* Each kv needs >= 8+1 (key) + 4 (type) + 1 bytes, each tensor >= 8+1+4+8+4+8. */
    if (n_kv > remaining(&c) / 14) {
        failf(&c, "metadata count %llu cannot fit in the file", (unsigned long long)n_kv);
        return -1;
    }
    if (n_tensors > remaining(&c) / 33) {
        failf(&c, "tensor count %llu cannot fit in the file", (unsigned long long)n_tensors);
        return -1;
    }

    lmx_gguf_kv *kvs = calloc((size_t)(n_kv ? n_kv : 1), sizeof *kvs);
    if (!kvs) {
        failf(&c, "out of memory");
        return -1;
    }
    size_t alignment = 32;
    for (uint64_t i = 0; i < n_kv; i++) {
        const uint8_t *ks = rd_str(&c, "metadata key", MAX_KEY_LEN);
        if (!ks) break;
        kvs[i].key = dup_str(ks);
        kvs[i].type = rd_u32(&c, kvs[i].key ? kvs[i].key : "metadata");
        if (!kvs[i].key) failf(&c, "out of memory");
        if (c.failed || parse_value(&c, &kvs[i])) break;
        if (!strcmp(kvs[i].key, "general.alignment")) {
            if (kvs[i].type != LMX_GGUF_U32) {
                failf(&c, "key 'general.alignment': type %s, expected u32",
                      lmx_gguf_type_name(kvs[i].type));
                break;
            }
            uint32_t a;
            memcpy(&a, kvs[i].val, 4);
            if (a == 0 || (a & (a - 1)) || a > 1u << 20) {
                failf(&c, "key 'general.alignment': %u is not a power of two", a);
                break;
            }
            alignment = a;
        }
    }
    if (fi == 0) {
        g->kv = kvs;
        g->n_kv = (int64_t)n_kv;
        g->version = version;
        g->alignment = alignment;
    } else {
        for (uint64_t i = 0; i < n_kv; i++) {
            free(kvs[i].key);
            free(kvs[i].arr_strs);
        }
        free(kvs);
    }
    if (c.failed) return -1;

    size_t base = (size_t)g->n_tensors;
    lmx_gguf_tensor *nt = realloc(g->tensors, (base + (size_t)n_tensors + 1) * sizeof *nt);
    if (!nt) {
        failf(&c, "out of memory");
        return -1;
    }
    g->tensors = nt;
    uint64_t *offsets = calloc((size_t)n_tensors + 1, sizeof *offsets);
    if (!offsets) {
        failf(&c, "out of memory");
        return -1;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        lmx_gguf_tensor *t = &g->tensors[base + i];
        memset(t, 0, sizeof *t);
        const uint8_t *ns = rd_str(&c, "tensor name", MAX_NAME_LEN);
        if (!ns) break;
        t->name = dup_str(ns);
        if (!t->name) {
            failf(&c, "out of memory");
            break;
        }
        g->n_tensors++;
        uint32_t nd = rd_u32(&c, t->name);
        if (c.failed) break;
        if (nd < 1 || nd > 4) {
            failf(&c, "tensor '%s': %u dimensions (1 to 4 are valid)", t->name, nd);
            break;
        }
        t->n_dims = (int)nd;
        uint64_t nel = 1;
        for (int d = 0; d < 4; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t ne = rd_u64(&c, t->name);
            if (c.failed) break;
            if (ne == 0 || ne > (1ull << 40) || nel > (1ull << 62) / ne) {
                failf(&c, "tensor '%s': dimension %u of size %llu is invalid", t->name, d,
                      (unsigned long long)ne);
                break;
            }
            t->ne[d] = (int64_t)ne;
            nel *= ne;
        }
        t->type = rd_u32(&c, t->name);
        offsets[i] = rd_u64(&c, t->name);
        if (c.failed) break;
        const lmx_dtype_info *ti = lmx_dtype_get(t->type);
        if (!ti) {
            failf(&c, "tensor '%s': unknown type %u", t->name, t->type);
            break;
        }
        if (t->ne[0] % ti->block_elems) {
            failf(&c, "tensor '%s': row of %lld elements is not a whole number of %s blocks",
                  t->name, (long long)t->ne[0], ti->name);
            break;
        }
        t->nbytes = (size_t)(nel / (uint64_t)ti->block_elems) * (size_t)ti->block_bytes;
        t->file = fi;
        if (offsets[i] % g->alignment) {
            failf(&c, "tensor '%s': offset %llu is not aligned to %zu", t->name,
                  (unsigned long long)offsets[i], g->alignment);
            break;
        }
    }
    if (!c.failed) {
        size_t hdr = (size_t)(c.p - g->files[fi].map);
        size_t data_start = (hdr + g->alignment - 1) / g->alignment * g->alignment;
        size_t size = g->files[fi].size;
        for (uint64_t i = 0; i < n_tensors && !c.failed; i++) {
            lmx_gguf_tensor *t = &g->tensors[base + i];
            if (data_start > size || offsets[i] > size - data_start ||
                t->nbytes > size - data_start - offsets[i]) {
                failf(&c, "tensor '%s': data (offset %llu, %zu bytes) runs past the end of the file",
                      t->name, (unsigned long long)offsets[i], t->nbytes);
                break;
            }
            t->data = g->files[fi].map + data_start + offsets[i];
            g->tensor_bytes += t->nbytes;
        }
    }
    free(offsets);
    return c.failed ? -1 : 0;
}

/* "dir/name-00001-of-00003.gguf" → prefix length and count; 0 if not a split name. */
static int split_count(const char *path, size_t *prefix_len) {
    size_t n = strlen(path);
    const char *tail = "-00001-of-00000.gguf";
    size_t tl = strlen(tail);
    if (n < tl) return 0;
    const char *s = path + n - tl;
    int a, b;
    char dot[8];
    if (sscanf(s, "-%5d-of-%5d.%5s", &a, &b, dot) != 3 || a != 1 || strcmp(dot, "gguf")) return 0;
    *prefix_len = n - tl;
    return b;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Two tensors of one name would make lookups ambiguous: refuse the file. */
static int check_duplicates(lmx_gguf *g, const char *path, char *err, size_t errlen) {
    int64_t n = g->n_tensors;
    const char **names = malloc(sizeof(char *) * (size_t)(n ? n : 1));
    if (!names) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) names[i] = g->tensors[i].name;
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    int rc = 0;
    for (int64_t i = 1; i < n && !rc; i++)
        if (!strcmp(names[i - 1], names[i])) {
            snprintf(err, errlen, "%s: tensor '%s' appears twice", path, names[i]);
            rc = -1;
        }
    free(names);
    return rc;
}

lmx_gguf *lmx_gguf_open(const char *path, char *err, size_t errlen) {
    lmx_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    size_t plen = 0;
    int parts = split_count(path, &plen);
    if (parts > 64) {
        snprintf(err, errlen, "%s: %d splits (at most 64 are supported)", path, parts);
        free(g);
        return NULL;
    }
    if (parts < 1) parts = 1;
    for (int i = 0; i < parts; i++) {
        char buf[4096];
        const char *p = path;
        if (parts > 1) {
            snprintf(buf, sizeof buf, "%.*s-%05d-of-%05d.gguf", (int)plen, path, i + 1, parts);
            p = buf;
        }
        if (map_file(p, &g->files[i].map, &g->files[i].size, err, errlen)) goto fail;
        g->n_files = i + 1;
        if (parse_file(g, i, p, err, errlen)) goto fail;
    }
    if (parts > 1) {
        int64_t sc;
        if (lmx_gguf_get_int(g, "split.count", &sc) && sc != parts) {
            snprintf(err, errlen, "%s: split.count is %lld but the file name says %d parts", path,
                     (long long)sc, parts);
            goto fail;
        }
    }
    if (check_duplicates(g, path, err, errlen)) goto fail;
    return g;
fail:
    lmx_gguf_close(g);
    return NULL;
}

void lmx_gguf_close(lmx_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].arr_strs);
    }
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->tensors);
    for (int i = 0; i < g->n_files; i++) munmap(g->files[i].map, g->files[i].size);
    free(g);
}

const lmx_gguf_kv *lmx_gguf_find(const lmx_gguf *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key && !strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const lmx_gguf_tensor *lmx_gguf_find_tensor(const lmx_gguf *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

static bool read_int(uint32_t type, const uint8_t *p, int64_t *out) {
    switch (type) {
    case LMX_GGUF_U8: *out = *p; return true;
    case LMX_GGUF_BOOL: *out = *p != 0; return true;
    case LMX_GGUF_I8: *out = (int8_t)*p; return true;
    case LMX_GGUF_U16: { uint16_t v; memcpy(&v, p, 2); *out = v; return true; }
    case LMX_GGUF_I16: { int16_t v; memcpy(&v, p, 2); *out = v; return true; }
    case LMX_GGUF_U32: { uint32_t v; memcpy(&v, p, 4); *out = v; return true; }
    case LMX_GGUF_I32: { int32_t v; memcpy(&v, p, 4); *out = v; return true; }
    case LMX_GGUF_U64: { uint64_t v; memcpy(&v, p, 8); *out = (int64_t)v; return true; }
    case LMX_GGUF_I64: { int64_t v; memcpy(&v, p, 8); *out = v; return true; }
    default: return false;
    }
}

static bool read_float(uint32_t type, const uint8_t *p, double *out) {
    if (type == LMX_GGUF_F32) {
        float v;
        memcpy(&v, p, 4);
        *out = v;
        return true;
    }
    if (type == LMX_GGUF_F64) {
        memcpy(out, p, 8);
        return true;
    }
    int64_t i;
    if (!read_int(type, p, &i)) return false;
    *out = (double)i;
    return true;
}

bool lmx_gguf_get_int(const lmx_gguf *g, const char *key, int64_t *out) {
    const lmx_gguf_kv *kv = lmx_gguf_find(g, key);
    return kv && read_int(kv->type, kv->val, out);
}

bool lmx_gguf_get_float(const lmx_gguf *g, const char *key, double *out) {
    const lmx_gguf_kv *kv = lmx_gguf_find(g, key);
    return kv && read_float(kv->type, kv->val, out);
}

bool lmx_gguf_get_bool(const lmx_gguf *g, const char *key, bool *out) {
    int64_t v;
    if (!lmx_gguf_get_int(g, key, &v)) return false;
    *out = v != 0;
    return true;
}

const char *lmx_gguf_get_str(const lmx_gguf *g, const char *key, size_t *len) {
    const lmx_gguf_kv *kv = lmx_gguf_find(g, key);
    if (!kv || kv->type != LMX_GGUF_STR) return NULL;
    uint64_t n;
    memcpy(&n, kv->val, 8);
    if (len) *len = (size_t)n;
    return (const char *)kv->val + 8;
}

const char *lmx_gguf_arr_str(const lmx_gguf_kv *kv, uint64_t i, size_t *len) {
    uint64_t n;
    memcpy(&n, kv->arr_strs[i], 8);
    if (len) *len = (size_t)n;
    return (const char *)kv->arr_strs[i] + 8;
}

int64_t lmx_gguf_arr_int(const lmx_gguf_kv *kv, uint64_t i) {
    int64_t v = 0;
    read_int(kv->arr_type, kv->val + i * scalar_size[kv->arr_type], &v);
    return v;
}

double lmx_gguf_arr_float(const lmx_gguf_kv *kv, uint64_t i) {
    double v = 0;
    read_float(kv->arr_type, kv->val + i * scalar_size[kv->arr_type], &v);
    return v;
}

void lmx_gguf_release(const lmx_gguf *g, const lmx_gguf_tensor *t) {
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t b = ((uintptr_t)t->data + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t e = ((uintptr_t)t->data + t->nbytes) & ~((uintptr_t)page - 1);
    (void)g;
    if (e > b) madvise((void *)b, e - b, MADV_DONTNEED);
}
