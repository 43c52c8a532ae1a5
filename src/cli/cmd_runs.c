/* lmx runs [ls | show ID | tail ID | cancel ID]: agent runs from a shell,
 * over the admin API (/admin/agents/runs: every tenant's runs). ls and show
 * print tables (--json: the API's JSON); tail prints the run's events as
 * they happen (the whole history first) until the run ends. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/admin_client.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "util/buf.h"
#include "util/curl_init.h"

static const char USAGE[] =
    "usage: lmx runs [ls [--status S] [--role R] [--limit N] | show ID | tail ID | cancel ID]\n"
    "  ls      the newest agent runs (every API key's)\n"
    "  show    one run: status, steps, pending tool calls, output\n"
    "  tail    the run's events as they happen, from the first, until it ends\n"
    "  cancel  cancel a run that has not ended\n"
    "  --host H[:P], --port P  the daemon (default LMX_HOST or 127.0.0.1:1234)\n"
    "  --admin-key KEY         (default LMX_ADMIN_KEY)\n"
    "  --json                  print the API's JSON\n";

static const char *s_or(const json_t *o, const char *k, const char *d) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : d;
}

static void when(const json_t *o, const char *k, char *out, size_t n) {
    json_t *v = json_object_get(o, k);
    if (!json_is_number(v)) {
        snprintf(out, n, "-");
        return;
    }
    time_t t = (time_t)json_number_value(v);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

static int ls(const lmx_admin *a, const char *status, const char *role, const char *limit) {
    char path[512];
    snprintf(path, sizeof path, "/admin/agents/runs?limit=%s%s%s%s%s", limit ? limit : "20",
             status ? "&status=" : "", status ? status : "", role ? "&role=" : "",
             role ? role : "");
    json_t *r = lmx_admin_do(a, "GET", path, NULL);
    if (!r) return 1;
    if (a->json) {
        lmx_admin_print_json(r);
        json_decref(r);
        return 0;
    }
    printf("%-30s  %-16s  %-14s  %-24s  %6s  %7s  %s\n", "ID", "STATUS", "ROLE", "MODEL", "STEPS",
           "TOKENS", "CREATED");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, "data"), i, x) {
        char c[32];
        when(x, "created_at", c, sizeof c);
        printf("%-30s  %-16s  %-14s  %-24s  %6lld  %7lld  %s\n", s_or(x, "id", "?"),
               s_or(x, "status", "?"), s_or(x, "role", "(inline)"), s_or(x, "model", "?"),
               (long long)json_integer_value(json_object_get(x, "model_steps")),
               (long long)json_integer_value(
                   json_object_get(json_object_get(x, "usage"), "total_tokens")),
               c);
    }
    json_decref(r);
    return 0;
}

static int show(const lmx_admin *a, const char *id, bool cancel) {
    char *esc = lmx_admin_escape(id), path[512];
    snprintf(path, sizeof path, "/admin/agents/runs/%s%s", esc, cancel ? "/cancel" : "");
    free(esc);
    json_t *r = lmx_admin_do(a, cancel ? "POST" : "GET", path, NULL);
    if (!r) return 1;
    if (a->json) {
        lmx_admin_print_json(r);
        json_decref(r);
        return 0;
    }
    char c[32], e[32];
    when(r, "created_at", c, sizeof c);
    when(r, "completed_at", e, sizeof e);
    json_t *u = json_object_get(r, "usage");
    printf("run      %s\nstatus   %s\nrole     %s\nmodel    %s\ncreated  %s\nended    %s\n",
           s_or(r, "id", "?"), s_or(r, "status", "?"), s_or(r, "role", "(inline)"),
           s_or(r, "model", "?"), c, e);
    printf("usage    %lld prompt + %lld completion tokens\n",
           (long long)json_integer_value(json_object_get(u, "prompt_tokens")),
           (long long)json_integer_value(json_object_get(u, "completion_tokens")));
    json_t *err = json_object_get(r, "error");
    if (json_is_object(err))
        printf("error    %s: %s\n", s_or(err, "code", "?"), s_or(err, "message", ""));
    printf("\n%-4s  %-10s  %-12s  %7s  %9s  %s\n", "#", "TYPE", "STATUS", "ATTEMPT", "MS",
           "DETAIL");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r, "steps"), i, s) {
        json_t *tc = json_object_get(s, "tool_call");
        char detail[160] = "";
        if (tc)
            snprintf(detail, sizeof detail, "%s(%.80s)", s_or(tc, "name", "?"),
                     s_or(tc, "arguments", ""));
        else if (json_is_object(json_object_get(s, "error")))
            snprintf(detail, sizeof detail, "%s", s_or(json_object_get(s, "error"), "code", ""));
        else
            snprintf(detail, sizeof detail, "%s", s_or(s, "finish_reason", ""));
        json_t *att = json_object_get(s, "attempt");
        char as[16] = "-";
        if (att) snprintf(as, sizeof as, "%lld", (long long)json_integer_value(att));
        printf("%-4zu  %-10s  %-12s  %7s  %9.0f  %s\n", i, s_or(s, "type", "?"),
               s_or(s, "status", "?"), as, json_number_value(json_object_get(s, "duration_ms")),
               detail);
    }
    json_t *out = json_object_get(r, "output");
    if (json_is_object(out)) printf("\noutput\n%s\n", s_or(out, "content", ""));
    json_decref(r);
    return 0;
}

/* tail: the SSE body, printed one event per line as it arrives */
typedef struct {
    lmx_buf text; /* what arrived and is not yet a whole event */
    bool json;
} sse_buf;

static void print_event(const char *block, bool json) {
    const char *d = strstr(block, "data: ");
    if (!d) return;
    if (json) {
        printf("%s\n", d + 6);
        fflush(stdout);
        return;
    }
    json_t *o = json_loads(d + 6, 0, NULL);
    if (!o) return;
    printf("%4lld  %-22s", (long long)json_integer_value(json_object_get(o, "id")),
           s_or(o, "type", "?"));
    static const char *keys[] = {"step_type", "index",    "attempt", "name",
                                 "code",      "delay_ms", "message", NULL};
    for (int i = 0; keys[i]; i++) {
        json_t *v = json_object_get(o, keys[i]);
        if (!v) continue;
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        printf("  %s=%.120s", keys[i], t ? t : "");
        free(t);
    }
    putchar('\n');
    fflush(stdout);
    json_decref(o);
}

static size_t on_sse(char *d, size_t sz, size_t nm, void *ud) {
    sse_buf *sb = ud;
    lmx_buf *b = &sb->text;
    size_t n = sz * nm;
    if (!lmx_buf_add(b, d, n)) return 0;
    char *end;
    while ((end = strstr(b->p, "\n\n"))) {
        *end = 0;
        if (b->p[0] != ':') print_event(b->p, sb->json);
        size_t used = (size_t)(end + 2 - b->p);
        memmove(b->p, end + 2, b->n - used + 1);
        b->n -= used;
    }
    return n;
}

static int tail(const lmx_admin *a, const char *id) {
    /* a 404 reads better from the JSON route than from a stream */
    char *esc = lmx_admin_escape(id), path[512];
    snprintf(path, sizeof path, "/admin/agents/runs/%s", esc);
    json_t *r = lmx_admin_do(a, "GET", path, NULL);
    if (!r) {
        free(esc);
        return 1;
    }
    json_decref(r);
    snprintf(path, sizeof path, "/admin/agents/runs/%s/events", esc);
    free(esc);
    lmx_curl_init();
    CURL *c = curl_easy_init();
    if (!c) return 1;
    struct curl_slist *hl = NULL;
    sse_buf b = {.json = a->json};
    lmx_admin_curl_setup(a, c, path, &hl, on_sse, &b);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) fprintf(stderr, "lmx runs tail: %s\n", curl_easy_strerror(rc));
    lmx_buf_free(&b.text);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : 1;
}

int cmd_runs(int argc, char **argv) {
    lmx_admin a;
    lmx_admin_init(&a, "lmx runs");
    const char *pos[2] = {0}, *status = NULL, *role = NULL, *limit = NULL;
    int np = 0;
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (lmx_arg_help(argv[i], USAGE)) return 0;
        if (lmx_admin_option(&a, argc, argv, &i, &bad)) continue;
        const char **dst = !strcmp(argv[i], "--status")  ? &status
                           : !strcmp(argv[i], "--role")  ? &role
                           : !strcmp(argv[i], "--limit") ? &limit
                                                         : NULL;
        if (dst) {
            if (i + 1 >= argc)
                bad = true;
            else
                *dst = argv[++i];
        } else if (argv[i][0] == '-' || np == 2) {
            fprintf(stderr, "lmx runs: unexpected argument '%s'\n", argv[i]);
            bad = true;
        } else
            pos[np++] = argv[i];
    }
    const char *sub = np ? pos[0] : "ls";
    bool needs_id = strcmp(sub, "ls") != 0;
    if (!bad && (needs_id ? np != 2 : np > 1)) bad = true;
    if (!bad && strcmp(sub, "ls") && strcmp(sub, "show") && strcmp(sub, "tail") &&
        strcmp(sub, "cancel")) {
        fprintf(stderr, "lmx runs: unknown subcommand '%s'\n", sub);
        bad = true;
    }
    if (!bad && !lmx_admin_ready(&a)) {
        fprintf(stderr, "lmx runs: bad daemon address '%s'\n", a.base);
        bad = true;
    }
    if (bad) {
        fprintf(stderr, "%s", USAGE);
        return 2;
    }
    if (!strcmp(sub, "ls")) return ls(&a, status, role, limit);
    if (!strcmp(sub, "show")) return show(&a, pos[1], false);
    if (!strcmp(sub, "cancel")) return show(&a, pos[1], true);
    return tail(&a, pos[1]);
}
