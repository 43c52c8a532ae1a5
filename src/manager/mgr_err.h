/* What went wrong in the manager, in its own terms: a result code, the thing
 * it concerns, the argument at fault, a one-line message and the numbers
 * behind it. The server maps it to an HTTP status and each API's error shape
 * (server/core/mgr_error.c); the CLI prints the message. */
#ifndef LMX_MGR_MGR_ERR_H
#define LMX_MGR_MGR_ERR_H

#include <stdint.h>

typedef enum {
    LMX_MGR_OK = 0,
    LMX_MGR_INVALID,            /* an argument is malformed (arg names it) */
    LMX_MGR_BAD_NAME,           /* a model name the store refuses */
    LMX_MGR_NO_DEFAULT,         /* no model was named and none is the default */
    LMX_MGR_AMBIGUOUS,          /* several files match what was asked */
    LMX_MGR_NOT_FOUND,          /* `what` does not exist */
    LMX_MGR_FORBIDDEN,          /* the Hub keeps the repo from us (gated, private) */
    LMX_MGR_UNSTABLE,           /* the model is quarantined after run-time failures */
    LMX_MGR_LOADING,            /* the model is still loading past the wait (retry_after_s) */
    LMX_MGR_LOADED,             /* the model is loaded: unload it first */
    LMX_MGR_FINISHED,           /* the download has already ended */
    LMX_MGR_OUTSIDE_STORE,      /* the file is not under the models directory */
    LMX_MGR_INVALID_MODEL,      /* the file is not a model this engine reads */
    LMX_MGR_INCOMPLETE,         /* the file is cut short */
    LMX_MGR_UNSUPPORTED_ARCH,   /* an architecture the engine lacks */
    LMX_MGR_UNSUPPORTED_TYPE,   /* a tensor type the engine lacks */
    LMX_MGR_CANARY_FAILED,      /* the first forward pass failed or gave non-finite logits */
    LMX_MGR_DRAFT_MISMATCH,     /* the draft model's vocabulary differs from the model's */
    LMX_MGR_NO_MEMORY,          /* admission: the estimate does not fit (needed, available) */
    LMX_MGR_LOAD_OUT_OF_MEMORY, /* the engine's allocations failed while loading */
    LMX_MGR_NO_STORAGE,         /* the disk cannot hold a download (needed, available) */
    LMX_MGR_HUB_UNREACHABLE,    /* the Hub could not be reached */
    LMX_MGR_HUB_ERROR,          /* the Hub answered with an error */
    LMX_MGR_INTERNAL,           /* out of memory, the store unavailable, I/O */
} lmx_mgr_status;

/* What a NOT_FOUND is about. */
typedef enum {
    LMX_MGR_W_NONE = 0,
    LMX_MGR_W_MODEL,
    LMX_MGR_W_FILE,
    LMX_MGR_W_REVISION,
    LMX_MGR_W_REPO,
    LMX_MGR_W_DOWNLOAD,
} lmx_mgr_what;

typedef struct {
    lmx_mgr_status status; /* LMX_MGR_OK: no error */
    lmx_mgr_what what;
    const char *arg; /* the argument at fault ("model", "file", "quant", ...) or NULL */
    char name[256];  /* the model concerned, when there is one */
    /* NO_MEMORY / NO_STORAGE: bytes needed and available; NO_MEMORY also the
     * limit and the knobs that shrink the need */
    uint64_t needed, available, limit;
    int n_ctx, n_parallel;
    int retry_after_s; /* LOADING: when the load is likely done */
    char message[768];
} lmx_mgr_err;

void lmx_mgr_fail(lmx_mgr_err *e, lmx_mgr_status status, lmx_mgr_what what, const char *arg,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The status's name ("not_found", "no_memory" ...), for logs. */
const char *lmx_mgr_status_name(lmx_mgr_status s);

#endif
