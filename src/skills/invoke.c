/* One invocation from reference to outcome. */
#include "skills/invoke.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skills/http_exec.h"
#include "skills/mcp_client.h"
#include "skills/sandbox.h"
#include "skills/skill_metrics.h"
#include "skills/validate.h"
#include "trace/trace.h"
#include "util/clock.h"

static const char *const code_names[] = {"ok",
                                         "bad_request",
                                         "skill_not_found",
                                         "invalid_arguments",
                                         "skill_busy",
                                         "skill_timeout",
                                         "skill_failed",
                                         "skill_bad_output",
                                         "skill_unavailable",
                                         "cancelled"};

const char *lmx_skr_code_name(lmx_skr_code c) {
    return (unsigned)c < sizeof code_names / sizeof *code_names ? code_names[c] : "unknown";
}

void lmx_skr_free(lmx_skr *r) {
    json_decref(r->result);
    json_decref(r->violations);
    r->result = r->violations = NULL;
}

static void say(lmx_skr *r, lmx_skr_code c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(lmx_skr *r, lmx_skr_code c, const char *fmt, ...) {
    r->code = c;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

/* ---- the concurrency slot ---- */

/* Takes a slot of k: at once when one is free, else waiting in the
 * registry's bounded queue until one frees, the skill's timeout passes or
 * the caller cancels. */
static bool take_slot(lmx_skills *s, lmx_skill *k, const atomic_bool *cancel, lmx_skr *r) {
    pthread_mutex_lock(&s->lock);
    if (atomic_load(&k->running) < k->limits.concurrency) {
        atomic_fetch_add(&k->running, 1);
        pthread_mutex_unlock(&s->lock);
        return true;
    }
    if (s->waiting >= s->o.queue) {
        pthread_mutex_unlock(&s->lock);
        r->retry_after = 1;
        say(r, LMX_SKR_BUSY,
            "%s@%s is busy: %d running (its concurrency limit) and the "
            "dispatch queue is full (%d waiting); retry later",
            k->name, k->version, k->limits.concurrency, s->o.queue);
        return false;
    }
    s->waiting++;
    double until = lmx_now_s() + k->limits.timeout_s;
    bool got = false;
    while (!(got = atomic_load(&k->running) < k->limits.concurrency)) {
        if (lmx_now_s() >= until || (cancel && atomic_load(cancel))) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->freed, &s->lock, &ts);
    }
    s->waiting--;
    if (got) atomic_fetch_add(&k->running, 1);
    pthread_mutex_unlock(&s->lock);
    if (!got) {
        if (cancel && atomic_load(cancel))
            say(r, LMX_SKR_CANCELLED, "cancelled while waiting for a slot");
        else {
            r->retry_after = 1;
            say(r, LMX_SKR_BUSY, "%s@%s stayed busy for %g s (%d running); retry later", k->name,
                k->version, k->limits.timeout_s, k->limits.concurrency);
        }
    }
    return got;
}

static void give_slot(lmx_skills *s, lmx_skill *k) {
    pthread_mutex_lock(&s->lock);
    atomic_fetch_sub(&k->running, 1);
    pthread_cond_broadcast(&s->freed);
    pthread_mutex_unlock(&s->lock);
}

/* ---- executors ---- */

static const char *signal_reason(int sig, const char **kill) {
    switch (sig) {
    case SIGXCPU:
        *kill = "cpu";
        return "CPU time limit";
    case SIGXFSZ:
        *kill = "file_size";
        return "file size limit";
    case SIGKILL:
        *kill = "signal";
        return "SIGKILL (the kernel or a limit)";
    case SIGSEGV:
        *kill = NULL;
        return "segmentation fault";
    case SIGSYS:
        *kill = "signal";
        return "forbidden system call";
    default:
        *kill = NULL;
        return "a signal";
    }
}

static const char *run_exec(lmx_skills *s, lmx_skill *k, const json_t *args,
                            const atomic_bool *cancel, lmx_skr *r) {
    char *input = json_dumps(args, JSON_COMPACT);
    pthread_mutex_lock(&s->lock);
    char bwrap[1024], tmp[1024];
    snprintf(bwrap, sizeof bwrap, "%s", s->bwrap);
    snprintf(tmp, sizeof tmp, "%s", s->tmp_dir);
    pthread_mutex_unlock(&s->lock);
    lmx_sbx_spec spec = {.argv = k->argv,
                         .dir = k->dir,
                         .profile = k->profile,
                         .read_paths = k->read_paths,
                         .loopback = k->loopback,
                         .limits = &k->limits,
                         .bwrap = bwrap,
                         .tmp_dir = tmp,
                         .input = input,
                         .input_len = input ? strlen(input) : 0,
                         .cancel = cancel};
    lmx_sbx_result res;
    lmx_sbx_run(&spec, &res);
    free(input);
    const char *kill = NULL;
    snprintf(r->stderr_tail, sizeof r->stderr_tail, "%s", lmx_sbx_err_lines(&res, 10));
    r->exit_status = -1;
    const char *term = res.killed_after_term ? " (it did not stop on SIGTERM: killed)" : "";
    switch (res.end) {
    case LMX_SBX_SETUP_FAILED:
        say(r, LMX_SKR_UNAVAILABLE, "%s@%s cannot run: %s", k->name, k->version, res.msg);
        break;
    case LMX_SBX_TIMEOUT:
        kill = "timeout";
        say(r, LMX_SKR_TIMEOUT,
            "%s@%s ran past its %g s timeout; its process group was "
            "killed%s",
            k->name, k->version, k->limits.timeout_s, term);
        break;
    case LMX_SBX_CANCELLED:
        kill = "cancel";
        say(r, LMX_SKR_CANCELLED, "cancelled; the process group was killed%s", term);
        break;
    case LMX_SBX_OUTPUT_LIMIT:
        kill = "output";
        say(r, LMX_SKR_FAILED, "%s@%s wrote more than max_output (%zu bytes); killed", k->name,
            k->version, k->limits.max_output);
        break;
    case LMX_SBX_SIGNALED: {
        r->signal = res.signal;
        const char *why = signal_reason(res.signal, &kill);
        say(r, LMX_SKR_FAILED, "%s@%s was killed by signal %d (%s)%s%s", k->name, k->version,
            res.signal, why, r->stderr_tail[0] ? "; stderr: " : "", r->stderr_tail);
        break;
    }
    case LMX_SBX_EXITED:
        r->exit_status = res.exit_status;
        if (res.exit_status) {
            /* a program stopped by its memory limit usually exits saying so */
            if (strstr(res.err_tail, "MemoryError") ||
                strstr(res.err_tail, "Cannot allocate memory") ||
                strstr(res.err_tail, "out of memory"))
                kill = "memory";
            say(r, LMX_SKR_FAILED, "%s@%s exited with status %d%s%s%s", k->name, k->version,
                res.exit_status, kill ? " (memory limit)" : "",
                r->stderr_tail[0] ? "; stderr: " : "", r->stderr_tail);
            break;
        }
        json_error_t je;
        r->result = json_loadb(res.out, res.out_len, JSON_DECODE_ANY, &je);
        if (!r->result)
            say(r, LMX_SKR_FAILED, "%s@%s printed something that is not JSON (%s at line %d)",
                k->name, k->version, je.text, je.line);
        break;
    }
    lmx_sbx_result_free(&res);
    return kill;
}

static void run_http(lmx_skill *k, const json_t *args, const atomic_bool *cancel, lmx_skr *r) {
    char err[700];
    switch (lmx_http_exec(k, args, cancel, &r->result, err, sizeof err)) {
    case LMX_HX_OK:
        break;
    case LMX_HX_TIMEOUT:
        say(r, LMX_SKR_TIMEOUT, "%s@%s: %s", k->name, k->version, err);
        break;
    case LMX_HX_CANCELLED:
        say(r, LMX_SKR_CANCELLED, "%s", err);
        break;
    case LMX_HX_UNREACHABLE:
        say(r, LMX_SKR_UNAVAILABLE, "%s@%s: %s", k->name, k->version, err);
        break;
    case LMX_HX_FAILED:
        say(r, LMX_SKR_FAILED, "%s@%s: %s", k->name, k->version, err);
        break;
    }
}

/* The text of a CallToolResult's text blocks, joined by newlines. */
static void content_text(const json_t *res, char *out, size_t n) {
    size_t len = 0, i;
    out[0] = 0;
    json_t *c;
    json_array_foreach(json_object_get(res, "content"), i, c) {
        const char *t = json_string_value(json_object_get(c, "text"));
        if (t && len < n) len += (size_t)snprintf(out + len, n - len, "%s%s", len ? "\n" : "", t);
    }
}

static void run_mcp(lmx_skills *s, lmx_skill *k, const json_t *args, const atomic_bool *cancel,
                    lmx_skr *r) {
    lmx_mcp *m = lmx_skills_mcp(s, k->server);
    if (!m) {
        say(r, LMX_SKR_UNAVAILABLE, "MCP server '%s' is not configured", k->server);
        return;
    }
    json_t *res = NULL;
    char err[700];
    /* each way the call can fail, as the invocation's outcome */
    static const lmx_skr_code failed_as[] = {
        [LMX_MCP_UNREACHABLE] = LMX_SKR_UNAVAILABLE,
        [LMX_MCP_TIMEOUT] = LMX_SKR_TIMEOUT,
        [LMX_MCP_CANCELLED] = LMX_SKR_CANCELLED,
        [LMX_MCP_ERROR] = LMX_SKR_FAILED,
    };
    lmx_mcp_rc rc =
        lmx_mcp_call(m, k->tool, args, k->limits.timeout_s, cancel, &res, err, sizeof err);
    if (rc != LMX_MCP_OK) {
        say(r, failed_as[rc], "%s", err);
        return;
    }
    if (json_is_true(json_object_get(res, "isError"))) {
        char text[700];
        content_text(res, text, sizeof text);
        say(r, LMX_SKR_FAILED, "%s failed: %s", k->name, text[0] ? text : "(no message)");
        json_decref(res);
        return;
    }
    /* structured content when the tool gives it, else its content blocks */
    json_t *sc = json_object_get(res, "structuredContent");
    r->result = sc ? json_incref(sc)
                   : json_pack("{s:O}", "content", json_object_get(res, "content") ?: json_array());
    json_decref(res);
}

void lmx_skills_invoke_skill(lmx_skills *s, lmx_skill *k, const json_t *args,
                             const atomic_bool *cancel, lmx_skr *r) {
    memset(r, 0, sizeof *r);
    double t0 = lmx_now_s();
    snprintf(r->name, sizeof r->name, "%s", k->name);
    snprintf(r->version, sizeof r->version, "%s", k->version);
    const char *kill = NULL;
    if (!json_is_object(args)) {
        r->violations = json_pack("[{s:s,s:s,s:s}]", "pointer", "", "rule", "type", "message",
                                  "the arguments must be a JSON object");
        say(r, LMX_SKR_INVALID_ARGS, "the arguments must be a JSON object");
        goto done;
    }
    if (!k->schema_unchecked) {
        r->violations = lmx_jsv_validate(k->input_schema, args);
        if (json_array_size(r->violations)) {
            json_t *v0 = json_array_get(r->violations, 0);
            say(r, LMX_SKR_INVALID_ARGS, "%zu argument%s invalid; first: %s: %s",
                json_array_size(r->violations),
                json_array_size(r->violations) > 1 ? "s are" : " is",
                json_string_value(json_object_get(v0, "pointer"))[0]
                    ? json_string_value(json_object_get(v0, "pointer"))
                    : "(the arguments)",
                json_string_value(json_object_get(v0, "message")));
            goto done;
        }
        json_decref(r->violations);
        r->violations = NULL;
    }
    if (!take_slot(s, k, cancel, r)) goto done;
    switch (k->kind) {
    case LMX_SK_EXEC:
        kill = run_exec(s, k, args, cancel, r);
        break;
    case LMX_SK_HTTP:
        run_http(k, args, cancel, r);
        break;
    case LMX_SK_MCP:
        run_mcp(s, k, args, cancel, r);
        break;
    }
    give_slot(s, k);
    if (r->code == LMX_SKR_OK && k->output_schema) {
        r->violations = lmx_jsv_validate(k->output_schema, r->result);
        if (json_array_size(r->violations)) {
            json_t *v0 = json_array_get(r->violations, 0);
            say(r, LMX_SKR_BAD_OUTPUT,
                "%s@%s returned output that does not match its "
                "output_schema: %s: %s",
                k->name, k->version, json_string_value(json_object_get(v0, "pointer")),
                json_string_value(json_object_get(v0, "message")));
            json_decref(r->result);
            r->result = NULL;
        } else {
            json_decref(r->violations);
            r->violations = NULL;
        }
    }
done:
    r->duration_s = lmx_now_s() - t0;
    lmx_skm_observe(k->name, lmx_skr_code_name(r->code), r->duration_s, kill);
    /* a child of the request's span when tracing is on; nothing kept when off */
    lmx_trace_op("skill", t0, r->code != LMX_SKR_OK,
                 (lmx_trace_attr[]){{"lmx.skill.name", k->name, 0},
                                    {"lmx.skill.version", k->version, 0},
                                    {"lmx.skill.outcome", lmx_skr_code_name(r->code), 0}},
                 3);
}

void lmx_skills_invoke(lmx_skills *s, const char *ref, const json_t *args,
                       const atomic_bool *cancel, lmx_skr *r) {
    memset(r, 0, sizeof *r);
    bool nf;
    char err[900];
    lmx_skill *k = lmx_skills_get(s, ref, &nf, err, sizeof err);
    if (!k) {
        say(r, nf ? LMX_SKR_NOT_FOUND : LMX_SKR_BAD_REF, "%s", err);
        return;
    }
    lmx_skills_invoke_skill(s, k, args, cancel, r);
    lmx_skill_unref(k);
}
