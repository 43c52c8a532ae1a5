/* The admin subcommands' HTTP client (libcurl): one JSON request per call,
 * errors shown as the server worded them. */
#include "cli/admin_client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/suggest.h"
#include "server/config.h"
#include "util/buf.h"
#include "util/curl_body.h"
#include "util/curl_init.h"
#include "util/secret_file.h"

void lmx_admin_init(lmx_admin *a, const char *cmd) {
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    const char *h = getenv("LMX_HOST");
    if (h && *h)
        snprintf(a->base, sizeof a->base, "%s", h);
    else
        snprintf(a->base, sizeof a->base, "%s:%d", LMX_DEFAULT_HOST, LMX_DEFAULT_PORT);
    const char *k = getenv("LMX_ADMIN_KEY");
    a->key = k && *k ? k : NULL;
    if (!a->key) { /* the token a daemon of this user created at its first start */
        char path[1200], err[256];
        lmx_state_path(NULL, "admin.token", path, sizeof path);
        if (!lmx_secret_file(path, false, a->token, sizeof a->token, err, sizeof err))
            a->key = a->token;
    }
}

bool lmx_admin_option(lmx_admin *a, int argc, char **argv, int *i, bool *bad) {
    const char *v;
    if (!strcmp(argv[*i], "--json")) {
        a->json = true;
        return true;
    }
    if (lmx_arg_value(argc, argv, i, "--admin-key", NULL, &a->key, bad)) return true;
    if (lmx_arg_value(argc, argv, i, "--host", NULL, &v, bad)) {
        if (v) {
            /* --host H keeps a port given earlier (or the default's) unless H has one */
            const char *colon = strrchr(a->base, ':');
            bool has_port =
                colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1);
            const char *port = has_port && !strchr(v, ':') ? colon : "";
            char tmp[sizeof a->base];
            snprintf(tmp, sizeof tmp, "%s%s", v, port);
            snprintf(a->base, sizeof a->base, "%s", tmp);
        }
        return true;
    }
    if (lmx_arg_value(argc, argv, i, "--port", NULL, &v, bad)) {
        long p;
        if (v && !lmx_arg_long(v, 1, 65535, &p)) {
            fprintf(stderr, "%s: bad --port '%s'\n", a->cmd, v);
            *bad = true;
        } else if (v) {
            char *colon = strrchr(a->base, ':');
            if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1))
                *colon = 0;
            size_t n = strlen(a->base);
            snprintf(a->base + n, sizeof a->base - n, ":%ld", p);
        }
        return true;
    }
    return false;
}

bool lmx_admin_ready(lmx_admin *a) {
    if (!strncmp(a->base, "http://", 7) || !strncmp(a->base, "https://", 8)) {
        size_t n = strlen(a->base);
        while (n && a->base[n - 1] == '/') a->base[--n] = 0;
        return n > 0;
    }
    char tmp[sizeof a->base];
    snprintf(tmp, sizeof tmp, "http://%s", a->base);
    snprintf(a->base, sizeof a->base, "%s", tmp);
    return strlen(a->base) > 7;
}

void lmx_admin_curl_setup(const lmx_admin *a, CURL *c, const char *path, struct curl_slist **hl,
                          curl_write_callback write, void *data) {
    char url[2048], h[1024];
    snprintf(url, sizeof url, "%s%s", a->base, path);
    if (a->key) {
        snprintf(h, sizeof h, "X-Admin-Key: %s", a->key);
        *hl = curl_slist_append(*hl, h);
    }
    if (a->api_key) {
        snprintf(h, sizeof h, "Authorization: Bearer %s", a->api_key);
        *hl = curl_slist_append(*hl, h);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, data);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
}

long lmx_admin_call(const lmx_admin *a, const char *method, const char *path, const json_t *jb,
                    json_t **out, char *err, size_t errlen) {
    lmx_curl_init();
    *out = NULL;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "cannot start libcurl");
        return 0;
    }
    struct curl_slist *hl = curl_slist_append(NULL, "Accept: application/json");
    char *payload = jb ? json_dumps(jb, JSON_COMPACT) : NULL;
    if (payload) hl = curl_slist_append(hl, "Content-Type: application/json");
    lmx_curl_body body = {.max = 256u << 20};
    lmx_admin_curl_setup(a, c, path, &hl, lmx_curl_body_write, &body);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (payload) curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "cannot reach the daemon at %s: %s", a->base, curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        const lmx_buf *b = &body.buf;
        if (b->n) *out = json_loadb(b->p, b->n, 0, NULL);
        if (!*out && b->n) snprintf(err, errlen, "%.*s", (int)(b->n < 300 ? b->n : 300), b->p);
    }
    lmx_buf_free(&body.buf);
    free(payload);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return status;
}

/* The API's errors a person at a shell meets most, said in the CLI's terms
 * (the flag or variable to use, the command that lists the choices) rather
 * than in HTTP's. true when it printed the message. */
static bool cli_error(const lmx_admin *a, long st, const char *code, const char *param,
                      const char *msg) {
    if (st == 401 || (code && !strcmp(code, "invalid_admin_key"))) {
        fprintf(stderr,
                "%s: the daemon at %s wants its admin key%s: give --admin-key KEY or set "
                "LMX_ADMIN_KEY\n",
                a->cmd, a->base, a->key ? " (the one given was refused)" : "");
        return true;
    }
    static const char *const flags[][2] = {{"file", "--file"},         {"revision", "--revision"},
                                           {"quant", ":QUANT"},        {"ctx_size", "--ctx"},
                                           {"parallel", "--parallel"}, {"ttl", "--ttl"},
                                           {"alias", "--alias"},       {"repo", "ORG/REPO"}};
    if (param && msg && st == 400)
        for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
            if (!strcmp(param, flags[i][0])) {
                /* the field's name in the message becomes the flag's */
                char q[64], out[1024];
                snprintf(q, sizeof q, "\"%s\"", param);
                size_t o = 0, ql = strlen(q);
                for (const char *m = msg; *m && o + 32 < sizeof out;) {
                    if (!strncmp(m, q, ql)) {
                        o += (size_t)snprintf(out + o, sizeof out - o, "%s", flags[i][1]);
                        m += ql;
                    } else {
                        out[o++] = *m++;
                    }
                }
                out[o] = 0;
                fprintf(stderr, "%s: %s%s%s\n", a->cmd, strstr(msg, q) ? "" : flags[i][1],
                        strstr(msg, q) ? "" : ": ", out);
                return true;
            }
    if (st != 404 || !code || strcmp(code, "model_not_found") || !a->model) return false;
    if (!strcmp(a->cmd, "lmx unload") && msg && strstr(msg, "not loaded")) {
        fprintf(stderr, "lmx unload: '%s' is not loaded (lmx ps lists the loaded models)\n",
                a->model);
        return true;
    }
    /* the store's models, with the nearest as a suggestion */
    json_t *l = NULL;
    char err[256];
    long ls = lmx_admin_call(a, "GET", "/admin/models", NULL, &l, err, sizeof err);
    json_t *data = ls == 200 ? json_object_get(l, "data") : NULL;
    size_t n = json_array_size(data), i;
    const char **ids = calloc(n + 1, sizeof *ids);
    json_t *m;
    json_array_foreach(data, i, m) ids[i] = json_string_value(json_object_get(m, "id"));
    const char *sug = ids ? lmx_suggest(a->model, ids, n) : NULL;
    fprintf(stderr, "%s: no model '%s' in the daemon's store", a->cmd, a->model);
    if (sug) fprintf(stderr, "; did you mean '%s'?", sug);
    if (!n) fprintf(stderr, " (it is empty: lmx pull ORG/REPO:QUANT or lmx import FILE.gguf)");
    fputc('\n', stderr);
    if (n) {
        fprintf(stderr, "models in the store:");
        for (i = 0; i < n && i < 20; i++) fprintf(stderr, " %s", ids[i] ? ids[i] : "?");
        fprintf(stderr, n > 20 ? " ... (lmx ls lists them all)\n" : "\n");
    }
    free(ids);
    json_decref(l);
    return true;
}

json_t *lmx_admin_do(const lmx_admin *a, const char *method, const char *path, const json_t *jb) {
    json_t *o;
    char err[512] = "";
    long st = lmx_admin_call(a, method, path, jb, &o, err, sizeof err);
    if (!st) {
        fprintf(stderr, "%s: %s\n", a->cmd, err);
        return NULL;
    }
    if (st >= 200 && st < 300) {
        if (!o) o = json_object();
        return o;
    }
    if (a->json && o) lmx_admin_print_json(o);
    json_t *e = json_object_get(o, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (!msg) msg = json_string_value(e); /* {"error": "..."} */
    const char *code = json_string_value(json_object_get(e, "code"));
    if (cli_error(a, st, code, json_string_value(json_object_get(e, "param")), msg)) {
        json_decref(o);
        return NULL;
    }
    if (msg)
        fprintf(stderr, "%s: %s (HTTP %ld%s%s)\n", a->cmd, msg, st, code ? ", " : "",
                code ? code : "");
    else
        fprintf(stderr, "%s: the daemon answered HTTP %ld%s%s\n", a->cmd, st, err[0] ? ": " : "",
                err);
    json_decref(o);
    return NULL;
}

char *lmx_admin_escape(const char *id) {
    size_t n = strlen(id);
    char *o = malloc(3 * n + 1), *p = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (isalnum(c) || strchr("-._~/:", c))
            *p++ = (char)c;
        else
            p += sprintf(p, "%%%02X", c);
    }
    *p = 0;
    return o;
}

void lmx_admin_print_json(const json_t *v) {
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (s) {
        puts(s);
        free(s);
    }
}

void lmx_human_bytes(double b, char *out, size_t n) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int i = 0;
    while (b >= 1024 && i < 5) b /= 1024, i++;
    snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}
