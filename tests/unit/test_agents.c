/* The agent runtime below HTTP: role definitions (defaults, refusals, the
 * tool-choice plan, backoff), the SQLite store (event numbering, idempotent
 * creation, paging, resumption list), and whole runs driven by a scripted
 * step runner in place of the model: tool calls stop a run until outputs
 * arrive, transient failures are retried and permanent ones are not, a
 * restarted runtime finishes what a stopped one left. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agents/role.h"
#include "agents/runtime.h"
#include "agents/store.h"
#include "test.h"

static json_t *def_with_tools(void) {
    return json_loads("{\"model\":\"m\",\"instructions\":\"Help {{ who }}.\",\"tools\":["
                      "{\"name\":\"a\",\"parameters\":{\"type\":\"object\"}},"
                      "{\"type\":\"function\",\"function\":{\"name\":\"b\"}}],"
                      "\"tool_choice\":[\"a\",\"b\",\"none\"]}",
                      0, NULL);
}

TEST(agent_role_check_fills_defaults) {
    json_t *in = def_with_tools();
    lmx_api_err e = {0};
    json_t *d = lmx_role_check(in, &e);
    CHECK(d);
    json_t *lim = json_object_get(d, "limits");
    CHECK_EQ_INT(json_integer_value(json_object_get(lim, "max_steps")), 16);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(d, "retry"), "max_attempts")),
                 3);
    CHECK_EQ_STR(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(d, "tools"), 0), "function"), "name")),
        "a");
    CHECK_EQ_INT(json_array_size(json_object_get(d, "tool_choice")), 3);
    json_t *vars = json_pack("{s:s}", "who", "Ann");
    char *ins = lmx_role_instructions(d, vars, &e);
    CHECK_EQ_STR(ins, "Help Ann.");
    free(ins);
    json_decref(vars);
    json_decref(d);
    json_decref(in);
}

TEST(agent_role_check_refuses_bad_definitions_naming_the_field) {
    static const char *bad[][2] = {
        {"{}", "definition.model"},
        {"{\"model\":\"m\",\"tool_choice\":\"x\"}", "definition.tool_choice"},
        {"{\"model\":\"m\",\"limits\":{\"max_steps\":0}}", "definition.limits.max_steps"},
        {"{\"model\":\"m\",\"limits\":{\"steps\":3}}", "definition.limits.steps"},
        {"{\"model\":\"m\",\"retry\":{\"jitter\":2}}", "definition.retry.jitter"},
        {"{\"model\":\"m\",\"instructions\":\"{% for %}\"}", "definition.instructions"},
        {"{\"model\":\"m\",\"tools\":[{\"name\":\"t\"},{\"name\":\"t\"}]}", "definition.tools"},
        {"{\"model\":\"m\",\"sampling\":{\"n\":2}}", "definition.sampling.n"},
        {"{\"model\":\"m\",\"output_schema\":3}", "definition.output_schema"},
        {"{\"model\":\"m\",\"extra\":1}", "definition.extra"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *in = json_loads(bad[i][0], 0, NULL);
        lmx_api_err e = {0};
        json_t *d = lmx_role_check(in, &e);
        json_decref(in);
        if (d) FAILF("accepted %s", bad[i][0]);
        CHECK_EQ_INT(e.status, 400);
        CHECK_EQ_STR(e.param, bad[i][1]);
    }
}

TEST(agent_step_body_follows_the_tool_choice_plan) {
    json_t *in = def_with_tools();
    lmx_api_err e = {0};
    json_t *d = lmx_role_check(in, &e),
           *msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", "x");
    const char *want[] = {"a", "b", NULL, NULL}; /* NULL: no tools (none), also after the plan */
    for (int k = 0; k < 4; k++) {
        json_t *b = lmx_role_step_body(d, msgs, k);
        const char *name = json_string_value(json_object_get(
            json_object_get(json_object_get(b, "tool_choice"), "function"), "name"));
        if (want[k]) {
            CHECK_EQ_STR(name, want[k]);
            CHECK_EQ_INT(json_array_size(json_object_get(b, "tools")), 2);
        } else
            CHECK(!json_object_get(b, "tools"));
        CHECK_EQ_INT(json_integer_value(json_object_get(b, "max_tokens")), 512);
        json_decref(b);
    }
    json_decref(msgs);
    json_decref(d);
    json_decref(in);
}

TEST(agent_backoff_grows_exponentially_within_max_and_honours_retry_after) {
    json_t *in =
        json_loads("{\"model\":\"m\",\"retry\":{\"initial_backoff_ms\":100,\"multiplier\":3,"
                   "\"max_backoff_ms\":500,\"jitter\":0.5}}",
                   0, NULL);
    lmx_api_err e = {0};
    json_t *d = lmx_role_check(in, &e);
    CHECK_NEAR(lmx_role_backoff_ms(d, 1, 0, 0.5), 100, 1e-9);
    CHECK_NEAR(lmx_role_backoff_ms(d, 2, 0, 0.5), 300, 1e-9);
    CHECK_NEAR(lmx_role_backoff_ms(d, 3, 0, 0.5), 500, 1e-9); /* capped */
    CHECK_NEAR(lmx_role_backoff_ms(d, 1, 0, 0.0), 50, 1e-9);  /* -jitter */
    CHECK_NEAR(lmx_role_backoff_ms(d, 1, 0, 0.999999), 150, 1e-3);
    CHECK_NEAR(lmx_role_backoff_ms(d, 1, 2, 0.5), 2000, 1e-9); /* Retry-After wins */
    json_decref(d);
    json_decref(in);
}

TEST(agent_store_numbers_events_per_run_and_reads_after_any_id) {
    char err[256];
    lmx_astore *s = lmx_astore_sqlite(NULL, err, sizeof err);
    CHECK(s);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(s->ops->append_event(s, "r1", "t", "{\"k\":1}", 1.0 + i), i + 1);
        if (i < 2) CHECK_EQ_INT(s->ops->append_event(s, "r2", "t", "{}", 1.0), i + 1);
    }
    json_t *ev = s->ops->events_after(s, "r1", 3, 100);
    CHECK_EQ_INT(json_array_size(ev), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(ev, 0), "id")), 4);
    CHECK_EQ_INT(
        json_integer_value(json_object_get(json_object_get(json_array_get(ev, 0), "data"), "k")),
        1);
    json_decref(ev);
    lmx_astore_close(s);
}

TEST(agent_store_idempotent_create_has_one_winner_and_pages_runs) {
    char err[256] = "";
    lmx_astore *s = lmx_astore_sqlite(":memory:", err, sizeof err);
    CHECK(s);
    lmx_arun_row a = {"run_a",  "t1", "r",
                      "queued", 100,  "{\"id\":\"run_a\",\"status\":\"queued\"}"};
    lmx_arun_row b = {"run_b",  "t1", "r",
                      "queued", 101,  "{\"id\":\"run_b\",\"status\":\"queued\"}"};
    char *oid = NULL, *oh = NULL;
    CHECK_EQ_INT(s->ops->idem_create(s, "t1", "k", "h1", 86400, &a, &oid, &oh, err, sizeof err),
                 LMX_IDEM_CREATED);
    CHECK_EQ_INT(s->ops->idem_create(s, "t1", "k", "h2", 86400, &b, &oid, &oh, err, sizeof err),
                 LMX_IDEM_EXISTS);
    CHECK_EQ_STR(oid, "run_a");
    CHECK_EQ_STR(oh, "h1");
    free(oid);
    free(oh);
    char *doc = s->ops->get_run(s, "run_b");
    CHECK(!doc); /* the loser stored nothing */
    /* another tenant's key space; an expired key is free again */
    CHECK_EQ_INT(s->ops->idem_create(s, "t2", "k", "h2", 86400, &b, &oid, &oh, err, sizeof err),
                 LMX_IDEM_CREATED);
    lmx_arun_row c = {"run_c", "t1", "r", "completed", 100 + 86401, "{\"id\":\"run_c\"}"};
    CHECK_EQ_INT(s->ops->idem_create(s, "t1", "k", "h3", 86400, &c, &oid, &oh, err, sizeof err),
                 LMX_IDEM_CREATED);
    json_t *p1 = s->ops->list_runs(s, NULL, NULL, NULL, NULL, 2);
    CHECK_EQ_INT(json_array_size(p1), 2);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(p1, 0), "id")), "run_c");
    json_t *p2 = s->ops->list_runs(s, NULL, NULL, NULL, "run_b", 2);
    CHECK_EQ_INT(json_array_size(p2), 1);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(p2, 0), "id")), "run_a");
    json_t *un = s->ops->unfinished(s);
    CHECK_EQ_INT(json_array_size(un), 2); /* run_a and run_b are queued */
    json_decref(p1);
    json_decref(p2);
    json_decref(un);
    lmx_astore_close(s);
}

/* ---- whole runs on a scripted step runner ---- */

typedef struct {
    int calls;
    int fail_first; /* transient failures before success */
    bool permanent; /* fail for good */
    int block_ms;   /* each call takes this long (or until cancelled) */
} script;

static json_t *scripted(void *ctx, json_t *body, const atomic_bool *cancel, double timeout_s,
                        lmx_astep_fail *f) {
    (void)timeout_s;
    script *s = ctx;
    int n = __atomic_add_fetch(&s->calls, 1, __ATOMIC_SEQ_CST);
    for (int t = 0; t < s->block_ms && !atomic_load(cancel); t += 5) usleep(5000);
    if (atomic_load(cancel)) {
        f->transient = true;
        snprintf(f->code, sizeof f->code, "cancelled");
        return NULL;
    }
    if (s->permanent || n <= s->fail_first) {
        f->transient = !s->permanent;
        snprintf(f->code, sizeof f->code, "%s",
                 s->permanent ? "context_length_exceeded" : "queue_full");
        snprintf(f->message, sizeof f->message, "scripted failure");
        return NULL;
    }
    json_t *tc = json_object_get(body, "tool_choice");
    json_t *msg;
    if (tc) {
        const char *name =
            json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
        msg = json_pack("{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]}", "role", "assistant", "content",
                        "tool_calls", "id", name[0] == 'a' ? "call_1" : "call_2", "type",
                        "function", "function", "name", name, "arguments", "{}");
    } else
        msg = json_pack("{s:s,s:s}", "role", "assistant", "content", "done");
    return json_pack("{s:[{s:i,s:o,s:s}],s:{s:i,s:i,s:i}}", "choices", "index", 0, "message", msg,
                     "finish_reason", tc ? "tool_calls" : "stop", "usage", "prompt_tokens", 10,
                     "completion_tokens", 2, "total_tokens", 12);
}

static json_t *wait_for(lmx_agents *a, const char *id, const char *status) {
    for (int i = 0; i < 1000; i++) { /* up to 10 s: a loaded machine */
        lmx_api_err e = {0};
        json_t *r = lmx_agents_get(a, "t", id, &e);
        if (r && !strcmp(json_string_value(json_object_get(r, "status")), status)) return r;
        json_decref(r);
        usleep(10000);
    }
    return NULL;
}

static lmx_agents *start(const char *path, script *sc) {
    char err[256];
    lmx_agents_opts o = {
        .store = lmx_astore_sqlite(path, err, sizeof err), .model = {scripted, sc}, .workers = 2};
    return o.store ? lmx_agents_start(&o, err, sizeof err) : NULL;
}

static json_t *create(lmx_agents *a, const char *body) {
    json_t *req = json_loads(body, 0, NULL);
    lmx_acreate how;
    lmx_api_err e = {0};
    json_t *r = lmx_agents_create(a, "t", req, NULL, &how, &e);
    json_decref(req);
    return r;
}

static const char TOOL_RUN[] =
    "{\"definition\":{\"model\":\"m\",\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"}],"
    "\"tool_choice\":[\"a\",\"b\",\"none\"],\"retry\":{\"initial_backoff_ms\":1}},\"input\":"
    "\"go\"}";

static int submit(lmx_agents *a, const char *id, const char *call) {
    char body[128];
    snprintf(body, sizeof body, "{\"tool_outputs\":[{\"tool_call_id\":\"%s\",\"output\":\"ok\"}]}",
             call);
    json_t *req = json_loads(body, 0, NULL);
    lmx_api_err e = {0};
    json_t *r = lmx_agents_tool_outputs(a, "t", id, req, &e);
    json_decref(req);
    json_decref(r);
    return r ? 0 : e.status;
}

TEST(agent_run_stops_for_each_tool_call_and_completes) {
    script sc = {0};
    lmx_agents *a = start(NULL, &sc);
    CHECK(a);
    json_t *r = create(a, TOOL_RUN);
    CHECK(r);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
    json_decref(r);
    CHECK((r = wait_for(a, id, "requires_action")));
    json_decref(r);
    CHECK_EQ_INT(submit(a, id, "call_2"), 400); /* not the pending call */
    CHECK_EQ_INT(submit(a, id, "call_1"), 0);
    int again = submit(a, id, "call_1"); /* answered: 409 while queued, 400 once call_2 waits */
    CHECK(again == 409 || again == 400);
    CHECK((r = wait_for(a, id, "requires_action")));
    json_decref(r);
    CHECK_EQ_INT(submit(a, id, "call_2"), 0);
    CHECK((r = wait_for(a, id, "completed")));
    CHECK_EQ_INT(sc.calls, 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(r, "usage"), "total_tokens")),
                 36);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(r, "output"), "content")),
                 "done");
    CHECK_EQ_INT(json_array_size(json_object_get(r, "steps")), 5);
    json_decref(r);
    bool ended;
    lmx_api_err e = {0};
    json_t *ev = lmx_agents_events(a, "t", id, 0, 1000, &ended, &e);
    CHECK(ended);
    size_t n = json_array_size(ev);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(ev, n - 1), "type")),
                 "run.completed");
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(ev, i), "id")),
                     (long long)i + 1);
    json_decref(ev);
    lmx_agents_stop(a);
}

TEST(agent_transient_failures_are_retried_and_permanent_ones_are_not) {
    script sc = {.fail_first = 2};
    lmx_agents *a = start(NULL, &sc);
    json_t *r = create(
        a,
        "{\"definition\":{\"model\":\"m\",\"retry\":{\"initial_backoff_ms\":1}},\"input\":\"x\"}");
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
    json_decref(r);
    CHECK((r = wait_for(a, id, "completed")));
    CHECK_EQ_INT(sc.calls, 3);
    json_decref(r);
    sc.permanent = true;
    sc.calls = 0;
    r = create(
        a,
        "{\"definition\":{\"model\":\"m\",\"retry\":{\"initial_backoff_ms\":1}},\"input\":\"x\"}");
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
    json_decref(r);
    CHECK((r = wait_for(a, id, "failed")));
    CHECK_EQ_INT(sc.calls, 1);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                 "context_length_exceeded");
    json_decref(r);
    lmx_agents_stop(a);
}

TEST(agent_restart_redoes_a_cut_step_and_keeps_answered_calls) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/lmx-agents-unit-%d.db", (int)getpid());
    unlink(path);
    script sc = {0};
    lmx_agents *a = start(path, &sc);
    json_t *r = create(a, TOOL_RUN);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
    json_decref(r);
    json_decref(wait_for(a, id, "requires_action"));
    sc.block_ms = 5000; /* the next model step hangs until the runtime stops */
    CHECK_EQ_INT(submit(a, id, "call_1"), 0);
    for (int i = 0; i < 200 && sc.calls < 2; i++) usleep(10000);
    lmx_agents_stop(a); /* the step is cut: left in progress */
    script sc2 = {0};
    a = start(path, &sc2);
    CHECK(a);
    CHECK((r = wait_for(a, id, "requires_action")));
    json_decref(r);
    CHECK_EQ_INT(submit(a, id, "call_2"), 0);
    CHECK((r = wait_for(a, id, "completed")));
    CHECK_EQ_INT(sc2.calls, 2); /* step 1 redone, step 2: step 0 and call_1 were not */
    int interrupted = 0, done = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r, "steps"), i, s) {
        const char *st = json_string_value(json_object_get(s, "status"));
        interrupted += !strcmp(st, "interrupted");
        done += !strcmp(st, "completed");
    }
    CHECK_EQ_INT(interrupted, 1);
    CHECK_EQ_INT(done, 5);
    json_decref(r);
    lmx_agents_stop(a);
    unlink(path);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
}

TEST(agent_queue_is_bounded_per_tenant) {
    script sc = {.block_ms = 300};
    char err[256];
    lmx_agents_opts o = {.store = lmx_astore_sqlite(NULL, err, sizeof err),
                         .model = {scripted, &sc},
                         .workers = 1,
                         .queue_max = 10,
                         .queue_per_tenant = 2};
    lmx_agents *a = lmx_agents_start(&o, err, sizeof err);
    int ok = 0, full = 0;
    for (int i = 0; i < 6; i++) {
        json_t *req = json_loads("{\"definition\":{\"model\":\"m\"},\"input\":\"x\"}", 0, NULL);
        lmx_acreate how;
        lmx_api_err e = {0};
        json_t *r = lmx_agents_create(a, "t", req, NULL, &how, &e);
        json_decref(req);
        if (r)
            ok++;
        else if (e.status == 429 && !strcmp(e.code, "agents_queue_full") && e.retry_after > 0)
            full++;
        json_decref(r);
    }
    CHECK(ok >= 2 && ok <= 3); /* two queued (+ one the executor may have taken) */
    CHECK_EQ_INT(ok + full, 6);
    lmx_agents_stop(a);
}

TEST(agent_tool_output_is_checked_against_the_tools_output_schema) {
    json_t *in =
        json_loads("{\"model\":\"m\",\"tools\":[{\"name\":\"w\",\"output_schema\":{\"type\":"
                   "\"object\",\"properties\":{\"a\":{\"type\":\"number\"},\"b\":{"
                   "\"type\":\"string\"}},\"required\":[\"a\"]}}]}",
                   0, NULL);
    lmx_api_err e = {0};
    json_t *d = lmx_role_check(in, &e);
    json_decref(in);
    CHECK(d);
    /* moved out of the tool: the chat request does not carry it */
    CHECK(!json_object_get(
        json_object_get(json_array_get(json_object_get(d, "tools"), 0), "function"),
        "output_schema"));
    char why[256];
    CHECK_EQ_INT(lmx_role_check_tool_output(d, "w", "{\"a\": 1.5, \"b\": \"x\"}", why, sizeof why),
                 0);
    CHECK_EQ_INT(lmx_role_check_tool_output(d, "w", "{\"b\":\"x\",\"a\":2}", why, sizeof why), 0);
    CHECK_EQ_INT(lmx_role_check_tool_output(d, "w", "{\"b\":\"x\"}", why, sizeof why), -1);
    CHECK_EQ_INT(lmx_role_check_tool_output(d, "w", "{\"a\":\"1\"}", why, sizeof why), -1);
    CHECK_EQ_INT(lmx_role_check_tool_output(d, "w", "sunny", why, sizeof why), -1);
    CHECK_EQ_INT(lmx_role_check_tool_output(d, "other", "sunny", why, sizeof why), 0);
    json_decref(d);
    in = json_loads("{\"model\":\"m\",\"tools\":[{\"name\":\"w\",\"output_schema\":[]}]}", 0, NULL);
    CHECK(!lmx_role_check(in, &e));
    CHECK_EQ_STR(e.param, "definition.tools");
    json_decref(in);
}

TEST(agent_invalid_tool_output_asks_the_call_again_then_fails_the_run) {
    script sc = {0};
    lmx_agents *a = start(NULL, &sc);
    static const char RUN[] =
        "{\"definition\":{\"model\":\"m\",\"tools\":[{\"name\":\"a\",\"output_schema\":{\"type\":"
        "\"integer\"}}],\"tool_choice\":[\"a\",\"none\"],\"retry\":{\"max_attempts\":2}},"
        "\"input\":\"go\"}";
    for (int round = 0; round < 2; round++) {
        json_t *r = create(a, RUN);
        char id[64];
        snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
        json_decref(r);
        json_decref(wait_for(a, id, "requires_action"));
        CHECK_EQ_INT(submit(a, id, "call_1"), 0); /* "ok" is not an integer */
        CHECK((r = wait_for(a, id, "requires_action")));
        json_t *steps = json_object_get(r, "steps");
        CHECK_EQ_INT(json_array_size(steps), 3); /* model, failed tool step, asked again */
        CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(steps, 2), "status")),
                     "pending");
        json_decref(r);
        if (round == 0) {
            json_t *req = json_loads(
                "{\"tool_outputs\":[{\"tool_call_id\":\"call_1\",\"output\":\"42\"}]}", 0, NULL);
            lmx_api_err e = {0};
            json_decref(lmx_agents_tool_outputs(a, "t", id, req, &e));
            json_decref(req);
            CHECK((r = wait_for(a, id, "completed")));
        } else {
            CHECK_EQ_INT(submit(a, id, "call_1"), 0);
            CHECK((r = wait_for(a, id, "failed")));
            CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                         "retries_exhausted");
        }
        json_decref(r);
    }
    lmx_agents_stop(a);
}

TEST(agent_run_waiting_for_outputs_past_its_budget_expires) {
    script sc = {0};
    lmx_agents *a = start(NULL, &sc);
    json_t *r =
        create(a, "{\"definition\":{\"model\":\"m\",\"tools\":[{\"name\":\"a\"}],"
                  "\"tool_choice\":\"a\",\"limits\":{\"wall_clock_s\":1}},\"input\":\"x\"}");
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
    json_decref(r);
    json_decref(wait_for(a, id, "requires_action"));
    CHECK((r = wait_for(a, id, "expired"))); /* 1 s budget + a 2 s reap period */
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                 "wall_clock_exceeded");
    json_decref(r);
    CHECK_EQ_INT(submit(a, id, "call_1"), 409);
    lmx_agents_stop(a);
}
