/* Chat-template engine: byte-exact agreement with Python Jinja2 on the reference
 * renderings (../shared/refs/chat_templates.jsonl), then language features one by
 * one, then hostile input (syntax errors with positions, recursion, runaway loops). */
#include "test.h"

#include <stdlib.h>
#include <time.h>

#include <jansson.h>

#include "text/template.h"

/* 2026-11-23 09:30 local time: the clock the references were rendered with */
static time_t pinned_now(void) {
    struct tm tm = {.tm_year = 2026 - 1900, .tm_mon = 10, .tm_mday = 23, .tm_hour = 9, .tm_min = 30, .tm_isdst = -1};
    return mktime(&tm);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0;
    if (len) *len = (size_t)n;
    return b;
}

/* Prints where got and want first differ, with a little context. */
static void show_diff(const char *got, const char *want) {
    size_t i = 0;
    while (got[i] && got[i] == want[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "    first difference at byte %zu\n    want: ", i);
    for (size_t k = from; want[k] && k < i + 40; k++) fputc(want[k] == '\n' ? '|' : want[k], stderr);
    fprintf(stderr, "\n    got:  ");
    for (size_t k = from; got[k] && k < i + 40; k++) fputc(got[k] == '\n' ? '|' : got[k], stderr);
    fprintf(stderr, "\n");
}

TEST(template_refs_match_jinja2) {
    char path[1024];
    snprintf(path, sizeof path, "%s/refs/chat_cases.json", lmx_test_shared());
    json_error_t je;
    json_t *cases = json_load_file(path, 0, &je);
    CHECK(cases);
    snprintf(path, sizeof path, "%s/refs/chat_templates.jsonl", lmx_test_shared());
    char *refs = slurp(path, NULL);
    if (!refs) {
        json_decref(cases);
        FAILF("cannot read %s", path);
    }
    int total = 0, bad = 0;
    char cur_name[256] = "";
    lmx_tmpl *tmpl = NULL;
    char perr[512] = "";
    time_t now = pinned_now();
    for (char *line = strtok(refs, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *row = json_loads(line, 0, &je);
        if (!row) continue;
        total++;
        const char *tname = json_string_value(json_object_get(row, "template"));
        const char *cname = json_string_value(json_object_get(row, "case"));
        if (strcmp(tname, cur_name)) {
            lmx_tmpl_free(tmpl);
            snprintf(cur_name, sizeof cur_name, "%s", tname);
            snprintf(path, sizeof path, "%s/templates/%s.jinja", lmx_test_shared(), tname);
            size_t len;
            char *src = slurp(path, &len);
            tmpl = src ? lmx_tmpl_parse(src, len, perr, sizeof perr) : NULL;
            if (!src) snprintf(perr, sizeof perr, "cannot read template");
            free(src);
        }
        json_t *cs = NULL;
        for (size_t i = 0; i < json_array_size(cases); i++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(cases, i), "case")), cname))
                cs = json_array_get(cases, i);
        json_t *ctx = json_object();
        json_t *kwargs = json_object_get(cs, "kwargs");
        if (kwargs) json_object_update(ctx, kwargs);
        json_object_set(ctx, "messages", json_object_get(cs, "messages"));
        json_t *agp = json_object_get(cs, "add_generation_prompt");
        json_object_set_new(ctx, "add_generation_prompt", agp ? json_incref(agp) : json_true());
        json_object_set(ctx, "bos_token", json_object_get(row, "bos_token"));
        json_object_set(ctx, "eos_token", json_object_get(row, "eos_token"));
        json_t *tools = json_object_get(cs, "tools");
        if (tools && !json_is_null(tools)) json_object_set(ctx, "tools", tools);

        const char *want = json_string_value(json_object_get(row, "output"));
        const char *want_err = json_string_value(json_object_get(row, "error"));
        char err[1024] = "", got_err[1100] = "";
        lmx_tmpl_opts opts = {.now = now};
        char *out = NULL;
        if (tmpl) out = lmx_tmpl_render(tmpl, ctx, &opts, err, sizeof err);
        else snprintf(err, sizeof err, "parse: %s", perr);
        if (!out) snprintf(got_err, sizeof got_err, "%s%s", opts.raised ? "TemplateError: " : "", err);
        int ok = want ? (out && !strcmp(out, want)) : (!out && want_err && !strcmp(got_err, want_err));
        if (!ok) {
            bad++;
            fprintf(stderr, "  MISMATCH %s / %s\n", tname, cname);
            if (want && out) show_diff(out, want);
            else if (want) fprintf(stderr, "    want output, got error: %s\n", got_err);
            else if (out) fprintf(stderr, "    want error '%s', got output\n", want_err);
            else fprintf(stderr, "    want error '%s'\n    got error  '%s'\n", want_err, got_err);
        }
        free(out);
        json_decref(ctx);
        json_decref(row);
    }
    lmx_tmpl_free(tmpl);
    free(refs);
    json_decref(cases);
    fprintf(stderr, "  refs: %d/%d match\n", total - bad, total);
    CHECK(total == 162);
    CHECK_EQ_INT(bad, 0);
}
