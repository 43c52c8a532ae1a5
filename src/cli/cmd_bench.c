/* lmx bench: prefill and decode speed of a model, and how close decode comes
 * to the memory-bandwidth roofline (weight bytes per token × tok/s ÷ the
 * measured read bandwidth). --parallel N decodes N sequences together, one
 * token each per step (as `lmx serve --parallel` does), and reports their
 * aggregate tok/s. Figures only: no pass/fail. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/model_ref.h"
#include "engine/membw.h"
#include "engine/model.h"
#include "util/clock.h"

static const char usage_text[] =
    "usage: lmx bench MODEL [-p 512] [-n 128] [-t THREADS] [-np PARALLEL] [-r REPS] [--json]\n"
    "  MODEL             a .gguf file or a model of the store (-m MODEL works too)\n"
    "  -p, --n-prompt N  prompt tokens to prefill (default 512)\n"
    "  -n, --n-gen N     tokens to decode (default 128)\n"
    "  -t, --threads N   compute threads (default one per core)\n"
    "  -np, --parallel N sequences decoding together, one token each per step;\n"
    "                    decode tok/s is their aggregate (default 1)\n"
    "  -r, --repetitions N  runs of each (default 1)\n"
    "  --json            one JSON object\n";

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *v;
    long n_p = 512, n_g = 128, threads = 0, reps = 1, par = 1;
    bool json = false, bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        const char *opt = argv[i];
        v = NULL;
        if (lmx_arg_value(argc, argv, &i, "-m", "--model", &model, &bad)) continue;
        if (lmx_arg_value(argc, argv, &i, "-p", "--n-prompt", &v, &bad))
            bad = bad || !lmx_arg_long(v, 0, 1 << 20, &n_p);
        else if (lmx_arg_value(argc, argv, &i, "-n", "--n-gen", &v, &bad))
            bad = bad || !lmx_arg_long(v, 0, 1 << 20, &n_g);
        else if (lmx_arg_value(argc, argv, &i, "-t", "--threads", &v, &bad))
            bad = bad || !lmx_arg_long(v, 1, 1024, &threads);
        else if (lmx_arg_value(argc, argv, &i, "-np", "--parallel", &v, &bad))
            bad = bad || !lmx_arg_long(v, 1, 256, &par);
        else if (lmx_arg_value(argc, argv, &i, "-r", "--repetitions", &v, &bad))
            bad = bad || !lmx_arg_long(v, 1, 100, &reps);
        else if (!strcmp(argv[i], "--json"))
            json = true;
        else if (lmx_arg_help(argv[i], usage_text))
            return 0;
        else if (argv[i][0] == '-' && argv[i][1]) {
            lmx_arg_unknown("lmx bench", argv[i], usage_text);
            bad = true;
        } else if (!model)
            model = argv[i];
        else {
            fprintf(stderr, "lmx bench: unexpected argument '%s'\n", argv[i]);
            bad = true;
        }
        if (bad && v) fprintf(stderr, "lmx bench: bad value '%s' for '%s'\n", v, opt);
    }
    if (bad || !model) {
        if (!bad) fprintf(stderr, "lmx bench: name a model\n");
        fputs(usage_text, stderr);
        return 2;
    }
    char err[1024], path[4096];
    if (!lmx_cli_model_path("lmx bench", model, path, sizeof path)) return 1;
    lmx_model *m = lmx_model_open(path, NULL, err, sizeof err);
    if (!m) {
        fprintf(stderr, "lmx bench: %s\n", err);
        return 1;
    }
    lmx_pool *pool = lmx_pool_create((int)threads);
    lmx_ctx_opts co = {.n_ctx = (int)(n_p + n_g + 1), .n_seq = (int)par, .pool = pool};
    lmx_ctx *c = lmx_ctx_create(m, &co, err, sizeof err);
    if (!c) {
        fprintf(stderr, "lmx bench: %s\n", err);
        lmx_pool_destroy(pool);
        lmx_model_free(m);
        return 1;
    }
    fprintf(stderr, "lmx bench: measuring memory read bandwidth...\n");
    /* At least 1 GiB; 4 GiB where memory allows — on some machines a 1 GiB buffer
     * reads measurably slower than a large one, which would flatter the fraction. */
    size_t avail = (size_t)sysconf(_SC_AVPHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
    size_t probe = avail > ((size_t)12 << 30) ? (size_t)4 << 30 : (size_t)1 << 30;
    double bw = lmx_membw_measure(pool, probe, 5);

    int nt = (int)(n_p > n_g ? n_p : n_g) + 1, np = (int)par;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)nt),
            *pos = malloc(sizeof(int32_t) * (size_t)nt), *seq = calloc((size_t)nt, sizeof(int32_t));
    /* a decode step of np sequences: token j of the step is sequence j's */
    int32_t *stok = malloc(sizeof(int32_t) * (size_t)np),
            *spos = malloc(sizeof(int32_t) * (size_t)np),
            *sseq = malloc(sizeof(int32_t) * (size_t)np);
    bool *slog = malloc((size_t)np);
    float *logits = malloc(sizeof(float) * (size_t)m->hp.n_vocab * (size_t)np);
    srand(1);
    for (int i = 0; i < nt; i++) tok[i] = rand() % m->hp.n_vocab, pos[i] = i;
    double pp_best = 0, tg_best = 0;
    int rc = 0;
    for (long r = 0; r < reps && !rc; r++) {
        lmx_kv_clear(c, 0);
        if (n_p > 0) {
            double t0 = lmx_now_s();
            lmx_batch b = {(int)n_p, tok, pos, seq, NULL};
            rc = lmx_forward(c, &b, logits, err, sizeof err);
            double s = lmx_now_s() - t0;
            if (n_p / s > pp_best) pp_best = n_p / s;
        }
        for (int j = 0; j < np; j++) lmx_kv_clear(c, j);
        if (n_g > 0 && !rc) {
            /* one warm-up step, then n_g timed steps of one token per sequence */
            double t0 = 0;
            for (int i = 0; i <= n_g && !rc; i++) {
                if (i == 1) t0 = lmx_now_s();
                for (int j = 0; j < np; j++)
                    stok[j] = tok[(i + 7 * j) % nt], spos[j] = i, sseq[j] = j, slog[j] = true;
                lmx_batch bi = {np, stok, spos, sseq, slog};
                rc = lmx_forward(c, &bi, logits, err, sizeof err);
            }
            double s = lmx_now_s() - t0;
            if ((double)n_g * np / s > tg_best) tg_best = (double)n_g * np / s;
        }
    }
    if (rc) fprintf(stderr, "lmx bench: %s\n", err);
    /* the roofline is per step: weights are read once for all np sequences */
    double wbytes = (double)m->weight_bytes, frac = bw > 0 ? wbytes * tg_best / np / bw : 0;
    if (json) {
        json_t *o = json_pack(
            "{s:s, s:s, s:i, s:f, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f}", "model", model, "isa",
            lmx_isa_name(lmx_isa_current()), "threads", lmx_pool_size(pool), "weight_gib",
            wbytes / (1 << 30), "n_prompt", (int)n_p, "n_gen", (int)n_g, "parallel", np,
            "prefill_tok_s", pp_best, "decode_tok_s", tg_best, "bandwidth_gbs", bw / 1e9,
            "bandwidth_fraction", frac, "decode_roofline_tok_s", wbytes > 0 ? bw / wbytes : 0.0);
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("model             %s\n", model);
        printf("isa / threads     %s / %d\n", lmx_isa_name(lmx_isa_current()), lmx_pool_size(pool));
        printf("weights per token %.1f MiB\n", wbytes / (1 << 20));
        printf("prefill           %.1f tok/s (pp%ld)\n", pp_best, n_p);
        if (np > 1)
            printf("decode            %.1f tok/s (tg%ld, %d sequences: %.1f tok/s each)\n", tg_best,
                   n_g, np, tg_best / np);
        else
            printf("decode            %.1f tok/s (tg%ld)\n", tg_best, n_g);
        printf("read bandwidth    %.1f GB/s (roofline %.1f tok/s)\n", bw / 1e9,
               wbytes > 0 ? bw / wbytes : 0.0);
        printf("bandwidth used    %.0f%%\n", frac * 100);
    }
    free(tok), free(pos), free(seq), free(logits), free(stok), free(spos), free(sseq), free(slog);
    lmx_ctx_free(c);
    lmx_pool_destroy(pool);
    lmx_model_free(m);
    return rc ? 1 : 0;
}
