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

/* A model name as the store spells it: "hf.co/" / "huggingface.co/" prefixes,
 * a ":latest" tag and a ".gguf" extension dropped. */
void lmx_model_name_clean(const char *ref, char *out, size_t n);

/* A Hugging Face reference for `lmx pull`: ORG/REPO[:QUANT], hf.co/ORG/REPO[:QUANT],
 * or https://huggingface.co/ORG/REPO[/blob|resolve/REV/FILE]. repo/quant/file/
 * revision are set ("" when absent). false with why set when it is none of these. */
typedef struct {
    char repo[256], quant[64], file[512], revision[128];
} lmx_hf_ref;
bool lmx_hf_ref_parse(const char *s, lmx_hf_ref *r, char *why, size_t whylen);

/* The store's directory as lmx serve would use it (~ expanded). */
void lmx_cli_models_dir(char *out, size_t n);

/* The file for MODEL: ref itself when it is a file, else the store's model
 * of that name. false after printing "CMD: ..." (with the store's models and
 * a did-you-mean) on stderr. */
bool lmx_cli_model_path(const char *cmd, const char *ref, char *out, size_t n);

#endif
