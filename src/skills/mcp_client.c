/* MCP client: JSON-RPC 2.0 over a child's stdio or over Streamable HTTP
 * (libcurl), with lazy connection and one reconnect per request. */
#include "skills/mcp_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/curl_body.h"

#define MAX_MESSAGE (16u << 20)

struct lmx_mcp {
    pthread_mutex_t lock; /* one request at a time; guards everything below */
    char name[64], dir[1024];
    char **argv; /* stdio */
    char *url;   /* http */
    bool up;
    long next_id;
    char version[64];  /* serverInfo.version */
    char protocol[32]; /* negotiated */
    /* stdio */
    pid_t pid;
    int to_fd, from_fd;
    lmx_buf rd; /* the server's stdout not yet taken as whole lines */
    /* http */
    char session[256];
};

static const char *const protocols[] = {LMX_MCP_PROTOCOL, "2025-03-26", "2024-11-05", NULL};

lmx_mcp *lmx_mcp_new(const lmx_mcp_def *d) {
    lmx_mcp *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    snprintf(m->name, sizeof m->name, "%s", d->name);
    snprintf(m->dir, sizeof m->dir, "%s", d->dir);
    if (d->argv) {
        int n = 0;
        while (d->argv[n]) n++;
        m->argv = calloc((size_t)n + 1, sizeof *m->argv);
        for (int i = 0; i < n; i++) m->argv[i] = strdup(d->argv[i]);
    }
    if (d->url) m->url = strdup(d->url);
    m->to_fd = m->from_fd = -1;
    m->next_id = 1;
    return m;
}

static void stdio_stop(lmx_mcp *m) {
    if (m->to_fd >= 0) close(m->to_fd);
    if (m->from_fd >= 0) close(m->from_fd);
    m->to_fd = m->from_fd = -1;
    if (m->pid > 0) {
        /* closing stdin asks it to exit; then the group is killed */
        int st;
        double until = lmx_now_s() + 0.5;
        while (waitpid(m->pid, &st, WNOHANG) == 0 && lmx_now_s() < until) usleep(10000);
        killpg(m->pid, SIGKILL);
        waitpid(m->pid, &st, 0);
    }
    m->pid = 0;
    m->rd.n = 0;
}

static void disconnect(lmx_mcp *m) {
    if (m->argv) stdio_stop(m);
    m->session[0] = 0;
    m->up = false;
}

void lmx_mcp_free(lmx_mcp *m) {
    if (!m) return;
    disconnect(m);
    for (char **p = m->argv; p && *p; p++) free(*p);
    free(m->argv);
    free(m->url);
    lmx_buf_free(&m->rd);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

const char *lmx_mcp_name(const lmx_mcp *m) {
    return m->name;
}

bool lmx_mcp_same(const lmx_mcp *m, const lmx_mcp_def *d) {
    if (strcmp(m->name, d->name) || strcmp(m->dir, d->dir) || !m->url != !d->url ||
        !m->argv != !d->argv)
        return false;
    if (m->url) return !strcmp(m->url, d->url);
    int i = 0;
    for (; m->argv[i] && d->argv[i]; i++)
        if (strcmp(m->argv[i], d->argv[i])) return false;
    return !m->argv[i] && !d->argv[i];
}

const char *lmx_mcp_server_version(lmx_mcp *m, char *buf, size_t n) {
    pthread_mutex_lock(&m->lock);
    snprintf(buf, n, "%s", m->version);
    pthread_mutex_unlock(&m->lock);
    return buf;
}

/* ---- stdio ---- */

static int stdio_start(lmx_mcp *m, char *err, size_t n) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC)) return snprintf(err, n, "pipe: %s", strerror(errno)), -1;
    if (pipe2(out, O_CLOEXEC)) {
        close(in[0]);
        close(in[1]);
        return snprintf(err, n, "pipe: %s", strerror(errno)), -1;
    }
    char prog[1200];
    if (m->argv[0][0] != '/' && strchr(m->argv[0], '/'))
        snprintf(prog, sizeof prog, "%s/%s", m->dir, m->argv[0]);
    else
        snprintf(prog, sizeof prog, "%s", m->argv[0]);
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return snprintf(err, n, "fork: %s", strerror(errno)), -1;
    }
    if (pid == 0) {
        setsid();
        dup2(in[0], 0);
        dup2(out[1], 1);
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0) dup2(nul, 2);
        syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (chdir(m->dir) < 0) _exit(126);
        /* the daemon's environment (keys, tokens) is not the server's business */
        char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", NULL};
        m->argv[0] = prog;
        execvpe(prog, m->argv, envp);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    m->pid = pid;
    m->to_fd = in[1];
    m->from_fd = out[0];
    m->rd.n = 0;
    return 0;
}

static int stdio_send(lmx_mcp *m, const json_t *msg) {
    char *s = json_dumps(msg, JSON_COMPACT);
    if (!s) return -1;
    size_t len = strlen(s), off = 0;
    s[len] = 0;
    int rc = 0;
    while (off < len && !rc) {
        ssize_t w = write(m->to_fd, s + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            rc = -1;
        else
            off += (size_t)w;
    }
    if (!rc && write(m->to_fd, "\n", 1) != 1) rc = -1;
    free(s);
    return rc;
}

/* The next line as JSON (NULL at EOF or timeout; *timed_out tells which). */
static json_t *stdio_recv(lmx_mcp *m, double deadline, const atomic_bool *cancel, bool *timed_out,
                          bool *cancelled) {
    for (;;) {
        char *nl = m->rd.p ? memchr(m->rd.p, '\n', m->rd.n) : NULL;
        if (nl) {
            size_t len = (size_t)(nl - m->rd.p);
            json_t *j = json_loadb(m->rd.p, len, 0, NULL);
            memmove(m->rd.p, nl + 1, m->rd.n - len - 1);
            m->rd.n -= len + 1;
            if (j) return j;
            continue; /* not JSON (a stray log line): skip */
        }
        double left = deadline - lmx_now_s();
        if (left <= 0) {
            *timed_out = true;
            return NULL;
        }
        if (cancel && atomic_load(cancel)) {
            *cancelled = true;
            return NULL;
        }
        struct pollfd pf = {m->from_fd, POLLIN, 0};
        int pr = poll(&pf, 1, left > 0.05 ? 50 : (int)(left * 1000) + 1);
        if (pr <= 0) continue;
        if (m->rd.n + 65536 > MAX_MESSAGE || !lmx_buf_reserve(&m->rd, 65536)) return NULL;
        ssize_t r = read(m->from_fd, m->rd.p + m->rd.n, m->rd.cap - m->rd.n - 1);
        if (r <= 0) return NULL; /* EOF: the server went away */
        m->rd.n += (size_t)r;
    }
}

/* ---- Streamable HTTP ---- */

typedef struct {
    lmx_curl_body in;
    char ctype[128], session[256];
} http_io;

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap) {
    size_t k = strlen(name);
    if (n <= k + 1 || strncasecmp(line, name, k) || line[k] != ':') return;
    const char *v = line + k + 1;
    while (v < line + n && (*v == ' ' || *v == '\t')) v++;
    size_t len = (size_t)(line + n - v);
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ')) len--;
    if (len >= cap) len = cap - 1;
    memcpy(out, v, len);
    out[len] = 0;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud) {
    http_io *io = ud;
    size_t n = sz * nm;
    header_value(p, n, "content-type", io->ctype, sizeof io->ctype);
    header_value(p, n, "mcp-session-id", io->session, sizeof io->session);
    return n;
}

/* The message with `id` among an SSE body's events (new ref) or NULL. */
static json_t *sse_find(const char *body, json_int_t id) {
    json_t *found = NULL;
    const char *p = body;
    lmx_buf data = {0}; /* the event's data lines (data.p set once one came) */
    while (*p && !found) {
        size_t n = strcspn(p, "\n");
        const char *line = p;
        size_t ll = n && line[n - 1] == '\r' ? n - 1 : n;
        if (!ll) { /* end of an event */
            if (data.p) {
                json_t *j = json_loadb(data.p, data.n, 0, NULL);
                if (j && json_integer_value(json_object_get(j, "id")) == id &&
                    (json_object_get(j, "result") || json_object_get(j, "error")))
                    found = j;
                else
                    json_decref(j);
                lmx_buf_free(&data);
            }
        } else if (ll >= 5 && !strncmp(line, "data:", 5)) {
            const char *v = line + 5 + (line[5] == ' ');
            size_t vl = ll - (size_t)(v - line);
            if (data.n) lmx_buf_add(&data, "\n", 1);
            lmx_buf_add(&data, v, vl);
        }
        p += n + (p[n] == '\n');
    }
    if (data.p && !found) {
        json_t *j = json_loadb(data.p, data.n, 0, NULL);
        if (j && json_integer_value(json_object_get(j, "id")) == id)
            found = j;
        else
            json_decref(j);
    }
    lmx_buf_free(&data);
    return found;
}

/* POSTs msg. For a request (id >= 0), *reply gets the response. Returns the
 * HTTP status, or -1 (connection failed), -2 (timeout), -3 (cancelled). */
static long http_post(lmx_mcp *m, const json_t *msg, json_int_t id, double deadline,
                      const atomic_bool *cancel, json_t **reply, char *err, size_t n) {
    if (reply) *reply = NULL;
    CURL *c = curl_easy_init();
    if (!c) return snprintf(err, n, "out of memory"), -1;
    char *body = json_dumps(msg, JSON_COMPACT);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    char line[400];
    if (m->session[0]) {
        snprintf(line, sizeof line, "Mcp-Session-Id: %s", m->session);
        h = curl_slist_append(h, line);
    }
    if (m->protocol[0]) {
        snprintf(line, sizeof line, "MCP-Protocol-Version: %s", m->protocol);
        h = curl_slist_append(h, line);
    }
    http_io io = {.in = {.max = MAX_MESSAGE, .cancel = cancel}};
    double left = deadline - lmx_now_s();
    curl_easy_setopt(c, CURLOPT_URL, m->url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, lmx_curl_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &io.in);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &io);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, lmx_curl_body_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &io.in);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(left > 0.001 ? left * 1000 : 1));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    CURLcode rc = curl_easy_perform(c);
    long status = -1;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (io.session[0]) snprintf(m->session, sizeof m->session, "%s", io.session);
        if (reply && status / 100 == 2 && io.in.buf.p) {
            if (strstr(io.ctype, "text/event-stream"))
                *reply = sse_find(io.in.buf.p, id);
            else
                *reply = json_loads(io.in.buf.p, 0, NULL);
            if (!*reply) snprintf(err, n, "%s: no JSON-RPC response in the reply", m->name);
        } else if (status / 100 != 2)
            snprintf(err, n, "%s: HTTP %ld%s%.200s", m->name, status, io.in.buf.p ? ": " : "",
                     io.in.buf.p ? io.in.buf.p : "");
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        status = -2;
        snprintf(err, n, "%s: timed out", m->name);
    } else if (rc == CURLE_ABORTED_BY_CALLBACK) {
        status = -3;
        snprintf(err, n, "%s: cancelled", m->name);
    } else
        snprintf(err, n, "%s: %s", m->name, curl_easy_strerror(rc));
    lmx_buf_free(&io.in.buf);
    free(body);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* ---- JSON-RPC over either transport ---- */

typedef enum { RPC_OK, RPC_BROKEN, RPC_TIMEOUT, RPC_CANCELLED, RPC_ERROR } rrc;

static void answer_server_request(lmx_mcp *m, const json_t *req) {
    /* ping → {}; anything else (sampling, roots, elicitation): we offer none */
    json_t *id = json_object_get(req, "id");
    json_t *resp = !strcmp(json_string_value(json_object_get(req, "method")) ?: "", "ping")
                       ? json_pack("{s:s,s:O,s:{}}", "jsonrpc", "2.0", "id", id, "result")
                       : json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id, "error",
                                   "code", -32601, "message", "not supported by this client");
    if (m->argv) stdio_send(m, resp);
    json_decref(resp);
}

/* Sends one request and waits for its response's result. */
static rrc request(lmx_mcp *m, const char *method, json_t *params, double deadline,
                   const atomic_bool *cancel, json_t **result, char *err, size_t n) {
    *result = NULL;
    json_int_t id = m->next_id++;
    json_t *msg = json_pack("{s:s,s:I,s:s,s:O}", "jsonrpc", "2.0", "id", id, "method", method,
                            "params", params);
    json_t *resp = NULL;
    rrc rc = RPC_OK;
    if (m->argv) {
        if (stdio_send(m, msg)) {
            snprintf(err, n, "%s: the server's stdin is closed", m->name);
            rc = RPC_BROKEN;
        }
        while (rc == RPC_OK && !resp) {
            bool to = false, cc = false;
            json_t *j = stdio_recv(m, deadline, cancel, &to, &cc);
            if (!j) {
                rc = to ? RPC_TIMEOUT : cc ? RPC_CANCELLED : RPC_BROKEN;
                if (rc == RPC_BROKEN) snprintf(err, n, "%s: the server exited", m->name);
                break;
            }
            if (json_object_get(j, "method") && json_object_get(j, "id"))
                answer_server_request(m, j);
            else if (json_integer_value(json_object_get(j, "id")) == id &&
                     json_object_get(j, "id")) {
                resp = j;
                break;
            }
            json_decref(j);
        }
        if (rc == RPC_TIMEOUT || rc == RPC_CANCELLED) {
            json_t *note = json_pack("{s:s,s:s,s:{s:I,s:s}}", "jsonrpc", "2.0", "method",
                                     "notifications/cancelled", "params", "requestId", id, "reason",
                                     rc == RPC_TIMEOUT ? "timeout" : "cancelled");
            stdio_send(m, note);
            json_decref(note);
            snprintf(err, n, "%s: %s", m->name, rc == RPC_TIMEOUT ? "timed out" : "cancelled");
        }
    } else {
        long st = http_post(m, msg, id, deadline, cancel, &resp, err, n);
        if (st == -2)
            rc = RPC_TIMEOUT;
        else if (st == -3)
            rc = RPC_CANCELLED;
        else if (st < 0)
            rc = RPC_BROKEN;
        /* a restarted server does not know our session: 404 (the spec) or
         * 400 (some servers); either means start over */
        else if ((st == 404 || st == 400) && m->session[0])
            rc = RPC_BROKEN;
        else if (!resp)
            rc = st / 100 == 2 ? RPC_ERROR : RPC_BROKEN;
    }
    json_decref(msg);
    if (rc != RPC_OK) {
        json_decref(resp);
        return rc;
    }
    json_t *e = json_object_get(resp, "error");
    if (e) {
        snprintf(err, n, "%s: error %lld: %s", m->name,
                 (long long)json_integer_value(json_object_get(e, "code")),
                 json_string_value(json_object_get(e, "message")) ?: "");
        json_decref(resp);
        return RPC_ERROR;
    }
    *result = json_incref(json_object_get(resp, "result"));
    json_decref(resp);
    return *result ? RPC_OK : RPC_ERROR;
}

static void notify(lmx_mcp *m, const char *method, double deadline) {
    json_t *msg = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", method);
    char err[256];
    if (m->argv)
        stdio_send(m, msg);
    else
        http_post(m, msg, -1, deadline, NULL, NULL, err, sizeof err);
    json_decref(msg);
}

static int connect_server(lmx_mcp *m, double deadline, char *err, size_t n) {
    disconnect(m);
    m->protocol[0] = 0;
    if (m->argv && stdio_start(m, err, n)) return -1;
    json_t *params = json_pack("{s:s,s:{},s:{s:s,s:s}}", "protocolVersion", LMX_MCP_PROTOCOL,
                               "capabilities", "clientInfo", "name", "lmx", "version", "1.0.0");
    json_t *res = NULL;
    rrc rc = request(m, "initialize", params, deadline, NULL, &res, err, n);
    json_decref(params);
    if (rc != RPC_OK) {
        disconnect(m);
        return -1;
    }
    const char *pv = json_string_value(json_object_get(res, "protocolVersion"));
    bool ok = false;
    for (const char *const *p = protocols; pv && *p; p++) ok = ok || !strcmp(*p, pv);
    if (!ok) {
        snprintf(err, n, "%s: unsupported protocol version %s", m->name, pv ? pv : "(none)");
        json_decref(res);
        disconnect(m);
        return -1;
    }
    snprintf(m->protocol, sizeof m->protocol, "%s", pv);
    const char *ver =
        json_string_value(json_object_get(json_object_get(res, "serverInfo"), "version"));
    snprintf(m->version, sizeof m->version, "%s", ver ? ver : "");
    json_decref(res);
    notify(m, "notifications/initialized", deadline);
    m->up = true;
    return 0;
}

/* A request with one reconnect when the connection turns out broken. */
static rrc call(lmx_mcp *m, const char *method, json_t *params, double timeout_s,
                const atomic_bool *cancel, json_t **result, char *err, size_t n) {
    double deadline = lmx_now_s() + timeout_s;
    rrc rc = RPC_BROKEN;
    for (int attempt = 0; attempt < 2 && rc == RPC_BROKEN; attempt++) {
        if (!m->up && connect_server(m, deadline, err, n)) return RPC_BROKEN;
        rc = request(m, method, params, deadline, cancel, result, err, n);
        if (rc == RPC_BROKEN) disconnect(m);
    }
    return rc;
}

json_t *lmx_mcp_list_tools(lmx_mcp *m, double timeout_s, char *err, size_t n) {
    pthread_mutex_lock(&m->lock);
    json_t *tools = json_array(), *cursor = NULL;
    for (int page = 0; page < 100; page++) {
        json_t *params = cursor ? json_pack("{s:O}", "cursor", cursor) : json_object();
        json_t *res = NULL;
        rrc rc = call(m, "tools/list", params, timeout_s, NULL, &res, err, n);
        json_decref(params);
        json_decref(cursor);
        cursor = NULL;
        if (rc != RPC_OK) {
            json_decref(tools);
            tools = NULL;
            break;
        }
        json_array_extend(tools, json_object_get(res, "tools"));
        cursor = json_incref(json_object_get(res, "nextCursor"));
        json_decref(res);
        if (!json_is_string(cursor)) break;
    }
    json_decref(cursor);
    pthread_mutex_unlock(&m->lock);
    return tools;
}

lmx_mcp_rc lmx_mcp_call(lmx_mcp *m, const char *name, const json_t *args, double timeout_s,
                        const atomic_bool *cancel, json_t **result, char *err, size_t n) {
    pthread_mutex_lock(&m->lock);
    json_t *params = json_pack("{s:s,s:O}", "name", name, "arguments", args);
    rrc rc = call(m, "tools/call", params, timeout_s, cancel, result, err, n);
    json_decref(params);
    pthread_mutex_unlock(&m->lock);
    switch (rc) {
    case RPC_OK:
        return LMX_MCP_OK;
    case RPC_TIMEOUT:
        return LMX_MCP_TIMEOUT;
    case RPC_CANCELLED:
        return LMX_MCP_CANCELLED;
    case RPC_ERROR:
        return LMX_MCP_ERROR;
    default:
        return LMX_MCP_UNREACHABLE;
    }
}
