/* The Hugging Face Hub as the downloader sees it (libcurl): a repo's file
 * listing, which files a quant name or file name means, where a file's bytes
 * are (the `resolve` URL answers a redirect to a CDN with the LFS sha256 in
 * X-Linked-Etag), and fetching them from an offset.
 *
 * Nothing here keeps state between calls; download.c owns queues and files. */
#ifndef LMX_MGR_HUB_H
#define LMX_MGR_HUB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "manager/mgr_err.h"

typedef struct {
    const char *endpoint; /* "https://huggingface.co", no trailing '/' */
    const char *token;    /* HF_TOKEN or NULL: sent only to the endpoint's host */
} lmx_hub;

typedef struct {
    char *name;      /* path inside the repo (malloc'd) */
    char sha256[65]; /* lower-case hex, "" when the listing gave none */
    int64_t size;    /* -1 when unknown */
} lmx_hub_file;

/* Where a file's bytes are: the CDN URL the resolve URL redirected to (or
 * the resolve URL itself for files served directly). */
typedef struct {
    char *url;       /* malloc'd */
    bool auth;       /* the URL is on the hub's host: the token may go there */
    char sha256[65]; /* from X-Linked-Etag; "" when the hub gave no sha256 */
    char commit[41]; /* from X-Repo-Commit (40 hex); "" when absent */
    int64_t size;    /* from X-Linked-Size or Content-Length; -1 unknown */
} lmx_hub_target;

/* "org/name" with [A-Za-z0-9._-] parts, no "." or ".." part. */
bool lmx_hub_valid_repo(const char *repo);
/* A relative path inside a repo: no "..", no empty or absolute parts. */
bool lmx_hub_valid_path(const char *path);

/* The repo's files at revision: [{"path","size","sha256"?}] (new reference)
 * or NULL with e set (NOT_FOUND of the repo or revision, FORBIDDEN for gated
 * or private repos, HUB_UNREACHABLE / HUB_ERROR). */
json_t *lmx_hub_list(const lmx_hub *h, const char *repo, const char *revision, lmx_mgr_err *e);

/* Picks what to download from a listing: `file` exactly (all shards when it
 * is one of a split), or the .gguf whose name holds `quant` (case-insensitive,
 * as a whole token), or the repo's only model. Returns the count and fills
 * *out (free with lmx_hub_files_free), or -1 with e set (NOT_FOUND of the file
 * listing the .gguf files, AMBIGUOUS). */
int lmx_hub_choose(const json_t *listing, const char *file, const char *quant, lmx_hub_file **out,
                   lmx_mgr_err *e);
void lmx_hub_files_free(lmx_hub_file *f, int n);

/* The quant named in a .gguf file name ("Q4_K_M", "F16", ...), upper-case,
 * into out; "" when none. */
void lmx_hub_quant_of(const char *name, char *out, size_t n);

/* Resolves where a file's bytes are (a HEAD on the resolve URL, not
 * following the redirect). 0, or -1 with e set. */
int lmx_hub_probe(const lmx_hub *h, const char *repo, const char *revision, const char *file,
                  lmx_hub_target *t, lmx_mgr_err *e);
void lmx_hub_target_free(lmx_hub_target *t);

/* Called as bytes arrive; returning false stops the transfer. */
typedef bool (*lmx_hub_progress)(void *ud, size_t n_new);

typedef enum {
    LMX_FETCH_OK = 0,
    LMX_FETCH_STOPPED, /* progress returned false */
    LMX_FETCH_RETRY,   /* network error, 5xx, expired link: resolve again and retry */
    LMX_FETCH_RESTART, /* the server ignored the range or it is past the end: start over */
    LMX_FETCH_FATAL,   /* 404 and other refusals */
} lmx_fetch_result;

/* Appends the target's bytes from offset `off` to f (positioned at off).
 * The message of a failure goes to err. */
lmx_fetch_result lmx_hub_fetch(const lmx_hub *h, const lmx_hub_target *t, FILE *f, int64_t off,
                               lmx_hub_progress cb, void *ud, char *err, size_t errlen);

/* sha256 of a file, lower-case hex. 0, or -1 with errno set. `cb` (may be
 * NULL) sees progress and may stop it (then -1, errno ECANCELED). */
int lmx_sha256_file(const char *path, char hex[65], lmx_hub_progress cb, void *ud);

#endif
