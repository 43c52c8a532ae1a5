/* The skills registry: every manifest of the skills directory, several
 * versions per name, resolved by selector ("ns/name@1.2"), plus the tools
 * of the configured MCP servers as skills "mcp/SERVER/TOOL".
 *
 * Threads: HTTP workers resolve and invoke concurrently with a reload; the
 * list is replaced whole under `lock`, and a resolved skill is held by a
 * reference (lmx_skill_unref), so a reload never frees one in use. The MCP
 * servers are connected by a background thread (one per reload), so a
 * slow or absent server never delays the daemon: its tools appear when it
 * answers, and one that is down is tried again every few seconds. */
#ifndef LMX_SKILLS_REGISTRY_H
#define LMX_SKILLS_REGISTRY_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "skills/manifest.h"

struct lmx_mcp;

typedef struct {
    const char *dir;        /* skills_dir ("" or NULL: no skills) */
    bool allow_unsandboxed; /* permits `sandbox: none` */
    int queue;              /* invocations that may wait for a concurrency slot, in all */
    const char *bwrap;      /* bubblewrap ("": /usr/bin/bwrap) */
    const char *tmp_dir;    /* scratch directories ("": $TMPDIR or /tmp) */
} lmx_skills_opts;

typedef struct lmx_skills {
    pthread_mutex_t lock; /* guards the fields below and every skill's queueing */
    pthread_cond_t freed; /* a running invocation ended */
    lmx_skills_opts o;
    char dir[1024], bwrap[1024], tmp_dir[1024];
    lmx_skill **skills; /* sorted by name, then version descending */
    int n;
    json_t *errors;       /* [{file, error}] of the last reload */
    struct lmx_mcp **mcp; /* one client per configured MCP server */
    int n_mcp;
    struct lmx_mcp *
        *retired; /* clients no longer configured (a call may hold one): freed at exit */
    int n_retired, cap_retired;
    int waiting;   /* invocations waiting for a slot */
    unsigned gen;  /* reloads so far: a bridge thread of an older one stops */
    bool stopping; /* lmx_skills_free: bridge threads stop */
    pthread_t bridge;
    bool bridging; /* `bridge` was started and is not joined yet */
} lmx_skills;

/* A registry reading o->dir (call lmx_skills_reload to read it). NULL when
 * out of memory. */
lmx_skills *lmx_skills_new(const lmx_skills_opts *o);
void lmx_skills_free(lmx_skills *s);

/* Applies new options (a config reload) without reading the directory. */
void lmx_skills_set_opts(lmx_skills *s, const lmx_skills_opts *o);

/* Re-reads the directory; a refused file is skipped and reported, the others
 * load. The MCP servers it names are (re)connected in the background and
 * their tools listed as they answer. Returns the number of manifests' skill
 * versions loaded (bridged tools not counted). */
int lmx_skills_reload(lmx_skills *s);
/* The skill `ref` names: "ns/name", "ns/name@SELECTOR" (semver.h). A new
 * reference, or NULL with why in err (*not_found set when no such skill or
 * version exists, clear when the reference is malformed). */
lmx_skill *lmx_skills_get(lmx_skills *s, const char *ref, bool *not_found, char *err, size_t n);
/* The skill a model called by its tool name (lmx_skill_tool_name) among
 * `refs` (skill references), or NULL. */
lmx_skill *lmx_skills_by_tool(lmx_skills *s, const char *tool);
void lmx_skill_ref(lmx_skill *k);
void lmx_skill_unref(lmx_skill *k);

/* {"data": [skill...], "errors": [...]} for GET /v1/skills: each name with
 * its versions (newest first) and its latest stable's schemas (new ref). */
json_t *lmx_skills_list_json(lmx_skills *s);

/* The MCP client for server `name`, or NULL. */
struct lmx_mcp *lmx_skills_mcp(lmx_skills *s, const char *name);

#endif
