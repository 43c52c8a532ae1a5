/* Model names as people type them, made into what the store and the Hub
 * client take: Ollama's ":latest" tag, a ".gguf" extension, the "hf.co/" and
 * "huggingface.co/" prefixes, and Hugging Face URLs of a repo or of a file.
 * Pure string work (no I/O), shared by the CLI and fuzzed. */
#ifndef LMX_MGR_MODEL_NAME_H
#define LMX_MGR_MODEL_NAME_H

#include <stdbool.h>
#include <stddef.h>

/* A model name as the store spells it: "hf.co/" / "huggingface.co/" prefixes,
 * a ":latest" tag and a ".gguf" extension dropped (cut to fit n). */
void lmx_model_name_clean(const char *ref, char *out, size_t n);

/* A Hugging Face reference for a download: ORG/REPO[:QUANT], hf.co/ORG/REPO[:QUANT],
 * or https://huggingface.co/ORG/REPO[/blob|resolve|tree/REV[/FILE]]. repo, quant,
 * file and revision are set ("" when absent; a ":latest" quant is none). false
 * with why set when it is none of these. */
typedef struct {
    char repo[256], quant[64], file[512], revision[128];
} lmx_hf_ref;
bool lmx_hf_ref_parse(const char *s, lmx_hf_ref *r, char *why, size_t whylen);

#endif
