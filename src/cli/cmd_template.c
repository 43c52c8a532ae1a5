/* lmx template: render a chat template with a JSON context, for checking templates
 * by hand and for end-to-end tests.
 *
 *   lmx template --template FILE --context FILE.json [--now EPOCH_SECONDS]
 *   lmx template -m MODEL [--context FILE.json]   (the model's own template)
 *
 * The output goes to stdout as is (no newline added). A template error (syntax or
 * runtime, raise_exception included) prints its message on stderr and exits 1; bad
 * usage or unreadable files exit 2. --now pins the clock strftime_now() reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/model_ref.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "manager/served.h"
#include "text/template.h"
#include "util/buf.h"

static const char usage_text[] =
    "usage: lmx template --template FILE --context FILE.json [--now EPOCH_SECONDS]\n"
    "       lmx template -m MODEL [--context FILE.json] [--now EPOCH_SECONDS]\n"
    "  renders a chat template (Jinja2, as Hugging Face's apply_chat_template) and prints it\n"
    "  --template FILE  the template's source\n"
    "  -m MODEL         the chat template of a .gguf file or a model of the store (ChatML\n"
    "                   when it has none), with its bos_token and eos_token\n"
    "  --context FILE   the variables, a JSON object (with -m, default: a system and a user\n"
    "                   message and add_generation_prompt)\n"
    "  --now SECONDS    the clock strftime_now() reads\n";
static void usage(void) {
    fputs(usage_text, stderr);
}

/* The model's template source and its BOS/EOS token texts into ctx. */
static char *model_template(const char *ref, json_t *ctx, size_t *len) {
    char path[4096], err[512];
    lmx_gguf *g = lmx_cli_gguf_open("lmx template", ref, path, sizeof path);
    if (!g) return NULL;
    lmx_tok *t = lmx_tok_load(g, err, sizeof err);
    if (!t) {
        fprintf(stderr, "lmx template: %s\n", err);
        lmx_gguf_close(g);
        return NULL;
    }
    size_t n;
    const char *src = lmx_gguf_get_str(g, "tokenizer.chat_template", &n);
    if (!src) src = lmx_served_default_template(), n = strlen(src);
    char *out = strndup(src, n);
    *len = n;
    int32_t ids[2] = {lmx_tok_bos(t), lmx_tok_eos(t)};
    const char *keys[2] = {"bos_token", "eos_token"};
    for (int i = 0; i < 2; i++) {
        size_t tl = 0;
        const char *tx = ids[i] >= 0 ? lmx_tok_text(t, ids[i], &tl) : NULL;
        if (!json_object_get(ctx, keys[i]))
            json_object_set_new(ctx, keys[i], json_stringn(tx ? tx : "", tl));
    }
    lmx_tok_free(t);
    lmx_gguf_close(g);
    return out;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    lmx_buf b = {0};
    int rc = lmx_buf_read(&b, f, 0);
    fclose(f);
    if (rc) {
        lmx_buf_free(&b);
        return NULL;
    }
    *len = b.n;
    return b.p;
}

int cmd_template(int argc, char **argv) {
    const char *tpath = NULL, *cpath = NULL, *model = NULL;
    long long now = 0;
    for (int i = 1; i < argc; i++) {
        if (lmx_arg_help(argv[i], usage_text)) return 0;
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        if (!strcmp(argv[i], "--template"))
            tpath = argv[++i];
        else if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model"))
            model = argv[++i];
        else if (!strcmp(argv[i], "--context"))
            cpath = argv[++i];
        else if (!strcmp(argv[i], "--now")) {
            char *end;
            now = strtoll(argv[++i], &end, 10);
            if (*end || now <= 0) {
                fprintf(stderr, "lmx template: --now wants seconds since the epoch\n");
                return 2;
            }
        } else {
            lmx_arg_unknown("lmx template", argv[i], usage_text);
            return 2;
        }
    }
    if (!(tpath || model) || (tpath && model) || (!cpath && !model)) {
        usage();
        return 2;
    }
    json_error_t jerr;
    json_t *ctx =
        cpath ? json_load_file(cpath, JSON_DECODE_ANY, &jerr)
              : json_loads("{\"messages\": [{\"role\": \"system\", \"content\": \"You are a "
                           "helpful assistant.\"}, {\"role\": \"user\", \"content\": "
                           "\"Hello\"}], \"add_generation_prompt\": true}",
                           0, &jerr);
    if (!ctx || !json_is_object(ctx)) {
        fprintf(stderr, "lmx template: %s: %s\n", cpath,
                ctx ? "context must be a JSON object" : jerr.text);
        json_decref(ctx);
        return 2;
    }
    size_t len;
    char *src = model ? model_template(model, ctx, &len) : read_file(tpath, &len);
    if (!src) {
        if (!model) fprintf(stderr, "lmx template: cannot read %s\n", tpath);
        json_decref(ctx);
        return model ? 1 : 2;
    }
    if (!tpath) tpath = model;
    char err[1024];
    lmx_tmpl *t = lmx_tmpl_parse(src, len, err, sizeof err);
    free(src);
    if (!t) {
        fprintf(stderr, "lmx template: %s:%s\n", tpath, err);
        json_decref(ctx);
        return 1;
    }
    lmx_tmpl_opts opts = {.now = (time_t)now};
    char *out = lmx_tmpl_render(t, ctx, &opts, err, sizeof err);
    lmx_tmpl_free(t);
    json_decref(ctx);
    if (!out) {
        fprintf(stderr, "%s%s\n", opts.raised ? "" : "lmx template: ", err);
        return 1;
    }
    fwrite(out, 1, strlen(out), stdout);
    free(out);
    return fflush(stdout) ? 1 : 0;
}
