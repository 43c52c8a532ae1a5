/* Pre-tokenizers for byte-level BPE: regexes that cut text into words before
 * merges run, chosen by tokenizer.ggml.pre as llama.cpp chooses them.
 *
 * A pre-tokenizer is a list of regexes applied in turn: each one splits every
 * piece left by the previous into its matches AND the unmatched text between
 * them (both stay pieces, as Hugging Face's Split "Isolated" and llama.cpp
 * do). Every regex sees one piece as its whole subject, so `$` and lookaheads
 * stop at the piece's end.
 *
 * Matching uses PCRE2 with UTF + UCP, so \p{L}, \p{N}, \p{P} are Unicode
 * categories. Two details reproduce llama.cpp's std::regex engine: every
 * non-ASCII White_Space character is matched as if it were '\v' (so \s sees
 * it, but a literal range such as [ࠀ-一] does not, and PCRE's \s need not know
 * U+0085), and `$` means end of piece only. Invalid UTF-8 reads as U+FFFD. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "engine/tokenizer_impl.h"
#include "util/grow.h"

#define MAX_RX 6

/* Regexes in PCRE2 syntax. The contractions are spelled out case by case
 * rather than with (?i:...): under UCP, case-folding would let 'ſ' match 's'. */
#define RX_CONTRACT "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RX_GPT2     "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_LLAMA3                                                                                  \
    RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"       \
                "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                                                   \
    RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"            \
                "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_BLOOM " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"
#define RX_TEKKEN                                                                                  \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|"                        \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|"                        \
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_CASED_UP "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]"
#define RX_CASED_LO "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]"
#define RX_GPT4O                                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?" RX_CASED_UP "*" RX_CASED_LO "+" RX_CONTRACT "?|"                      \
    "[^\\r\\n\\p{L}\\p{N}]?" RX_CASED_UP "+" RX_CASED_LO "*" RX_CONTRACT "?|"                      \
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* DeepSeek's cased-letter class (from its tokenizer.json), as code points. */
#define RX_DS_LETTERS                                                                              \
    "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{"    \
    "293}"                                                                                         \
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}"          \
    "\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{"    \
    "52F}"                                                                                         \
    "\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{"     \
    "1CBA}"                                                                                        \
    "\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{"   \
    "1F15}"                                                                                        \
    "\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}"        \
    "\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}"         \
    "\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{"   \
    "1FEC}"                                                                                        \
    "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}"         \
    "\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{"     \
    "2139}"                                                                                        \
    "\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}"         \
    "\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{"    \
    "A69B}"                                                                                        \
    "\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{"   \
    "FB06}"                                                                                        \
    "\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"               \
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"         \
    "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}"
#define RX_CJK "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

typedef struct {
    const char *names; /* '|'-separated tokenizer.ggml.pre values */
    bool ignore_merges, clean_spaces;
    const char *rx[MAX_RX];
} pre_def;

static const pre_def pre_defs[] = {
    {"llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2", true, true, {RX_LLAMA3}},
    {"dbrx|smaug-bpe|glm4|chatglm-bpe", false, true, {RX_LLAMA3}},
    {"deepseek-llm",
     false,
     false,
     {"[\\r\\n]", "\\s?[" RX_DS_LETTERS "]+",
      "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
      "\\s+$", RX_CJK, "\\p{N}+"}},
    {"deepseek-coder", false, false, {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RX_CJK, "\\p{N}"}},
    {"deepseek-v3",
     false,
     false,
     {"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
      "[!\"#$%&'()*+,\\-./"
      ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
      " ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"falcon", false, true, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]"}},
    {"gpt-2|mpt|olmo|phi-2|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|jina-v1-en|"
     "jina-v2-code|roberta-bpe|jais",
     false,
     true,
     {RX_GPT2}},
    {"trillion", false, false, {RX_GPT2}},
    {"starcoder|refact|codeshell|exaone|minerva-7b", false, true, {"\\p{N}", RX_GPT2}},
    {"command-r|smollm", false, false, {"\\p{N}", RX_GPT2}},
    {"qwen2|deepseek-r1-qwen|megrez|kormo|hunyuan", false, false, {RX_QWEN2}},
    {"stablelm2", false, true, {RX_QWEN2}},
    {"bloom|gpt3-finnish", false, true, {RX_BLOOM}},
    {"poro-chat", false, false, {RX_BLOOM}},
    {"viking", false, false, {RX_BLOOM, "\\p{N}"}},
    {"tekken", true, false, {RX_TEKKEN}},
    {"gpt-4o|llama4", false, false, {RX_GPT4O}},
    {"default", false, true, {"[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
};

struct lmx_pretok {
    int n;
    pcre2_code *re[MAX_RX];
};

static bool name_in(const char *names, const char *name, size_t n) {
    for (const char *p = names; *p;) {
        const char *e = strchr(p, '|');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !memcmp(p, name, n)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

void lmx_pretok_free(lmx_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->re[i]);
    free(p);
}

lmx_pretok *lmx_pretok_new(const char *name, size_t name_len, bool *ignore_merges,
                           bool *clean_spaces, char *err, size_t errlen) {
    const pre_def *d = NULL;
    if (!name || !name_len) name = "default", name_len = 7;
    for (size_t i = 0; i < sizeof pre_defs / sizeof pre_defs[0] && !d; i++)
        if (name_in(pre_defs[i].names, name, name_len)) d = &pre_defs[i];
    if (!d) {
        snprintf(err, errlen, "unknown pre-tokenizer type '%.*s'", (int)name_len, name);
        return NULL;
    }
    lmx_pretok *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (int i = 0; i < MAX_RX && d->rx[i]; i++) {
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re =
            pcre2_compile((PCRE2_SPTR)d->rx[i], PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            snprintf(err, errlen, "pre-tokenizer '%.*s': regex %d: %s at %zu", (int)name_len, name,
                     i, (const char *)msg, (size_t)eo);
            lmx_pretok_free(p);
            return NULL;
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
        p->re[p->n++] = re;
    }
    *ignore_merges = d->ignore_merges;
    *clean_spaces = d->clean_spaces;
    return p;
}

/* Unicode White_Space, from utf8proc's categories: the separators plus the
 * control characters TAB..CR and NEL. */
static bool is_space(uint32_t c) {
    if (c == ' ' || (c >= 9 && c <= 13) || c == 0x85) return true;
    if (c < 0x80) return false;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

typedef struct {
    uint32_t s, e; /* code point indices */
} frag;

typedef struct {
    frag *v;
    size_t n, cap;
} frags;

static int frag_push(frags *f, uint32_t s, uint32_t e) {
    if (!lmx_grow(&f->v, &f->cap, f->n + 1, sizeof *f->v, 64)) return -1;
    f->v[f->n].s = s;
    f->v[f->n].e = e;
    f->n++;
    return 0;
}

int lmx_pretok_split(const lmx_pretok *p, const char *text, size_t len, lmx_word_fn fn, void *ctx) {
    if (!len) return 0;
    int rc = -1;
    uint32_t *cp = malloc((len + 1) * sizeof *cp);
    uint32_t *boff = malloc((len + 1) * sizeof *boff);
    char *subj = malloc(len * 4 + 4);
    uint32_t *b2c = malloc((len * 4 + 5) * sizeof *b2c);
    char *word = malloc(len * 4 + 4);
    frags cur = {0}, nxt = {0};
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!cp || !boff || !subj || !b2c || !word || !md) goto done;

    /* code points, and the subject the regexes see */
    size_t n = 0, nb = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c = lmx_utf8_next(text, len, &i);
        uint32_t s = c;
        if (s >= 0x80 && is_space(s)) s = 0x0b;
        if ((s >= 0xd800 && s <= 0xdfff) || s > 0x10ffff) s = 0xe000; /* keep PCRE's UTF valid */
        cp[n] = c;
        boff[n] = (uint32_t)nb;
        b2c[nb] = (uint32_t)n;
        nb += (size_t)lmx_utf8_put(s, subj + nb);
        n++;
    }
    boff[n] = (uint32_t)nb;
    b2c[nb] = (uint32_t)n;

    if (frag_push(&cur, 0, (uint32_t)n)) goto done;
    for (int r = 0; r < p->n; r++) {
        nxt.n = 0;
        for (size_t f = 0; f < cur.n; f++) {
            uint32_t b0 = boff[cur.v[f].s], b1 = boff[cur.v[f].e];
            PCRE2_SIZE off = 0, prev = 0, plen = b1 - b0;
            const PCRE2_UCHAR *sp = (const PCRE2_UCHAR *)subj + b0;
            while (off < plen) {
                int m = pcre2_match(p->re[r], sp, plen, off, PCRE2_NO_UTF_CHECK, md, NULL);
                if (m == PCRE2_ERROR_JIT_STACKLIMIT)
                    m = pcre2_match(p->re[r], sp, plen, off, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md,
                                    NULL);
                if (m < 0) break;
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                if (ov[1] <= ov[0]) { /* empty match: step one character */
                    off = ov[0] + 1;
                    while (off < plen && (sp[off] & 0xc0) == 0x80) off++;
                    continue;
                }
                if (ov[0] > prev && frag_push(&nxt, b2c[b0 + prev], b2c[b0 + ov[0]])) goto done;
                if (frag_push(&nxt, b2c[b0 + ov[0]], b2c[b0 + ov[1]])) goto done;
                prev = off = ov[1];
            }
            if (prev < plen && frag_push(&nxt, b2c[b0 + prev], cur.v[f].e)) goto done;
        }
        frags t = cur;
        cur = nxt;
        nxt = t;
    }
    for (size_t f = 0; f < cur.n; f++) {
        size_t wn = 0;
        for (uint32_t i = cur.v[f].s; i < cur.v[f].e; i++)
            wn += (size_t)lmx_utf8_put(cp[i], word + wn);
        fn(ctx, word, wn);
    }
    rc = 0;
done:
    free(cp);
    free(boff);
    free(subj);
    free(b2c);
    free(word);
    free(cur.v);
    free(nxt.v);
    pcre2_match_data_free(md);
    return rc;
}
