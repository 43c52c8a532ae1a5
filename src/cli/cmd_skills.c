/* lmx skills [ls | show NAME | invoke NAME ARGS]: the daemon's skills over
 * its API (/v1/skills). ARGS is a JSON object ('-' reads it from stdin).
 * The result of an invocation is printed as JSON on stdout; a refusal goes
 * to stderr with its code and, for bad arguments, every violation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin_client.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "util/buf.h"

static const char usage[] =
    "usage: lmx skills [ls]                 the skills: name, latest version, executor\n"
    "       lmx skills show NAME[@VERSION]  one skill: versions, schemas, limits, sandbox\n"
    "       lmx skills invoke NAME[@VERSION] ARGS   run it with ARGS (a JSON object, '-': stdin)\n"
    "  --host H[:P], --port P  the daemon (default LMX_HOST or 127.0.0.1:1234)\n"
    "  --api-key KEY           API key (default LMX_API_KEY)\n"
    "  --json                  print the API's JSON\n";

/* What f holds, up to its end or a read error, as a string. */
static char *read_all(FILE *f) {
    lmx_buf b = {0};
    lmx_buf_read(&b, f, 0);
    return b.p;
}

static void print_list(const json_t *r) {
    size_t i;
    json_t *s;
    printf("%-32s %-12s %-8s %s\n", "NAME", "LATEST", "EXECUTOR", "VERSIONS");
    json_array_foreach(json_object_get(r, "data"), i, s) {
        char vers[256] = "";
        size_t k, len = 0;
        json_t *v;
        json_array_foreach(json_object_get(s, "versions"), k, v) len +=
            (size_t)snprintf(vers + len, len < sizeof vers ? sizeof vers - len : 0, "%s%s",
                             k ? ", " : "", json_string_value(v));
        const char *latest = json_string_value(json_object_get(s, "latest"));
        printf("%-32s %-12s %-8s %s\n", json_string_value(json_object_get(s, "name")),
               latest ? latest : "-", json_string_value(json_object_get(s, "executor")), vers);
    }
    json_array_foreach(json_object_get(r, "errors"), i, s)
        fprintf(stderr, "refused: %s\n", json_string_value(json_object_get(s, "error")));
}

int cmd_skills(int argc, char **argv) {
    lmx_admin a;
    lmx_admin_init(&a, "lmx skills");
    const char *k = getenv("LMX_API_KEY");
    a.api_key = k && *k ? k : NULL;
    const char *pos[3];
    int np = 0;
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (lmx_arg_help(argv[i], usage)) return 0;
        if (lmx_arg_value(argc, argv, &i, "--api-key", NULL, &a.api_key, &bad)) continue;
        if (lmx_admin_option(&a, argc, argv, &i, &bad)) continue;
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "lmx skills: unknown option '%s'\n", argv[i]);
            bad = true;
        } else if (np < 3)
            pos[np++] = argv[i];
        else {
            fprintf(stderr, "lmx skills: unexpected argument '%s'\n", argv[i]);
            bad = true;
        }
    }
    const char *sub = np ? pos[0] : "ls";
    if (!bad && !lmx_admin_ready(&a)) {
        fprintf(stderr, "lmx skills: bad daemon address '%s'\n", a.base);
        bad = true;
    }
    if (!bad && !strcmp(sub, "ls") && np <= 1) {
        json_t *r = lmx_admin_do(&a, "GET", "/v1/skills", NULL);
        if (!r) return 1;
        if (a.json)
            lmx_admin_print_json(r);
        else
            print_list(r);
        json_decref(r);
        return 0;
    }
    if (!bad && !strcmp(sub, "show") && np == 2) {
        char *esc = lmx_admin_escape(pos[1]), path[1200];
        snprintf(path, sizeof path, "/v1/skills/%s", esc);
        free(esc);
        json_t *r = lmx_admin_do(&a, "GET", path, NULL);
        if (!r) return 1;
        lmx_admin_print_json(r); /* schemas read best as the JSON they are */
        json_decref(r);
        return 0;
    }
    if (!bad && !strcmp(sub, "invoke") && np == 3) {
        char *text = !strcmp(pos[2], "-") ? read_all(stdin) : strdup(pos[2]);
        json_error_t je;
        json_t *args = text ? json_loads(text, 0, &je) : NULL;
        free(text);
        if (!json_is_object(args)) {
            fprintf(stderr, "lmx skills invoke: ARGS must be a JSON object%s%s\n", args ? "" : ": ",
                    args ? "" : je.text);
            json_decref(args);
            return 2;
        }
        char *esc = lmx_admin_escape(pos[1]), path[1200];
        snprintf(path, sizeof path, "/v1/skills/%s/invoke", esc);
        free(esc);
        json_t *body = json_pack("{s:o}", "arguments", args), *out = NULL;
        char err[512];
        long st = lmx_admin_call(&a, "POST", path, body, &out, err, sizeof err);
        json_decref(body);
        if (!st) {
            fprintf(stderr, "lmx skills invoke: %s\n", err);
            return 1;
        }
        int rc = 0;
        if (st / 100 == 2 && !a.json)
            lmx_admin_print_json(json_object_get(out, "result"));
        else if (st / 100 == 2 || a.json)
            lmx_admin_print_json(out);
        if (st / 100 != 2) {
            json_t *e = json_object_get(out, "error");
            fprintf(stderr, "lmx skills invoke: %s (%s, HTTP %ld)\n",
                    json_string_value(json_object_get(e, "message")) ?: "failed",
                    json_string_value(json_object_get(e, "code")) ?: "error", st);
            size_t i;
            json_t *v;
            json_array_foreach(json_object_get(e, "violations"), i, v)
                fprintf(stderr, "  %s: %s (%s)\n", json_string_value(json_object_get(v, "pointer")),
                        json_string_value(json_object_get(v, "message")),
                        json_string_value(json_object_get(v, "rule")));
            rc = 1;
        }
        json_decref(out);
        return rc;
    }
    fprintf(stderr, "%s", usage);
    return 2;
}
