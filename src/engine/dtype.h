/* Tensor element types of GGUF files (ggml's numbering) and their block layout.
 *
 * Quantized types store blocks of `block_elems` values in `block_bytes` bytes;
 * plain types are blocks of one. The table knows every type a GGUF file may
 * name, so the loader can validate sizes of any file; `supported` says which
 * ones the engine can compute with. */
#ifndef LMX_DTYPE_H
#define LMX_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    LMX_F32 = 0,
    LMX_F16 = 1,
    LMX_Q4_0 = 2,
    LMX_Q4_1 = 3,
    LMX_Q5_0 = 6,
    LMX_Q5_1 = 7,
    LMX_Q8_0 = 8,
    LMX_Q8_1 = 9,
    LMX_Q2_K = 10,
    LMX_Q3_K = 11,
    LMX_Q4_K = 12,
    LMX_Q5_K = 13,
    LMX_Q6_K = 14,
    LMX_Q8_K = 15,
    LMX_I8 = 24,
    LMX_I16 = 25,
    LMX_I32 = 26,
    LMX_I64 = 27,
    LMX_F64 = 28,
    LMX_BF16 = 30,
    LMX_DTYPE_MAX = 64
} lmx_dtype;

typedef struct {
    const char *name;  /* "q4_K", as ggml spells it; NULL for an unknown id */
    int block_elems;   /* values per block */
    int block_bytes;   /* bytes per block */
    bool supported;    /* the engine has kernels for it */
} lmx_dtype_info;

/* Info for a type id; NULL if the id names no known type. */
const lmx_dtype_info *lmx_dtype_get(uint32_t type);
const char *lmx_dtype_name(uint32_t type); /* "type 99" style for unknown ids */

/* Bytes of a row of n elements; 0 if n is not a whole number of blocks. */
size_t lmx_dtype_row_bytes(uint32_t type, int64_t n);

#endif
