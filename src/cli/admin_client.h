/* How the admin subcommands (pull, ls, ps, load, unload, rm, status) reach
 * the daemon: its address (--host/--port or LMX_HOST=host:port, default
 * 127.0.0.1:1234), the admin key (--admin-key, LMX_ADMIN_KEY, or the token the
 * daemon keeps in $LMX_STATE_DIR or ~/.lmx/admin.token), and one
 * JSON request over libcurl. Also the few formatting helpers their tables
 * share. */
#ifndef LMX_CLI_ADMIN_CLIENT_H
#define LMX_CLI_ADMIN_CLIENT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char base[512];      /* "http://host:port" */
    const char *key;     /* admin key or NULL */
    char token[128];     /* the daemon's token ($LMX_STATE_DIR or ~/.lmx/admin.token), when read */
    bool json;           /* --json: print the API's own JSON */
    const char *cmd;     /* for messages: "lmx ls" */
    const char *api_key; /* API key (Authorization: Bearer) or NULL: lmx skills */
    const char *model;   /* the model the command names (for a 404's message), or NULL */
} lmx_admin;

/* Sets defaults from the environment. */
void lmx_admin_init(lmx_admin *a, const char *cmd);
/* Takes the options every admin command knows (--host, --port, --admin-key,
 * --json) at argv[*i]; true when it did (advancing *i). *bad on a bad value. */
bool lmx_admin_option(lmx_admin *a, int argc, char **argv, int *i, bool *bad);
/* Finishes the address after the options were read. false on a bad one. */
bool lmx_admin_ready(lmx_admin *a);

/* Aims a libcurl handle at the daemon's path (already escaped): the URL, the
 * keys' headers appended to *hl (after the caller's own; the caller frees the
 * list after the transfer), the body handed to write(data), and the options
 * every request to it sets. lmx_admin_call and streamed reads share it. */
void lmx_admin_curl_setup(const lmx_admin *a, CURL *c, const char *path, struct curl_slist **hl,
                          curl_write_callback write, void *data);

/* One request: method, path (already escaped), body (may be NULL). Returns
 * the HTTP status and sets *out to the parsed JSON (may be NULL); on a
 * transport failure returns 0 with the reason in err. */
long lmx_admin_call(const lmx_admin *a, const char *method, const char *path, const json_t *body,
                    json_t **out, char *err, size_t errlen);
/* Runs a call and reports a failure on stderr ("lmx ls: message (code)").
 * Returns the body of a 2xx answer (new reference) or NULL. */
json_t *lmx_admin_do(const lmx_admin *a, const char *method, const char *path, const json_t *body);

/* A model id or download id made safe for a URL path; '/' and ':' stay as
 * they are (the API takes the rest of the path as the id). malloc'd. */
char *lmx_admin_escape(const char *id);

/* Prints a JSON value as the API gave it (pretty, key order kept). */
void lmx_admin_print_json(const json_t *v);

/* "1.2 GiB" */
void lmx_human_bytes(double b, char *out, size_t n);

#endif
