/* A client of one MCP server (Model Context Protocol, revision 2025-06-18):
 * over stdio (a command started by the daemon, one JSON-RPC message per
 * line) or Streamable HTTP (JSON-RPC POSTed to a URL; the answer comes as
 * JSON or as an SSE stream; the session id the server assigns is sent back).
 *
 * The connection is made on first use and made again when it is found
 * broken — the process exited, the pipe closed, the server forgot our
 * session (restarted) — so a restarted server is picked up by the next
 * call. Requests are sent one at a time per server (a lock), which keeps
 * the stdio framing and the reconnect logic simple; calls to different
 * servers run in parallel. */
#ifndef LMX_SKILLS_MCP_CLIENT_H
#define LMX_SKILLS_MCP_CLIENT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "skills/manifest.h"

typedef struct lmx_mcp lmx_mcp;

#define LMX_MCP_PROTOCOL "2025-06-18"

/* A client for d (copied); connects lazily. NULL when out of memory. */
lmx_mcp *lmx_mcp_new(const lmx_mcp_def *d);
void lmx_mcp_free(lmx_mcp *m);
const char *lmx_mcp_name(const lmx_mcp *m);
/* Whether m was made from a definition equal to d (name, command or URL). */
bool lmx_mcp_same(const lmx_mcp *m, const lmx_mcp_def *d);
/* serverInfo.version of the last connection ("" before one). */
const char *lmx_mcp_server_version(lmx_mcp *m, char *buf, size_t n);

/* The server's tools (a new array of {name, description, inputSchema}), or
 * NULL with why in err. */
json_t *lmx_mcp_list_tools(lmx_mcp *m, double timeout_s, char *err, size_t n);

typedef enum {
    LMX_MCP_OK = 0,      /* *result: the CallToolResult (isError may be true) */
    LMX_MCP_UNREACHABLE, /* no connection could be made (after one retry) */
    LMX_MCP_TIMEOUT,
    LMX_MCP_CANCELLED,
    LMX_MCP_ERROR, /* the server answered with a JSON-RPC error */
} lmx_mcp_rc;

/* Calls tool `name` with `args`. */
lmx_mcp_rc lmx_mcp_call(lmx_mcp *m, const char *name, const json_t *args, double timeout_s,
                        const atomic_bool *cancel, json_t **result, char *err, size_t n);

#endif
