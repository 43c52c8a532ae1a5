/* /mcp: LMX's skills as an MCP server (Model Context Protocol 2025-06-18,
 * Streamable HTTP transport), so MCP-capable agents call them directly.
 *
 * Stateless: no session id is issued (the spec allows it), every POST
 * carries one JSON-RPC message and a request is answered with one
 * application/json response; notifications and responses get 202. There is
 * no server-initiated stream, so GET (and DELETE, which ends sessions) are
 * 405. Tools are the latest stable version of each skill, named as the
 * OpenAI tool form names them (ns__name); a failed invocation is a tool
 * result with isError, so the calling model sees why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/api/mcp_api.h"
#include "server/api/skills_api.h"
#include "skills/registry.h"

static const char *const versions[] = {"2025-06-18", "2025-03-26", NULL};

static bool supported(const char *v) {
    for (const char *const *p = versions; v && *p; p++)
        if (!strcmp(*p, v)) return true;
    return false;
}

/* DNS rebinding: a browser page may POST here; only local origins pass. */
static bool origin_ok(const char *o) {
    if (!o || !*o || !strcmp(o, "null")) return true;
    const char *h = strstr(o, "://");
    if (!h) return false;
    h += 3;
    static const char *const local[] = {"localhost", "127.0.0.1", "[::1]", NULL};
    for (const char *const *l = local; *l; l++) {
        size_t n = strlen(*l);
        if (!strncasecmp(h, *l, n) && (h[n] == 0 || h[n] == ':' || h[n] == '/')) return true;
    }
    return false;
}

static json_t *rpc_error(json_t *id, int code, const char *msg) {
    return json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                     "error", "code", code, "message", msg);
}

static json_t *rpc_result(json_t *id, json_t *result) {
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

static json_t *tools_list(lmx_skills *s) {
    json_t *l = lmx_skills_list_json(s), *tools = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(l, "data"), i, e) {
        json_t *fn = json_object_get(json_object_get(e, "tool"), "function");
        json_t *t = json_pack("{s:O,s:s,s:O,s:O}", "name", json_object_get(fn, "name"), "title",
                              json_string_value(json_object_get(e, "name")), "description",
                              json_object_get(e, "description"), "inputSchema",
                              json_object_get(e, "input_schema"));
        json_t *out = json_object_get(e, "output_schema");
        if (json_is_object(out) && json_is_string(json_object_get(out, "type")) &&
            !strcmp(json_string_value(json_object_get(out, "type")), "object"))
            json_object_set(t, "outputSchema", out);
        json_array_append_new(tools, t);
    }
    json_decref(l);
    return json_pack("{s:o}", "tools", tools);
}

static json_t *tools_call(lmx_req *req, lmx_skills *s, json_t *id, json_t *params) {
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    if (!name) return rpc_error(id, -32602, "tools/call needs params.name");
    lmx_skill *k = lmx_skills_by_tool(s, name);
    if (!k) {
        char msg[300];
        snprintf(msg, sizeof msg, "Unknown tool: %s", name);
        return rpc_error(id, -32602, msg);
    }
    json_t *empty = args ? NULL : json_object();
    lmx_skr r;
    lmx_skills_invoke_for(req, s, k, NULL, args ? args : empty, &r);
    lmx_skill_unref(k);
    json_decref(empty);
    json_t *res;
    if (r.code == LMX_SKR_OK) {
        char *text = json_dumps(r.result, JSON_COMPACT | JSON_ENCODE_ANY);
        res = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", text ? text : "",
                        "isError", 0);
        if (json_is_object(r.result)) json_object_set(res, "structuredContent", r.result);
        free(text);
    } else {
        lmx_api_err e;
        lmx_skr_api_err(&r, &e);
        json_t *d = lmx_skr_details(&r);
        json_object_set_new(d, "code", json_string(e.code ? e.code : "error"));
        json_object_set_new(d, "message", json_string(r.message));
        char *text = json_dumps(d, JSON_COMPACT);
        res = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", text ? text : "",
                        "isError", 1);
        free(text);
        json_decref(d);
    }
    lmx_skr_free(&r);
    return rpc_result(id, res);
}

int lmx_h_mcp(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e = {0};
    if (!origin_ok(lmx_req_header(r, "Origin"))) {
        lmx_err_set(&e, 403, "permission_error", NULL, NULL, "Origin not allowed.");
        return lmx_reply_err(r, &e);
    }
    const char *pv = lmx_req_header(r, "MCP-Protocol-Version");
    if (pv && !supported(pv)) {
        json_t *o = rpc_error(NULL, -32600, "Unsupported MCP-Protocol-Version");
        return lmx_reply_json(r, 400, o);
    }
    json_t *msg = lmx_req_json(r, false, &e);
    if (!msg)
        return lmx_reply_json(r, e.status == 413 ? 413 : 400, rpc_error(NULL, -32700, e.message));
    if (!json_is_object(msg)) {
        json_decref(msg);
        return lmx_reply_json(r, 400,
                              rpc_error(NULL, -32600,
                                        "Expected one JSON-RPC message "
                                        "(batches are not supported)"));
    }
    json_t *id = json_object_get(msg, "id");
    const char *method = json_string_value(json_object_get(msg, "method"));
    /* notifications and responses to us: accepted, nothing to say */
    if (!id || !method) {
        json_decref(msg);
        return lmx_reply_empty(r, 202);
    }
    lmx_skills *s = lmx_req_app(r)->skills;
    json_t *params = json_object_get(msg, "params");
    json_t *out;
    if (!strcmp(method, "initialize")) {
        const char *want = json_string_value(json_object_get(params, "protocolVersion"));
        out = rpc_result(id, json_pack("{s:s,s:{s:{s:b}},s:{s:s,s:s},s:s}", "protocolVersion",
                                       supported(want) ? want : versions[0], "capabilities",
                                       "tools", "listChanged", 0, "serverInfo", "name", "lmx",
                                       "version", "1.0.0", "instructions",
                                       "LMX skills: versioned server-side tools."));
    } else if (!strcmp(method, "ping"))
        out = rpc_result(id, json_object());
    else if (!strcmp(method, "tools/list"))
        out = s ? rpc_result(id, tools_list(s)) : rpc_result(id, json_pack("{s:[]}", "tools"));
    else if (!strcmp(method, "tools/call"))
        out = s ? tools_call(r, s, id, params) : rpc_error(id, -32602, "Unknown tool");
    else
        out = rpc_error(id, -32601, "Method not found");
    json_decref(msg);
    return lmx_reply_json(r, 200, out);
}

int lmx_h_mcp_other(lmx_req *r, const char *rest) {
    (void)rest;
    lmx_api_err e;
    lmx_err_set(&e, 405, "invalid_request_error", NULL, NULL,
                "This MCP endpoint is stateless and has no server-initiated stream: POST only.");
    return lmx_reply_err(r, &e);
}
