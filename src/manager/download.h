/* Downloads from Hugging Face (libcurl): resumable, verified against the
 * Hub's sha256, registered in the model store when complete.
 *
 * A download is known by an id ("dl_..."); its state moves queued →
 * downloading → verifying → completed, or to failed / cancelled. */
#ifndef LMX_MGR_DOWNLOAD_H
#define LMX_MGR_DOWNLOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "manager/manager.h"
#include "manager/mgr_err.h"

typedef struct lmx_dl lmx_dl;

/* Resumes unfinished downloads recorded under the models directory.
 * Reads HF_ENDPOINT (default https://huggingface.co) and HF_TOKEN. */
lmx_dl *lmx_dl_create(lmx_mgr *mgr, char *err, size_t errlen);
void lmx_dl_destroy(lmx_dl *d);

/* Starts fetching repo's file (or the file matching quant, from the Hub's
 * listing) at revision (NULL: "main"). Writes the id; 0, or -1 with e set
 * (NOT_FOUND repo/file, NO_STORAGE, INVALID ...). */
int lmx_dl_start(lmx_dl *d, const char *repo, const char *file, const char *quant,
                 const char *revision, char *id, size_t idlen, lmx_mgr_err *e);
/* A download as it stands. */
typedef struct {
    char id[24];
    const char *state;     /* "queued" "downloading" "verifying" "completed" "failed"
                              "cancelled" */
    char *repo, *revision; /* malloc'd */
    char **files;          /* malloc'd; files[0] the one asked for (a split's first) */
    int n_files;
    char commit[41], quant[32];  /* "" unknown */
    int64_t bytes, total;        /* total -1: unknown */
    double rate;                 /* bytes/s while downloading, else 0 */
    int64_t eta;                 /* seconds left; -1 unknown */
    char model[256], error[700]; /* the store id once completed; why it failed; "" none */
    long long created;           /* unix seconds */
} lmx_dl_info;

/* id's status in out (free with lmx_dl_info_free); false when unknown. */
bool lmx_dl_get(lmx_dl *d, const char *id, lmx_dl_info *out);
/* Every download's, oldest first: fills *out, returns the count; free with
 * lmx_dl_infos_free. */
int lmx_dl_all(lmx_dl *d, lmx_dl_info **out);
void lmx_dl_info_free(lmx_dl_info *i);
void lmx_dl_infos_free(lmx_dl_info *list, int n);
int lmx_dl_cancel(lmx_dl *d, const char *id, lmx_mgr_err *e);
/* Waits up to timeout_ms for any download's status to change after *seen (a
 * counter; start with 0), then fills out with id's status (as lmx_dl_get) and
 * updates *seen; false when id is unknown. For progress streams. */
bool lmx_dl_wait(lmx_dl *d, const char *id, unsigned long *seen, int timeout_ms, lmx_dl_info *out);
/* Bytes received from the hub since the daemon started. */
unsigned long long lmx_dl_bytes_fetched(lmx_dl *d);
/* fn(n) is told of every n bytes received (the daemon feeds /metrics with it);
 * set it before the first download; it runs on a download thread. */
void lmx_dl_on_bytes(lmx_dl *d, void (*fn)(uint64_t n));
/* Whether a state is final (completed, failed, cancelled). */
bool lmx_dl_final(const char *state);

#endif
