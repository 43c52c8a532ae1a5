/* What a GGUF's tensor table says of the model's size, for listings (the
 * store's probe, a loaded model's info, `lmx inspect`). */
#ifndef LMX_ENGINE_GGUF_STATS_H
#define LMX_ENGINE_GGUF_STATS_H

#include <stdint.h>

#include "engine/gguf.h"

/* The model's quantization: the tensor type holding the most bytes of its
 * matrices (tensors of 2+ dimensions; norms and biases stay F32 in any
 * quantization). *params gets the parameter count, all tensors' elements. */
uint32_t lmx_gguf_main_type(const lmx_gguf *g, uint64_t *params);

#endif
