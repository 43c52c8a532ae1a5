/* Tokenizers: text <-> token ids, matching llama.cpp's llama_tokenize and
 * token_to_piece exactly for the vocabularies a GGUF file can carry.
 *
 * Kinds (tokenizer.ggml.model):
 *   llama  SentencePiece BPE by scores with byte fallback (tokenizer_spm.c)
 *   gpt2   byte-level BPE by merge ranks after a regex pre-tokenizer chosen by
 *          tokenizer.ggml.pre (tokenizer_bpe.c, pretokenize.c)
 *   bert   WordPiece, greedy longest match (tokenizer_wpm.c)
 * Special-token text (CONTROL / USER_DEFINED / UNKNOWN types) is split out of
 * the text before any of these run (tokenizer.c).
 *
 * An lmx_tok is immutable after load: encode/piece may run on many threads. */
#ifndef LMX_TOKENIZER_H
#define LMX_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"

typedef struct lmx_tok lmx_tok;

/* Builds a tokenizer from the tokenizer.ggml.* keys; NULL with a one-line
 * message in err if the vocabulary is missing or malformed. Copies what it
 * needs: the gguf may be closed afterwards. */
lmx_tok *lmx_tok_load(const lmx_gguf *g, char *err, size_t errlen);
void lmx_tok_free(lmx_tok *t);

int lmx_tok_n_vocab(const lmx_tok *t);

/* Tokenizes text[0..len). add_special adds BOS (and EOS / SEP) as the vocab
 * asks; parse_special turns control-token text into its token (user-defined
 * tokens are always matched, as llama.cpp does). Returns the number of ids,
 * which may exceed cap (then only cap were written: call again with a larger
 * buffer), or -1 on error. */
int lmx_tok_encode(const lmx_tok *t, const char *text, size_t len, bool add_special,
                   bool parse_special, int32_t *out, int cap);

/* The bytes of one token as output text: byte tokens <0xNN> give that byte,
 * SentencePiece '▁' gives ' ', byte-level BPE text gives its raw bytes; control
 * and unknown tokens give "" unless `special`. Returns the piece's length
 * (which may exceed cap: then only cap bytes were written). */
size_t lmx_tok_piece(const lmx_tok *t, int32_t id, bool special, char *buf, size_t cap);

/* Detokenizes a whole sequence as llama_detokenize does: drops the leading
 * space SentencePiece added, optionally drops BOS/EOS (remove_special), and
 * applies the vocab's clean_up_tokenization_spaces rule. Returns the length
 * (may exceed cap, as above). */
size_t lmx_tok_decode(const lmx_tok *t, const int32_t *ids, int n, bool remove_special,
                      bool special, char *buf, size_t cap);

int32_t lmx_tok_bos(const lmx_tok *t); /* -1 if none */
int32_t lmx_tok_eos(const lmx_tok *t); /* -1 if none */
bool lmx_tok_is_eog(const lmx_tok *t, int32_t id);
bool lmx_tok_is_control(const lmx_tok *t, int32_t id);
bool lmx_tok_add_bos(const lmx_tok *t);
/* The raw vocabulary string of a token (not NUL-terminated); NULL if out of range. */
const char *lmx_tok_text(const lmx_tok *t, int32_t id, size_t *len);

/* Streaming detokenizer: feed ids one by one, get back only valid UTF-8: a
 * multi-byte character split across byte tokens is held until it is whole,
 * and bytes that cannot form a character come out as U+FFFD (so for valid
 * text the output equals the concatenated pieces). Flush at the end: an
 * unfinished character becomes U+FFFD. Set `special` after init to render
 * control tokens. */
typedef struct {
    const lmx_tok *tok;
    bool special;
    uint8_t pend[4]; /* the started UTF-8 sequence */
    int npend, need;
} lmx_detok;

void lmx_detok_init(lmx_detok *d, const lmx_tok *t);
/* Writes at most cap bytes and returns how many were written; a cap of three
 * times the longest piece plus 4 (lmx_tok_max_piece) never truncates. */
size_t lmx_detok_push(lmx_detok *d, int32_t id, char *out, size_t cap);
size_t lmx_detok_flush(lmx_detok *d, char *out, size_t cap);
size_t lmx_tok_max_piece(const lmx_tok *t); /* longest piece in bytes */

#endif
