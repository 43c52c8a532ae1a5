/* lmx chat: talk to a model in the terminal, as `ollama run` does, without a
 * daemon: the model is loaded in this process and each turn goes through its
 * chat template (server/chat_prompt.c, the same code the API uses) and its
 * scheduler, which keeps the conversation's KV cache between turns.
 *
 * Interactive when stdin is a terminal and no prompt is given: ">>> " reads a
 * line (a line ending in '\' or a block between two '"""' lines is one
 * multi-line message), /commands manage the session, Ctrl-C stops an answer,
 * Ctrl-D or /bye quits. With a prompt (arguments, or stdin that is not a
 * terminal) it prints one answer and exits, for scripts. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/job_wait.h"
#include "cli/model_ref.h"
#include "engine/model.h"
#include "manager/served.h"
#include "server/core/chat_prompt.h"
#include "util/buf.h"
#include "util/grow.h"

static const char usage_text[] =
    "usage: lmx chat MODEL [PROMPT...] [--system TEXT] [-n N] [--temp T] [--seed S]\n"
    "                [-c CTX] [-t THREADS]\n"
    "  MODEL          a .gguf file or a model of the store (stories260K, org/repo:Q4_K_M)\n"
    "  PROMPT         answer it (or stdin when it is not a terminal) and exit\n"
    "  --system TEXT  the system prompt\n"
    "  -n N           at most N tokens per answer (default: up to the end of the context)\n"
    "  --temp T       temperature (default 0.8; 0: greedy); --seed S fixes the draws\n"
    "  -c CTX         context length (default the model's, at most 4096)\n"
    "  -t THREADS     compute threads (default one per core)\n"
    "In the chat: end a line with \\ or wrap lines in \"\"\" to write several lines;\n"
    "/clear forgets the conversation, /system TEXT sets the system prompt, /model shows\n"
    "the model, /help lists the commands, /bye (or Ctrl-D) quits; Ctrl-C stops an answer.\n";

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct {
    lmx_served *s;
    const char *ref, *path;
    json_t *history; /* user/assistant turns */
    char *system;
    long max_tokens;
    lmx_sample_params sp;
    bool tty;
} chat;

/* An answer as it streams: Ctrl-C cancels it (checked at each event, and at
 * least every 100 ms), its text goes to stdout and is kept for the history. */
typedef struct {
    lmx_job *j;
    lmx_buf text;
    bool cancelled;
    const char *finish;
} answer_state;

static void on_answer_event(void *ctx, const lmx_event *ev) {
    answer_state *a = ctx;
    if (interrupted && !a->cancelled) {
        lmx_job_cancel(a->j);
        a->cancelled = true;
    }
    if (ev->type == LMX_EV_TOKEN && ev->text_len) {
        fwrite(ev->text, 1, ev->text_len, stdout);
        fflush(stdout);
        lmx_buf_add(&a->text, ev->text, ev->text_len);
    } else if (ev->type == LMX_EV_FINISH) {
        a->finish = ev->finish_reason;
    }
}

/* Sends the history (ending with the new user turn) and streams the answer to
 * stdout; the answer joins the history. 0, or -1 with the reason printed. */
static int answer(chat *c) {
    json_t *msgs = json_array();
    if (c->system && *c->system)
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", c->system));
    json_array_extend(msgs, c->history);
    lmx_oai_req r = {.messages = msgs, .n = 1};
    lmx_api_err e = {0};
    int32_t *toks = NULL;
    int n_toks = 0;
    int rc = lmx_chat_prompt(c->s, &r, NULL, &toks, &n_toks, &e);
    json_decref(msgs);
    if (rc) {
        fprintf(stderr, "lmx chat: %s\n", e.message);
        return -1;
    }
    /* ChatML (the template for models without one) ends a turn with text the
     * vocabulary may not have as a control token */
    static const char *const chatml_stop[] = {"<|im_end|>", "<|im_start|>"};
    lmx_job_params p = {.prompt = toks,
                        .n_prompt = n_toks,
                        .max_tokens = (int)c->max_tokens,
                        .n_choices = 1,
                        .sample = c->sp,
                        .top_logprobs = -1,
                        .stop = c->s->tmpl_is_default ? chatml_stop : NULL,
                        .n_stop = c->s->tmpl_is_default ? 2 : 0};
    lmx_submit_status st;
    lmx_job *j = lmx_sched_submit(c->s->sched, &p, &st);
    free(toks);
    if (!j) {
        if (st == LMX_SUBMIT_TOO_LONG)
            fprintf(stderr,
                    "lmx chat: the conversation (%d tokens) no longer fits the context of %d; "
                    "/clear starts over (or restart with a larger -c)\n",
                    n_toks, c->s->n_ctx);
        else
            fprintf(stderr, "lmx chat: the model refused the request (%d)\n", (int)st);
        return -1;
    }
    interrupted = 0;
    answer_state a = {.j = j};
    char err[256];
    bool failed = lmx_cli_job_wait(j, 100, on_answer_event, &a, err, sizeof err) && !a.cancelled;
    if (failed) fprintf(stderr, "\nlmx chat: %s\n", err);
    lmx_job_release(j);
    putchar('\n');
    if (a.cancelled && c->tty)
        fprintf(stderr, "(answer stopped)\n");
    else if (a.finish && !strcmp(a.finish, "length") && c->tty)
        fprintf(stderr, "(answer cut at the token limit)\n");
    fflush(stdout);
    if (!failed)
        json_array_append_new(c->history, json_pack("{s:s,s:s%}", "role", "assistant", "content",
                                                    a.text.p ? a.text.p : "", a.text.n));
    lmx_buf_free(&a.text);
    return failed ? -1 : 0;
}

static int ask(chat *c, const char *msg) {
    json_array_append_new(c->history, json_pack("{s:s,s:s}", "role", "user", "content", msg));
    int rc = answer(c);
    if (rc) json_array_remove(c->history, json_array_size(c->history) - 1);
    return rc;
}

static void show_model(const chat *c) {
    const lmx_served *s = c->s;
    printf("model     %s\nfile      %s\narch      %s, %d layers, vocab %d\nquant     %s\n"
           "context   %d tokens\ntemplate  %s\nsystem    %s\nhistory   %zu messages\n",
           c->ref, c->path, s->m->hp.arch, s->m->hp.n_layer, s->m->hp.n_vocab, s->quant, s->n_ctx,
           s->tmpl_is_default ? "ChatML (the model has none)" : "the model's own",
           c->system && *c->system ? c->system : "(none)", json_array_size(c->history));
}

/* Reads one message (several lines for '\\' continuations and """ blocks) into
 * *buf. 1: a message; 0: end of input; -1: Ctrl-C (nothing read). */
static int read_message(char **buf, size_t *cap, bool tty) {
    size_t len = 0;
    bool block = false, first = true, more = true;
    char *line = NULL;
    size_t lcap = 0;
    (*buf)[0] = 0;
    while (more) {
        if (tty) {
            fputs(first ? ">>> " : "... ", stdout);
            fflush(stdout);
        }
        errno = 0;
        interrupted = 0;
        ssize_t n = getline(&line, &lcap, stdin);
        if (n < 0) {
            bool intr = interrupted || errno == EINTR;
            clearerr(stdin);
            free(line);
            return intr ? -1 : len ? 1 : 0;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        char *piece = line;
        size_t pl = (size_t)n;
        bool opened = false;
        if (first && pl >= 3 && !strncmp(piece, "\"\"\"", 3)) {
            block = opened = true;
            piece += 3, pl -= 3;
        }
        if (block) {
            if (pl >= 3 && !strncmp(piece + pl - 3, "\"\"\"", 3)) pl -= 3, block = false;
            more = block;
        } else if (pl && piece[pl - 1] == '\\') {
            pl--;
        } else {
            more = false;
        }
        first = false;
        if (opened && !pl) continue; /* the line that only opens a block */
        if (!lmx_grow(buf, cap, len + pl + 2, 1, 64)) break;
        if (len) (*buf)[len++] = '\n';
        memcpy(*buf + len, piece, pl);
        len += pl;
        (*buf)[len] = 0;
    }
    free(line);
    return 1;
}

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && strchr(" \t\n", s[n - 1])) s[--n] = 0;
}

static int interactive(chat *c) {
    printf("lmx chat: %s (context %d). /help lists the commands; /bye or Ctrl-D quits.\n", c->ref,
           c->s->n_ctx);
    size_t cap = 4096;
    char *buf = malloc(cap);
    for (;;) {
        int r = read_message(&buf, &cap, true);
        if (r == 0) {
            putchar('\n');
            break;
        }
        if (r < 0) {
            printf("\n(use /bye or Ctrl-D to quit)\n");
            continue;
        }
        trim(buf);
        if (!buf[0]) continue;
        if (buf[0] == '/') {
            char *arg = strchr(buf, ' ');
            if (arg) *arg++ = 0;
            while (arg && *arg == ' ') arg++;
            if (!strcmp(buf, "/bye") || !strcmp(buf, "/quit") || !strcmp(buf, "/exit")) break;
            if (!strcmp(buf, "/clear")) {
                json_array_clear(c->history);
                printf("(conversation cleared)\n");
            } else if (!strcmp(buf, "/model") || !strcmp(buf, "/show")) {
                show_model(c);
            } else if (!strcmp(buf, "/system")) {
                free(c->system);
                c->system = arg && *arg ? strdup(arg) : NULL;
                printf(c->system ? "(system prompt set)\n" : "(system prompt removed)\n");
            } else if (!strcmp(buf, "/help") || !strcmp(buf, "/?")) {
                printf("/clear          forget the conversation\n"
                       "/system [TEXT]  set (or remove) the system prompt\n"
                       "/model          show the model and the session's settings\n"
                       "/bye            quit (also /quit, /exit, Ctrl-D)\n"
                       "end a line with \\, or wrap lines in \"\"\", to write several lines;\n"
                       "Ctrl-C stops an answer\n");
            } else {
                printf("unknown command %s (/help lists them)\n", buf);
            }
            fflush(stdout);
            continue;
        }
        ask(c, buf);
    }
    free(buf);
    return 0;
}

int cmd_chat(int argc, char **argv) {
    const char *model = NULL, *v;
    char *system = NULL;
    long n_ctx = 0, threads = 0, max_tokens = 0;
    double temp = 0.8;
    long seed = -1;
    bool bad = false;
    lmx_buf words = {0}; /* the prompt given as arguments */
    const lmx_opt opts[] = {
        {"-n", "--n-predict", .l = &max_tokens, .min = 0, .max = 1 << 30},
        {"-c", "--ctx-size", .l = &n_ctx, .min = 16, .max = 1 << 24},
        {"-t", "--threads", .l = &threads, .min = 1, .max = 1024},
        {"--temp", NULL, .d = &temp, .lo = 0, .hi = 100},
        {"--seed", NULL, .l = &seed, .min = 0, .max = 0x7fffffffffffffffL},
    };
    for (int i = 1; i < argc && !bad; i++) {
        const char *a = argv[i];
        if (lmx_arg_help(a, usage_text)) return 0;
        if (lmx_arg_value(argc, argv, &i, "-m", "--model", &model, &bad)) continue;
        if (lmx_arg_value(argc, argv, &i, "--system", "-s", &v, &bad)) {
            free(system);
            system = v ? strdup(v) : NULL;
        } else if (lmx_arg_opts(argc, argv, &i, opts, (int)(sizeof opts / sizeof *opts), &bad)) {
            /* a number of the table */
        } else if (lmx_arg_unknown_option("lmx chat", a, usage_text, &bad)) {
            continue;
        } else if (!model) {
            model = a;
        } else { /* the prompt: the remaining words */
            if (words.n) lmx_buf_add(&words, " ", 1);
            lmx_buf_add(&words, a, strlen(a));
        }
        if (bad) fprintf(stderr, "lmx chat: bad value for %s\n", a);
    }
    if (!bad && !model) {
        fprintf(stderr, "lmx chat: name a model (a .gguf file or a model of the store)\n");
        bad = true;
    }
    char *prompt = words.p;
    size_t plen = words.n;
    if (bad) {
        fputs(usage_text, stderr);
        free(system), free(prompt);
        return 2;
    }
    bool tty_in = isatty(0);
    if (!prompt && !tty_in) { /* the prompt from a pipe */
        lmx_buf in = {0};
        lmx_buf_read(&in, stdin, 0);
        prompt = in.p ? in.p : strdup("");
        plen = in.n;
        trim(prompt);
        while (plen && (prompt[plen - 1] == '\n')) prompt[--plen] = 0;
        if (!*prompt) {
            fprintf(stderr, "lmx chat: stdin gave no prompt\n");
            free(system), free(prompt);
            return 2;
        }
    }
    char path[4096];
    if (!lmx_cli_model_path("lmx chat", model, path, sizeof path)) {
        free(system), free(prompt);
        return 1;
    }
    char err[1024];
    lmx_pool *pool = lmx_pool_create((int)threads);
    lmx_served_opts so = {
        .path = path, .n_ctx = (int)n_ctx, .n_parallel = 1, .n_queue = 1, .pool = pool};
    lmx_served *s = lmx_served_load(&so, err, sizeof err);
    if (!s) {
        fprintf(stderr, "lmx chat: %s\n", err);
        lmx_pool_destroy(pool);
        free(system), free(prompt);
        return 1;
    }
    chat c = {.s = s,
              .ref = model,
              .path = path,
              .history = json_array(),
              .system = system,
              .max_tokens = max_tokens,
              .sp = lmx_sample_defaults(),
              .tty = tty_in && !prompt};
    c.sp.temperature = (float)temp;
    c.sp.seed = seed >= 0 ? (uint64_t)seed : (uint64_t)time(NULL);
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint; /* no SA_RESTART: Ctrl-C interrupts the line being read */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    int rc = prompt ? (ask(&c, prompt) ? 1 : 0) : interactive(&c);
    json_decref(c.history);
    free(c.system);
    free(prompt);
    lmx_served_free(s, true);
    lmx_pool_destroy(pool);
    return rc;
}
