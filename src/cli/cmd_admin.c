/* lmx pull | ls | ps | load | unload | rm | status: the daemon's admin API
 * from a shell. Human tables by default; --json prints the API's own JSON
 * (what a script should parse). A refusal exits 1 with the server's message. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/admin_client.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/model_ref.h"
#include "util/grow.h"

/* ---- small table printer ---- */

#define MAX_COLS 10
typedef struct {
    int n_cols, n_rows, cap;
    char **cells; /* n_rows x n_cols */
} table;

static void row(table *t, int n, ...) {
    if (!lmx_grow_int(&t->cells, &t->cap, t->n_rows + 1, MAX_COLS * sizeof *t->cells, 16)) return;
    t->n_cols = n;
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *s = va_arg(ap, const char *);
        t->cells[t->n_rows * MAX_COLS + i] = strdup(s ? s : "-");
    }
    va_end(ap);
    t->n_rows++;
}

static void table_print(table *t) {
    int w[MAX_COLS] = {0};
    for (int r = 0; r < t->n_rows; r++)
        for (int c = 0; c < t->n_cols; c++) {
            int l = (int)strlen(t->cells[r * MAX_COLS + c]);
            if (l > w[c]) w[c] = l;
        }
    for (int r = 0; r < t->n_rows; r++) {
        for (int c = 0; c < t->n_cols; c++) {
            const char *s = t->cells[r * MAX_COLS + c];
            if (c == t->n_cols - 1)
                printf("%s", s);
            else
                printf("%-*s  ", w[c], s);
            free((void *)s);
        }
        putchar('\n');
    }
    free(t->cells);
}

static void table_free(table *t) {
    for (int r = 0; r < t->n_rows; r++)
        for (int c = 0; c < t->n_cols; c++) free(t->cells[r * MAX_COLS + c]);
    free(t->cells);
}

/* ---- value formatting ---- */

static const char *str_or(const json_t *o, const char *k, const char *dflt) {
    const char *s = json_string_value(json_object_get(o, k));
    return s && *s ? s : dflt;
}

static double num(const json_t *o, const char *k, double dflt) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static void fmt_bytes(const json_t *o, const char *k, const char *k2, char *out, size_t n) {
    double b = num(o, k, k2 ? num(o, k2, -1) : -1);
    if (b < 0)
        snprintf(out, n, "-");
    else
        lmx_human_bytes(b, out, n);
}

static void fmt_int(const json_t *o, const char *k, char *out, size_t n) {
    json_t *v = json_object_get(o, k);
    if (json_is_number(v))
        snprintf(out, n, "%.0f", json_number_value(v));
    else if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else
        snprintf(out, n, "-");
}

static void fmt_params(const json_t *o, char *out, size_t n) {
    json_t *v = json_object_get(o, "parameters");
    if (json_is_string(v)) {
        snprintf(out, n, "%s", json_string_value(v));
        return;
    }
    double p = json_is_number(v) ? json_number_value(v) : -1;
    if (p < 0)
        snprintf(out, n, "-");
    else if (p >= 1e9)
        snprintf(out, n, "%.1fB", p / 1e9);
    else if (p >= 1e6)
        snprintf(out, n, "%.1fM", p / 1e6);
    else if (p >= 1e3)
        snprintf(out, n, "%.1fK", p / 1e3);
    else
        snprintf(out, n, "%.0f", p);
}

static void fmt_duration(double s, char *out, size_t n) {
    if (s < 0 || !isfinite(s))
        snprintf(out, n, "-");
    else if (s < 90)
        snprintf(out, n, "%.0fs", s);
    else if (s < 5400)
        snprintf(out, n, "%.0fm", s / 60);
    else
        snprintf(out, n, "%.1fh", s / 3600);
}

/* The options every admin command shares, plus its own via `own`; the
 * positional arguments go to pos. Returns false (after printing) on errors. */
typedef bool (*own_opt)(void *ctx, int argc, char **argv, int *i, bool *bad);

static bool parse(lmx_admin *a, int argc, char **argv, own_opt own, void *ctx, const char **pos,
                  int max_pos, int *n_pos, const char *usage) {
    bool bad = false;
    *n_pos = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (lmx_arg_help(argv[i], usage)) exit(0);
        if (lmx_admin_option(a, argc, argv, &i, &bad)) continue;
        if (own && own(ctx, argc, argv, &i, &bad)) continue;
        if (lmx_arg_unknown_option(a->cmd, argv[i], usage, &bad)) continue;
        if (*n_pos < max_pos) {
            pos[(*n_pos)++] = argv[i];
        } else {
            fprintf(stderr, "%s: unexpected argument '%s'\n", a->cmd, argv[i]);
            bad = true;
        }
    }
    if (!bad && !lmx_admin_ready(a)) {
        fprintf(stderr, "%s: bad daemon address '%s'\n", a->cmd, a->base);
        bad = true;
    }
    if (bad) fprintf(stderr, "%s", usage);
    return !bad;
}

#define COMMON_OPTS                                                                                \
    "  --host H[:P], --port P  the daemon (default LMX_HOST or 127.0.0.1:1234)\n"                  \
    "  --admin-key KEY         admin key (default LMX_ADMIN_KEY)\n"                                \
    "  --json                  print the admin API's JSON\n"

/* The end of a command that changes one thing (pull --cancel, unload, rm):
 * with --json the answer as it is, else one line made by fmt; frees r.
 * 0, or 1 when the request failed (r NULL, already reported). */
static int report_change(const lmx_admin *a, json_t *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int report_change(const lmx_admin *a, json_t *r, const char *fmt, ...) {
    if (!r) return 1;
    if (a->json) {
        lmx_admin_print_json(r);
    } else {
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
    }
    json_decref(r);
    return 0;
}

/* ---- pull ---- */

typedef struct {
    const char *file, *revision;
    bool quiet, cancel;
} pull_opts;

static bool pull_opt(void *ctx, int argc, char **argv, int *i, bool *bad) {
    pull_opts *o = ctx;
    if (lmx_arg_value(argc, argv, i, "--file", "-f", &o->file, bad)) return true;
    if (lmx_arg_value(argc, argv, i, "--revision", NULL, &o->revision, bad)) return true;
    if (!strcmp(argv[*i], "--quiet") || !strcmp(argv[*i], "-q")) return o->quiet = true;
    if (!strcmp(argv[*i], "--cancel")) return o->cancel = true;
    return false;
}

static volatile sig_atomic_t pull_interrupted;
static void pull_on_sigint(int sig) {
    (void)sig;
    pull_interrupted = 1;
}

/* The terminal's width (stderr's), read at every frame so a resize applies. */
static int term_width(void) {
    struct winsize w;
    if (!ioctl(2, TIOCGWINSZ, &w) && w.ws_col > 0) return w.ws_col;
    return 80;
}

/* One frame of the progress line, at most width-1 columns so that it never
 * wraps (a wrapped line leaves a row behind at every redraw): the file name,
 * a bar (10..30 columns, where there is room), the state and the figures;
 * narrower terminals get fewer figures (nums[0] all, nums[2] the fewest), a
 * name shortened from the left, and at last no bar. */
static void progress_frame(const char *file, const char *state, int pct, const char *nums[3],
                           int width, char *out, size_t n) {
    int avail = (width > 20 ? width : 20) - 1;
    char name[256];
    /* first choices keep a bar; then the name is shortened; then the bar goes */
    for (int pass = 0; pass < 3; pass++) {
        size_t fl = strlen(file);
        if (pass && fl > 16)
            snprintf(name, sizeof name, "...%s", file + fl - 13);
        else
            snprintf(name, sizeof name, "%s", file);
        for (int k = 0; k < 3; k++) {
            int need = (int)strlen(name) + 1 + (int)strlen(state) + 1 + (int)strlen(nums[k]);
            int bar = avail - need - 3;
            if (need > avail || (pass < 2 && bar < 10)) continue;
            char b[40] = "";
            if (bar >= 10) {
                if (bar > 30) bar = 30;
                int fill = pct < 0 ? 0 : pct * bar / 100;
                b[0] = '[';
                for (int i = 0; i < bar; i++) b[1 + i] = i < fill ? '#' : '.';
                b[bar + 1] = ']';
                b[bar + 2] = ' ';
                b[bar + 3] = 0;
            }
            snprintf(out, n, "%s %s%s %s", name, b, state, nums[k]);
            return;
        }
    }
    snprintf(out, n, "%s %s %s", name, state, nums[2]);
    if ((int)strlen(out) > avail) out[avail] = 0;
}

static void progress_line(const json_t *st, bool tty, int *last_pct, char last_state[32]) {
    const char *state = str_or(st, "state", "?");
    double bytes = num(st, "bytes", 0), total = num(st, "total", -1), rate = num(st, "rate", 0);
    int pct = total > 0 ? (int)(100.0 * bytes / total) : -1;
    char b[32], t[32], r[32], eta[32];
    lmx_human_bytes(bytes, b, sizeof b);
    if (total >= 0)
        lmx_human_bytes(total, t, sizeof t);
    else
        snprintf(t, sizeof t, "?");
    lmx_human_bytes(rate, r, sizeof r);
    json_t *e = json_object_get(st, "eta");
    fmt_duration(json_is_number(e) ? json_number_value(e) : -1, eta, sizeof eta);
    const char *file = str_or(st, "file", "?");
    if (tty) {
        char full[128], mid[64], few[32], line[512];
        int p = pct < 0 ? 0 : pct;
        snprintf(full, sizeof full, "%3d%%  %s / %s  %s/s  eta %s", p, b, t, r, eta);
        snprintf(mid, sizeof mid, "%3d%%  %s/s  eta %s", p, r, eta);
        snprintf(few, sizeof few, "%3d%% eta %s", p, eta);
        const char *nums[3] = {full, mid, few};
        progress_frame(file, state, pct, nums, term_width(), line, sizeof line);
        fprintf(stderr, "\r\033[K%s", line);
        fflush(stderr);
        return;
    }
    /* plain lines: on a state change and every 10% */
    bool changed = strcmp(last_state, state) != 0;
    if (!changed && (pct < 0 || pct / 10 == *last_pct / 10)) return;
    *last_pct = pct;
    snprintf(last_state, 32, "%s", state);
    if (pct >= 0)
        fprintf(stderr, "%s %s %d%% (%s of %s, %s/s)\n", state, file, pct, b, t, r);
    else
        fprintf(stderr, "%s %s (%s)\n", state, file, b);
}

static bool is_final_state(const char *s) {
    return !strcmp(s, "completed") || !strcmp(s, "failed") || !strcmp(s, "cancelled");
}

/* lmx pull --cancel REF: the daemon's unfinished download of REF (or the
 * download id) is cancelled. */
static int pull_cancel(lmx_admin *a, const char *arg, const lmx_hf_ref *ref) {
    json_t *l = lmx_admin_do(a, "GET", "/admin/models/download", NULL);
    if (!l) return 1;
    size_t i;
    json_t *d;
    char id[128] = "";
    json_array_foreach(json_object_get(l, "data"), i, d) {
        if (is_final_state(str_or(d, "state", ""))) continue;
        bool match = !strcmp(str_or(d, "id", ""), arg);
        if (!match && !strcasecmp(str_or(d, "repo", ""), ref->repo)) {
            const char *q = str_or(d, "quant", ""), *f = str_or(d, "file", "");
            match = ref->quant[0]  ? !strcasecmp(q, ref->quant)
                    : ref->file[0] ? !strcmp(f, ref->file)
                                   : true;
        }
        if (match) {
            snprintf(id, sizeof id, "%s", str_or(d, "id", ""));
            break;
        }
    }
    json_decref(l);
    if (!id[0]) {
        fprintf(stderr, "lmx pull: no download of %s is in progress (lmx ls shows them)\n", arg);
        return 1;
    }
    char path[256];
    snprintf(path, sizeof path, "/admin/models/download/%s", id);
    return report_change(a, lmx_admin_do(a, "DELETE", path, NULL),
                         "cancelled the download of %s (%s)\n", arg, id);
}

int cmd_pull(int argc, char **argv) {
    const char *usage =
        "usage: lmx pull ORG/REPO[:QUANT] [--file F] [--revision R] [-q] [--json]\n"
        "       lmx pull --cancel ORG/REPO[:QUANT]\n"
        "  downloads a model from Hugging Face into the daemon's store, with progress;\n"
        "  hf.co/ORG/REPO:QUANT and huggingface.co URLs (of the repo or of a file) work too\n"
        "  --file F        a file of the repo (a split model's first shard fetches all)\n"
        "  --revision R    branch, tag or commit (default main)\n"
        "  -q, --quiet     no progress\n"
        "  --cancel        stop the daemon's download of that model\n"
        "  Ctrl-C stops watching; the daemon goes on (run the same lmx pull to watch "
        "again)\n" COMMON_OPTS;
    lmx_admin a;
    lmx_admin_init(&a, "lmx pull");
    pull_opts o = {0};
    const char *pos[1];
    int np;
    if (!parse(&a, argc, argv, pull_opt, &o, pos, 1, &np, usage)) return 2;
    if (np != 1) {
        fprintf(stderr, "lmx pull: name a repo (ORG/REPO[:QUANT])\n%s", usage);
        return 2;
    }
    lmx_hf_ref ref;
    char why[256];
    if (!lmx_hf_ref_parse(pos[0], &ref, why, sizeof why)) {
        fprintf(stderr, "lmx pull: %s\n", why);
        return 2;
    }
    if (o.file && ref.file[0] && strcmp(o.file, ref.file)) {
        fprintf(stderr, "lmx pull: the URL names %s; --file names %s\n", ref.file, o.file);
        return 2;
    }
    if (o.file) snprintf(ref.file, sizeof ref.file, "%s", o.file);
    if (o.revision) snprintf(ref.revision, sizeof ref.revision, "%s", o.revision);
    if (ref.quant[0] && ref.file[0]) {
        fprintf(stderr, "lmx pull: give :QUANT or --file, not both\n");
        return 2;
    }
    if (o.cancel) return pull_cancel(&a, pos[0], &ref);
    json_t *req = json_pack("{s:s}", "repo", ref.repo);
    if (ref.quant[0]) json_object_set_new(req, "quant", json_string(ref.quant));
    if (ref.file[0]) json_object_set_new(req, "file", json_string(ref.file));
    if (ref.revision[0]) json_object_set_new(req, "revision", json_string(ref.revision));
    json_t *r = lmx_admin_do(&a, "POST", "/admin/models/download", req);
    json_decref(req);
    if (!r) return 1;
    char id[128];
    snprintf(id, sizeof id, "%s", str_or(r, "id", ""));
    json_decref(r);
    if (!*id) {
        fprintf(stderr, "lmx pull: the daemon gave no download id\n");
        return 1;
    }
    char *eid = lmx_admin_escape(id);
    char path[256];
    snprintf(path, sizeof path, "/admin/models/download/%s", eid);
    free(eid);
    struct sigaction sa = {0}, old;
    sa.sa_handler = pull_on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    bool tty = !o.quiet && isatty(2);
    int last_pct = -100;
    char last_state[32] = "";
    json_t *st = NULL;
    for (;;) {
        st = lmx_admin_do(&a, "GET", path, NULL);
        if (!st) return 1;
        if (!o.quiet) progress_line(st, tty, &last_pct, last_state);
        if (is_final_state(str_or(st, "state", ""))) break;
        json_decref(st);
        st = NULL;
        struct timespec ts = {0, 250 * 1000000L};
        if (!pull_interrupted) nanosleep(&ts, NULL);
        if (pull_interrupted) break;
    }
    sigaction(SIGINT, &old, NULL);
    if (tty) fputc('\n', stderr);
    if (!st) { /* Ctrl-C */
        fprintf(stderr,
                "lmx pull: stopped watching; the download goes on\n"
                "  in the daemon (lmx ls lists it). To watch it again,\n"
                "  rerun this lmx pull; to stop it:\n"
                "  lmx pull --cancel %s\n",
                pos[0]);
        return 130;
    }
    const char *s = str_or(st, "state", "");
    int rc = 0;
    if (a.json) lmx_admin_print_json(st);
    if (!strcmp(s, "completed")) {
        if (!a.json) {
            char b[32];
            lmx_human_bytes(num(st, "bytes", 0), b, sizeof b);
            printf("pulled %s (%s) as %s\n", str_or(st, "file", "?"), b, str_or(st, "model", id));
        }
    } else {
        fprintf(stderr, "lmx pull: download %s %s: %s\n", id, s,
                str_or(st, "error", "no reason given"));
        rc = 1;
    }
    json_decref(st);
    return rc;
}

/* The start of a command that shows one GET answer (ls, ps, status): its
 * options, then the request; with --json and print_json the answer is
 * printed as is. NULL with *rc set (0: printed, 2: usage, 1: failed). */
static json_t *get_answer(lmx_admin *a, const char *cmd, int argc, char **argv, const char *usage,
                          const char *path, bool print_json, int *rc) {
    lmx_admin_init(a, cmd);
    int np;
    if (!parse(a, argc, argv, NULL, NULL, NULL, 0, &np, usage)) {
        *rc = 2;
        return NULL;
    }
    json_t *r = lmx_admin_do(a, "GET", path, NULL);
    *rc = r ? 0 : 1;
    if (r && a->json && print_json) {
        lmx_admin_print_json(r);
        json_decref(r);
        return NULL;
    }
    return r;
}

/* The start of a command on one model (load, unload, rm): its options and
 * the model's name as the client typed it, cleaned into name[cap] (and
 * a->model); NULL after printing why (a usage error). */
static const char *one_model(lmx_admin *a, const char *cmd, int argc, char **argv, own_opt opt,
                             void *ctx, const char *usage, char *name, size_t cap) {
    lmx_admin_init(a, cmd);
    const char *pos[1];
    int np;
    if (!parse(a, argc, argv, opt, ctx, pos, 1, &np, usage)) return NULL;
    if (np != 1) {
        fprintf(stderr, "%s: name a model\n%s", cmd, usage);
        return NULL;
    }
    lmx_model_name_clean(pos[0], name, cap);
    a->model = name;
    return name;
}

/* ---- ls ---- */

int cmd_ls(int argc, char **argv) {
    const char *usage =
        "usage: lmx ls [--json]\n  the models in the daemon's store, then the downloads in "
        "progress\n  (--json: the store's listing as the admin API gives it)\n" COMMON_OPTS;
    lmx_admin a;
    int rc;
    json_t *r = get_answer(&a, "lmx ls", argc, argv, usage, "/admin/models", true, &rc);
    if (!r) return rc;
    table t = {0};
    row(&t, 7, "ID", "SIZE", "QUANT", "ARCH", "PARAMS", "CONTEXT", "LOADED");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(r, "data"), i, m) {
        char size[32], params[32], ctx[32];
        fmt_bytes(m, "size_bytes", "size", size, sizeof size);
        fmt_params(m, params, sizeof params);
        fmt_int(m, "context_length", ctx, sizeof ctx);
        row(&t, 7, str_or(m, "id", "?"), size, str_or(m, "quantization", "-"),
            str_or(m, "architecture", "-"), params, ctx,
            json_is_true(json_object_get(m, "loaded")) ? "yes" : "no");
    }
    json_t *dl = lmx_admin_do(&a, "GET", "/admin/models/download", NULL);
    table d = {0};
    row(&d, 5, "DOWNLOADING", "FILE", "STATE", "PROGRESS", "ETA");
    json_array_foreach(json_object_get(dl, "data"), i, m) {
        const char *state = str_or(m, "state", "?");
        if (is_final_state(state)) continue;
        char name[300], prog[96], b[32], tot[32], eta[32];
        const char *q = str_or(m, "quant", NULL);
        snprintf(name, sizeof name, "%s%s%s", str_or(m, "repo", "?"), q ? ":" : "", q ? q : "");
        double total = num(m, "total", -1), bytes = num(m, "bytes", 0);
        lmx_human_bytes(bytes, b, sizeof b);
        if (total > 0) {
            lmx_human_bytes(total, tot, sizeof tot);
            snprintf(prog, sizeof prog, "%d%% (%s of %s)", (int)(100 * bytes / total), b, tot);
        } else {
            snprintf(prog, sizeof prog, "%s", b);
        }
        json_t *e = json_object_get(m, "eta");
        fmt_duration(json_is_number(e) ? json_number_value(e) : -1, eta, sizeof eta);
        row(&d, 5, name, str_or(m, "file", "?"), state, prog, eta);
    }
    if (t.n_rows == 1 && d.n_rows == 1)
        printf(
            "no models (lmx pull ORG/REPO:QUANT downloads one; lmx import FILE.gguf adds one)\n");
    bool any = t.n_rows > 1;
    if (any)
        table_print(&t);
    else
        table_free(&t);
    if (d.n_rows > 1) {
        if (any) putchar('\n');
        table_print(&d);
    } else {
        table_free(&d);
    }
    json_decref(dl);
    json_decref(r);
    return 0;
}

/* ---- ps / status ---- */

static void loaded_table(const json_t *models) {
    table t = {0};
    row(&t, 8, "ID", "STATE", "MEMORY", "CONTEXT", "PARALLEL", "ACTIVE", "QUEUED", "UNLOADS IN");
    size_t i;
    json_t *m;
    time_t now = time(NULL);
    json_array_foreach(models, i, m) {
        char mem[32], ctx[32], par[32], act[32], que[32], ttl[32];
        fmt_bytes(m, "memory_bytes", NULL, mem, sizeof mem);
        fmt_int(m, "context_length", ctx, sizeof ctx);
        fmt_int(m, "parallel", par, sizeof par);
        fmt_int(m, "active", act, sizeof act);
        fmt_int(m, "queued", que, sizeof que);
        double exp = num(m, "expires_at", -1);
        if (exp > 0)
            fmt_duration(exp - (double)now, ttl, sizeof ttl);
        else
            snprintf(ttl, sizeof ttl, "never");
        char state[300];
        const char *reason = str_or(m, "reason", NULL);
        snprintf(state, sizeof state, "%s%s%s%s", str_or(m, "state", "?"), reason ? " (" : "",
                 reason ? reason : "", reason ? ")" : "");
        row(&t, 8, str_or(m, "id", "?"), state, mem, ctx, par, act, que, ttl);
    }
    if (t.n_rows == 1) printf("no models loaded\n");
    table_print(&t);
}

/* ps and status show the one GET /admin/status: ps its loaded models (with
 * --json as a list of them), status the daemon's state above them (with
 * --json the answer as it is). */
static int show_status(int argc, char **argv, const char *cmd, const char *usage, bool whole) {
    lmx_admin a;
    int rc;
    json_t *r = get_answer(&a, cmd, argc, argv, usage, "/admin/status", whole, &rc);
    if (!r) return rc;
    json_t *models = json_object_get(r, "models");
    if (whole) {
        char up[32], q[32], act[32];
        fmt_duration(num(r, "uptime_s", -1), up, sizeof up);
        fmt_int(r, "queue_depth", q, sizeof q);
        fmt_int(r, "active_sequences", act, sizeof act);
        printf("daemon      %s (version %s)\n", a.base, str_or(r, "version", "?"));
        printf("uptime      %s\n", up);
        printf("queue       %s waiting, %s active sequences\n", q, act);
        printf("throughput  %.1f tokens/s\n", num(r, "tokens_per_second", 0));
        printf("models      %zu loaded\n\n", json_array_size(models));
        if (json_array_size(models)) loaded_table(models);
    } else if (a.json) {
        json_t *l = json_pack("{s:s,s:O}", "object", "list", "data",
                              json_is_array(models) ? models : json_array());
        lmx_admin_print_json(l);
        json_decref(l);
    } else {
        loaded_table(models);
    }
    json_decref(r);
    return 0;
}

int cmd_ps(int argc, char **argv) {
    return show_status(argc, argv, "lmx ps",
                       "usage: lmx ps [--json]\n  the loaded models\n" COMMON_OPTS, false);
}

int cmd_status(int argc, char **argv) {
    return show_status(argc, argv, "lmx status",
                       "usage: lmx status [--json]\n  the daemon's state\n" COMMON_OPTS, true);
}

/* ---- load / unload / rm ---- */

typedef struct {
    long ctx, parallel;
    double ttl, itl; /* itl: -1 unset (the server's itl_target_ms) */
    const char *alias;
} load_opts;

static bool load_opt(void *ctx, int argc, char **argv, int *i, bool *bad) {
    load_opts *o = ctx;
    const char *v;
    const char *a = argv[*i];
    if (lmx_arg_value(argc, argv, i, "--alias", NULL, &o->alias, bad)) return true;
    if (lmx_arg_value(argc, argv, i, "--ctx", "-c", &v, bad)) {
        if (v && !lmx_arg_long(v, 16, 1 << 24, &o->ctx)) *bad = true;
    } else if (lmx_arg_value(argc, argv, i, "--parallel", NULL, &v, bad)) {
        if (v && !lmx_arg_long(v, 1, 256, &o->parallel)) *bad = true;
    } else if (lmx_arg_value(argc, argv, i, "--ttl", NULL, &v, bad)) {
        if (v && !lmx_arg_double(v, 0, 1e9, &o->ttl)) *bad = true;
    } else if (lmx_arg_value(argc, argv, i, "--itl-target-ms", NULL, &v, bad)) {
        if (v && !lmx_arg_double(v, 0, 60000, &o->itl)) *bad = true;
    } else {
        return false;
    }
    if (*bad) fprintf(stderr, "lmx load: bad value for %s\n", a);
    return true;
}

int cmd_load(int argc, char **argv) {
    const char *usage = "usage: lmx load MODEL [--ctx N] [--parallel N] [--alias A] [--ttl S]\n"
                        "                [--itl-target-ms MS] [--json]\n"
                        "  loads a model of the store (memory is checked first; refusals say why)\n"
                        "  --ctx N       context length per sequence\n"
                        "  --parallel N  sequences decoded at once\n"
                        "  --alias A     also route requests for A to it\n"
                        "  --ttl S       unload after S seconds idle\n"
                        "  --itl-target-ms MS  this model's inter-token latency target (0: none;\n"
                        "                default: the server's itl_target_ms)\n" COMMON_OPTS;
    lmx_admin a;
    load_opts o = {.itl = -1};
    char name[512];
    const char *pos[1] = {
        one_model(&a, "lmx load", argc, argv, load_opt, &o, usage, name, sizeof name)};
    if (!pos[0]) return 2;
    json_t *req = json_pack("{s:s}", "model", pos[0]);
    if (o.ctx) json_object_set_new(req, "ctx_size", json_integer(o.ctx));
    if (o.parallel) json_object_set_new(req, "parallel", json_integer(o.parallel));
    if (o.alias) json_object_set_new(req, "alias", json_string(o.alias));
    if (o.ttl > 0) json_object_set_new(req, "ttl", json_real(o.ttl));
    if (o.itl >= 0) json_object_set_new(req, "itl_target_ms", json_real(o.itl));
    json_t *r = lmx_admin_do(&a, "POST", "/admin/models/load", req);
    json_decref(req);
    if (!r) return 1;
    if (a.json) {
        lmx_admin_print_json(r);
    } else {
        char mem[32], ctx[32];
        fmt_bytes(r, "memory_bytes", NULL, mem, sizeof mem);
        fmt_int(r, "context_length", ctx, sizeof ctx);
        printf("loaded %s: %s, %s, context %s, %.0f ms\n", str_or(r, "id", pos[0]),
               str_or(r, "state", "?"), mem, ctx, num(r, "load_time_ms", 0));
    }
    json_decref(r);
    return 0;
}

int cmd_unload(int argc, char **argv) {
    const char *usage = "usage: lmx unload MODEL [--json]\n  unloads a loaded model\n" COMMON_OPTS;
    lmx_admin a;
    char name[512];
    const char *pos[1] = {
        one_model(&a, "lmx unload", argc, argv, NULL, NULL, usage, name, sizeof name)};
    if (!pos[0]) return 2;
    json_t *req = json_pack("{s:s}", "model", pos[0]);
    json_t *r = lmx_admin_do(&a, "POST", "/admin/models/unload", req);
    json_decref(req);
    return report_change(&a, r, "unloaded %s\n", str_or(r, "id", pos[0]));
}

int cmd_rm(int argc, char **argv) {
    const char *usage = "usage: lmx rm MODEL [--json]\n  deletes a model's files from the store "
                        "(unload it first)\n" COMMON_OPTS;
    lmx_admin a;
    char name[512];
    const char *pos[1] = {
        one_model(&a, "lmx rm", argc, argv, NULL, NULL, usage, name, sizeof name)};
    if (!pos[0]) return 2;
    char *eid = lmx_admin_escape(pos[0]);
    char path[1024];
    snprintf(path, sizeof path, "/admin/models/%s", eid ? eid : "");
    free(eid);
    json_t *r = lmx_admin_do(&a, "DELETE", path, NULL);
    return report_change(&a, r, "deleted %s\n", str_or(r, "id", pos[0]));
}
