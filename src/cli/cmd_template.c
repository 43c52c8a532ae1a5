/* lmx template: render a chat template with a JSON context, for checking templates
 * by hand and for end-to-end tests.
 *
 *   lmx template --template FILE --context FILE.json [--now EPOCH_SECONDS]
 *
 * The output goes to stdout as is (no newline added). A template error (syntax or
 * runtime, raise_exception included) prints its message on stderr and exits 1; bad
 * usage or unreadable files exit 2. --now pins the clock strftime_now() reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "text/template.h"
#include "util/buf.h"

static void usage(void) {
    fprintf(stderr,
            "usage: lmx template --template FILE --context FILE.json [--now EPOCH_SECONDS]\n");
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
    const char *tpath = NULL, *cpath = NULL;
    long long now = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage();
            return 0;
        }
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        if (!strcmp(argv[i], "--template"))
            tpath = argv[++i];
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
            fprintf(stderr, "lmx template: unknown option '%s'\n", argv[i]);
            usage();
            return 2;
        }
    }
    if (!tpath || !cpath) {
        usage();
        return 2;
    }
    size_t len;
    char *src = read_file(tpath, &len);
    if (!src) {
        fprintf(stderr, "lmx template: cannot read %s\n", tpath);
        return 2;
    }
    json_error_t jerr;
    json_t *ctx = json_load_file(cpath, JSON_DECODE_ANY, &jerr);
    if (!ctx || !json_is_object(ctx)) {
        fprintf(stderr, "lmx template: %s: %s\n", cpath,
                ctx ? "context must be a JSON object" : jerr.text);
        json_decref(ctx);
        free(src);
        return 2;
    }
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
