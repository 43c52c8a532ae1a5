/* WordPiece (tokenizer.ggml.model = "bert"), as llama.cpp runs it.
 *
 * Normalization: each code point is replaced by the first code point of its
 * canonical decomposition (which drops accents: é -> e), lowercased; control
 * characters, NUL and U+FFFD are dropped; whitespace ends a word; punctuation,
 * ASCII symbols and CJK ideographs are words of their own. Then each word,
 * prefixed with '▁' (the GGUF vocab marks word starts with it instead of
 * marking continuations with ##), is cut greedily into the longest vocab
 * tokens; a word with any uncoverable part becomes [UNK]. Unicode data comes
 * from utf8proc. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "engine/tokenizer_impl.h"

static bool is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static uint32_t nfd_first(uint32_t c) {
    if (c < 0xC0 || c > 0x10FFFF) return c;
    utf8proc_int32_t buf[8];
    int opt = 0;
    utf8proc_ssize_t n =
        utf8proc_decompose_char((utf8proc_int32_t)c, buf, 8, UTF8PROC_DECOMPOSE, &opt);
    return n > 0 ? (uint32_t)buf[0] : c;
}

static void word_out(const lmx_tok *t, const char *w, size_t n, lmx_ids *out) {
    if (n <= 3) return; /* only the '▁' */
    int before = out->n;
    for (size_t i = 0; i < n;) {
        size_t j = i + (size_t)t->max_tok_len + 1 < n ? i + (size_t)t->max_tok_len + 1 : n;
        int32_t id = -1;
        for (; j > i; j--)
            if ((id = lmx_tok_lookup(t, w + i, j - i)) >= 0) break;
        if (id < 0) {
            out->n = before;
            break;
        }
        lmx_ids_push(out, id);
        i = j;
    }
    if (out->n == before) lmx_ids_push(out, t->unk);
}

void lmx_wpm_encode(const lmx_tok *t, const char *text, size_t len, lmx_ids *out) {
    char *w = malloc(len * 4 + 8);
    if (!w) {
        out->oom = true;
        return;
    }
    size_t wn = 3;
    memcpy(w, "\xe2\x96\x81", 3);
    for (size_t i = 0; i < len;) {
        uint32_t c = nfd_first(lmx_utf8_next(text, len, &i));
        utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
        bool space = c == ' ' || (c >= 9 && c <= 13) || c == 0x85 || k == UTF8PROC_CATEGORY_ZS ||
                     k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
        if (space) {
            word_out(t, w, wn, out);
            wn = 3;
            continue;
        }
        bool control = k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF ||
                       k == UTF8PROC_CATEGORY_CO || k == UTF8PROC_CATEGORY_CS;
        if (c == 0 || c == 0xFFFD || control) continue;
        bool punct = k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
        bool symbol = k >= UTF8PROC_CATEGORY_SM && k <= UTF8PROC_CATEGORY_SO;
        uint32_t lc = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
        if (punct || (c < 0x7F && symbol) || is_cjk(c)) {
            word_out(t, w, wn, out);
            wn = 3 + (size_t)lmx_utf8_put(lc, w + 3);
            word_out(t, w, wn, out);
            wn = 3;
        } else {
            wn += (size_t)lmx_utf8_put(lc, w + wn);
        }
    }
    word_out(t, w, wn, out);
    free(w);
}
