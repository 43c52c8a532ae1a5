/* lmx bench: prefill and decode speed of a model, and how close decode comes
 * to the memory-bandwidth roofline (weight bytes per token × tok/s ÷ the
 * measured read bandwidth). --parallel N decodes N sequences together, one
 * token each per step (as `lmx serve --parallel` does), and reports their
 * aggregate tok/s. With -d N both run after N tokens of context (like
 * llama-bench's -d: attention at depth). Figures only: no pass/fail. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/model_ref.h"
#include "cli/spec_gen.h"
#include "engine/membw.h"
#include "engine/model.h"
#include "util/clock.h"

static const char usage_text[] =
    "usage: lmx bench MODEL [-p 512] [-n 128] [-d 0] [-t THREADS] [-np PARALLEL] [-r REPS]\n"
    "                 [--kv-type f16|f32|q8_0] [--spec off|lookup|draft] [--draft-model M]\n"
    "                 [--draft-max K] [--spec-force] [--json]\n"
    "  MODEL             a .gguf file or a model of the store (-m MODEL works too)\n"
    "  -p, --n-prompt N  prompt tokens to prefill (default 512)\n"
    "  -n, --n-gen N     tokens to decode (default 128)\n"
    "  -d, --n-depth N   tokens of context before both (default 0)\n"
    "  -t, --threads N   compute threads (default one per core)\n"
    "  -np, --parallel N sequences decoding together, one token each per step;\n"
    "                    decode tok/s is their aggregate (default 1)\n"
    "  -r, --repetitions N  runs of each (default 1)\n"
    "  --kv-type T       KV cache type: f16 (default), f32 or q8_0\n"
    "  --spec MODE       decode one greedy sequence through the scheduler (as lmx serve)\n"
    "                    with speculative decoding off, lookup or draft (--draft-model M,\n"
    "                    --draft-max K); the prompt is -p random tokens (not with -d, -np);\n"
    "                    --spec-force never switches itself off (to measure its overhead)\n"
    "  --json            one JSON object\n";

/* --json: the figures as one line of compact JSON (o is freed). */
static void print_json_line(json_t *o) {
    json_dumpf(o, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(o);
}

/* --spec: greedy decode of one sequence through the scheduler; the best
 * decode tok/s of the repetitions, and what was drafted and kept. */
static int bench_spec(lmx_model *m, const char *model, const lmx_spec_gen_opts *so, int n_p,
                      int n_g, int reps, bool json) {
    if (n_p < 1 || n_g < 2) {
        fprintf(stderr, "lmx bench: --spec needs -p >= 1 and -n >= 2\n");
        return 2;
    }
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n_p);
    srand(1);
    for (int i = 0; i < n_p; i++) tok[i] = rand() % m->hp.n_vocab;
    lmx_sample_params sp = lmx_sample_defaults();
    sp.temperature = 0;
    double best = 0;
    lmx_spec_gen_result r = {0};
    char err[1024];
    int rc = 0;
    for (int i = 0; i < reps && !rc; i++) {
        rc = lmx_spec_gen_run(m, so, tok, n_p, n_g, &sp, true, NULL, NULL, NULL, &r, err,
                              sizeof err);
        double t = r.n_gen > 1 && r.decode_s > 0 ? (r.n_gen - 1) / r.decode_s : 0;
        if (!rc && t > best) best = t;
    }
    free(tok);
    if (rc) {
        fprintf(stderr, "lmx bench: %s\n", err);
        return 1;
    }
    const char *mode = so->spec == 1 ? "lookup" : so->spec == 2 ? "draft" : "off";
    if (json) {
        print_json_line(json_pack("{s:s,s:s,s:b,s:i,s:i,s:f,s:I,s:I,s:I}", "model", model, "spec",
                                  mode, "spec_force", so->force, "n_prompt", n_p, "n_gen", n_g,
                                  "decode_tok_s", best, "drafted", (json_int_t)r.drafted,
                                  "accepted", (json_int_t)r.accepted, "auto_off",
                                  (json_int_t)r.auto_off));
    } else {
        printf("model             %s\n", model);
        printf("speculative       %s%s\n", mode, so->force ? " (forced on)" : "");
        printf("decode            %.1f tok/s (tg%d after %d random tokens, greedy)\n", best, n_g,
               n_p);
        printf("drafted / kept    %llu / %llu (last run; auto-off %llu times)\n",
               (unsigned long long)r.drafted, (unsigned long long)r.accepted,
               (unsigned long long)r.auto_off);
    }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *v;
    long n_p = 512, n_g = 128, depth = 0, threads = 0, reps = 1, par = 1;
    bool json = false, bad = false, kv_f32 = false, kv_q8 = false, spec = false;
    lmx_spec_gen_opts so = {0};
    long draft_max = 0;
    for (int i = 1; i < argc && !bad; i++) {
        const char *opt = argv[i];
        v = NULL;
        if (lmx_arg_value(argc, argv, &i, "-m", "--model", &model, &bad)) continue;
        if (lmx_arg_value(argc, argv, &i, "-p", "--n-prompt", &v, &bad))
            bad = bad || !lmx_arg_long(v, 0, 1 << 20, &n_p);
        else if (lmx_arg_value(argc, argv, &i, "-n", "--n-gen", &v, &bad))
            bad = bad || !lmx_arg_long(v, 0, 1 << 20, &n_g);
        else if (lmx_arg_value(argc, argv, &i, "-d", "--n-depth", &v, &bad))
            bad = bad || !lmx_arg_long(v, 0, 1 << 20, &depth);
        else if (lmx_arg_value(argc, argv, &i, "-t", "--threads", &v, &bad))
            bad = bad || !lmx_arg_long(v, 1, 1024, &threads);
        else if (lmx_arg_value(argc, argv, &i, "-np", "--parallel", &v, &bad))
            bad = bad || !lmx_arg_long(v, 1, 256, &par);
        else if (lmx_arg_value(argc, argv, &i, "-r", "--repetitions", &v, &bad))
            bad = bad || !lmx_arg_long(v, 1, 100, &reps);
        else if (lmx_arg_value(argc, argv, &i, "-ctk", "--kv-type", &v, &bad)) {
            kv_f32 = v && !strcmp(v, "f32");
            kv_q8 = v && !strcmp(v, "q8_0");
            bad = bad || !v || (!kv_f32 && !kv_q8 && strcmp(v, "f16"));
        } else if (lmx_arg_value(argc, argv, &i, "--spec", NULL, &v, &bad)) {
            bad = bad || !lmx_spec_gen_parse(v, &so);
            spec = true;
        } else if (lmx_arg_value(argc, argv, &i, "--draft-model", NULL, &v, &bad)) {
            so.draft = v;
            v = NULL;
        } else if (lmx_arg_value(argc, argv, &i, "--draft-max", NULL, &v, &bad)) {
            bad = bad || !lmx_arg_long(v, 1, 32, &draft_max);
        } else if (!strcmp(argv[i], "--spec-force")) {
            so.force = true;
        } else if (!strcmp(argv[i], "--json"))
            json = true;
        else if (lmx_arg_help(argv[i], usage_text))
            return 0;
        else
            lmx_arg_positional("lmx bench", argv[i], usage_text, &model, &bad);
        if (bad && v) fprintf(stderr, "lmx bench: bad value '%s' for '%s'\n", v, opt);
    }
    if (!bad && spec && (depth > 0 || par > 1)) {
        fprintf(stderr, "lmx bench: --spec decodes one sequence without depth: drop -d / -np\n");
        bad = true;
    }
    if (!bad && depth > 0 && par > 1) {
        fprintf(stderr, "lmx bench: -d and -np > 1 together are not supported\n");
        bad = true;
    }
    if (lmx_arg_usage_error("lmx bench", bad, model, "name a model", usage_text)) return 2;
    char err[1024], path[4096];
    if (!lmx_cli_model_path("lmx bench", model, path, sizeof path)) return 1;
    lmx_model *m = lmx_model_open(path, NULL, err, sizeof err);
    if (!m) {
        fprintf(stderr, "lmx bench: %s\n", err);
        return 1;
    }
    lmx_pool *pool = lmx_pool_create((int)threads);
    if (spec) {
        so.draft_max = (int)draft_max;
        so.kv_f32 = kv_f32;
        so.kv_q8_0 = kv_q8;
        so.n_ctx = (int)(n_p + n_g + 1);
        so.pool = pool;
        int rc = bench_spec(m, model, &so, (int)n_p, (int)n_g, (int)reps, json);
        lmx_pool_destroy(pool);
        lmx_model_free(m);
        return rc;
    }
    lmx_ctx_opts co = {.n_ctx = (int)(depth + (n_p > n_g ? n_p : n_g) + 1),
                       .n_seq = (int)par,
                       .kv_f32 = kv_f32,
                       .kv_q8_0 = kv_q8,
                       .pool = pool};
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

    int nt = (int)(depth + (n_p > n_g ? n_p : n_g)) + 1, np = (int)par, d = (int)depth;
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
    if (d) { /* the context, once (untimed); each run goes back to it */
        fprintf(stderr, "lmx bench: filling %d tokens of context...\n", d);
        rc = lmx_forward(c, &(lmx_batch){d, tok, pos, seq, NULL}, logits, err, sizeof err);
    }
    for (long r = 0; r < reps && !rc; r++) {
        lmx_kv_truncate(c, 0, d);
        if (n_p > 0) {
            double t0 = lmx_now_s();
            lmx_batch b = {(int)n_p, tok + d, pos + d, seq, NULL};
            rc = lmx_forward(c, &b, logits, err, sizeof err);
            double s = lmx_now_s() - t0;
            if (n_p / s > pp_best) pp_best = n_p / s;
        }
        for (int j = 0; j < np; j++) lmx_kv_truncate(c, j, d);
        if (n_g > 0 && !rc) {
            /* one warm-up step, then n_g timed steps of one token per sequence */
            double t0 = 0;
            for (int i = 0; i <= n_g && !rc; i++) {
                if (i == 1) t0 = lmx_now_s();
                for (int j = 0; j < np; j++)
                    stok[j] = tok[(d + i + 7 * j) % nt], spos[j] = d + i, sseq[j] = j,
                    slog[j] = true;
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
        print_json_line(json_pack(
            "{s:s, s:s, s:i, s:f, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f}", "model", model,
            "isa", lmx_isa_name(lmx_isa_current()), "threads", lmx_pool_size(pool), "weight_gib",
            wbytes / (1 << 30), "n_prompt", (int)n_p, "n_gen", (int)n_g, "n_depth", d, "parallel",
            np, "prefill_tok_s", pp_best, "decode_tok_s", tg_best, "bandwidth_gbs", bw / 1e9,
            "bandwidth_fraction", frac, "decode_roofline_tok_s", wbytes > 0 ? bw / wbytes : 0.0));
    } else {
        printf("model             %s\n", model);
        printf("isa / threads     %s / %d\n", lmx_isa_name(lmx_isa_current()), lmx_pool_size(pool));
        printf("weights per token %.1f MiB\n", wbytes / (1 << 20));
        printf("prefill           %.1f tok/s (pp%ld @ d%d)\n", pp_best, n_p, d);
        if (np > 1)
            printf("decode            %.1f tok/s (tg%ld, %d sequences: %.1f tok/s each)\n", tg_best,
                   n_g, np, tg_best / np);
        else
            printf("decode            %.1f tok/s (tg%ld @ d%d)\n", tg_best, n_g, d);
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
