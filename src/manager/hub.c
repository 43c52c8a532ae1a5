/* The Hugging Face Hub client (libcurl): listing, choosing, probing and
 * fetching files, and sha256 (OpenSSL's libcrypto).
 *
 * Protocol, as huggingface_hub speaks it:
 *   GET  {endpoint}/api/models/{repo}/tree/{rev}?recursive=true   the files, paged
 *        by a Link: <...>; rel="next" header; LFS files carry lfs.oid = sha256
 *   HEAD {endpoint}/{repo}/resolve/{rev}/{file}   302 to the CDN with
 *        X-Linked-Etag: "<sha256>" and X-Linked-Size (LFS files), or 200
 *   GET  <cdn url> with Range: bytes=N-             206 from the offset
 * The redirect is taken by hand so the token never leaves the hub's host. */
#include "manager/hub.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/curl_init.h"

/* ---- names ---- */

static bool name_char(char c) {
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

bool lmx_hub_valid_repo(const char *repo) {
    const char *slash = repo ? strchr(repo, '/') : NULL;
    if (!slash || strchr(slash + 1, '/') || strlen(repo) > 200) return false;
    for (const char *p = repo; *p; p++)
        if (p != slash && !name_char(*p)) return false;
    size_t a = (size_t)(slash - repo), b = strlen(slash + 1);
    if (!a || !b) return false;
    /* a leading dot would name a hidden directory: the store's own is .lmx */
    if (repo[0] == '.' || slash[1] == '.') return false;
    return true;
}

bool lmx_hub_valid_path(const char *path) {
    if (!path || !*path || path[0] == '/' || strlen(path) > 1000) return false;
    const char *p = path;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || p[0] == '.') return false; /* ".", "..", hidden names */
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == '\\' || p[i] == 0x7f) return false;
        if (!e) return true;
        p = e + 1;
    }
}

/* "NAME-00001-of-00003.gguf": the length of NAME, the shard and the count. */
static bool split_of(const char *path, size_t *stem, int *k, int *n) {
    size_t len = strlen(path);
    const size_t tail = strlen("-00001-of-00003.gguf");
    if (len <= tail || strcasecmp(path + len - 5, ".gguf")) return false;
    const char *s = path + len - tail;
    for (int i = 0; i < 5; i++)
        if (!isdigit((unsigned char)s[1 + i]) || !isdigit((unsigned char)s[10 + i])) return false;
    if (s[0] != '-' || strncmp(s + 6, "-of-", 4)) return false;
    *k = atoi(s + 1);
    *n = atoi(s + 10);
    *stem = len - tail;
    return *k >= 1 && *n >= 1 && *k <= *n;
}

static bool is_gguf(const char *p) {
    size_t n = strlen(p);
    return n > 5 && !strcasecmp(p + n - 5, ".gguf");
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static bool is_mmproj(const char *p) {
    return !strncasecmp(base_name(p), "mmproj", 6);
}

/* quant appears in path as a whole token: not preceded by a letter or digit,
 * not followed by a letter, digit or '_' (so Q4_K does not match Q4_K_M). */
static bool has_quant(const char *path, const char *quant) {
    size_t q = strlen(quant), n = strlen(path);
    if (!q) return false;
    for (size_t i = 0; i + q <= n; i++) {
        if (strncasecmp(path + i, quant, q)) continue;
        if (i > 0 && isalnum((unsigned char)path[i - 1])) continue;
        char c = path[i + q];
        if (isalnum((unsigned char)c) || c == '_') continue;
        return true;
    }
    return false;
}

void lmx_hub_quant_of(const char *name, char *out, size_t n) {
    out[0] = 0;
    const char *b = base_name(name);
    size_t len = strlen(b), stem;
    int k, cnt;
    if (split_of(b, &stem, &k, &cnt))
        len = stem;
    else if (len > 5 && !strcasecmp(b + len - 5, ".gguf"))
        len -= 5;
    /* the last token (split on '-' and '.') shaped like a quant name */
    size_t end = len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && b[start - 1] != '-' && b[start - 1] != '.') start--;
        size_t tl = end - start;
        const char *t = b + start;
        bool q =
            tl >= 2 && tl < n &&
            (((t[0] == 'Q' || t[0] == 'q') && isdigit((unsigned char)t[1])) ||
             (tl >= 3 && (t[0] == 'I' || t[0] == 'i') && (t[1] == 'Q' || t[1] == 'q') &&
              isdigit((unsigned char)t[2])) ||
             (tl == 3 && !strncasecmp(t, "F16", 3)) || (tl == 3 && !strncasecmp(t, "F32", 3)) ||
             (tl == 4 && !strncasecmp(t, "BF16", 4)));
        for (size_t i = 0; q && i < tl; i++)
            if (!isalnum((unsigned char)t[i]) && t[i] != '_') q = false;
        if (q) {
            for (size_t i = 0; i < tl; i++) out[i] = (char)toupper((unsigned char)t[i]);
            out[tl] = 0;
            return;
        }
        if (start == 0) break;
        end = start - 1;
    }
}

/* ---- choosing files from a listing ---- */

static void list_ggufs(const json_t *listing, char *out, size_t n) {
    size_t used = 0;
    out[0] = 0;
    size_t i;
    json_t *f;
    int shown = 0;
    json_array_foreach(listing, i, f) {
        const char *p = json_string_value(json_object_get(f, "path"));
        if (!p || !is_gguf(p)) continue;
        size_t stem;
        int k, cnt;
        if (split_of(p, &stem, &k, &cnt) && k != 1) continue; /* one line per split model */
        int w = snprintf(out + used, n - used, "%s%s", shown ? ", " : "", p);
        if (w < 0 || (size_t)w >= n - used) {
            if (n > 4) snprintf(out + n - 5, 5, "...");
            return;
        }
        used += (size_t)w;
        shown++;
    }
    if (!shown) snprintf(out, n, "(none)");
}

static const json_t *find_path(const json_t *listing, const char *path) {
    size_t i;
    json_t *f;
    json_array_foreach(listing, i, f) {
        const char *p = json_string_value(json_object_get(f, "path"));
        if (p && !strcmp(p, path)) return f;
    }
    return NULL;
}

static void file_from(const json_t *f, lmx_hub_file *o) {
    o->name = strdup(json_string_value(json_object_get(f, "path")));
    const char *sha = json_string_value(json_object_get(f, "sha256"));
    snprintf(o->sha256, sizeof o->sha256, "%s", sha && strlen(sha) == 64 ? sha : "");
    json_t *sz = json_object_get(f, "size");
    o->size = json_is_integer(sz) ? (int64_t)json_integer_value(sz) : -1;
}

/* All shards of the split model `path` belongs to, in order. */
static int expand_split(const json_t *listing, const char *path, lmx_hub_file **out,
                        lmx_mgr_err *e) {
    size_t stem;
    int k, n;
    if (!split_of(path, &stem, &k, &n)) {
        const json_t *f = find_path(listing, path);
        *out = calloc(1, sizeof **out);
        if (!*out) goto oom;
        file_from(f, *out);
        return 1;
    }
    *out = calloc((size_t)n, sizeof **out);
    if (!*out) goto oom;
    for (int i = 1; i <= n; i++) {
        char name[1200];
        snprintf(name, sizeof name, "%.*s-%05d-of-%05d.gguf", (int)stem, path, i, n);
        const json_t *f = find_path(listing, name);
        if (!f) {
            lmx_hub_files_free(*out, i - 1);
            *out = NULL;
            lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_FILE, "file",
                         "'%s' is one of %d shards, but the repo has no '%s'.", path, n, name);
            return -1;
        }
        file_from(f, &(*out)[i - 1]);
    }
    return n;
oom:
    lmx_mgr_fail(e, LMX_MGR_INTERNAL, LMX_MGR_W_NONE, NULL, "Out of memory.");
    return -1;
}

static int choose(const json_t *listing, const char *file, const char *quant, lmx_hub_file **out,
                  lmx_mgr_err *e) {
    char avail[600];
    if (file && *file) {
        if (!find_path(listing, file)) {
            list_ggufs(listing, avail, sizeof avail);
            lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_FILE, "file",
                         "The repo has no file '%s'. GGUF files: %s", file, avail);
            return -1;
        }
        return expand_split(listing, file, out, e);
    }
    /* the model keys (path less any shard suffix) of the candidates */
    const char *first = NULL;
    size_t first_stem = 0;
    int n_keys = 0, n_mm = 0;
    char keys[600];
    size_t used = 0;
    keys[0] = 0;
    for (int pass = 0; pass < 2 && !n_keys; pass++) { /* pass 1 admits mmproj files */
        size_t i;
        json_t *f;
        json_array_foreach(listing, i, f) {
            const char *p = json_string_value(json_object_get(f, "path"));
            if (!p || !is_gguf(p)) continue;
            if (quant && *quant && !has_quant(p, quant)) continue;
            if (is_mmproj(p) != (pass == 1)) {
                n_mm += pass == 0;
                continue;
            }
            size_t stem = strlen(p);
            int k, n;
            if (split_of(p, &stem, &k, &n) && k != 1) continue;
            if (!first) {
                first = p;
                first_stem = stem;
            }
            n_keys++;
            int w = snprintf(keys + used, sizeof keys - used, "%s%s", used ? ", " : "", p);
            if (w > 0 && (size_t)w < sizeof keys - used) used += (size_t)w;
        }
        if (!n_mm) break;
    }
    (void)first_stem;
    if (n_keys == 0) {
        list_ggufs(listing, avail, sizeof avail);
        if (quant && *quant)
            lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_FILE, "quant",
                         "No .gguf file in the repo matches quant '%s'. GGUF files: %s", quant,
                         avail);
        else
            lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_FILE, "file",
                         "The repo has no .gguf file. Files: %s", avail);
        return -1;
    }
    if (n_keys > 1) {
        lmx_mgr_fail(e, LMX_MGR_AMBIGUOUS, LMX_MGR_W_NONE, quant && *quant ? "quant" : "file",
                     "%s several models: %s. Name one with \"file\".",
                     quant && *quant ? "The quant matches" : "The repo holds", keys);
        return -1;
    }
    return expand_split(listing, first, out, e);
}

int lmx_hub_choose(const json_t *all, const char *file, const char *quant, lmx_hub_file **out,
                   lmx_mgr_err *e) {
    *out = NULL;
    if (!json_is_array(all)) {
        lmx_mgr_fail(e, LMX_MGR_HUB_ERROR, LMX_MGR_W_NONE, NULL,
                     "The hub's file listing is not a list.");
        return -1;
    }
    /* the listing comes from the network: paths that could leave the store are not files */
    json_t *listing = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(all, i, f) {
        if (lmx_hub_valid_path(json_string_value(json_object_get(f, "path"))))
            json_array_append(listing, f);
    }
    int n = choose(listing, file, quant, out, e);
    json_decref(listing);
    return n;
}

void lmx_hub_files_free(lmx_hub_file *f, int n) {
    if (!f) return;
    for (int i = 0; i < n; i++) free(f[i].name);
    free(f);
}

/* ---- HTTP ---- */

#define LISTING_LIMIT (64u << 20) /* larger than any listing: the transfer is aborted */

static size_t mem_write(char *data, size_t sz, size_t nm, void *ud) {
    lmx_buf *m = ud;
    size_t n = sz * nm;
    if (m->n + n > LISTING_LIMIT) return 0;
    return lmx_buf_add(m, data, n) ? n : 0;
}

/* Headers of the last response (redirects reset them). */
typedef struct {
    char linked_etag[80], etag[80], linked_size[32], length[32], content_range[80], commit[80];
    char error_code[64], error_msg[256], next[1024];
} hdrs;

static void hval(char *dst, size_t n, const char *v, size_t vlen) {
    while (vlen && (*v == ' ' || *v == '\t')) v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ')) vlen--;
    if (vlen >= n) vlen = n - 1;
    memcpy(dst, v, vlen);
    dst[vlen] = 0;
}

static size_t hdr_cb(char *line, size_t sz, size_t nm, void *ud) {
    hdrs *h = ud;
    size_t n = sz * nm;
    if (n >= 5 && !strncmp(line, "HTTP/", 5)) {
        memset(h, 0, sizeof *h);
        return n;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon) return n;
    size_t kl = (size_t)(colon - line), vl = n - kl - 1;
    const char *v = colon + 1;
#define H(name, field)                                                                             \
    if (kl == strlen(name) && !strncasecmp(line, name, kl)) hval(h->field, sizeof h->field, v, vl)
    H("X-Linked-Etag", linked_etag);
    H("ETag", etag);
    H("X-Linked-Size", linked_size);
    H("X-Repo-Commit", commit);
    H("Content-Length", length);
    H("Content-Range", content_range);
    H("X-Error-Code", error_code);
    H("X-Error-Message", error_msg);
#undef H
    if (kl == 4 && !strncasecmp(line, "Link", 4)) {
        /* Link: <url>; rel="next" */
        char tmp[1200];
        hval(tmp, sizeof tmp, v, vl);
        char *lt = strchr(tmp, '<'), *gt = lt ? strchr(lt, '>') : NULL;
        if (lt && gt && strstr(gt, "rel=\"next\"")) {
            *gt = 0;
            snprintf(h->next, sizeof h->next, "%s", lt + 1);
        }
    }
    return n;
}

/* sha256 from an ETag value: W/"<64 hex>" or "<64 hex>"; "" otherwise. */
static void etag_sha(const char *v, char out[65]) {
    out[0] = 0;
    if (!strncmp(v, "W/", 2)) v += 2;
    if (*v == '"') v++;
    size_t n = 0;
    while (isxdigit((unsigned char)v[n])) n++;
    if (n != 64 || (v[n] && v[n] != '"')) return;
    for (int i = 0; i < 64; i++) out[i] = (char)tolower((unsigned char)v[i]);
    out[64] = 0;
}

static char *host_of(const char *url) {
    CURLU *u = curl_url();
    char *host = NULL, *out = NULL;
    if (u && !curl_url_set(u, CURLUPART_URL, url, 0) &&
        !curl_url_get(u, CURLUPART_HOST, &host, 0)) {
        char *port = NULL;
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
        size_t n = strlen(host) + (port ? strlen(port) : 0) + 2;
        out = malloc(n);
        if (out) snprintf(out, n, "%s:%s", host, port ? port : "");
        curl_free(port);
    }
    curl_free(host);
    curl_url_cleanup(u);
    return out;
}

static bool same_host(const char *a, const char *b) {
    char *ha = host_of(a), *hb = host_of(b);
    bool same = ha && hb && !strcasecmp(ha, hb);
    free(ha);
    free(hb);
    return same;
}

static struct curl_slist *auth_headers(const lmx_hub *h, bool auth) {
    struct curl_slist *l = curl_slist_append(NULL, "User-Agent: lmx/1 (hf-compatible)");
    if (auth && h->token && *h->token) {
        char b[2048];
        snprintf(b, sizeof b, "Authorization: Bearer %s", h->token);
        l = curl_slist_append(l, b);
    }
    return l;
}

static CURL *easy(const lmx_hub *h, const char *url, struct curl_slist *hl, hdrs *hd) {
    (void)h;
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hdr_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, hd);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    return c;
}

static void hub_error(lmx_mgr_err *e, long code, const hdrs *hd, const char *what, const char *repo,
                      const char *endpoint) {
    const char *xc = hd->error_code;
    if (!strcmp(xc, "RevisionNotFound")) {
        lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_REVISION, "revision",
                     "%s: the revision was not found in repo '%s'.", what, repo);
    } else if (!strcmp(xc, "EntryNotFound")) {
        lmx_mgr_fail(e, LMX_MGR_NOT_FOUND, LMX_MGR_W_FILE, "file", "%s was not found in repo '%s'.",
                     what, repo);
    } else if (!strcmp(xc, "GatedRepo") || code == 403 ||
               (code == 401 && strcmp(xc, "RepoNotFound"))) {
        lmx_mgr_fail(
            e, LMX_MGR_FORBIDDEN, LMX_MGR_W_REPO, "repo",
            "Repo '%s' is gated or private (hub answered %ld%s%s). Accept its terms on the "
            "hub and set HF_TOKEN for the daemon.",
            repo, code, hd->error_msg[0] ? ": " : "", hd->error_msg);
    } else if (code == 404 || !strcmp(xc, "RepoNotFound")) {
        lmx_mgr_fail(
            e, LMX_MGR_NOT_FOUND, LMX_MGR_W_REPO, "repo",
            "Repo '%s' was not found on %s (check the spelling; private repos need HF_TOKEN).",
            repo, endpoint);
    } else {
        lmx_mgr_fail(e, LMX_MGR_HUB_ERROR, LMX_MGR_W_NONE, NULL,
                     "%s: the hub (%s) answered HTTP %ld.", what, endpoint, code);
    }
}

json_t *lmx_hub_list(const lmx_hub *h, const char *repo, const char *revision, lmx_mgr_err *e) {
    lmx_curl_init();
    json_t *files = json_array();
    CURL *c = curl_easy_init();
    char *rev = c ? curl_easy_escape(c, revision, 0) : NULL;
    char url[2048];
    snprintf(url, sizeof url, "%s/api/models/%s/tree/%s?recursive=true", h->endpoint, repo,
             rev ? rev : "main");
    curl_free(rev);
    if (c) curl_easy_cleanup(c);
    for (int page = 0; page < 100; page++) {
        hdrs hd = {0};
        lmx_buf m = {0};
        struct curl_slist *hl = auth_headers(h, true);
        CURL *cu = easy(h, url, hl, &hd);
        if (!cu) goto fail_oom;
        curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, mem_write);
        curl_easy_setopt(cu, CURLOPT_WRITEDATA, &m);
        curl_easy_setopt(cu, CURLOPT_TIMEOUT, 120L);
        /* a renamed repo redirects; libcurl keeps our Authorization to the same host only */
        curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(cu, CURLOPT_MAXREDIRS, 5L);
        CURLcode rc = curl_easy_perform(cu);
        long code = 0;
        curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(cu);
        curl_slist_free_all(hl);
        if (rc != CURLE_OK) {
            lmx_buf_free(&m);
            lmx_mgr_fail(e, LMX_MGR_HUB_UNREACHABLE, LMX_MGR_W_NONE, NULL,
                         "Listing repo '%s' on %s failed: %s.", repo, h->endpoint,
                         curl_easy_strerror(rc));
            json_decref(files);
            return NULL;
        }
        if (code != 200) {
            lmx_buf_free(&m);
            hub_error(e, code, &hd, "Listing the files", repo, h->endpoint);
            json_decref(files);
            return NULL;
        }
        json_error_t je;
        json_t *arr = m.p ? json_loadb(m.p, m.n, 0, &je) : NULL;
        lmx_buf_free(&m);
        if (!json_is_array(arr)) {
            json_decref(arr);
            json_decref(files);
            lmx_mgr_fail(e, LMX_MGR_HUB_ERROR, LMX_MGR_W_NONE, NULL,
                         "The hub's file listing for '%s' is not a JSON list.", repo);
            return NULL;
        }
        size_t i;
        json_t *f;
        json_array_foreach(arr, i, f) {
            const char *type = json_string_value(json_object_get(f, "type"));
            const char *path = json_string_value(json_object_get(f, "path"));
            if (!path || (type && strcmp(type, "file"))) continue;
            json_t *o = json_pack("{s:s}", "path", path);
            json_t *lfs = json_object_get(f, "lfs");
            json_t *size = json_object_get(json_is_object(lfs) ? lfs : f, "size");
            if (json_is_integer(size)) json_object_set(o, "size", size);
            const char *oid = json_string_value(json_object_get(lfs, "oid"));
            if (oid) {
                char sha[65];
                etag_sha(oid, sha);
                if (sha[0]) json_object_set_new(o, "sha256", json_string(sha));
            }
            json_array_append_new(files, o);
        }
        json_decref(arr);
        if (!hd.next[0]) return files;
        /* the next page; relative links resolve against the endpoint */
        if (hd.next[0] == '/')
            snprintf(url, sizeof url, "%s%s", h->endpoint, hd.next);
        else
            snprintf(url, sizeof url, "%s", hd.next);
    }
    return files;
fail_oom:
    json_decref(files);
    lmx_mgr_fail(e, LMX_MGR_INTERNAL, LMX_MGR_W_NONE, NULL, "Out of memory.");
    return NULL;
}

static char *resolve_url(const char *endpoint, const char *repo, const char *revision,
                         const char *file) {
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    char *rev = curl_easy_escape(c, revision, 0);
    /* escape each path segment, keeping the '/' between them */
    size_t cap = strlen(endpoint) + strlen(repo) + strlen(file) * 3 + (rev ? strlen(rev) : 0) + 32;
    char *url = malloc(cap);
    if (url && rev) {
        int n = snprintf(url, cap, "%s/%s/resolve/%s/", endpoint, repo, rev);
        const char *p = file;
        while (*p) {
            const char *s = strchr(p, '/');
            size_t len = s ? (size_t)(s - p) : strlen(p);
            char *seg = curl_easy_escape(c, p, (int)len);
            n += snprintf(url + n, cap - (size_t)n, "%s%s", seg ? seg : "", s ? "/" : "");
            curl_free(seg);
            p += len + (s ? 1 : 0);
        }
    }
    curl_free(rev);
    curl_easy_cleanup(c);
    return url;
}

int lmx_hub_probe(const lmx_hub *h, const char *repo, const char *revision, const char *file,
                  lmx_hub_target *t, lmx_mgr_err *e) {
    lmx_curl_init();
    memset(t, 0, sizeof *t);
    t->size = -1;
    char *url = resolve_url(h->endpoint, repo, revision, file);
    if (!url) {
        lmx_mgr_fail(e, LMX_MGR_INTERNAL, LMX_MGR_W_NONE, NULL, "Out of memory.");
        return -1;
    }
    hdrs hd = {0};
    CURLcode rc = CURLE_OK;
    long code = 0;
    /* a redirect on the hub's own host without the LFS headers (a renamed repo) is
     * followed, with the token; the first one elsewhere, or with them, is the CDN */
    for (int hop = 0; hop < 5 && !t->url; hop++) {
        struct curl_slist *hl = auth_headers(h, true);
        CURL *c = easy(h, url, hl, &hd);
        if (!c) {
            curl_slist_free_all(hl);
            break;
        }
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
        rc = curl_easy_perform(c);
        char *loc = NULL;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc); /* resolved against url; owned by c */
        char *next = NULL;
        if (rc != CURLE_OK) {
            lmx_mgr_fail(e, LMX_MGR_HUB_UNREACHABLE, LMX_MGR_W_NONE, NULL,
                         "Resolving '%s' on %s failed: %s.", file, h->endpoint,
                         curl_easy_strerror(rc));
        } else if (code >= 300 && code < 400 && loc) {
            bool same = same_host(loc, url);
            if (same && !hd.linked_etag[0] && !hd.linked_size[0]) {
                next = strdup(loc);
            } else {
                t->url = strdup(loc);
                t->auth = same;
            }
        } else if (code == 200) {
            t->url = strdup(url);
            t->auth = true;
        } else {
            char what[1100];
            snprintf(what, sizeof what, "File '%s'", file);
            hub_error(e, code, &hd, what, repo, h->endpoint);
        }
        curl_easy_cleanup(c);
        curl_slist_free_all(hl);
        if (!next) break;
        free(url);
        url = next;
    }
    free(url);
    if (!t->url) {
        if (rc == CURLE_OK && code >= 200 && code < 400)
            lmx_mgr_fail(e, LMX_MGR_HUB_ERROR, LMX_MGR_W_NONE, NULL,
                         "Resolving '%s': the hub answered %ld without a usable location.", file,
                         code);
        return -1;
    }
    etag_sha(hd.linked_etag, t->sha256);
    /* the commit the revision resolved to: later requests name it, so every file (and a
     * resume after a restart) comes from the same commit even if the branch moves */
    size_t cl = strspn(hd.commit, "0123456789abcdef");
    if (cl == 40 && !hd.commit[40]) memcpy(t->commit, hd.commit, 41);
    const char *sz = hd.linked_size[0] ? hd.linked_size : code == 200 ? hd.length : "";
    if (*sz) {
        char *end;
        long long v = strtoll(sz, &end, 10);
        if (end != sz && v >= 0) t->size = v;
    }
    return 0;
}

void lmx_hub_target_free(lmx_hub_target *t) {
    free(t->url);
    t->url = NULL;
}

/* ---- fetching ---- */

typedef struct {
    FILE *f;
    CURL *c;
    int64_t off;
    bool checked, restart, refused, io_err;
    long code;
    lmx_hub_progress cb;
    void *ud;
    bool stopped;
} fetch_st;

static size_t fetch_write(char *data, size_t sz, size_t nm, void *ud) {
    fetch_st *s = ud;
    size_t n = sz * nm;
    if (!s->checked) {
        s->checked = true;
        curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &s->code);
        if (s->code == 200 && s->off > 0) {
            s->restart = true; /* the range was ignored: these bytes start at 0 */
            return 0;
        }
        if (s->code != 200 && s->code != 206) s->refused = true;
    }
    if (s->refused) return n; /* an error body: discard */
    if (fwrite(data, 1, n, s->f) != n) {
        s->io_err = true;
        return 0;
    }
    if (s->cb && !s->cb(s->ud, n)) {
        s->stopped = true;
        return 0;
    }
    return n;
}

static int fetch_xfer(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt, (void)dn, (void)ut, (void)un;
    fetch_st *s = ud;
    if (s->cb && !s->cb(s->ud, 0)) {
        s->stopped = true;
        return 1;
    }
    return 0;
}

lmx_fetch_result lmx_hub_fetch(const lmx_hub *h, const lmx_hub_target *t, FILE *f, int64_t off,
                               lmx_hub_progress cb, void *ud, char *err, size_t errlen) {
    lmx_curl_init();
    hdrs hd = {0};
    struct curl_slist *hl = auth_headers(h, t->auth);
    CURL *c = easy(h, t->url, hl, &hd);
    if (!c) {
        curl_slist_free_all(hl);
        snprintf(err, errlen, "out of memory");
        return LMX_FETCH_RETRY;
    }
    fetch_st s = {.f = f, .c = c, .off = off, .cb = cb, .ud = ud};
    char range[64];
    if (off > 0) {
        snprintf(range, sizeof range, "%lld-", (long long)off);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, fetch_xfer);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);
    /* a CDN may redirect again; libcurl drops our Authorization on another host */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    /* a stalled connection (under 1 KiB/s for a minute) is retried */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    CURLcode rc = curl_easy_perform(c);
    long code = s.code;
    if (!code) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    if (s.stopped) return LMX_FETCH_STOPPED;
    if (s.restart) {
        snprintf(err, errlen, "the server ignored the range request");
        return LMX_FETCH_RESTART;
    }
    if (s.io_err) {
        snprintf(err, errlen, "writing the file failed: %s", strerror(errno));
        return LMX_FETCH_FATAL;
    }
    if (code == 416) {
        snprintf(err, errlen, "range %lld- is past the end of the file", (long long)off);
        return LMX_FETCH_RESTART;
    }
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", curl_easy_strerror(rc));
        return LMX_FETCH_RETRY;
    }
    if (code == 206 && off > 0) {
        /* Content-Range: bytes START-END/TOTAL must start where we are */
        long long start = -1;
        if (sscanf(hd.content_range, "bytes %lld-", &start) != 1 || start != off) {
            snprintf(err, errlen, "the server sent range '%s' for offset %lld", hd.content_range,
                     (long long)off);
            return LMX_FETCH_RESTART;
        }
    }
    if (code == 200 || code == 206) return LMX_FETCH_OK;
    snprintf(err, errlen, "the download server answered HTTP %ld", code);
    /* 401/403/410: a CDN link that expired; 5xx and 429: try again later */
    if (code == 404) return LMX_FETCH_FATAL;
    return LMX_FETCH_RETRY;
}

int lmx_sha256_file(const char *path, char hex[65], lmx_hub_progress cb, void *ud) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(ctx);
        fclose(f);
        errno = ENOMEM;
        return -1;
    }
    static const size_t BUF = 1 << 20;
    unsigned char *buf = malloc(BUF);
    int rc = buf ? 0 : -1;
    size_t n;
    while (!rc && (n = fread(buf, 1, BUF, f)) > 0) {
        EVP_DigestUpdate(ctx, buf, n);
        if (cb && !cb(ud, n)) {
            errno = ECANCELED;
            rc = -1;
        }
    }
    if (!rc && ferror(f)) rc = -1;
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!rc) EVP_DigestFinal_ex(ctx, md, &mdlen);
    for (unsigned i = 0; !rc && i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    free(buf);
    EVP_MD_CTX_free(ctx);
    int saved = errno;
    fclose(f);
    errno = saved;
    return rc;
}
