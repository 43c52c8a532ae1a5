/* lmx tokenize: print the token ids of a text as one JSON array line. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/model_ref.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "util/buf.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: lmx tokenize -m MODEL [--no-bos] [--special] [--pieces] TEXT\n"
            "\n"
            "Prints the token ids of TEXT as one JSON array line, e.g. [1, 15043, 3186].\n"
            "\n"
            "  -m, --model MODEL  GGUF file whose tokenizer to use\n"
            "  --no-bos           add no BOS/EOS (by default they are added as the vocab asks)\n"
            "  --special          parse special-token text such as <|im_start|> into its token\n"
            "                     (otherwise it is tokenized as plain text)\n"
            "  --pieces           also print each token's text, one JSON array of strings\n"
            "  -h, --help         this help\n"
            "\n"
            "TEXT of '-' reads standard input. Exit status: 0 ok, 1 model error, 2 usage error.\n");
}

static char *read_stdin(size_t *n) {
    lmx_buf b = {0};
    if (lmx_buf_read(&b, stdin, 0) < 0 && !ferror(stdin)) { /* out of memory */
        lmx_buf_free(&b);
        return NULL;
    }
    *n = b.n;
    return b.p;
}

static void print_json_string(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *text = NULL;
    bool bos = true, special = false, pieces = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (++i >= argc) {
                fprintf(stderr, "lmx tokenize: %s needs a value\n", a);
                return 2;
            }
            model = argv[i];
        } else if (!strcmp(a, "--no-bos")) {
            bos = false;
        } else if (!strcmp(a, "--special")) {
            special = true;
        } else if (!strcmp(a, "--pieces")) {
            pieces = true;
        } else if (a[0] == '-' && a[1] && strcmp(a, "--") != 0) {
            lmx_arg_unknown("lmx tokenize", a, "-m --model --no-bos --special --pieces --help");
            return 2;
        } else {
            if (!strcmp(a, "--") && i + 1 < argc) a = argv[++i];
            if (text) {
                fprintf(stderr, "lmx tokenize: one TEXT only (quote it)\n");
                return 2;
            }
            text = a;
        }
    }
    if (!model || !text) {
        fprintf(stderr, "lmx tokenize: %s\n", !model ? "-m MODEL is required" : "TEXT is required");
        usage(stderr);
        return 2;
    }
    char err[512] = "", path[4096];
    lmx_gguf *g = lmx_cli_gguf_open("lmx tokenize", model, path, sizeof path);
    if (!g) return 1;
    model = path;
    lmx_tok *t = lmx_tok_load(g, err, sizeof err);
    lmx_gguf_close(g);
    if (!t) {
        fprintf(stderr, "lmx tokenize: %s: %s\n", model, err);
        return 1;
    }
    size_t len = strlen(text);
    char *owned = NULL;
    if (!strcmp(text, "-")) {
        owned = read_stdin(&len);
        if (!owned) {
            fprintf(stderr, "lmx tokenize: out of memory reading stdin\n");
            lmx_tok_free(t);
            return 1;
        }
        text = owned;
    }
    int n = lmx_tok_encode(t, text, len, bos, special, NULL, 0);
    int32_t *ids = n > 0 ? malloc((size_t)n * sizeof *ids) : NULL;
    if (n < 0 || (n > 0 && !ids)) {
        fprintf(stderr, "lmx tokenize: tokenization failed\n");
        free(owned);
        lmx_tok_free(t);
        return 1;
    }
    lmx_tok_encode(t, text, len, bos, special, ids, n);
    putchar('[');
    for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
    puts("]");
    if (pieces) {
        /* each piece on its own, with bytes that are no whole character as U+FFFD */
        size_t cap = lmx_tok_max_piece(t) * 3 + 8;
        char *buf = malloc(cap);
        putchar('[');
        for (int i = 0; buf && i < n; i++) {
            lmx_detok d;
            lmx_detok_init(&d, t);
            d.special = true;
            size_t pl = lmx_detok_push(&d, ids[i], buf, cap);
            pl += lmx_detok_flush(&d, buf + pl, cap - pl);
            if (i) fputs(", ", stdout);
            print_json_string(buf, pl);
        }
        puts("]");
        free(buf);
    }
    free(ids);
    free(owned);
    lmx_tok_free(t);
    return 0;
}
