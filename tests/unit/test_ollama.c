/* Ollama request bodies → LMX's (server/api/ollama_req.c): names, keep_alive
 * durations, and /api/chat and /api/generate translated into OpenAI bodies
 * that the OpenAI contract then accepts. Helpers of the LM Studio / Ollama
 * modules (server/core/compat_*.c) too. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server/api/ollama_req.h"
#include "server/core/compat_fmt.h"
#include "server/core/request.h"
#include "test.h"

TEST(ollama_names_map_onto_lmx_ids) {
    char out[256];
    lmx_ol_name("stories260K:latest", out, sizeof out);
    CHECK_EQ_STR(out, "stories260K");
    lmx_ol_name("stories260K", out, sizeof out);
    CHECK_EQ_STR(out, "stories260K");
    lmx_ol_name("hf.co/org/repo-GGUF:Q4_K_M", out, sizeof out);
    CHECK_EQ_STR(out, "org/repo-GGUF:Q4_K_M");
    lmx_ol_name("huggingface.co/org/repo:latest", out, sizeof out);
    CHECK_EQ_STR(out, "org/repo");
    lmx_ol_name("llama3:8b", out, sizeof out);
    CHECK_EQ_STR(out, "llama3:8b");
    lmx_ol_name(":latest", out, sizeof out); /* nothing before the tag: left as is */
    CHECK_EQ_STR(out, ":latest");
}

TEST(ollama_keep_alive_durations) {
    double s;
    CHECK(lmx_ol_duration("5m", &s));
    CHECK_NEAR(s, 300, 0);
    CHECK(lmx_ol_duration("1h30m", &s));
    CHECK_NEAR(s, 5400, 0);
    CHECK(lmx_ol_duration("300ms", &s));
    CHECK_NEAR(s, 0.3, 1e-12);
    CHECK(lmx_ol_duration("2m30s", &s));
    CHECK_NEAR(s, 150, 0);
    CHECK(lmx_ol_duration("-1m", &s));
    CHECK(s < 0);
    CHECK(lmx_ol_duration("600", &s));
    CHECK_NEAR(s, 600, 0);
    CHECK(lmx_ol_duration("0", &s));
    CHECK_NEAR(s, 0, 0);
    CHECK(!lmx_ol_duration("soon", &s));
    CHECK(!lmx_ol_duration("5x", &s));
    CHECK(!lmx_ol_duration("", &s));
    CHECK(!lmx_ol_duration("-", &s));
}

/* The last parsed body: q.name points into it (borrowed, as from a request). */
static json_t *held;

/* Parses body as /api/chat (chat) or /api/generate; returns the status (0: accepted). */
static int ol(const char *body, bool chat, lmx_ol_req *q, lmx_api_err *e) {
    json_decref(held);
    held = json_loads(body, 0, NULL);
    if (!held) return -1;
    memset(e, 0, sizeof *e);
    int rc = lmx_ol_parse(held, chat, q, e);
    return rc ? e->status : 0;
}

static void ol_done(lmx_ol_req *q) {
    lmx_ol_req_free(q);
    json_decref(held);
    held = NULL;
}

TEST(ollama_chat_becomes_an_openai_body) {
    lmx_ol_req q;
    lmx_api_err e;
    CHECK_EQ_INT(ol("{\"model\":\"m:latest\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
                    "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":"
                    "{\"name\":\"f\",\"arguments\":{\"a\":1}}}]},"
                    "{\"role\":\"tool\",\"content\":\"2\",\"tool_name\":\"f\"}],"
                    "\"options\":{\"temperature\":0.2,\"num_predict\":7,\"stop\":[\"x\"],"
                    "\"num_ctx\":512,\"repeat_last_n\":32,\"mirostat\":1,\"seed\":3},"
                    "\"keep_alive\":\"10m\",\"format\":\"json\",\"think\":false}",
                    true, &q, &e),
                 0);
    CHECK_EQ_STR(q.name, "m:latest");
    CHECK_EQ_STR(q.id, "m");
    CHECK(q.stream && !q.empty && !q.raw);
    CHECK_EQ_INT(q.keep, LMX_KA_TTL);
    CHECK_NEAR(q.ttl_s, 600, 0);
    CHECK_EQ_INT(q.num_ctx, 512);
    CHECK(q.repeat_last_n_given);
    CHECK_EQ_INT(q.repeat_last_n, 32);
    CHECK_EQ_STR(q.ignored, "mirostat");
    json_t *o = q.oai;
    CHECK_EQ_STR(json_string_value(json_object_get(o, "model")), "m");
    CHECK_NEAR(json_number_value(json_object_get(o, "temperature")), 0.2, 1e-12);
    CHECK_NEAR(json_number_value(json_object_get(o, "top_k")), 40, 0); /* Ollama's default */
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "max_tokens")), 7);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(o, "response_format"), "type")),
                 "json_object");
    CHECK(json_is_false(
        json_object_get(json_object_get(o, "chat_template_kwargs"), "enable_thinking")));
    json_t *call = json_array_get(
        json_object_get(json_array_get(json_object_get(o, "messages"), 1), "tool_calls"), 0);
    /* arguments objects become the OpenAI JSON string */
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(call, "function"), "arguments")),
                 "{\"a\":1}");
    CHECK_EQ_STR(json_string_value(json_object_get(call, "type")), "function");
    CHECK_EQ_STR(
        json_string_value(json_object_get(json_array_get(json_object_get(o, "messages"), 2), "name")),
        "f");
    /* ... which the OpenAI contract accepts, apart from response_format until
     * constrained decoding lands */
    json_object_del(o, "response_format");
    lmx_oai_req r;
    CHECK_EQ_INT(lmx_oai_parse(o, LMX_OAI_CHAT, &r, &e), 0);
    CHECK_EQ_INT(r.max_tokens, 7);
    CHECK(r.seed_given && r.sample.seed == 3 && r.stream);
    CHECK_EQ_INT(r.n_stop, 1);
    lmx_oai_req_free(&r);
    ol_done(&q);
}

TEST(ollama_generate_system_raw_and_load_requests) {
    lmx_ol_req q;
    lmx_api_err e;
    CHECK_EQ_INT(ol("{\"model\":\"m\",\"prompt\":\"p\",\"system\":\"s\",\"stream\":false}", false,
                    &q, &e),
                 0);
    CHECK(!q.stream && !q.empty);
    json_t *msgs = json_object_get(q.oai, "messages");
    CHECK_EQ_INT(json_array_size(msgs), 2);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(msgs, 0), "role")), "system");
    lmx_ol_req_free(&q);
    CHECK_EQ_INT(ol("{\"model\":\"m\",\"prompt\":\"p\",\"raw\":true}", false, &q, &e), 0);
    CHECK(q.raw);
    CHECK_EQ_STR(json_string_value(json_object_get(q.oai, "prompt")), "p");
    lmx_ol_req_free(&q);
    CHECK_EQ_INT(ol("{\"model\":\"m\",\"keep_alive\":0}", false, &q, &e), 0);
    CHECK(q.empty);
    CHECK_EQ_INT(q.keep, LMX_KA_UNLOAD);
    lmx_ol_req_free(&q);
    CHECK_EQ_INT(ol("{\"model\":\"m\",\"messages\":[],\"keep_alive\":-1}", true, &q, &e), 0);
    CHECK(q.empty);
    CHECK_EQ_INT(q.keep, LMX_KA_FOREVER);
    lmx_ol_req_free(&q);
    CHECK_EQ_INT(ol("{\"name\":\"legacy\",\"prompt\":\"p\",\"format\":{\"type\":\"object\"}}", false,
                    &q, &e),
                 0);
    CHECK_EQ_STR(q.id, "legacy");
    CHECK_EQ_STR(json_string_value(json_object_get(
                     json_object_get(json_object_get(q.oai, "response_format"), "json_schema"),
                     "name")),
                 "format");
    ol_done(&q);
}

TEST(ollama_refusals_name_the_field) {
    static const struct {
        const char *body;
        bool chat;
        const char *param;
    } bad[] = {
        {"{\"messages\":[]}", true, "model"},
        {"[]", true, NULL},
        {"{\"model\":\"m\",\"messages\":{}}", true, "messages"},
        {"{\"model\":\"m\",\"messages\":[1]}", true, "messages"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":[\"aGk=\"]}]}",
         true, "images"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"images\":[\"aGk=\"]}", false, "images"},
        {"{\"model\":\"m\",\"prompt\":3}", false, "prompt"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"suffix\":\"y\"}", false, "suffix"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"keep_alive\":\"soon\"}", false, "keep_alive"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"keep_alive\":true}", false, "keep_alive"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"format\":\"yaml\"}", false, "format"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"raw\":true,\"format\":\"json\"}", false, "format"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"options\":[]}", false, "options"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"options\":{\"num_predict\":\"a\"}}", false,
         "options.num_predict"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"options\":{\"num_ctx\":1e12}}", false,
         "options.num_ctx"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lmx_ol_req q;
        lmx_api_err e;
        int st = ol(bad[i].body, bad[i].chat, &q, &e);
        ol_done(&q);
        if (st != 400) FAILF("%s: status %d", bad[i].body, st);
        if (!e.message[0]) FAILF("%s: no message", bad[i].body);
        if (bad[i].param ? strcmp(e.param, bad[i].param) : e.param[0] != 0)
            FAILF("%s: param '%s', expected '%s'", bad[i].body, e.param,
                  bad[i].param ? bad[i].param : "");
    }
}

TEST(compat_formats) {
    char b[64];
    lmx_compat_params(292896, b, sizeof b);
    CHECK_EQ_STR(b, "293K");
    lmx_compat_params(7241732096ull, b, sizeof b);
    CHECK_EQ_STR(b, "7.2B");
    lmx_compat_params(8030261248ull, b, sizeof b);
    CHECK_EQ_STR(b, "8B");
    lmx_compat_params(999, b, sizeof b);
    CHECK_EQ_STR(b, "999");
    lmx_compat_iso(1759505603.496, 3, b, sizeof b);
    CHECK_EQ_STR(b, "2025-10-03T15:33:23.496Z");
    char d[65];
    lmx_compat_digest("x", d);
    CHECK_EQ_INT(strlen(d), 64);
    json_t *body = json_loads("{\"max_tokens\":-1}", 0, NULL);
    lmx_compat_no_limit(body);
    CHECK(!json_object_get(body, "max_tokens"));
    json_decref(body);
}

TEST(ollama_tool_calls_carry_index_and_id) {
    json_t *c = lmx_ol_call("call_abc", 1, "get_weather", "{\"city\": \"Paris\"}");
    CHECK_EQ_STR(json_string_value(json_object_get(c, "id")), "call_abc");
    json_t *fn = json_object_get(c, "function");
    CHECK_EQ_INT(json_integer_value(json_object_get(fn, "index")), 1);
    CHECK_EQ_STR(json_string_value(json_object_get(fn, "name")), "get_weather");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(fn, "arguments"), "city")),
                 "Paris");
    json_decref(c);
    c = lmx_ol_call("call_x", 0, "f", "not json");
    CHECK(json_object_size(json_object_get(json_object_get(c, "function"), "arguments")) == 0);
    json_decref(c);
}

TEST(ollama_logprobs_are_refused_not_dropped) {
    static const char *const bodies[] = {
        "{\"model\": \"m\", \"messages\": [], \"logprobs\": true}",
        "{\"model\": \"m\", \"prompt\": \"x\", \"top_logprobs\": 3}",
    };
    for (int i = 0; i < 2; i++) {
        json_t *b = json_loads(bodies[i], 0, NULL);
        lmx_ol_req q = {0};
        lmx_api_err e = {0};
        CHECK(lmx_ol_parse(b, i == 0, &q, &e) == -1);
        CHECK(e.status == 400 && strstr(e.message, "logprobs") != NULL);
        lmx_ol_req_free(&q);
        json_decref(b);
    }
    json_t *b = json_loads("{\"model\": \"m\", \"prompt\": \"x\", \"logprobs\": false}", 0, NULL);
    lmx_ol_req q = {0};
    lmx_api_err e = {0};
    CHECK(lmx_ol_parse(b, false, &q, &e) == 0);
    lmx_ol_req_free(&q);
    json_decref(b);
}
