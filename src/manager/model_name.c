/* Model names as people type them (see model_name.h). */
#include "manager/model_name.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

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
    char *parts[64], *save = NULL;
    int np = 0;
    for (char *t = strtok_r(tmp, "/", &save); t && np < 64; t = strtok_r(NULL, "/", &save))
        parts[np++] = t;
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
    if (!parts[1][0]) { /* "ORG/:Q" */
        snprintf(why, whylen, "'%s' names no repository: ORG/REPO[:QUANT]", s);
        return false;
    }
    if ((size_t)snprintf(r->repo, sizeof r->repo, "%s/%s", parts[0], parts[1]) >= sizeof r->repo) {
        snprintf(why, whylen, "the repository name in '%.100s...' is too long", s);
        r->repo[0] = 0;
        return false;
    }
    if (np == 2) return true;
    if (colon || np < 4 ||
        (strcmp(parts[2], "blob") && strcmp(parts[2], "resolve") && strcmp(parts[2], "tree"))) {
        snprintf(why, whylen, "'%s' is not ORG/REPO[:QUANT] or a Hugging Face URL", s);
        return false;
    }
    snprintf(r->revision, sizeof r->revision, "%s", parts[3]);
    /* the file's path inside the repo may have folders */
    size_t o = 0;
    for (int k = 4; k < np && o < sizeof r->file; k++)
        o += (size_t)snprintf(r->file + o, sizeof r->file - o, "%s%s", k > 4 ? "/" : "", parts[k]);
    if (o >= sizeof r->file) {
        snprintf(why, whylen, "the file path in '%.100s...' is too long", s);
        return false;
    }
    return true;
}
