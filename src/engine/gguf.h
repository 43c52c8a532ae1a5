/* GGUF model files: open, validate, and read metadata and tensors.
 *
 * The file is mmap'ed read-only; every count, string, offset, size, dimension
 * and type is checked against the mapping before anything points into it, so a
 * truncated or hostile file yields a one-line error naming the key or tensor,
 * never an out-of-bounds read. Versions 2 and 3 are read; split models
 * (NAME-00001-of-00003.gguf) open as one: metadata comes from the first part,
 * tensors from all of them.
 *
 * Strings returned point into the mapping and are NOT NUL-terminated: each
 * getter returns its length. Everything stays valid until lmx_gguf_close. */
#ifndef LMX_GGUF_H
#define LMX_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    LMX_GGUF_U8 = 0,
    LMX_GGUF_I8,
    LMX_GGUF_U16,
    LMX_GGUF_I16,
    LMX_GGUF_U32,
    LMX_GGUF_I32,
    LMX_GGUF_F32,
    LMX_GGUF_BOOL,
    LMX_GGUF_STR,
    LMX_GGUF_ARR,
    LMX_GGUF_U64,
    LMX_GGUF_I64,
    LMX_GGUF_F64,
    LMX_GGUF_NTYPES
};

typedef struct {
    char *key;                 /* NUL-terminated copy */
    uint32_t type;             /* LMX_GGUF_* */
    uint32_t arr_type;         /* element type, for arrays */
    uint64_t arr_n;            /* element count, for arrays */
    const uint8_t *val;        /* the value (scalars, strings: length prefix; arrays: first element) */
    const uint8_t **arr_strs;  /* arrays of strings: each element's length prefix */
} lmx_gguf_kv;

typedef struct {
    char *name;          /* NUL-terminated copy */
    uint32_t type;       /* lmx_dtype */
    int n_dims;
    int64_t ne[4];       /* ne[0] is the innermost (contiguous) dimension */
    size_t nbytes;
    const void *data;    /* into the mapping of its file */
    int file;            /* which split */
} lmx_gguf_tensor;

typedef struct lmx_gguf {
    int n_files;
    struct {
        uint8_t *map;
        size_t size;
    } files[64];
    uint32_t version;
    size_t alignment;
    int64_t n_kv;
    lmx_gguf_kv *kv;
    int64_t n_tensors;
    lmx_gguf_tensor *tensors;
    size_t tensor_bytes; /* sum of all tensors' sizes */
} lmx_gguf;

/* Opens and validates a model; NULL with a one-line message in err on failure. */
lmx_gguf *lmx_gguf_open(const char *path, char *err, size_t errlen);
void lmx_gguf_close(lmx_gguf *g);

const lmx_gguf_kv *lmx_gguf_find(const lmx_gguf *g, const char *key);
const lmx_gguf_tensor *lmx_gguf_find_tensor(const lmx_gguf *g, const char *name);

/* Typed getters: false if the key is missing or of an incompatible type.
 * Integer getters accept any integer type (and bool); float getters also ints. */
bool lmx_gguf_get_int(const lmx_gguf *g, const char *key, int64_t *out);
bool lmx_gguf_get_float(const lmx_gguf *g, const char *key, double *out);
bool lmx_gguf_get_bool(const lmx_gguf *g, const char *key, bool *out);
const char *lmx_gguf_get_str(const lmx_gguf *g, const char *key, size_t *len);

/* Array elements (i < kv->arr_n, not checked again). */
const char *lmx_gguf_arr_str(const lmx_gguf_kv *kv, uint64_t i, size_t *len);
int64_t lmx_gguf_arr_int(const lmx_gguf_kv *kv, uint64_t i);
double lmx_gguf_arr_float(const lmx_gguf_kv *kv, uint64_t i);

/* Tells the kernel the pages of a tensor are no longer needed (after the
 * engine has repacked it elsewhere), so they stop counting as resident. */
void lmx_gguf_release(const lmx_gguf *g, const lmx_gguf_tensor *t);

/* Short name of a metadata value type ("u32", "string", ...). */
const char *lmx_gguf_type_name(uint32_t type);

#endif
