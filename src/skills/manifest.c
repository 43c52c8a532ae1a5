/* Manifest files → lmx_skill / lmx_mcp_def.
 *
 * Both YAML and JSON go through libyaml's document API (JSON is YAML's flow
 * style), so every value keeps its line: the tree is converted to jansson
 * values and a side table remembers the line of each, which the field
 * checks below use for "FILE:LINE: reason". A .json file is first checked by
 * jansson too, so JSON that YAML would read more leniently is still refused. */
#include "skills/manifest.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "skills/validate.h"
#include "util/errat.h"
#include "util/grow.h"
#include "util/size.h"
#include "util/yaml_doc.h"

#define MAX_FILE (1u << 20)

typedef struct {
    const json_t *v;
    int line;
} line_ent;

typedef struct {
    const char *name;
    yaml_document_t *doc;
    line_ent *lines;
    size_t n, cap;
    char *err;
    size_t errlen;
    int depth;
} mctx;

static int line_of(const mctx *m, const json_t *v) {
    for (size_t i = 0; i < m->n; i++)
        if (m->lines[i].v == v) return m->lines[i].line;
    return 1;
}

/* The error at value at of the manifest (on its line); -1. (A macro: it
 * hands the message's arguments on to lmx_errat.) */
#define merr(m, at, ...) lmx_errat((m)->err, (m)->errlen, (m)->name, line_of(m, at), 0, __VA_ARGS__)

static void remember(mctx *m, const json_t *v, int line) {
    if (!lmx_grow(&m->lines, &m->cap, m->n + 1, sizeof *m->lines, 64)) return;
    m->lines[m->n++] = (line_ent){v, line};
}

/* YAML 1.2 core schema for plain scalars; quoted ones are strings. */
static json_t *scalar(const yaml_node_t *n) {
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return json_stringn(s, len);
    if (!len || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return json_null();
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) return json_false();
    const char *p = s + (*s == '-' || *s == '+');
    bool intlike = *p && strspn(p, "0123456789") == strlen(p);
    if (intlike && strlen(p) < 19) return json_integer(strtoll(s, NULL, 10));
    /* [-+]? (digits [. digits*] | . digits) ([eE][-+]?digits)? */
    const char *q = p;
    size_t d1 = strspn(q, "0123456789");
    q += d1;
    size_t d2 = 0;
    if (*q == '.') {
        q++;
        d2 = strspn(q, "0123456789");
        q += d2;
    }
    if (d1 + d2 > 0 && (*q == 'e' || *q == 'E')) {
        q++;
        if (*q == '+' || *q == '-') q++;
        size_t d3 = strspn(q, "0123456789");
        if (!d3) return json_stringn(s, len);
        q += d3;
    }
    if (d1 + d2 > 0 && !*q) return json_real(strtod(s, NULL));
    return json_stringn(s, len);
}

static json_t *convert(mctx *m, const yaml_node_t *n) {
    if (!n) return NULL;
    if (++m->depth > 128) {
        snprintf(m->err, m->errlen, "%s:%lu: nested too deeply", m->name,
                 (unsigned long)n->start_mark.line + 1);
        return NULL;
    }
    json_t *out = NULL;
    switch (n->type) {
    case YAML_SCALAR_NODE:
        out = scalar(n);
        break;
    case YAML_SEQUENCE_NODE:
        out = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            json_t *e = convert(m, yaml_document_get_node(m->doc, *it));
            if (!e) goto fail;
            json_array_append_new(out, e);
        }
        break;
    case YAML_MAPPING_NODE:
        out = json_object();
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
             pr++) {
            yaml_node_t *k = yaml_document_get_node(m->doc, pr->key);
            if (!k || k->type != YAML_SCALAR_NODE) {
                snprintf(m->err, m->errlen, "%s:%lu: a key must be a plain string", m->name,
                         (unsigned long)(k ? k->start_mark.line : n->start_mark.line) + 1);
                goto fail;
            }
            const char *key = (const char *)k->data.scalar.value;
            if (strlen(key) != k->data.scalar.length || json_object_get(out, key)) {
                snprintf(m->err, m->errlen, "%s:%lu: duplicate or invalid key '%s'", m->name,
                         (unsigned long)k->start_mark.line + 1, key);
                goto fail;
            }
            json_t *e = convert(m, yaml_document_get_node(m->doc, pr->value));
            if (!e) goto fail;
            json_object_set_new(out, key, e);
        }
        break;
    default:
        break;
    }
    if (!out) {
        snprintf(m->err, m->errlen, "%s:%lu: unreadable value", m->name,
                 (unsigned long)n->start_mark.line + 1);
        m->depth--;
        return NULL;
    }
    remember(m, out, (int)n->start_mark.line + 1);
    m->depth--;
    return out;
fail:
    json_decref(out);
    m->depth--;
    return NULL;
}

/* ---- fields ---- */

static const char *str_field(mctx *m, const json_t *o, const char *key, bool required, int *rc) {
    const json_t *v = json_object_get(o, key);
    if (!v) {
        if (required) *rc = merr(m, o, "missing '%s'", key);
        return NULL;
    }
    if (!json_is_string(v) || !json_string_length(v)) {
        *rc = merr(m, v, "%s: expected a non-empty string", key);
        return NULL;
    }
    return json_string_value(v);
}

static int size_field(mctx *m, const json_t *o, const char *key, uint64_t lo, uint64_t *out) {
    const json_t *v = json_object_get(o, key);
    if (!v) return 0;
    uint64_t x;
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        x = (uint64_t)json_integer_value(v);
    else if (!json_is_string(v) || !lmx_size_parse(json_string_value(v), &x) || x > (uint64_t)1e15)
        return merr(m, v, "limits.%s: expected a size (4096, 64K, 512M, 2G)", key);
    if (x < lo) return merr(m, v, "limits.%s: at least %llu bytes", key, (unsigned long long)lo);
    *out = x;
    return 0;
}

static int num_field(mctx *m, const json_t *o, const char *key, double lo, double hi, double *out) {
    const json_t *v = json_object_get(o, key);
    if (!v) return 0;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
        return merr(m, v, "limits.%s: expected a number from %g to %g", key, lo, hi);
    *out = json_number_value(v);
    return 0;
}

static char **str_list(mctx *m, const json_t *v, const char *what, int *rc) {
    if (!json_is_array(v) || !json_array_size(v) || json_array_size(v) > 256) {
        *rc = merr(m, v, "%s: expected a list of strings", what);
        return NULL;
    }
    char **l = calloc(json_array_size(v) + 1, sizeof *l);
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e) || !json_string_length(e) ||
            strlen(json_string_value(e)) != json_string_length(e)) {
            *rc = merr(m, e, "%s[%zu]: expected a non-empty string", what, i);
            for (size_t j = 0; j < i; j++) free(l[j]);
            free(l);
            return NULL;
        }
        l[i] = strdup(json_string_value(e));
    }
    return l;
}

static void free_list(char **l) {
    if (!l) return;
    for (char **p = l; *p; p++) free(*p);
    free(l);
}

void lmx_sk_limits_default(lmx_sk_limits *l) {
    l->timeout_s = 30;
    l->max_output = 1u << 20;
    l->concurrency = 4;
    l->cpu_s = 30;
    l->memory = 512ull << 20;
    l->processes = 64;
    l->file_size = 16ull << 20;
}

static bool name_ok(const char *s) {
    /* ns/name: lowercase letters, digits, '-', '_', '.'; exactly one '/' */
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/') || strlen(s) > 120)
        return false;
    for (const char *p = s; *p; p++)
        if (p != slash && !islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
            !strchr("-_.", *p))
            return false;
    return strncmp(s, "mcp/", 4) != 0;
}

/* The value a checker's "a.b[2].c: why" path names under root (the deepest
 * one found), so a schema error points at its own line. */
static const json_t *at_path(const json_t *root, const char *err) {
    const char *end = strstr(err, ": ");
    const char *p = strchr(err, '.');
    const json_t *cur = root;
    while (p && (!end || p < end) && cur) {
        char key[256];
        size_t n = 0;
        if (*p == '.') {
            p++;
            while (*p && *p != '.' && *p != '[' && p != end && n + 1 < sizeof key) key[n++] = *p++;
            key[n] = 0;
            const json_t *next = json_object_get(cur, key);
            if (!next) break;
            cur = next;
        } else if (*p == '[') {
            const json_t *next = json_array_get(cur, strtoul(p + 1, NULL, 10));
            if (!next) break;
            cur = next;
            p = strchr(p, ']');
            if (p) p++;
        } else
            break;
    }
    return cur;
}

static const char *const top_keys[] = {"name",         "version",       "description",
                                       "input_schema", "output_schema", "executor",
                                       "limits",       "sandbox",       NULL};

static int load_skill(mctx *m, const json_t *root, const char *dir, const lmx_manifest_opts *o,
                      lmx_skill **out) {
    int rc = 0;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)root, k, v) {
        bool known = false;
        for (const char *const *t = top_keys; *t; t++) known = known || !strcmp(*t, k);
        if (!known) return merr(m, v, "unknown field '%s'", k);
    }
    const char *name = str_field(m, root, "name", true, &rc);
    if (rc) return rc;
    if (!name_ok(name))
        return merr(m, json_object_get(root, "name"),
                    "name: expected NAMESPACE/NAME of lowercase letters, digits, '-', '_', '.' "
                    "(the namespace 'mcp' is the bridge's), got '%s'",
                    name);
    const json_t *verv = json_object_get(root, "version");
    if (!verv) return merr(m, root, "missing 'version'");
    lmx_semver ver;
    if (!json_is_string(verv) || !lmx_semver_parse(json_string_value(verv), &ver))
        return merr(m, verv,
                    "version: expected a semantic version MAJOR.MINOR.PATCH[-PRE] as a "
                    "string");
    const char *desc = str_field(m, root, "description", false, &rc);
    if (rc) return rc;
    const json_t *in = json_object_get(root, "input_schema");
    if (!in) return merr(m, root, "missing 'input_schema'");
    char serr[600];
    if (!json_is_object(in) || !json_is_string(json_object_get(in, "type")) ||
        strcmp(json_string_value(json_object_get(in, "type")), "object"))
        return merr(m, in, "input_schema: expected an object schema ({\"type\": \"object\", ...})");
    if (lmx_jsv_check(in, "input_schema", serr, sizeof serr))
        return merr(m, at_path(in, serr), "%s", serr);
    const json_t *outs = json_object_get(root, "output_schema");
    if (outs && lmx_jsv_check(outs, "output_schema", serr, sizeof serr))
        return merr(m, at_path(outs, serr), "%s", serr);

    lmx_skill *s = calloc(1, sizeof *s);
    if (!s) return merr(m, root, "out of memory");
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->version, sizeof s->version, "%s", json_string_value(verv));
    s->ver = ver;
    s->description = strdup(desc ? desc : "");
    s->input_schema = json_deep_copy(in);
    s->output_schema = outs ? json_deep_copy(outs) : NULL;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->file, sizeof s->file, "%s", m->name);
    lmx_sk_limits_default(&s->limits);
    atomic_init(&s->refs, 1);

    const json_t *ex = json_object_get(root, "executor");
    if (!json_is_object(ex)) {
        rc = merr(m, ex ? ex : root, ex ? "executor: expected a mapping" : "missing 'executor'");
        goto fail;
    }
    const char *type = str_field(m, ex, "type", true, &rc);
    if (rc) goto fail;
    if (!strcmp(type, "exec")) {
        s->kind = LMX_SK_EXEC;
        const json_t *cmd = json_object_get(ex, "command");
        if (!cmd) {
            rc = merr(m, ex, "executor: missing 'command' (a list: program and arguments)");
            goto fail;
        }
        s->argv = str_list(m, cmd, "executor.command", &rc);
        if (rc) goto fail;
    } else if (!strcmp(type, "http")) {
        s->kind = LMX_SK_HTTP;
        const char *url = str_field(m, ex, "url", true, &rc);
        if (rc) goto fail;
        if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
            rc = merr(m, json_object_get(ex, "url"), "executor.url: expected an http(s) URL");
            goto fail;
        }
        s->url = strdup(url);
        const json_t *h = json_object_get(ex, "headers");
        if (h) {
            const char *hk;
            const json_t *hv;
            if (!json_is_object(h)) {
                rc = merr(m, h, "executor.headers: expected a mapping of header: value");
                goto fail;
            }
            json_object_foreach((json_t *)h, hk, hv) if (!json_is_string(hv) ||
                                                         strpbrk(json_string_value(hv), "\r\n") ||
                                                         strpbrk(hk, ":\r\n ")) {
                rc = merr(m, hv, "executor.headers.%s: expected a one-line string", hk);
                goto fail;
            }
            s->headers = json_deep_copy(h);
        }
    } else if (!strcmp(type, "mcp")) {
        s->kind = LMX_SK_MCP;
        const char *srv = str_field(m, ex, "server", true, &rc);
        if (rc) goto fail;
        const char *tool = str_field(m, ex, "tool", true, &rc);
        if (rc) goto fail;
        snprintf(s->server, sizeof s->server, "%s", srv);
        snprintf(s->tool, sizeof s->tool, "%s", tool);
    } else {
        rc = merr(m, json_object_get(ex, "type"), "executor.type: expected exec, http or mcp");
        goto fail;
    }

    const json_t *lim = json_object_get(root, "limits");
    if (lim) {
        if (!json_is_object(lim)) {
            rc = merr(m, lim, "limits: expected a mapping");
            goto fail;
        }
        static const char *const lk[] = {"timeout", "max_output", "concurrency", "cpu",
                                         "memory",  "processes",  "file_size",   NULL};
        json_object_foreach((json_t *)lim, k, v) {
            bool known = false;
            for (const char *const *t = lk; *t; t++) known = known || !strcmp(*t, k);
            if (!known) {
                rc = merr(m, v, "limits: unknown field '%s' (%s)", k,
                          "timeout, max_output, concurrency, cpu, memory, processes, file_size");
                goto fail;
            }
        }
        double conc = s->limits.concurrency, procs = s->limits.processes;
        uint64_t mo = s->limits.max_output;
        if (num_field(m, lim, "timeout", 0.01, 3600, &s->limits.timeout_s) ||
            num_field(m, lim, "cpu", 1, 3600, &s->limits.cpu_s) ||
            num_field(m, lim, "concurrency", 1, 1024, &conc) ||
            num_field(m, lim, "processes", 1, 4096, &procs) ||
            size_field(m, lim, "max_output", 16, &mo) ||
            size_field(m, lim, "memory", 16u << 20, &s->limits.memory) ||
            size_field(m, lim, "file_size", 4096, &s->limits.file_size)) {
            rc = -1;
            goto fail;
        }
        s->limits.concurrency = (int)conc;
        s->limits.processes = (int)procs;
        s->limits.max_output = (size_t)mo;
    }

    const json_t *sb = json_object_get(root, "sandbox");
    const char *profile = "strict";
    const json_t *sbo = NULL;
    if (json_is_string(sb))
        profile = json_string_value(sb);
    else if (json_is_object(sb)) {
        sbo = sb;
        profile = str_field(m, sb, "profile", true, &rc);
        if (rc) goto fail;
        json_object_foreach((json_t *)sb, k, v) if (strcmp(k, "profile") &&
                                                    strcmp(k, "read_paths") &&
                                                    strcmp(k, "network")) {
            rc = merr(m, v, "sandbox: unknown field '%s' (profile, read_paths, network)", k);
            goto fail;
        }
    } else if (sb) {
        rc = merr(m, sb,
                  "sandbox: expected strict, standard, none or {profile, read_paths, network}");
        goto fail;
    }
    if (sb && s->kind != LMX_SK_EXEC) {
        rc = merr(m, sb, "sandbox: applies to exec skills only");
        goto fail;
    }
    if (!strcmp(profile, "strict"))
        s->profile = LMX_SBX_STRICT;
    else if (!strcmp(profile, "standard"))
        s->profile = LMX_SBX_STANDARD;
    else if (!strcmp(profile, "none")) {
        s->profile = LMX_SBX_NONE;
        if (!o || !o->allow_unsandboxed) {
            rc = merr(m, sb,
                      "sandbox: 'none' needs skills_allow_unsandboxed: true in the daemon's "
                      "config");
            goto fail;
        }
    } else {
        rc = merr(m, sb, "sandbox: unknown profile '%s' (strict, standard, none)", profile);
        goto fail;
    }
    if (sbo) {
        const json_t *rp = json_object_get(sbo, "read_paths");
        const json_t *net = json_object_get(sbo, "network");
        if ((rp || net) && s->profile != LMX_SBX_STANDARD) {
            rc = merr(m, rp ? rp : net, "sandbox: read_paths and network need profile standard");
            goto fail;
        }
        if (rp) {
            s->read_paths = str_list(m, rp, "sandbox.read_paths", &rc);
            if (rc) goto fail;
            for (char **p = s->read_paths; *p; p++)
                if (**p != '/' || strstr(*p, "..")) {
                    rc = merr(m, rp,
                              "sandbox.read_paths: '%s' is not an absolute path without '..'", *p);
                    goto fail;
                }
        }
        if (net) {
            if (!json_is_string(net) || (strcmp(json_string_value(net), "none") &&
                                         strcmp(json_string_value(net), "loopback"))) {
                rc = merr(m, net, "sandbox.network: expected none or loopback");
                goto fail;
            }
            s->loopback = !strcmp(json_string_value(net), "loopback");
        }
    }
    *out = s;
    return 0;
fail:
    lmx_skill_free(s);
    return rc ? rc : -1;
}

static int load_server(mctx *m, const json_t *root, const char *dir, lmx_mcp_def **out) {
    int rc = 0;
    const char *k;
    const json_t *v;
    json_object_foreach(
        (json_t *)root, k,
        v) if (strcmp(k, "mcp_server") && strcmp(k, "command") &&
               strcmp(k, "url")) return merr(m, v, "unknown field '%s' (mcp_server, command, url)",
                                             k);
    const char *name = str_field(m, root, "mcp_server", true, &rc);
    if (rc) return rc;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
            return merr(m, json_object_get(root, "mcp_server"),
                        "mcp_server: a name of letters, digits, '-', '_', '.'");
    const json_t *cmd = json_object_get(root, "command");
    const char *url = str_field(m, root, "url", false, &rc);
    if (rc) return rc;
    if (!!cmd == !!url) return merr(m, root, "an MCP server needs exactly one of command or url");
    if (url && strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return merr(m, json_object_get(root, "url"), "url: expected an http(s) URL");
    lmx_mcp_def *d = calloc(1, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    snprintf(d->file, sizeof d->file, "%s", m->name);
    if (cmd) {
        d->argv = str_list(m, cmd, "command", &rc);
        if (rc) {
            free(d);
            return rc;
        }
    } else
        d->url = strdup(url);
    *out = d;
    return 0;
}

int lmx_manifest_parse(const char *name, const char *text, size_t len, const lmx_manifest_opts *o,
                       lmx_skill **skill, lmx_mcp_def **server, char *err, size_t errlen) {
    *skill = NULL;
    *server = NULL;
    size_t nl = strlen(name);
    bool is_json = nl > 5 && !strcmp(name + nl - 5, ".json");
    if (is_json) {
        json_error_t je;
        json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!j) return lmx_errat(err, errlen, name, je.line > 0 ? je.line : 1, 0, "%s", je.text);
        json_decref(j);
    }
    yaml_parser_t p;
    yaml_document_t doc;
    if (lmx_yaml_first(&p, &doc, text, len, name, false, "", err, errlen)) return -1;
    yaml_parser_delete(&p);
    mctx m = {.name = name, .doc = &doc, .err = err, .errlen = errlen};
    int rc = -1;
    yaml_node_t *rootn = yaml_document_get_root_node(&doc);
    json_t *root = NULL;
    if (!rootn)
        snprintf(err, errlen, "%s:1: empty manifest", name);
    else if ((root = convert(&m, rootn))) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", name);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
        if (!json_is_object(root))
            merr(&m, root, "expected a mapping (name, version, executor, ...)");
        else if (json_object_get(root, "mcp_server"))
            rc = load_server(&m, root, dir, server) ? -1 : 2;
        else
            rc = load_skill(&m, root, dir, o, skill) ? -1 : 1;
    }
    json_decref(root);
    free(m.lines);
    yaml_document_delete(&doc);
    return rc;
}

int lmx_manifest_load(const char *path, const lmx_manifest_opts *o, lmx_skill **skill,
                      lmx_mcp_def **server, char *err, size_t errlen) {
    *skill = NULL;
    *server = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1;
    char *buf = malloc(MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_FILE + 1, f) : 0;
    fclose(f);
    if (!buf) return snprintf(err, errlen, "%s: out of memory", path), -1;
    if (n > MAX_FILE) {
        free(buf);
        return snprintf(err, errlen, "%s:1: larger than 1 MiB", path), -1;
    }
    buf[n] = 0;
    int rc = lmx_manifest_parse(path, buf, n, o, skill, server, err, errlen);
    free(buf);
    return rc;
}

void lmx_skill_free(lmx_skill *s) {
    if (!s) return;
    free(s->description);
    json_decref(s->input_schema);
    json_decref(s->output_schema);
    free_list(s->argv);
    free_list(s->read_paths);
    free(s->url);
    json_decref(s->headers);
    free(s);
}

void lmx_mcp_def_free(lmx_mcp_def *d) {
    if (!d) return;
    free_list(d->argv);
    free(d->url);
    free(d);
}

static const char *const kinds[] = {"exec", "http", "mcp"};
static const char *const profiles[] = {"strict", "standard", "none"};

json_t *lmx_skill_json(const lmx_skill *s) {
    json_t *lim = json_pack("{s:f,s:I,s:i}", "timeout", s->limits.timeout_s, "max_output",
                            (json_int_t)s->limits.max_output, "concurrency", s->limits.concurrency);
    json_t *j = json_pack("{s:s,s:s,s:s,s:O,s:s,s:o}", "name", s->name, "version", s->version,
                          "description", s->description ? s->description : "", "input_schema",
                          s->input_schema, "executor", kinds[s->kind], "limits", lim);
    if (s->output_schema) json_object_set(j, "output_schema", s->output_schema);
    if (s->kind == LMX_SK_EXEC) {
        json_object_set_new(lim, "cpu", json_real(s->limits.cpu_s));
        json_object_set_new(lim, "memory", json_integer((json_int_t)s->limits.memory));
        json_object_set_new(lim, "processes", json_integer(s->limits.processes));
        json_object_set_new(lim, "file_size", json_integer((json_int_t)s->limits.file_size));
        json_t *sb = json_pack("{s:s}", "profile", profiles[s->profile]);
        if (s->profile == LMX_SBX_STANDARD) {
            json_t *rp = json_array();
            for (char **p = s->read_paths; p && *p; p++) json_array_append_new(rp, json_string(*p));
            json_object_set_new(sb, "read_paths", rp);
            json_object_set_new(sb, "network", json_string(s->loopback ? "loopback" : "none"));
        }
        json_object_set_new(j, "sandbox", sb);
    }
    json_object_set_new(j, "stable", json_boolean(!s->ver.pre[0]));
    json_object_set_new(j, "tool", lmx_skill_tool_json(s));
    return j;
}

void lmx_skill_tool_name(const char *name, char *out, size_t n) {
    size_t o = 0;
    for (const char *p = name; *p && o + 3 < n; p++) {
        if (*p == '/')
            out[o++] = '_', out[o++] = '_';
        else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_')
            out[o++] = *p;
        else
            out[o++] = '_';
    }
    out[o < n ? o : n - 1] = 0;
    if (o > 64) out[64] = 0; /* OpenAI's limit on function names */
}

json_t *lmx_skill_tool_json(const lmx_skill *s) {
    char tn[200];
    lmx_skill_tool_name(s->name, tn, sizeof tn);
    return json_pack("{s:s,s:{s:s,s:s,s:o}}", "type", "function", "function", "name", tn,
                     "description", s->description ? s->description : "", "parameters",
                     lmx_jsv_for_model(s->input_schema));
}
