/* /mcp: LMX's skills as an MCP server (mcp_api.c). */
#ifndef LMX_SRV_API_MCP_API_H
#define LMX_SRV_API_MCP_API_H

#include "server/http/http.h"

int lmx_h_mcp(lmx_req *r, const char *rest);       /* POST: one JSON-RPC message */
int lmx_h_mcp_other(lmx_req *r, const char *rest); /* GET, DELETE: 405 */

#endif
