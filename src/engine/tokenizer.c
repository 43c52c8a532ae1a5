/* Tokenizer front end: loading the vocabulary from GGUF, splitting special
 * tokens out of the text, dispatching to SPM / BPE / WPM, and turning ids back
 * into text (pieces, whole-sequence decode, streaming).
 *
 * Loading mirrors llama.cpp's llama_vocab::load: token types become
 * attributes, special ids come from tokenizer.ggml.*_token_id with per-model
 * defaults, and end-of-generation / FIM tokens are recognized by their text
 * (and forced to CONTROL), because GGUF files do not mark them.
 *
 * Special tokens (CONTROL, USER_DEFINED, UNKNOWN) are split out longest text
 * first, every occurrence, before the model tokenizer sees the remaining text;
 * without parse_special only USER_DEFINED ones are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer_impl.h"
#include "util/grow.h"

/* ---------------------------------------------------------------- loading */

/* GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves,
 * the others map in order to U+0100... u2b is the inverse (-1: not in it). */
static void bytelevel_tables(int16_t u2b[324]) {
    int next = 256;
    for (int i = 0; i < 324; i++) u2b[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool self = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        u2b[self ? b : next++] = (int16_t)b;
    }
}

/* Decodes byte-level text to raw bytes; false if a character is outside the alphabet. */
static bool bytelevel_decode(const int16_t *u2b, const char *s, size_t n, char *out, size_t *on) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c = lmx_utf8_next(s, n, &i);
        if (c >= 324 || u2b[c] < 0) return false;
        out[k++] = (char)u2b[c];
    }
    *on = k;
    return true;
}

static bool has_text(const lmx_tok *t, int32_t id, const char *s) {
    size_t n = strlen(s);
    return t->tok[id].len == n && !memcmp(t->text + t->tok[id].off, s, n);
}

static int32_t find_text(const lmx_tok *t, const char *s) {
    return lmx_tok_lookup(t, s, strlen(s));
}

static bool any_of(const lmx_tok *t, int32_t id, const char *const *list) {
    for (; *list; list++)
        if (has_text(t, id, *list)) return true;
    return false;
}

/* Reads a token id key. -1 (or its u32 form) means "none". An id outside the
 * vocab is an error for BOS/EOS (strict); for the others llama.cpp ignores it
 * and keeps the default, and so do we. */
static int get_id(const lmx_gguf *g, const char *key, int32_t *id, int n_vocab, bool strict,
                  char *err, size_t errlen) {
    int64_t v;
    if (!lmx_gguf_find(g, key)) return 0;
    if (!lmx_gguf_get_int(g, key, &v)) {
        snprintf(err, errlen, "%s: not an integer", key);
        return -1;
    }
    if (v == -1 || v == (int64_t)UINT32_MAX) {
        *id = -1;
        return 0;
    }
    if (v < 0 || v >= n_vocab) {
        if (!strict) return 0;
        snprintf(err, errlen, "%s = %lld: not a token id (vocab has %d)", key, (long long)v,
                 n_vocab);
        return -1;
    }
    *id = (int32_t)v;
    return 0;
}

static bool lower_contains(const char *s, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m &&
               (s[i + j] >= 'A' && s[i + j] <= 'Z' ? s[i + j] + 32 : s[i + j]) == needle[j])
            j++;
        if (j == m) return true;
    }
    return false;
}

static int build_bpe(lmx_tok *t, const lmx_gguf *g, char *err, size_t errlen) {
    int16_t u2b[324];
    bytelevel_tables(u2b);
    size_t maxlen = 0;
    for (int i = 0; i < t->n_vocab; i++)
        if (t->tok[i].len > maxlen) maxlen = t->tok[i].len;
    char *buf = malloc(maxlen * 2 + 16);
    if (!buf) goto oom;
    t->raw_tok_cap = t->n_vocab + 1024;
    t->raw_tok = malloc((size_t)t->raw_tok_cap * sizeof *t->raw_tok);
    if (!t->raw_tok) goto oom;
    for (int i = 0; i < t->n_vocab; i++) {
        size_t n;
        if (!bytelevel_decode(u2b, t->text + t->tok[i].off, t->tok[i].len, buf, &n)) continue;
        int r = lmx_strmap_add(&t->raw, buf, n);
        if (r < 0) goto oom;
        if (r >= t->raw_tok_cap) goto oom; /* cannot happen: at most one new index per token */
        t->raw_tok[r] = i;
    }
    int n_tok_raw = t->raw.n;
    const lmx_gguf_kv *mk = lmx_gguf_find(g, "tokenizer.ggml.merges");
    if (!mk) goto done; /* no merges: single bytes only */
    if (mk->type != LMX_GGUF_ARR || mk->arr_type != LMX_GGUF_STR) {
        snprintf(err, errlen, "tokenizer.ggml.merges: not an array of strings");
        goto fail;
    }
    if (mk->arr_n > (uint64_t)INT32_MAX / 2) {
        snprintf(err, errlen, "tokenizer.ggml.merges: too many merges");
        goto fail;
    }
    t->merge_res = malloc((size_t)(mk->arr_n ? mk->arr_n : 1) * sizeof *t->merge_res);
    if (!t->merge_res) goto oom;
    for (uint64_t i = 0; i < mk->arr_n; i++) {
        size_t n;
        const char *s = lmx_gguf_arr_str(mk, i, &n);
        const char *sp = n > 1 ? memchr(s + 1, ' ', n - 1) : NULL;
        if (!sp || sp + 1 == s + n) {
            snprintf(err, errlen,
                     "tokenizer.ggml.merges[%llu] = '%.*s': not two tokens split by a space",
                     (unsigned long long)i, (int)(n > 64 ? 64 : n), s);
            goto fail;
        }
        t->merge_res[i] = -1;
        size_t la, lb;
        char *a = buf, *b = buf + maxlen + 8;
        size_t na = (size_t)(sp - s), nb = n - na - 1;
        if (na > maxlen + 8 || nb > maxlen + 8) continue; /* longer than any token: never used */
        if (!bytelevel_decode(u2b, s, na, a, &la) || !bytelevel_decode(u2b, sp + 1, nb, b, &lb))
            continue; /* outside the byte alphabet: can never match a word */
        int ia = lmx_strmap_add(&t->raw, a, la);
        int ib = lmx_strmap_add(&t->raw, b, lb);
        memmove(a + la, b, lb);
        int ir = lmx_strmap_add(&t->raw, a, la + lb);
        if (ia < 0 || ib < 0 || ir < 0) goto oom;
        if (lmx_pairmap_put(&t->merge, (uint32_t)ia, (uint32_t)ib, (int32_t)i)) goto oom;
        t->merge_res[i] = ir;
    }
done:
    /* the interning table grew with strings that are not tokens */
    if (t->raw.n > t->raw_tok_cap) {
        int32_t *r = realloc(t->raw_tok, (size_t)t->raw.n * sizeof *r);
        if (!r) goto oom;
        t->raw_tok = r;
        t->raw_tok_cap = t->raw.n;
    }
    for (int i = n_tok_raw; i < t->raw.n; i++) t->raw_tok[i] = -1;
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_raw[b] = lmx_strmap_find(&t->raw, &c, 1);
    }
    free(buf);
    return 0;
oom:
    snprintf(err, errlen, "out of memory building the BPE tables");
fail:
    free(buf);
    return -1;
}

void lmx_tok_free(lmx_tok *t) {
    if (!t) return;
    free(t->text);
    free(t->tok);
    lmx_strmap_free(&t->vmap);
    free(t->vmap_id);
    free(t->special);
    free(t->eog);
    free(t->piece);
    free(t->piece_off);
    free(t->piece_len);
    lmx_strmap_free(&t->raw);
    free(t->raw_tok);
    lmx_pairmap_free(&t->merge);
    free(t->merge_res);
    lmx_pretok_free(t->pre);
    free(t);
}

/* Sort key for special tokens: longest text first, then lower id (llama.cpp's
 * unstable sort leaves equal lengths in an unspecified order). */
static int special_cmp(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void render_piece(const lmx_tok *t, const int16_t *u2b, int32_t id, char *out, size_t *n) {
    const lmx_tok_entry *e = &t->tok[id];
    const char *s = t->text + e->off;
    *n = 0;
    if (e->attr & (LMX_ATTR_UNKNOWN | LMX_ATTR_CONTROL | LMX_ATTR_USER_DEFINED)) {
        memcpy(out, s, e->len);
        *n = e->len;
        return;
    }
    if (t->kind == LMX_TOK_BPE) {
        if (!(e->attr & LMX_ATTR_NORMAL)) return;
        /* byte-level text -> raw bytes; characters outside the alphabet pass through */
        for (size_t i = 0; i < e->len;) {
            size_t i0 = i;
            uint32_t c = lmx_utf8_next(s, e->len, &i);
            int b = c < 324 ? u2b[c] : -1;
            if (b >= 0) {
                out[(*n)++] = (char)b;
            } else {
                memcpy(out + *n, s + i0, i - i0);
                *n += i - i0;
            }
        }
        return;
    }
    if (e->attr & LMX_ATTR_NORMAL) { /* SPM and WPM: '▁' -> ' ' */
        for (size_t i = 0; i < e->len; i++) {
            if (i + 2 < e->len && !memcmp(s + i, "\xe2\x96\x81", 3)) {
                out[(*n)++] = ' ';
                i += 2;
            } else {
                out[(*n)++] = s[i];
            }
        }
        return;
    }
    if (e->attr & LMX_ATTR_BYTE) { /* <0xNN> */
        unsigned v;
        char tail;
        if (e->len == 6 && sscanf(s, "<0x%2x%c", &v, &tail) == 2 && tail == '>')
            out[(*n)++] = (char)v;
        return;
    }
}

/* ---------------------------------------------------------------- loading */

/* The tokenizer kind tokenizer.ggml.model names; 0 (err set): none we have. */
static int tok_kind(const lmx_gguf *g, char *err, size_t errlen) {
    static const struct {
        const char *model;
        int kind;
    } kinds[] = {{"llama", LMX_TOK_SPM}, {"gpt2", LMX_TOK_BPE}, {"bert", LMX_TOK_WPM}};
    size_t mlen;
    const char *model = lmx_gguf_get_str(g, "tokenizer.ggml.model", &mlen);
    if (!model) {
        snprintf(err, errlen, "tokenizer.ggml.model: missing");
        return 0;
    }
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (mlen == strlen(kinds[i].model) && !memcmp(model, kinds[i].model, mlen))
            return kinds[i].kind;
    snprintf(err, errlen, "tokenizer.ggml.model = '%.*s': unsupported (llama, gpt2, bert)",
             (int)mlen, model);
    return 0;
}

/* The vocabulary's arrays: texts (*tk, required), scores and token types
 * (optional), checked for type and length; false (err set) when wrong. */
static bool vocab_arrays(const lmx_gguf *g, const lmx_gguf_kv **tkp, const lmx_gguf_kv **skp,
                         const lmx_gguf_kv **ykp, char *err, size_t errlen) {
    const lmx_gguf_kv *tk = lmx_gguf_find(g, "tokenizer.ggml.tokens");
    if (!tk || tk->type != LMX_GGUF_ARR || tk->arr_type != LMX_GGUF_STR || tk->arr_n == 0) {
        snprintf(err, errlen, "tokenizer.ggml.tokens: %s",
                 tk ? "not a non-empty array of strings" : "missing");
        return false;
    }
    if (tk->arr_n > (1u << 24)) {
        snprintf(err, errlen, "tokenizer.ggml.tokens: %llu tokens is too many",
                 (unsigned long long)tk->arr_n);
        return false;
    }
    int nv = (int)tk->arr_n;
    const lmx_gguf_kv *sk = lmx_gguf_find(g, "tokenizer.ggml.scores");
    const lmx_gguf_kv *yk = lmx_gguf_find(g, "tokenizer.ggml.token_type");
    if (sk && (sk->type != LMX_GGUF_ARR || sk->arr_n != tk->arr_n ||
               !(sk->arr_type == LMX_GGUF_F32 || sk->arr_type == LMX_GGUF_F64))) {
        snprintf(err, errlen, "tokenizer.ggml.scores: expected %d floats", nv);
        return false;
    }
    if (yk && (yk->type != LMX_GGUF_ARR || yk->arr_n != tk->arr_n || yk->arr_type == LMX_GGUF_STR ||
               yk->arr_type == LMX_GGUF_ARR || yk->arr_type == LMX_GGUF_F32 ||
               yk->arr_type == LMX_GGUF_F64)) {
        snprintf(err, errlen, "tokenizer.ggml.token_type: expected %d integers", nv);
        return false;
    }
    *tkp = tk, *skp = sk, *ykp = yk;
    return true;
}

/* Each token's text, score and attributes, and the text -> id map.
 * 0, or -1 out of memory. */
static int load_vocab(lmx_tok *t, const lmx_gguf_kv *tk, const lmx_gguf_kv *sk,
                      const lmx_gguf_kv *yk) {
    size_t total = 0;
    for (int i = 0; i < t->n_vocab; i++) {
        size_t n;
        lmx_gguf_arr_str(tk, (uint64_t)i, &n);
        total += n;
    }
    if (total > UINT32_MAX) return -1;
    t->text = malloc(total + 1);
    t->tok = calloc((size_t)t->n_vocab, sizeof *t->tok);
    t->vmap_id = malloc((size_t)t->n_vocab * sizeof *t->vmap_id);
    if (!t->text || !t->tok || !t->vmap_id) return -1;
    total = 0;
    for (int i = 0; i < t->n_vocab; i++) {
        size_t n;
        const char *s = lmx_gguf_arr_str(tk, (uint64_t)i, &n);
        memcpy(t->text + total, s, n);
        t->tok[i].off = (uint32_t)total;
        t->tok[i].len = (uint32_t)n;
        total += n;
        t->tok[i].score = sk ? (float)lmx_gguf_arr_float(sk, (uint64_t)i) : 0.0f;
        int64_t ty = yk ? lmx_gguf_arr_int(yk, (uint64_t)i) : 1;
        static const uint16_t attr_of[] = {
            LMX_ATTR_UNDEFINED,    LMX_ATTR_NORMAL, LMX_ATTR_UNKNOWN, LMX_ATTR_CONTROL,
            LMX_ATTR_USER_DEFINED, LMX_ATTR_UNUSED, LMX_ATTR_BYTE};
        t->tok[i].attr = ty >= 0 && ty <= 6 ? attr_of[ty] : LMX_ATTR_UNDEFINED;
        int r = lmx_strmap_add(&t->vmap, t->text + t->tok[i].off, n);
        if (r < 0) return -1;
        t->vmap_id[r] = i; /* the last token with a text wins, as in llama.cpp */
        if (n > (size_t)t->max_tok_len) t->max_tok_len = (int)n;
    }
    return 0;
}

/* A kind's special tokens and flags before the file's keys say otherwise. */
static const struct {
    int32_t bos, eos, unk, sep, pad;
    bool add_space_prefix, add_bos, add_sep, clean_spaces;
} kind_defaults[] = {
    [LMX_TOK_SPM] = {1, 2, 0, -1, -1, true, true, false, false},
    [LMX_TOK_BPE] = {11, 11, -1, -1, -1, false, false, false, false},
    [LMX_TOK_WPM] = {101, -1, 100, 102, 0, false, true, true, true},
};

/* A BPE vocabulary's pre-tokenizer and merges. 0, -1 out of memory, -2
 * (err set) for a bad file. */
static int load_bpe(lmx_tok *t, const lmx_gguf *g, char *err, size_t errlen) {
    size_t pl = 0;
    const char *pre = lmx_gguf_get_str(g, "tokenizer.ggml.pre", &pl);
    t->pre = lmx_pretok_new(pre, pl, &t->ignore_merges, &t->clean_spaces, err, errlen);
    if (!t->pre) return -2;
    if (pre && ((pl == 6 && !memcmp(pre, "tekken", 6)) || t->ignore_merges)) t->add_bos = true;
    if (build_bpe(t, g, err, errlen)) return -2;
    return 0;
}

/* BOS, EOS, UNK, SEP, PAD, EOT, EOM and the add_* flags: the kind's
 * defaults, then the file's keys. 0, -1 out of memory, -2 (err set). */
static int load_special_ids(lmx_tok *t, const lmx_gguf *g, char *err, size_t errlen) {
    int32_t *ids[] = {&t->bos, &t->eos, &t->unk, &t->sep, &t->pad};
    t->bos = kind_defaults[t->kind].bos, t->eos = kind_defaults[t->kind].eos;
    t->unk = kind_defaults[t->kind].unk, t->sep = kind_defaults[t->kind].sep;
    t->pad = kind_defaults[t->kind].pad;
    t->eot = t->eom = -1;
    t->add_space_prefix = kind_defaults[t->kind].add_space_prefix;
    t->add_bos = kind_defaults[t->kind].add_bos;
    t->add_sep = kind_defaults[t->kind].add_sep;
    t->clean_spaces = kind_defaults[t->kind].clean_spaces;
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        if (*ids[i] >= t->n_vocab) *ids[i] = -1;
    if (t->kind == LMX_TOK_BPE) {
        int rc = load_bpe(t, g, err, errlen);
        if (rc) return rc;
    }
    if (get_id(g, "tokenizer.ggml.bos_token_id", &t->bos, t->n_vocab, true, err, errlen) ||
        get_id(g, "tokenizer.ggml.eos_token_id", &t->eos, t->n_vocab, true, err, errlen) ||
        get_id(g, "tokenizer.ggml.unknown_token_id", &t->unk, t->n_vocab, false, err, errlen) ||
        get_id(g, "tokenizer.ggml.seperator_token_id", &t->sep, t->n_vocab, false, err, errlen) ||
        get_id(g, "tokenizer.ggml.padding_token_id", &t->pad, t->n_vocab, false, err, errlen) ||
        get_id(g, "tokenizer.ggml.eot_token_id", &t->eot, t->n_vocab, false, err, errlen) ||
        get_id(g, "tokenizer.ggml.eom_token_id", &t->eom, t->n_vocab, false, err, errlen))
        return -2;
    bool b;
    if (lmx_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b)) t->add_space_prefix = b;
    if (lmx_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) t->add_bos = b;
    if (lmx_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b)) t->add_eos = b;
    if (lmx_gguf_get_bool(g, "tokenizer.ggml.add_sep_token", &b)) t->add_sep = b;
    if (t->add_bos && t->bos < 0 && t->kind != LMX_TOK_WPM) t->add_bos = false;
    if (t->add_eos && t->eos < 0) t->add_eos = false;
    return 0;
}

/* Byte tokens, and the attributes of tokens known by their text: end of
 * turn, FIM, end of generation. 0, or -1 out of memory. */
static int mark_control(lmx_tok *t) {
    /* byte tokens */
    for (int c = 0; c < 256; c++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", c);
        t->byte_tok[c] = find_text(t, hex);
    }

    /* tokens recognized by text: end of turn, FIM, end of generation */
    static const char *const eot_texts[] = {
        "<|eot_id|>",
        "<|im_end|>",
        "<|end|>",
        "<end_of_turn>",
        "<|endoftext|>",
        "<|end_of_text|>",
        "<EOT>",
        "_<EOT>",
        "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>",
        "<end_of_utterance>",
        NULL};
    static const char *const fim_texts[] = {"<|fim_prefix|>",
                                            "<fim-prefix>",
                                            "<fim_prefix>",
                                            "<PRE>",
                                            "\xe2\x96\x81<PRE>",
                                            "<|code_prefix|>",
                                            "<|fim_suffix|>",
                                            "<fim-suffix>",
                                            "<fim_suffix>",
                                            "<SUF>",
                                            "\xe2\x96\x81<SUF>",
                                            "<|code_suffix|>",
                                            "<|fim_middle|>",
                                            "<fim-middle>",
                                            "<fim_middle>",
                                            "<MID>",
                                            "\xe2\x96\x81<MID>",
                                            "<|code_middle|>",
                                            "<\357\275\234fim\342\226\201begin\357\275\234>",
                                            "<\357\275\234fim\342\226\201hole\357\275\234>",
                                            "<\357\275\234fim\342\226\201end\357\275\234>",
                                            NULL};
    static const char *const fim_eog_texts[] = {"<|fim_pad|>",        "<fim-pad>",
                                                "<fim_pad>",          "<PAD>",
                                                "<|fim_repo|>",       "<|repo_name|>",
                                                "<fim-repo>",         "<REPO>",
                                                "<reponame>",         "<|file_sep|>",
                                                "<file_sep>",         "<file-sep>",
                                                "<|file_separator|>", NULL};
    static const char *const eog_texts[] = {
        "<|eot_id|>",      "<|im_end|>",         "<|end|>",    "<|return|>", "<|call|>",
        "<end_of_turn>",   "<|endoftext|>",      "<|eom_id|>", "<EOT>",      "_<EOT>",
        "<|end_of_text|>", "<end_of_utterance>", NULL};
    t->eog = calloc((size_t)t->n_vocab, 1);
    if (!t->eog) return -1;
    for (int r = 0; r < t->vmap.n; r++) {
        int32_t id = t->vmap_id[r];
        bool is_eot = any_of(t, id, eot_texts), is_eom = has_text(t, id, "<|eom_id|>");
        bool is_eog = any_of(t, id, eog_texts), fim_eog = any_of(t, id, fim_eog_texts);
        if (is_eot && t->eot < 0) t->eot = id;
        if (is_eom && t->eom < 0) t->eom = id;
        if ((is_eot && t->eot == id) || (is_eom && t->eom == id) || is_eog || fim_eog ||
            any_of(t, id, fim_texts)) {
            t->tok[id].attr &= (uint16_t) ~(LMX_ATTR_NORMAL | LMX_ATTR_USER_DEFINED |
                                            LMX_ATTR_UNKNOWN | LMX_ATTR_BYTE | LMX_ATTR_UNUSED);
            t->tok[id].attr |= LMX_ATTR_CONTROL;
        }
        if (is_eog || fim_eog) t->eog[id] = 1;
    }
    if (t->eos >= 0) t->eog[t->eos] = 1;
    if (t->eot >= 0) t->eog[t->eot] = 1;
    if (t->eom >= 0) t->eog[t->eom] = 1;
    /* gpt-oss style vocabularies: <|end|> ends a message, not the generation */
    int32_t ret = find_text(t, "<|return|>"), call = find_text(t, "<|call|>");
    int32_t end = find_text(t, "<|end|>");
    if (ret >= 0 && call >= 0 && end >= 0 && t->eos != end) t->eog[end] = 0;
    return 0;
}

/* The special tokens, longest first (ties: lower id first), for splitting
 * text at them. 0, or -1 out of memory. */
static int sort_special(lmx_tok *t) {
    /* special tokens, longest first (ties: lower id first) */
    uint64_t *keys = malloc((size_t)t->n_vocab * sizeof *keys);
    t->special = malloc((size_t)t->n_vocab * sizeof *t->special);
    if (!t->special || !keys) {
        free(keys);
        return -1;
    }
    for (int i = 0; i < t->n_vocab; i++)
        if ((t->tok[i].attr & (LMX_ATTR_CONTROL | LMX_ATTR_USER_DEFINED | LMX_ATTR_UNKNOWN)) &&
            t->tok[i].len > 0)
            keys[t->n_special++] = (uint64_t)(UINT32_MAX - t->tok[i].len) << 32 | (uint32_t)i;
    qsort(keys, (size_t)t->n_special, sizeof *keys, special_cmp);
    for (int i = 0; i < t->n_special; i++) t->special[i] = (int32_t)(keys[i] & 0xffffffffu);
    free(keys);
    return 0;
}

/* Per-model strip rules, by name as llama.cpp decides them. */
static void strip_rules(lmx_tok *t, const lmx_gguf *g) {
    /* per-model strip rules, by name as llama.cpp decides them */
    size_t nl = 0, pl = 0, al = 0;
    const char *name = lmx_gguf_get_str(g, "general.name", &nl);
    const char *pre = lmx_gguf_get_str(g, "tokenizer.ggml.pre", &pl);
    const char *arch = lmx_gguf_get_str(g, "general.architecture", &al);
    if ((pre && (lower_contains(pre, pl, "jina-v2-de") || lower_contains(pre, pl, "jina-v2-es") ||
                 lower_contains(pre, pl, "jina-v2-code"))) ||
        (arch && (lower_contains(arch, al, "nomic-bert-moe") ||
                  lower_contains(arch, al, "jina-bert-v3")))) {
        int32_t m = find_text(t, "<mask>");
        if (m >= 0) t->tok[m].attr |= LMX_ATTR_LSTRIP;
    } else if (name && (lower_contains(name, nl, "phi-3") || lower_contains(name, nl, "phi3"))) {
        for (int i = 0; i < t->n_special; i++) t->tok[t->special[i]].attr |= LMX_ATTR_RSTRIP;
        int32_t id = find_text(t, "</s>");
        if (id >= 0) t->tok[id].attr |= LMX_ATTR_RSTRIP;
        static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (int i = 0; i < 3; i++)
            if ((id = find_text(t, keep[i])) >= 0) t->tok[id].attr &= (uint16_t)~LMX_ATTR_RSTRIP;
    }
}

/* Each token's text as decoding prints it. 0, or -1 out of memory. */
static int render_pieces(lmx_tok *t) {
    /* rendered pieces */
    size_t ptotal = 0;
    for (int i = 0; i < t->n_vocab; i++) ptotal += t->tok[i].len;
    t->piece = malloc(ptotal + 1);
    t->piece_off = malloc((size_t)t->n_vocab * sizeof *t->piece_off);
    t->piece_len = malloc((size_t)t->n_vocab * sizeof *t->piece_len);
    if (!t->piece || !t->piece_off || !t->piece_len) return -1;
    ptotal = 0;
    int16_t u2b[324];
    bytelevel_tables(u2b);
    for (int i = 0; i < t->n_vocab; i++) {
        size_t n;
        render_piece(t, u2b, i, t->piece + ptotal, &n);
        t->piece_off[i] = (uint32_t)ptotal;
        t->piece_len[i] = (uint32_t)n;
        if (n > t->max_piece) t->max_piece = n;
        ptotal += n;
    }
    return 0;
}

/* Loads a vocabulary in steps, each a -1 for out of memory or -2 with err
 * already set. */
lmx_tok *lmx_tok_load(const lmx_gguf *g, char *err, size_t errlen) {
    const lmx_gguf_kv *tk, *sk, *yk;
    int kind = tok_kind(g, err, errlen);
    if (!kind || !vocab_arrays(g, &tk, &sk, &yk, err, errlen)) return NULL;
    lmx_tok *t = calloc(1, sizeof *t);
    int rc = t ? 0 : -1;
    if (!rc) {
        t->kind = kind;
        t->n_vocab = (int)tk->arr_n;
        rc = load_vocab(t, tk, sk, yk);
    }
    if (!rc) rc = load_special_ids(t, g, err, errlen);
    if (!rc) rc = mark_control(t);
    if (!rc) rc = sort_special(t);
    if (!rc) strip_rules(t, g);
    if (!rc) rc = render_pieces(t);
    if (!rc) return t;
    if (rc == -1) snprintf(err, errlen, "out of memory loading the vocabulary");
    lmx_tok_free(t);
    return NULL;
}

/* --------------------------------------------------------------- encoding */

typedef struct {
    uint32_t off, len;
    int32_t tok; /* -1: raw text */
} frag;

typedef struct {
    frag *v;
    int n, cap;
} frags;

static int frag_push(frags *f, uint32_t off, uint32_t len, int32_t tok) {
    if (!lmx_grow_int(&f->v, &f->cap, f->n + 1, sizeof *f->v, 16)) return -1;
    f->v[f->n].off = off;
    f->v[f->n].len = len;
    f->v[f->n].tok = tok;
    f->n++;
    return 0;
}

static bool ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Splits special tokens out of the text, as llama.cpp's tokenizer_st_partition. */
static int partition(const lmx_tok *t, const char *text, size_t len, bool parse_special,
                     frags *out) {
    frags a = {0}, b = {0};
    if (len && frag_push(&a, 0, (uint32_t)len, -1)) return -1;
    /* which byte pairs occur: skips most special tokens without a search */
    uint64_t *pairs = calloc(65536 / 64, sizeof *pairs);
    uint8_t seen[256] = {0};
    if (!pairs) goto oom;
    for (size_t i = 0; i < len; i++) {
        seen[(uint8_t)text[i]] = 1;
        if (i + 1 < len) {
            unsigned k = (unsigned)(uint8_t)text[i] << 8 | (uint8_t)text[i + 1];
            pairs[k >> 6] |= 1ull << (k & 63);
        }
    }
    for (int s = 0; s < t->n_special && a.n; s++) {
        int32_t id = t->special[s];
        const lmx_tok_entry *e = &t->tok[id];
        if (!parse_special && (e->attr & (LMX_ATTR_CONTROL | LMX_ATTR_UNKNOWN))) continue;
        const char *st = t->text + e->off;
        size_t sl = e->len;
        if (sl > len || !seen[(uint8_t)st[0]]) continue;
        if (sl >= 2) {
            unsigned k = (unsigned)(uint8_t)st[0] << 8 | (uint8_t)st[1];
            if (!(pairs[k >> 6] >> (k & 63) & 1)) continue;
        }
        b.n = 0;
        bool found = false;
        for (int f = 0; f < a.n; f++) {
            frag fr = a.v[f];
            if (fr.tok >= 0 || fr.len < sl) {
                if (frag_push(&b, fr.off, fr.len, fr.tok)) goto oom;
                continue;
            }
            size_t off = fr.off, end = (size_t)fr.off + fr.len;
            for (;;) {
                const char *m = memmem(text + off, end - off, st, sl);
                if (!m) {
                    if (end > off && frag_push(&b, (uint32_t)off, (uint32_t)(end - off), -1))
                        goto oom;
                    break;
                }
                found = true;
                size_t mp = (size_t)(m - text), ll = mp - off;
                if (e->attr & LMX_ATTR_LSTRIP)
                    while (ll > 0 && ascii_space(text[off + ll - 1])) ll--;
                if (ll && frag_push(&b, (uint32_t)off, (uint32_t)ll, -1)) goto oom;
                if (frag_push(&b, 0, 0, id)) goto oom;
                off = mp + sl;
                if (e->attr & LMX_ATTR_RSTRIP)
                    while (off < end && ascii_space(text[off])) off++;
                if (off >= end) break;
            }
        }
        if (found) {
            frags tmp = a;
            a = b;
            b = tmp;
        }
    }
    free(pairs);
    free(b.v);
    *out = a;
    return 0;
oom:
    free(pairs);
    free(a.v);
    free(b.v);
    return -1;
}

int lmx_tok_encode(const lmx_tok *t, const char *text, size_t len, bool add_special,
                   bool parse_special, int32_t *out, int cap) {
    if (!t || (!text && len)) return -1;
    if (len > (size_t)INT32_MAX / 8) return -1;
    frags fr;
    if (partition(t, text, len, parse_special, &fr)) return -1;
    lmx_ids ids = {0};
    if (add_special && t->add_bos && t->bos >= 0) lmx_ids_push(&ids, t->bos);
    bool prev_special = true; /* SPM: a space is prefixed to text at the start or after a special */
    char *tmp = NULL;
    for (int i = 0; i < fr.n && !ids.oom; i++) {
        if (fr.v[i].tok >= 0) {
            lmx_ids_push(&ids, fr.v[i].tok);
            prev_special = true;
            continue;
        }
        const char *s = text + fr.v[i].off;
        size_t n = fr.v[i].len;
        switch (t->kind) {
        case LMX_TOK_SPM:
            if (t->add_space_prefix && prev_special) {
                free(tmp);
                tmp = malloc(n + 1);
                if (!tmp) {
                    ids.oom = true;
                    break;
                }
                tmp[0] = ' ';
                memcpy(tmp + 1, s, n);
                s = tmp;
                n++;
            }
            lmx_spm_encode(t, s, n, &ids);
            break;
        case LMX_TOK_BPE:
            lmx_bpe_encode(t, s, n, &ids);
            break;
        default:
            lmx_wpm_encode(t, s, n, &ids);
            break;
        }
        prev_special = false;
    }
    free(tmp);
    if (add_special && t->add_eos && t->eos >= 0) lmx_ids_push(&ids, t->eos);
    if (add_special && t->kind == LMX_TOK_WPM && t->add_sep && t->sep >= 0)
        lmx_ids_push(&ids, t->sep);
    free(fr.v);
    if (ids.oom) {
        free(ids.v);
        return -1;
    }
    int n = ids.n;
    if (out && n > 0 && cap > 0) memcpy(out, ids.v, (size_t)(n < cap ? n : cap) * sizeof *out);
    free(ids.v);
    return n;
}

/* --------------------------------------------------------------- decoding */

int lmx_tok_n_vocab(const lmx_tok *t) {
    return t->n_vocab;
}
int32_t lmx_tok_bos(const lmx_tok *t) {
    return t->bos;
}
int32_t lmx_tok_eos(const lmx_tok *t) {
    return t->eos;
}
bool lmx_tok_add_bos(const lmx_tok *t) {
    return t->add_bos;
}
size_t lmx_tok_max_piece(const lmx_tok *t) {
    return t->max_piece;
}

bool lmx_tok_is_eog(const lmx_tok *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && t->eog[id];
}

bool lmx_tok_is_control(const lmx_tok *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (t->tok[id].attr & LMX_ATTR_CONTROL);
}

const char *lmx_tok_text(const lmx_tok *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    if (len) *len = t->tok[id].len;
    return t->text + t->tok[id].off;
}

static const char *piece_of(const lmx_tok *t, int32_t id, bool special, size_t *n) {
    *n = 0;
    if (id < 0 || id >= t->n_vocab) return "";
    if (!special && (t->tok[id].attr & (LMX_ATTR_UNKNOWN | LMX_ATTR_CONTROL))) return "";
    *n = t->piece_len[id];
    return t->piece + t->piece_off[id];
}

size_t lmx_tok_piece(const lmx_tok *t, int32_t id, bool special, char *buf, size_t cap) {
    size_t n;
    const char *p = piece_of(t, id, special, &n);
    if (buf) memcpy(buf, p, n < cap ? n : cap);
    return n;
}

size_t lmx_tok_decode(const lmx_tok *t, const int32_t *ids, int n, bool remove_special,
                      bool special, char *buf, size_t cap) {
    bool strip = t->add_space_prefix;
    if (remove_special && t->add_bos && n > 0 && ids[0] == t->bos) {
        strip = false;
        ids++;
        n--;
    }
    if (remove_special && t->add_eos && n > 0 && ids[n - 1] == t->eos) n--;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += lmx_tok_piece(t, ids[i], special, NULL, 0);
    char *s = malloc(total + 1);
    if (!s) return 0;
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        size_t pn;
        const char *p = piece_of(t, ids[i], special, &pn);
        if (strip && pn && p[0] == ' ') p++, pn--;
        strip = false;
        memcpy(s + k, p, pn);
        k += pn;
    }
    if (t->clean_spaces && k) {
        /* " ?", " !", " .", " ," lose the space; so do " 's", " 'm", " 're", " 've" */
        size_t w = 1;
        for (size_t i = 1; i < k; i++) {
            char x = s[i];
            if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) w--;
            s[w++] = x;
        }
        k = w;
        w = 1;
        for (size_t i = 1; i < k; i++) {
            char x = s[i];
            if (s[i - 1] == ' ' && x == '\'' && i + 1 < k) {
                char x1 = s[i + 1];
                if (x1 == 's' || x1 == 'm')
                    w--;
                else if (i + 2 < k &&
                         ((x1 == 'r' && s[i + 2] == 'e') || (x1 == 'v' && s[i + 2] == 'e')))
                    w--;
            }
            s[w++] = x;
        }
        k = w;
    }
    if (buf) memcpy(buf, s, k < cap ? k : cap);
    free(s);
    return k;
}

/* ------------------------------------------------------ streaming decoder */

void lmx_detok_init(lmx_detok *d, const lmx_tok *t) {
    memset(d, 0, sizeof *d);
    d->tok = t;
}

static size_t put_bytes(char *out, size_t cap, size_t w, const void *p, size_t n) {
    if (w < cap) memcpy(out + w, p, n < cap - w ? n : cap - w);
    return w + n;
}

#define REPLACEMENT "\xef\xbf\xbd"

/* Feeds bytes through a UTF-8 validator: complete characters go out, a
 * started one waits in d->pend, and anything invalid becomes U+FFFD. */
static size_t detok_bytes(lmx_detok *d, const uint8_t *p, size_t n, char *out, size_t cap) {
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (d->npend) {
            uint8_t lo = 0x80,
                    hi = 0xbf; /* the second byte's range excludes overlongs and surrogates */
            if (d->npend == 1) {
                if (d->pend[0] == 0xe0) lo = 0xa0;
                if (d->pend[0] == 0xed) hi = 0x9f;
                if (d->pend[0] == 0xf0) lo = 0x90;
                if (d->pend[0] == 0xf4) hi = 0x8f;
            }
            if (c >= lo && c <= hi) {
                d->pend[d->npend++] = c;
                if (d->npend == d->need) {
                    w = put_bytes(out, cap, w, d->pend, (size_t)d->npend);
                    d->npend = 0;
                }
                continue;
            }
            w = put_bytes(out, cap, w, REPLACEMENT, 3);
            d->npend = 0;
        }
        if (c < 0x80) {
            w = put_bytes(out, cap, w, &c, 1);
        } else if (c >= 0xc2 && c <= 0xf4) {
            d->pend[0] = c;
            d->npend = 1;
            d->need = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        } else {
            w = put_bytes(out, cap, w, REPLACEMENT, 3);
        }
    }
    return w < cap ? w : cap;
}

size_t lmx_detok_push(lmx_detok *d, int32_t id, char *out, size_t cap) {
    size_t pn;
    const char *p = piece_of(d->tok, id, d->special, &pn);
    return detok_bytes(d, (const uint8_t *)p, pn, out, cap);
}

size_t lmx_detok_flush(lmx_detok *d, char *out, size_t cap) {
    size_t w = d->npend ? put_bytes(out, cap, 0, REPLACEMENT, 3) : 0;
    d->npend = 0;
    return w < cap ? w : cap;
}
