/* What a user may type for MODEL on the command line, and how it becomes a
 * file: a path to a .gguf file, or a name the store knows ("stories260K",
 * "org/repo:Q4_K_M"), written as Ollama and Hugging Face users write it
 * ("name:latest", "name.gguf", "hf.co/org/repo:Q4_K_M", a huggingface.co URL).
 * The store is the one `lmx serve` uses: models_dir from the config file or
 * LMX_MODELS_DIR, default ~/.lmx/models. */
#ifndef LMX_CLI_MODEL_REF_H
#define LMX_CLI_MODEL_REF_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/gguf.h"
#include "manager/model_name.h"

/* The store's directory as lmx serve would use it (~ expanded). */
void lmx_cli_models_dir(char *out, size_t n);

/* The file for MODEL: ref itself when it is a file, else the store's model
 * of that name. false after printing "CMD: ..." (with the store's models and
 * a did-you-mean) on stderr. */
bool lmx_cli_model_path(const char *cmd, const char *ref, char *out, size_t n);

/* The same file, its GGUF header opened (metadata only, no weights): NULL
 * after printing "CMD: ..." on stderr. */
lmx_gguf *lmx_cli_gguf_open(const char *cmd, const char *ref, char *path, size_t n);

#endif
