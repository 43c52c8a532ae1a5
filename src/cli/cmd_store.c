/* lmx import | show: the model store from a shell, without the daemon.
 * import puts a .gguf file into the store (a hard link when the store is on
 * the same file system, else a copy); the daemon lists it at its next look
 * at the directory. show summarizes a model (a store name or a file). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/admin_client.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/model_ref.h"
#include "cli/model_summary.h"
#include "engine/gguf.h"
#include "manager/store.h"

static int copy_file(const char *from, const char *to) {
    int in = open(from, O_RDONLY), out = in < 0 ? -1 : open(to, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (out < 0) {
        if (in >= 0) close(in);
        return -1;
    }
    static char buf[1 << 16];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0)
        for (ssize_t w = 0; w < n;) {
            ssize_t k = write(out, buf + w, (size_t)(n - w));
            if (k < 0) {
                rc = -1;
                break;
            }
            w += k;
        }
    if (n < 0) rc = -1;
    close(in);
    if (close(out) || rc) {
        unlink(to);
        return -1;
    }
    return 0;
}

static int mkdirs(const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0755) && errno != EEXIST) return -1;
            *s = '/';
        }
    return mkdir(p, 0755) && errno != EEXIST ? -1 : 0;
}

int cmd_import(int argc, char **argv) {
    static const char usage[] =
        "usage: lmx import FILE.gguf [--name NAME] [--copy] [--models-dir DIR]\n"
        "  adds a GGUF file to the model store (a hard link, or a copy across file systems);\n"
        "  a running lmx serve lists it at once\n"
        "  --name NAME       the model's name in the store (default: the file's, without .gguf)\n"
        "  --copy            copy even when a hard link is possible\n"
        "  --models-dir DIR  the store (default as lmx serve: the config's models_dir,\n"
        "                    LMX_MODELS_DIR, else ~/.lmx/models)\n";
    const char *file = NULL, *name = NULL, *dir_opt = NULL;
    bool copy = false, bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (lmx_arg_help(argv[i], usage)) return 0;
        if (lmx_arg_value(argc, argv, &i, "--name", NULL, &name, &bad)) continue;
        if (lmx_arg_value(argc, argv, &i, "--models-dir", NULL, &dir_opt, &bad)) continue;
        if (!strcmp(argv[i], "--copy"))
            copy = true;
        else
            lmx_arg_positional("lmx import", argv[i], usage, &file, &bad);
    }
    if (lmx_arg_usage_error("lmx import", bad, file, "name a .gguf file", usage)) return 2;
    char err[1024];
    lmx_gguf *g = lmx_gguf_open(file, err, sizeof err);
    if (!g) {
        fprintf(stderr, "lmx import: %s is not a model file this build reads: %s\n", file, err);
        return 1;
    }
    lmx_gguf_close(g);
    char dir[2048], id[512], why[128];
    if (dir_opt)
        snprintf(dir, sizeof dir, "%s", dir_opt);
    else
        lmx_cli_models_dir(dir, sizeof dir);
    if (name) {
        lmx_model_name_clean(name, id, sizeof id);
    } else {
        const char *b = strrchr(file, '/');
        lmx_model_name_clean(b ? b + 1 : file, id, sizeof id);
    }
    if (!lmx_store_valid_name(id, why, sizeof why)) {
        fprintf(stderr, "lmx import: bad --name '%s': it %s\n", id, why);
        return 2;
    }
    char dest[4096];
    snprintf(dest, sizeof dest, "%s/%s.gguf", dir, id);
    char *slash = strrchr(dest, '/');
    *slash = 0;
    if (mkdirs(dest)) {
        fprintf(stderr, "lmx import: cannot create %s: %s\n", dest, strerror(errno));
        return 1;
    }
    *slash = '/';
    lmx_store *st = lmx_store_open(dir, err, sizeof err);
    bool have = st && lmx_store_get(st, id, NULL);
    if (!st || have || !access(dest, F_OK)) {
        if (!st)
            fprintf(stderr, "lmx import: %s\n", err);
        else
            fprintf(stderr,
                    "lmx import: the store already has a model '%s' (lmx rm %s, or --name "
                    "another)\n",
                    id, id);
        lmx_store_close(st);
        return 1;
    }
    const char *how = "hard link";
    if (copy || link(file, dest)) {
        how = "copy";
        if (copy_file(file, dest)) {
            fprintf(stderr, "lmx import: cannot copy %s to %s: %s\n", file, dest, strerror(errno));
            lmx_store_close(st);
            return 1;
        }
    }
    lmx_store_entry m;
    bool listed = lmx_store_get(st, id, &m);
    lmx_store_close(st);
    if (!listed) {
        fprintf(stderr, "lmx import: %s was written but the store does not list it\n", dest);
        return 1;
    }
    char size[32];
    lmx_human_bytes((double)m.size, size, sizeof size);
    printf("imported %s (%s, %s, %s) into %s\n", id,
           m.architecture && *m.architecture ? m.architecture : "?", size, how, dir);
    lmx_store_entry_free(&m);
    return 0;
}

int cmd_show(int argc, char **argv) {
    static const char usage[] =
        "usage: lmx show MODEL [--json]\n"
        "  a model's summary: architecture, parameters, quantization, context, chat template,\n"
        "  capabilities and the memory lmx serve needs for it at its defaults\n"
        "  MODEL   a .gguf file or a model of the store (stories260K, org/repo:Q4_K_M)\n"
        "  --json  the same as one JSON object\n";
    const char *model = NULL;
    bool json = false, bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (lmx_arg_help(argv[i], usage)) return 0;
        if (!strcmp(argv[i], "--json"))
            json = true;
        else
            lmx_arg_positional("lmx show", argv[i], usage, &model, &bad);
    }
    if (lmx_arg_usage_error("lmx show", bad, model, "name a model", usage)) return 2;
    char path[4096], err[1024];
    if (!lmx_cli_model_path("lmx show", model, path, sizeof path)) return 1;
    lmx_model_summary s;
    if (lmx_model_summary_read(path, &s, err, sizeof err)) {
        fprintf(stderr, "lmx show: %s\n", err);
        return 1;
    }
    const char *caps = s.embedding ? "embedding"
                       : s.tools   ? "completion, chat, tools"
                                   : "completion, chat";
    if (json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:s,s:I,s:s,s:s,s:{s:i,s:i,s:I,s:I,s:I,s:I}}",
                              "model", model, "path", path, "architecture", s.arch, "parameters",
                              (json_int_t)s.n_params, "quantization", s.quant, "context_length",
                              (json_int_t)s.ctx_train, "chat_template",
                              s.has_template ? "model" : "chatml", "capabilities", caps, "memory",
                              "context", s.ctx_serve, "sequences", 2 * s.parallel, "weights_bytes",
                              (json_int_t)s.weights, "kv_bytes", (json_int_t)s.kv, "compute_bytes",
                              (json_int_t)s.compute, "total_bytes", (json_int_t)s.total);
        lmx_admin_print_json(o);
        json_decref(o);
        return 0;
    }
    char line[512], mem[512];
    lmx_model_summary_line(&s, line, sizeof line);
    lmx_model_summary_memory(&s, mem, sizeof mem);
    printf("%s\n  %s\n\n", model, line);
    printf("  file          %s\n", path);
    printf("  architecture  %s\n", s.arch);
    printf("  quantization  %s\n", s.quant);
    printf("  context       %lld trained; lmx serve gives %d per sequence by default\n",
           (long long)s.ctx_train, s.ctx_serve);
    printf("  template      %s\n", s.has_template ? "the model's own" : "none: ChatML is used");
    printf("  capabilities  %s\n", caps);
    printf("  memory        %s\n", mem);
    return 0;
}
