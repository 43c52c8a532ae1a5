/* A model file in a few figures, for `lmx show` and the first line of
 * `lmx inspect`: architecture, parameters, quantization, context, template,
 * capabilities, and the memory lmx serve would reserve for it at its
 * defaults. Read from the GGUF header; nothing is loaded. */
#ifndef LMX_CLI_MODEL_SUMMARY_H
#define LMX_CLI_MODEL_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char arch[64], name[128], quant[32];
    uint64_t n_params;
    int64_t ctx_train; /* the context the model was trained for (0: not said) */
    int ctx_serve;     /* the context lmx serve gives it by default */
    int parallel;      /* lmx serve's default parallel sequences */
    bool has_template, tools, embedding;
    size_t weights, kv, compute, total; /* at serve's defaults */
} lmx_model_summary;

/* 0, or -1 with err set. */
int lmx_model_summary_read(const char *path, lmx_model_summary *s, char *err, size_t errlen);

/* "llama, 292.8K parameters, F32, context 2048 (trained), chat template: none" */
void lmx_model_summary_line(const lmx_model_summary *s, char *out, size_t n);
/* "16.0 MiB at lmx serve's defaults (context 2048 × 16 sequences: weights ..., KV ...)" */
void lmx_model_summary_memory(const lmx_model_summary *s, char *out, size_t n);

#endif
