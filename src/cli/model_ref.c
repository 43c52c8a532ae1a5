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
#include "manager/model_name.h"
#include "manager/store.h"
#include "server/config.h"

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
    lmx_store *s =
        lmx_store_valid_name(name, why, sizeof why) ? lmx_store_open(dir, err, sizeof err) : NULL;
    lmx_store_entry m;
    if (s && lmx_store_get(s, name, &m)) {
        snprintf(out, n, "%s", m.path);
        lmx_store_entry_free(&m);
        lmx_store_close(s);
        return true;
    }
    lmx_store_entry *all = NULL;
    int n_all = s ? lmx_store_list(s, &all) : 0;
    lmx_store_close(s);
    size_t cnt = (size_t)n_all;
    const char **ids = calloc(cnt + 1, sizeof *ids);
    for (size_t k = 0; ids && k < cnt; k++) ids[k] = all[k].id;
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
    lmx_store_entries_free(all, n_all);
    return false;
}

lmx_gguf *lmx_cli_gguf_open(const char *cmd, const char *ref, char *path, size_t n) {
    char err[1024];
    if (!lmx_cli_model_path(cmd, ref, path, n)) return NULL;
    lmx_gguf *g = lmx_gguf_open(path, err, sizeof err);
    if (!g) fprintf(stderr, "%s: %s\n", cmd, err);
    return g;
}
