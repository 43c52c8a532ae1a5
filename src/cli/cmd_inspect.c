/* lmx inspect: what is in a GGUF file — metadata, the tensor table, and the
 * memory a context of a given size would need — without loading weights. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/model_ref.h"
#include "cli/model_summary.h"
#include "engine/dtype.h"
#include "engine/model.h"

static void print_elem(const lmx_gguf_kv *kv, uint64_t i) {
    if (kv->arr_type == LMX_GGUF_F32 || kv->arr_type == LMX_GGUF_F64)
        printf("%g", lmx_gguf_arr_float(kv, i));
    else
        printf("%lld", (long long)lmx_gguf_arr_int(kv, i));
}

static void print_str(const char *s, size_t n, size_t max) {
    putchar('"');
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n')
            fputs("\\n", stdout);
        else if (ch == '"')
            fputs("\\\"", stdout);
        else if (ch < 32)
            printf("\\x%02x", ch);
        else
            putchar(ch);
    }
    if (n > max)
        printf("...\" (%zu bytes)", n);
    else
        putchar('"');
}

static const char usage_text[] =
    "usage: lmx inspect MODEL [-c CTX] [--parallel N] [--full]\n"
    "  a one-line summary, the memory lmx serve needs at its defaults, then the\n"
    "  metadata and the tensor table\n"
    "  MODEL           a .gguf file or a model of the store (stories260K, org/repo:Q4_K_M)\n"
    "  -c, --ctx-size CTX  also the memory for this context (default: serve's)\n"
    "  --parallel N    ... and this many sequences\n"
    "  --full          metadata strings and arrays in full\n";

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL, *v;
    long n_ctx = 0, n_seq = 1;
    bool bad = false, full = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (lmx_arg_value(argc, argv, &i, "-c", "--ctx-size", &v, &bad))
            bad = bad || !lmx_arg_long(v, 1, 1 << 24, &n_ctx);
        else if (lmx_arg_value(argc, argv, &i, "--parallel", "-np", &v, &bad))
            bad = bad || !lmx_arg_long(v, 1, 1024, &n_seq);
        else if (!strcmp(argv[i], "--full"))
            full = true;
        else if (lmx_arg_help(argv[i], usage_text))
            return 0;
        else
            lmx_arg_positional("lmx inspect", argv[i], usage_text, &path, &bad);
    }
    if (lmx_arg_usage_error("lmx inspect", bad, path, "name a model", usage_text)) return 2;
    char err[1024], file[4096];
    lmx_gguf *g = lmx_cli_gguf_open("lmx inspect", path, file, sizeof file);
    if (!g) return 1;
    path = file;
    lmx_model_summary sum;
    if (!lmx_model_summary_read(path, &sum, err, sizeof err)) {
        char line[512], mem[512];
        lmx_model_summary_line(&sum, line, sizeof line);
        lmx_model_summary_memory(&sum, mem, sizeof mem);
        printf("%s\nmemory: %s\n\n", line, mem);
    }
    printf("file: %s (GGUF v%u, %d file%s, alignment %zu)\n", path, g->version, g->n_files,
           g->n_files > 1 ? "s" : "", g->alignment);
    printf("\nmetadata (%lld keys):\n", (long long)g->n_kv);
    for (int64_t i = 0; i < g->n_kv; i++) {
        const lmx_gguf_kv *kv = &g->kv[i];
        printf("  %-40s ", kv->key);
        if (kv->type == LMX_GGUF_STR) {
            size_t n;
            const char *s = lmx_gguf_get_str(g, kv->key, &n);
            print_str(s, n, full ? (size_t)-1 : 80);
        } else if (kv->type == LMX_GGUF_ARR) {
            printf("%s[%llu] ", lmx_gguf_type_name(kv->arr_type), (unsigned long long)kv->arr_n);
            uint64_t show = full ? kv->arr_n : (kv->arr_n < 6 ? kv->arr_n : 6);
            for (uint64_t k = 0; k < show; k++) {
                if (k) printf(", ");
                if (kv->arr_type == LMX_GGUF_STR) {
                    size_t n;
                    const char *s = lmx_gguf_arr_str(kv, k, &n);
                    print_str(s, n, 40);
                } else
                    print_elem(kv, k);
            }
            if (show < kv->arr_n) printf(", ...");
        } else if (kv->type == LMX_GGUF_F32 || kv->type == LMX_GGUF_F64) {
            double d;
            lmx_gguf_get_float(g, kv->key, &d);
            printf("%g", d);
        } else {
            int64_t x;
            lmx_gguf_get_int(g, kv->key, &x);
            if (kv->type == LMX_GGUF_BOOL)
                printf("%s", x ? "true" : "false");
            else
                printf("%lld", (long long)x);
        }
        putchar('\n');
    }
    printf("\ntensors (%lld, %.1f MiB):\n", (long long)g->n_tensors, g->tensor_bytes / 1048576.0);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const lmx_gguf_tensor *t = &g->tensors[i];
        char shape[96];
        int n = snprintf(shape, sizeof shape, "[%lld", (long long)t->ne[0]);
        for (int d = 1; d < t->n_dims; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, ", %lld", (long long)t->ne[d]);
        snprintf(shape + n, sizeof shape - (size_t)n, "]");
        printf("  %-36s %-6s %-22s %10.2f MiB\n", t->name, lmx_dtype_name(t->type), shape,
               t->nbytes / 1048576.0);
    }
    lmx_gguf_close(g);
    if (!n_ctx && n_seq == 1) return 0; /* serve's defaults: shown at the top */
    lmx_mem_estimate me;
    if (lmx_model_estimate(path, (int)n_ctx, (int)n_seq, 512, false, &me, err, sizeof err)) {
        printf("\nmemory: cannot estimate: %s\n", err);
        return 1;
    }
    if (!n_ctx) n_ctx = sum.ctx_serve;
    printf("\nmemory for %ld position%s x %ld sequence%s (KV in f16):\n", n_ctx,
           n_ctx == 1 ? "" : "s", n_seq, n_seq == 1 ? "" : "s");
    printf("  weights  %10.1f MiB\n  kv cache %10.1f MiB\n  compute  %10.1f MiB\n  total    %10.1f "
           "MiB\n",
           me.weights / 1048576.0, me.kv / 1048576.0, me.compute / 1048576.0, me.total / 1048576.0);
    return 0;
}
