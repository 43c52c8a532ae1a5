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
 * (404 unknown repo/file, 507 insufficient_storage, 400 ...). */
int lmx_dl_start(lmx_dl *d, const char *repo, const char *file, const char *quant,
                 const char *revision, char *id, size_t idlen, lmx_mgr_err *e);
/* {"id", "state", "bytes", "total", "rate", "eta", "model", "error"} or NULL
 * when unknown (new reference). */
json_t *lmx_dl_status(lmx_dl *d, const char *id);
/* Every download's status (new reference). */
json_t *lmx_dl_list(lmx_dl *d);
int lmx_dl_cancel(lmx_dl *d, const char *id, lmx_mgr_err *e);
/* Waits up to timeout_ms for any download's status to change after *seen (a
 * counter; start with 0), then returns id's status (new reference) and
 * updates *seen; NULL when id is unknown. For progress streams. */
json_t *lmx_dl_wait(lmx_dl *d, const char *id, unsigned long *seen, int timeout_ms);
/* Bytes received from the hub since the daemon started. */
unsigned long long lmx_dl_bytes_fetched(lmx_dl *d);
/* fn(n) is told of every n bytes received (the daemon feeds /metrics with it);
 * set it before the first download; it runs on a download thread. */
void lmx_dl_on_bytes(lmx_dl *d, void (*fn)(uint64_t n));
/* Whether a status object is in a final state (completed, failed, cancelled). */
bool lmx_dl_final(const json_t *status);

#endif
