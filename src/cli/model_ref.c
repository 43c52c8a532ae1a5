/* Model references on the command line (see model_ref.h). */
#include "cli/model_ref.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli/suggest.h"
#include "manager/store.h"
#include "server/config.h"

static const char *strip_prefix(const char *s) {
    static const char *const pre[] = {"https://huggingface.co/", "http://huggingface.co/",
                                      "https://hf.co/", "huggingface.co/", "hf.co/"};
    for (size_t i = 0; i < sizeof pre / sizeof *pre; i++)
        if (!strncasecmp(s, pre[i], strlen(pre[i]))) return s + strlen(pre[i]);
    return s;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a > b && !strcasecmp(s + a - b, suf);
}

void lmx_model_name_clean(const char *ref, char *out, size_t n) {
    snprintf(out, n, "%s", strip_prefix(ref));
    size_t l = strlen(out);
    if (ends_with(out, ":latest")) out[l -= 7] = 0;
    if (ends_with(out, ".gguf")) out[l -= 5] = 0;
}

bool lmx_hf_ref_parse(const char *s, lmx_hf_ref *r, char *why, size_t whylen) {
    memset(r, 0, sizeof *r);
    const char *p = strip_prefix(s);
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", p);
    char *q = strpbrk(tmp, "?#");
    if (q) *q = 0;
    /* ORG/REPO[:QUANT] or ORG/REPO/(blob|resolve|tree)/REV[/FILE] */
    char *parts[8];
    int np = 0;
    for (char *t = strtok(tmp, "/"); t && np < 8; t = strtok(NULL, "/")) parts[np++] = t;
    if (np < 2) {
        snprintf(why, whylen, "'%s' is not ORG/REPO[:QUANT] or a Hugging Face URL", s);
        return false;
    }
    char *colon = strchr(parts[1], ':');
    if (colon) {
        *colon = 0;
        snprintf(r->quant, sizeof r->quant, "%s", colon + 1);
        if (!strcasecmp(r->quant, "latest")) r->quant[0] = 0;
    }
    snprintf(r->repo, sizeof r->repo, "%s/%s", parts[0], parts[1]);
    if (np == 2) return true;
    if (colon || np < 4 ||
        (strcmp(parts[2], "blob") && strcmp(parts[2], "resolve") && strcmp(parts[2], "tree"))) {
        snprintf(why, whylen, "'%s' is not ORG/REPO[:QUANT] or a Hugging Face URL", s);
        return false;
    }
    snprintf(r->revision, sizeof r->revision, "%s", parts[3]);
    /* the file's path inside the repo may have folders: rebuild it from p */
    if (np > 4) {
        const char *f = p;
        for (int k = 0; k < 4; k++) f = strchr(f, '/') + 1;
        snprintf(r->file, sizeof r->file, "%s", f);
        char *qq = strpbrk(r->file, "?#");
        if (qq) *qq = 0;
    }
    return true;
}

void lmx_cli_models_dir(char *out, size_t n) {
    lmx_config *c = malloc(sizeof *c);
    char err[512];
    const char *home = getenv("HOME");
    out[0] = 0;
    if (c && !lmx_config_build(c, NULL, 0, NULL, err, sizeof err) && c->models_dir[0]) {
        if (!strncmp(c->models_dir, "~/", 2))
            snprintf(out, n, "%s%s", home ? home : "", c->models_dir + 1);
        else
            snprintf(out, n, "%s", c->models_dir);
    }
    free(c);
    if (!out[0]) snprintf(out, n, "%s/.lmx/models", home ? home : "");
}

static bool is_file(const char *p) {
    struct stat st;
    return !stat(p, &st) && S_ISREG(st.st_mode);
}

bool lmx_cli_model_path(const char *cmd, const char *ref, char *out, size_t n) {
    if (is_file(ref)) {
        snprintf(out, n, "%s", ref);
        return true;
    }
    if (ref[0] == '/' || !strncmp(ref, "./", 2) || !strncmp(ref, "../", 3)) {
        struct stat st;
        fprintf(stderr, "%s: %s: %s\n", cmd, ref,
                stat(ref, &st) ? strerror(errno) : "not a regular file");
        return false;
    }
    char dir[1024], name[512];
    lmx_cli_models_dir(dir, sizeof dir);
    lmx_model_name_clean(ref, name, sizeof name);
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr,
                "%s: no file '%s', and the model store %s does not exist yet; give a .gguf file "
                "or add a model (lmx pull ORG/REPO:QUANT with lmx serve running, or lmx import "
                "FILE.gguf)\n",
                cmd, ref, dir);
        return false;
    }
    char err[512];
    char why[128];
    lmx_store *s = lmx_store_valid_name(name, why, sizeof why) ? lmx_store_open(dir, err, sizeof err)
                                                                 : NULL;
    json_t *m = s ? lmx_store_get(s, name) : NULL;
    const char *path = json_string_value(json_object_get(m, "path"));
    if (path) {
        snprintf(out, n, "%s", path);
        json_decref(m);
        lmx_store_close(s);
        return true;
    }
    json_decref(m);
    json_t *all = s ? lmx_store_list(s) : json_array();
    lmx_store_close(s);
    size_t k, cnt = json_array_size(all);
    const char **ids = calloc(cnt + 1, sizeof *ids);
    json_t *e;
    json_array_foreach(all, k, e) ids[k] = json_string_value(json_object_get(e, "id"));
    fprintf(stderr, "%s: no file '%s' and no model '%s' in the store %s", cmd, ref, name, dir);
    const char *sug = lmx_suggest(name, ids, cnt);
    if (sug) fprintf(stderr, "; did you mean '%s'?", sug);
    if (!cnt) fprintf(stderr, " (it is empty: lmx pull ORG/REPO:QUANT or lmx import FILE.gguf)");
    fputc('\n', stderr);
    if (cnt) {
        fprintf(stderr, "models in the store:");
        for (size_t i = 0; i < cnt && i < 20; i++) fprintf(stderr, " %s", ids[i] ? ids[i] : "?");
        if (cnt > 20) fprintf(stderr, " ... (%zu in all; lmx ls lists them)", cnt);
        fputc('\n', stderr);
    }
    free(ids);
    json_decref(all);
    return false;
}
