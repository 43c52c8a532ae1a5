/* Invoking a skill: resolve the reference, validate the arguments, take a
 * concurrency slot (or wait in the bounded dispatch queue), run the
 * executor (exec in its sandbox, http, mcp), validate the output, count it.
 *
 * The outcome is a code the server maps onto HTTP (docs/skills.md):
 * invalid_arguments 400, skill_not_found 404, skill_busy 429, skill_failed
 * 502, skill_bad_output 502, skill_unavailable 503, skill_timeout 504. */
#ifndef LMX_SKILLS_INVOKE_H
#define LMX_SKILLS_INVOKE_H

#include <jansson.h>
#include <stdatomic.h>

#include "skills/registry.h"

typedef enum {
    LMX_SKR_OK = 0,
    LMX_SKR_BAD_REF,      /* the reference is malformed */
    LMX_SKR_NOT_FOUND,    /* no such skill or version */
    LMX_SKR_INVALID_ARGS, /* violations lists each */
    LMX_SKR_BUSY,         /* concurrency limit and the dispatch queue full */
    LMX_SKR_TIMEOUT,      /* killed at its time limit */
    LMX_SKR_FAILED,       /* crashed, non-zero exit, killed by a limit, unreadable output */
    LMX_SKR_BAD_OUTPUT,   /* output does not match output_schema (violations) */
    LMX_SKR_UNAVAILABLE,  /* the sandbox or the MCP server cannot be reached */
    LMX_SKR_CANCELLED,    /* *cancel was set */
} lmx_skr_code;

typedef struct {
    lmx_skr_code code;
    json_t *result;              /* OK: the skill's output */
    json_t *violations;          /* INVALID_ARGS, BAD_OUTPUT: [{pointer, rule, message}] */
    int exit_status;             /* FAILED (exec): -1 when it did not exit on its own */
    int signal;                  /* FAILED (exec): the signal that ended it, or 0 */
    char stderr_tail[1024];      /* FAILED, TIMEOUT (exec): the last lines of stderr */
    char message[1024];          /* why, for people */
    char name[160], version[64]; /* what ran ("" when not resolved) */
    double duration_s;
    int retry_after; /* BUSY: seconds */
} lmx_skr;

/* Runs `ref` with `args` (an object). cancel may be NULL. Always fills r;
 * free with lmx_skr_free. */
void lmx_skills_invoke(lmx_skills *s, const char *ref, const json_t *args,
                       const atomic_bool *cancel, lmx_skr *r);
/* The same for an already resolved skill (its reference is not taken). */
void lmx_skills_invoke_skill(lmx_skills *s, lmx_skill *k, const json_t *args,
                             const atomic_bool *cancel, lmx_skr *r);
void lmx_skr_free(lmx_skr *r);

/* "ok", "invalid_arguments", "skill_busy", "skill_timeout", ... */
const char *lmx_skr_code_name(lmx_skr_code c);

#endif
