/* Placeholder until the downloader lands: the contract in download.h, refusing. */
#include "manager/download.h"

#include <stdlib.h>

struct lmx_dl {
    lmx_mgr *mgr;
};

lmx_dl *lmx_dl_create(lmx_mgr *mgr, char *err, size_t errlen) {
    (void)err;
    (void)errlen;
    lmx_dl *d = calloc(1, sizeof *d);
    if (d) d->mgr = mgr;
    return d;
}

void lmx_dl_destroy(lmx_dl *d) {
    free(d);
}

int lmx_dl_start(lmx_dl *d, const char *repo, const char *file, const char *quant,
                 const char *revision, char *id, size_t idlen, lmx_api_err *e) {
    (void)d, (void)repo, (void)file, (void)quant, (void)revision, (void)id, (void)idlen;
    lmx_err_set(e, 501, "server_error", "not_implemented", NULL,
                "Downloads are not available in this build.");
    return -1;
}

json_t *lmx_dl_status(lmx_dl *d, const char *id) {
    (void)d, (void)id;
    return NULL;
}

json_t *lmx_dl_list(lmx_dl *d) {
    (void)d;
    return json_array();
}

int lmx_dl_cancel(lmx_dl *d, const char *id, lmx_api_err *e) {
    (void)d;
    lmx_err_set(e, 404, "invalid_request_error", "download_not_found", NULL,
                "No download with id '%s'.", id);
    return -1;
}
