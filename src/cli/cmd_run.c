/* lmx run: generate text from a prompt on the command line.
 *
 * stdout carries only the generated text (or, with --json, one JSON object);
 * the model's load line and speed figures go to stderr. */
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
#include "engine/model.h"
#include "engine/sample.h"
#include "util/buf.h"
#include "util/clock.h"

static const char usage_text[] =
    "usage: lmx run MODEL [PROMPT] [-n N] [--temp T] [--seed S] [--top-k K] [--top-p P]\n"
    "               [--min-p M] [--repeat-penalty R] [-t THREADS] [-c CTX] [--ignore-eos]\n"
    "               [--kv-type f16|f32|q8_0] [--spec lookup|draft] [--draft-model M]\n"
    "               [--draft-max K] [--json]\n"
    "  MODEL         a .gguf file or a model of the store (stories260K, org/repo:Q4_K_M);\n"
    "                -m MODEL works too\n"
    "  PROMPT        the text to continue (-p PROMPT works too; default: stdin); raw text,\n"
    "                no chat template (lmx chat uses the model's)\n"
    "  -n N          tokens to generate (default 128; -1: until the context is full)\n"
    "  --temp 0      greedy decoding; default 0.8 with top-k 40, top-p 0.95, min-p 0.05\n"
    "  --kv-type T   KV cache type: f16 (default), f32 (--kv-f32) or q8_0\n"
    "  --spec MODE   speculative decoding (docs/speculative.md): off (default), lookup, or\n"
    "                draft with --draft-model M (same vocabulary); --draft-max K per step\n"
    "  --json        print {\"text\", \"tokens\", \"prompt_tokens\"} instead of the text\n";

static void put_text(void *ctx, const char *t, size_t n) {
    if (ctx) {
        lmx_buf_add(ctx, t, n);
    } else {
        fwrite(t, 1, n, stdout);
        fflush(stdout);
    }
}

/* --json's answer: {"text", "tokens", "prompt_tokens"} on one line. */
static void print_json(const lmx_buf *text, const int32_t *toks, int n, const int32_t *prompt,
                       int np) {
    json_t *o = json_object(), *ta = json_array(), *pa = json_array();
    json_object_set_new(o, "text", json_stringn_nocheck(text->p ? text->p : "", text->n));
    for (int i = 0; i < n; i++) json_array_append_new(ta, json_integer(toks[i]));
    for (int i = 0; i < np; i++) json_array_append_new(pa, json_integer(prompt[i]));
    json_object_set_new(o, "tokens", ta);
    json_object_set_new(o, "prompt_tokens", pa);
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    printf("%s\n", s);
    free(s);
    json_decref(o);
}

/* --spec: one job on a one-slot scheduler with speculative decoding; prints
 * as the plain path does, and what was drafted and kept. */
static int run_spec(lmx_model *m, const lmx_spec_gen_opts *so, const int32_t *prompt, int np,
                    int max_new, const lmx_sample_params *sp, bool ignore_eos, bool json,
                    int32_t *out) {
    char err[1024];
    lmx_buf text = {0};
    lmx_spec_gen_result r;
    int rc = lmx_spec_gen_run(m, so, prompt, np, max_new, sp, ignore_eos, put_text,
                              json ? &text : NULL, out, &r, err, sizeof err);
    if (rc) {
        fprintf(stderr, "lmx run: %s\n", err);
        lmx_buf_free(&text);
        return 1;
    }
    if (json) {
        print_json(&text, out, r.n_gen < max_new ? r.n_gen : max_new, prompt, np);
    } else {
        putchar('\n');
    }
    fprintf(stderr,
            "lmx run: prompt %d tokens in %.3f s, generated %d in %.3f s (%.1f tok/s); "
            "speculative: %llu drafted, %llu accepted\n",
            np, r.prefill_s, r.n_gen, r.decode_s, r.n_gen > 1 ? (r.n_gen - 1) / r.decode_s : 0.0,
            (unsigned long long)r.drafted, (unsigned long long)r.accepted);
    lmx_buf_free(&text);
    return 0;
}

int cmd_run(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *v;
    long n_gen = 128, threads = 0, n_ctx = 0, top_k = 40;
    double temp = 0.8, top_p = 0.95, min_p = 0.05, rep = 1.0;
    unsigned long long seed = (unsigned long long)time(NULL);
    bool json = false, ignore_eos = false, kv_f32 = false, kv_q8 = false, bad = false;
    lmx_spec_gen_opts so = {0};
    long seed_arg = -1, draft_max = 0;
    const lmx_opt opts[] = {
        {"-n", "--n-predict", .l = &n_gen, .min = -1, .max = 1 << 30},
        {"-t", "--threads", .l = &threads, .min = 1, .max = 1024},
        {"-c", "--ctx-size", .l = &n_ctx, .min = 1, .max = 1 << 24},
        {"--temp", NULL, .d = &temp, .lo = 0, .hi = 100},
        {"--top-k", NULL, .l = &top_k, .min = 0, .max = 1 << 30},
        {"--top-p", NULL, .d = &top_p, .lo = 0, .hi = 1},
        {"--min-p", NULL, .d = &min_p, .lo = 0, .hi = 1},
        {"--repeat-penalty", NULL, .d = &rep, .lo = 0.01, .hi = 100},
        {"--seed", "-s", .l = &seed_arg, .min = 0, .max = 0x7fffffffffffffffL},
        {"--json", NULL, .flag = &json},
        {"--ignore-eos", NULL, .flag = &ignore_eos},
        {"--kv-f32", NULL, .flag = &kv_f32},
        {"--draft-max", NULL, .l = &draft_max, .min = 1, .max = 32},
    };
    for (int i = 1; i < argc && !bad; i++) {
        const char *a = argv[i];
        if (lmx_arg_value(argc, argv, &i, "-m", "--model", &model, &bad)) continue;
        if (lmx_arg_value(argc, argv, &i, "-p", "--prompt", &prompt, &bad)) continue;
        if (lmx_arg_opts(argc, argv, &i, opts, (int)(sizeof opts / sizeof *opts), &bad)) {
            /* a number or a flag of the table */
        } else if (lmx_arg_value(argc, argv, &i, "--spec", NULL, &v, &bad)) {
            bad = bad || !lmx_spec_gen_parse(v, &so);
        } else if (lmx_arg_value(argc, argv, &i, "--draft-model", NULL, &v, &bad)) {
            so.draft = v;
        } else if (lmx_arg_value(argc, argv, &i, "-ctk", "--kv-type", &v, &bad)) {
            kv_f32 = v && !strcmp(v, "f32");
            kv_q8 = v && !strcmp(v, "q8_0");
            bad = bad || !v || (!kv_f32 && !kv_q8 && strcmp(v, "f16"));
        } else if (lmx_arg_help(a, usage_text)) {
            return 0;
        } else if (lmx_arg_unknown_option("lmx run", a, usage_text, &bad)) {
            continue;
        } else if (!model) {
            model = a;
        } else if (!prompt) {
            prompt = a;
        } else {
            fprintf(stderr, "lmx run: unexpected argument '%s' (quote the prompt)\n", a);
            bad = true;
            continue;
        }
        if (bad && i < argc) fprintf(stderr, "lmx run: bad value for %s\n", a);
    }
    if (seed_arg >= 0) seed = (unsigned long long)seed_arg;
    char *stdin_prompt = NULL;
    if (!bad && model && !prompt && !isatty(0)) {
        lmx_buf in = {0};
        lmx_buf_read(&in, stdin, 0);
        while (in.n && in.p[in.n - 1] == '\n') in.n--;
        if (in.p) in.p[in.n] = 0;
        prompt = stdin_prompt = in.p;
    }
    if (bad || !model || !prompt || !*prompt) {
        if (!bad)
            fprintf(stderr, "lmx run: %s\n",
                    !model ? "name a model (lmx run MODEL PROMPT)"
                           : "give a prompt (lmx run MODEL PROMPT, or on stdin)");
        fputs(usage_text, stderr);
        free(stdin_prompt);
        return 2;
    }
    char path[4096];
    if (!lmx_cli_model_path("lmx run", model, path, sizeof path)) {
        free(stdin_prompt);
        return 1;
    }

    char err[1024];
    double t0 = lmx_now_s();
    lmx_model *m = lmx_model_open(path, NULL, err, sizeof err);
    if (!m) {
        fprintf(stderr, "lmx run: %s\n", err);
        free(stdin_prompt);
        return 1;
    }
    lmx_pool *pool = lmx_pool_create((int)threads);
    lmx_ctx_opts co = {
        .n_ctx = (int)n_ctx, .n_seq = 1, .kv_f32 = kv_f32, .kv_q8_0 = kv_q8, .pool = pool};
    lmx_ctx *c = lmx_ctx_create(m, &co, err, sizeof err);
    if (!c) {
        fprintf(stderr, "lmx run: %s\n", err);
        lmx_pool_destroy(pool);
        lmx_model_free(m);
        free(stdin_prompt);
        return 1;
    }
    int ctx_len = lmx_ctx_n_ctx(c), rc = 0;
    fprintf(stderr, "lmx run: %s (%s, %d layers, vocab %d), context %d, %d threads, %s, %.2f s\n",
            model, m->hp.arch, m->hp.n_layer, m->hp.n_vocab, ctx_len, lmx_pool_size(pool),
            lmx_isa_name(lmx_isa_current()), lmx_now_s() - t0);

    size_t plen = strlen(prompt);
    int cap = (int)(plen + 16), np;
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)cap);
    np = lmx_tok_encode(m->tok, prompt, plen, true, false, toks, cap);
    if (np > cap) {
        toks = realloc(toks, sizeof(int32_t) * (size_t)np);
        np = lmx_tok_encode(m->tok, prompt, plen, true, false, toks, np);
    }
    if (np <= 0 || np >= ctx_len) {
        fprintf(stderr, "lmx run: the prompt has %d tokens; the context holds %d\n", np, ctx_len);
        rc = 1;
        goto out_early;
    }
    int max_new = n_gen < 0 || np + n_gen > ctx_len ? ctx_len - np : (int)n_gen;
    int32_t *all = malloc(sizeof(int32_t) * (size_t)(np + max_new + 1));
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)np), *seq = calloc((size_t)np, sizeof(int32_t));
    float *logits = malloc(sizeof(float) * (size_t)m->hp.n_vocab);
    memcpy(all, toks, sizeof(int32_t) * (size_t)np);
    for (int i = 0; i < np; i++) pos[i] = i;

    lmx_sample_params sp = lmx_sample_defaults();
    sp.temperature = (float)temp;
    sp.top_k = (int)top_k;
    sp.top_p = (float)top_p;
    sp.min_p = (float)min_p;
    sp.repeat_penalty = (float)rep;
    sp.seed = seed;
    lmx_sampler *smp = lmx_sampler_create(m->hp.n_vocab, &sp);
    lmx_detok dt;
    lmx_detok_init(&dt, m->tok);
    lmx_buf text = {0};
    char piece[256];

    if (so.spec) {       /* through the scheduler, as lmx serve runs it */
        lmx_ctx_free(c); /* the scheduler has its own */
        c = NULL;
        so.draft_max = (int)draft_max;
        so.kv_f32 = kv_f32;
        so.kv_q8_0 = kv_q8;
        so.n_ctx = ctx_len;
        so.pool = pool;
        rc = run_spec(m, &so, all, np, max_new, &sp, ignore_eos, json, all + np);
        lmx_sampler_free(smp);
        free(all), free(pos), free(seq), free(logits);
        goto out_early;
    }
    double t1 = lmx_now_s();
    lmx_batch b = {np, all, pos, seq, NULL};
    if (lmx_forward(c, &b, logits, err, sizeof err)) {
        fprintf(stderr, "lmx run: %s\n", err);
        rc = 1;
    }
    double t2 = lmx_now_s();
    int n = 0;
    while (!rc && n < max_new) {
        int32_t t = lmx_sampler_next(smp, logits, all, np + n);
        if (!ignore_eos && lmx_tok_is_eog(m->tok, t)) break;
        all[np + n++] = t;
        size_t k = lmx_detok_push(&dt, t, piece, sizeof piece);
        if (k) {
            if (json) {
                lmx_buf_add(&text, piece, k);
            } else {
                fwrite(piece, 1, k, stdout);
                fflush(stdout);
            }
        }
        if (n == max_new) break;
        int32_t p = np + n - 1, s = 0;
        lmx_batch nb = {1, &t, &p, &s, NULL};
        if (lmx_forward(c, &nb, logits, err, sizeof err)) {
            fprintf(stderr, "lmx run: %s\n", err);
            rc = 1;
        }
    }
    size_t k = lmx_detok_flush(&dt, piece, sizeof piece);
    if (json) {
        lmx_buf_add(&text, piece, k);
        print_json(&text, all + np, n, all, np);
    } else {
        fwrite(piece, 1, k, stdout);
        putchar('\n'); /* the shell's prompt starts on a line of its own */
    }
    double t3 = lmx_now_s();
    fprintf(
        stderr,
        "lmx run: prompt %d tokens in %.3f s (%.1f tok/s), generated %d in %.3f s (%.1f tok/s)\n",
        np, t2 - t1, np / (t2 - t1), n, t3 - t2, n > 1 ? (n - 1) / (t3 - t2) : 0.0);
    lmx_buf_free(&text);
    lmx_sampler_free(smp);
    free(all), free(pos), free(seq), free(logits);
out_early:
    free(toks);
    lmx_ctx_free(c);
    lmx_pool_destroy(pool);
    lmx_model_free(m);
    free(stdin_prompt);
    return rc;
}
