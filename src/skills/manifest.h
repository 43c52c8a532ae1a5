/* Skill manifests: one YAML or JSON file per skill version in the skills
 * directory, read into an lmx_skill (or, for a file with `mcp_server:`, an
 * MCP server's definition). A file that does not parse, or whose fields or
 * schemas are invalid, is refused with "FILE:LINE: reason"; docs/skills.md
 * shows the format. */
#ifndef LMX_SKILLS_MANIFEST_H
#define LMX_SKILLS_MANIFEST_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skills/semver.h"

typedef enum { LMX_SK_EXEC = 0, LMX_SK_HTTP, LMX_SK_MCP } lmx_sk_kind;
typedef enum { LMX_SBX_STRICT = 0, LMX_SBX_STANDARD, LMX_SBX_NONE } lmx_sbx_profile;

typedef struct {
    double timeout_s;   /* wall clock per invocation */
    size_t max_output;  /* bytes of result (stdout / response body) */
    int concurrency;    /* invocations running at once */
    double cpu_s;       /* exec: RLIMIT_CPU */
    uint64_t memory;    /* exec: RLIMIT_AS */
    int processes;      /* exec: RLIMIT_NPROC */
    uint64_t file_size; /* exec: RLIMIT_FSIZE */
} lmx_sk_limits;

/* One version of a skill. Immutable once loaded, shared by reference
 * (registry.h): `running` is the only field that changes. */
typedef struct lmx_skill {
    char name[160];   /* "ns/name", or "mcp/SERVER/TOOL" for a bridged tool */
    char version[64]; /* as written */
    lmx_semver ver;
    char *description;
    json_t *input_schema, *output_schema; /* output_schema may be NULL */
    lmx_sk_kind kind;
    /* exec: argv[0] is a path relative to the manifest's directory or absolute */
    char **argv;
    char dir[1024]; /* the manifest's directory (the program's working view) */
    lmx_sbx_profile profile;
    char **read_paths; /* standard: extra read-only paths */
    bool loopback;     /* standard: inet sockets on the sandbox's own loopback */
    /* http */
    char *url;
    json_t *headers; /* {"Name": "value"} */
    /* mcp */
    char server[64], tool[128];
    lmx_sk_limits limits;
    bool schema_unchecked; /* a bridged tool whose schema is outside the subset:
                              its server validates the arguments */
    char file[1024];       /* where it came from (for messages and `show`) */
    atomic_int refs;
    atomic_int running;
} lmx_skill;

/* An MCP server the bridge connects to: a command (stdio) or a URL. */
typedef struct {
    char name[64];
    char **argv; /* NULL when url */
    char *url;
    char dir[1024];
    char file[1024];
} lmx_mcp_def;

typedef struct {
    bool allow_unsandboxed; /* `sandbox: none` is refused unless set */
} lmx_manifest_opts;

/* Reads one manifest. Returns 1 with *skill set, 2 with *server set, or -1
 * with "FILE:LINE: reason" in err. */
int lmx_manifest_load(const char *path, const lmx_manifest_opts *o, lmx_skill **skill,
                      lmx_mcp_def **server, char *err, size_t errlen);
/* The same, from text (name is the file name used in messages and to choose
 * JSON or YAML by its extension). */
int lmx_manifest_parse(const char *name, const char *text, size_t len, const lmx_manifest_opts *o,
                       lmx_skill **skill, lmx_mcp_def **server, char *err, size_t errlen);

/* Default limits (timeout 30 s, output 1 MiB, 4 at once, CPU 30 s, memory
 * 512 MiB, 64 processes, files 16 MiB). */
void lmx_sk_limits_default(lmx_sk_limits *l);

void lmx_skill_free(lmx_skill *s);
void lmx_mcp_def_free(lmx_mcp_def *d);

/* The skill as the API shows it: name, version, description, schemas,
 * executor kind, limits, sandbox (new reference). */
json_t *lmx_skill_json(const lmx_skill *s);
/* Its OpenAI `tools` entry: {"type":"function","function":{name, description,
 * parameters}} with the name made of [a-zA-Z0-9_-] (lmx_skill_tool_name). */
json_t *lmx_skill_tool_json(const lmx_skill *s);
/* "ns/name" → "ns__name" ('/' and other characters tools may not carry
 * become '_', '/' as "__"), what a model sees and calls. */
void lmx_skill_tool_name(const char *name, char *out, size_t n);

#endif
