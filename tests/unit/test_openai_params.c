/* JSON request bodies → generation parameters (server/core/request.c) and
 * chat message normalization (server/core/chat_prompt.c): every malformed input
 * gets a 400 naming the field; valid input gets OpenAI's defaults. */
#include <jansson.h>
#include <stdlib.h>

#include "server/core/chat_prompt.h"
#include "server/core/request.h"
#include "server/http/sse.h"
#include "test.h"

/* Parses `body`; returns the status (0 when accepted) and leaves the param in e. */
static int parse(const char *body, lmx_oai_kind kind, lmx_oai_req *r, lmx_api_err *e) {
    json_t *j = json_loads(body, 0, NULL);
    if (!j) return -1;
    memset(e, 0, sizeof *e);
    int rc = lmx_oai_parse(j, kind, r, e);
    lmx_oai_req_free(r);
    json_decref(j);
    return rc ? e->status : 0;
}

TEST(openai_params_defaults_are_openais) {
    lmx_oai_req r;
    lmx_api_err e;
    json_t *j = json_loads(
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 0, NULL);
    CHECK_EQ_INT(lmx_oai_parse(j, LMX_OAI_CHAT, &r, &e), 0);
    CHECK_EQ_STR(r.model, "m");
    CHECK_NEAR(r.sample.temperature, 1.0, 0);
    CHECK_NEAR(r.sample.top_p, 1.0, 0);
    CHECK_EQ_INT(r.sample.top_k, 0);
    CHECK_NEAR(r.sample.min_p, 0.0, 0);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(r.max_tokens, 0);
    CHECK_EQ_INT(r.top_logprobs, -1);
    CHECK(!r.stream && !r.seed_given && !r.tools);
    lmx_oai_req_free(&r);
    json_decref(j);
}

TEST(openai_params_reads_every_supported_field) {
    lmx_oai_req r;
    lmx_api_err e;
    json_t *j = json_loads(
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5,"
        "\"max_completion_tokens\":7,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":40,\"min_p\":0.1,"
        "\"n\":2,\"stop\":[\"a\",\"\",\"bc\"],\"seed\":-3,\"presence_penalty\":0.5,"
        "\"frequency_penalty\":-0.5,\"repetition_penalty\":1.1,\"logit_bias\":{\"2\":-100,\"7\":3},"
        "\"logprobs\":true,\"top_logprobs\":4,\"stream\":true,\"stream_options\":{\"include_"
        "usage\":true},"
        "\"user\":\"u\",\"response_format\":{\"type\":\"text\"},\"tools\":[],\"store\":false}",
        0, NULL);
    CHECK_EQ_INT(lmx_oai_parse(j, LMX_OAI_CHAT, &r, &e), 0);
    CHECK_EQ_INT(r.max_tokens, 7);
    CHECK_NEAR(r.sample.temperature, 0.5, 1e-6);
    CHECK_EQ_INT(r.sample.top_k, 40);
    CHECK_EQ_INT(r.n, 2);
    CHECK_EQ_INT(r.n_stop, 2);
    CHECK_EQ_STR(r.stop[1], "bc");
    CHECK(r.seed_given && r.sample.seed == (uint64_t)-3);
    CHECK_NEAR(r.sample.repeat_penalty, 1.1, 1e-6);
    CHECK_EQ_INT(r.n_bias, 2);
    CHECK_EQ_INT(r.bias[0].id, 2);
    CHECK_NEAR(r.bias[0].bias, -100, 0);
    CHECK_EQ_INT(r.top_logprobs, 4);
    CHECK(r.stream && r.include_usage && r.tools == NULL);
    lmx_oai_req_free(&r);
    json_decref(j);
}

TEST(openai_params_rejects_malformed_fields_naming_them) {
    static const struct {
        const char *body, *param;
    } cases[] = {
        {"[]", ""},
        {"{\"model\":1,\"messages\":[]}", "model"},
        {"{\"model\":\"m\"}", "messages"},
        {"{\"model\":\"m\",\"messages\":{}}", "messages"},
        {"{\"model\":\"m\",\"messages\":[]}", "messages"},
        {"{\"model\":\"m\",\"messages\":[1],\"temperature\":\"x\"}", "temperature"},
        {"{\"model\":\"m\",\"messages\":[1],\"temperature\":2.5}", "temperature"},
        {"{\"model\":\"m\",\"messages\":[1],\"top_p\":-1}", "top_p"},
        {"{\"model\":\"m\",\"messages\":[1],\"n\":0}", "n"},
        {"{\"model\":\"m\",\"messages\":[1],\"n\":true}", "n"},
        {"{\"model\":\"m\",\"messages\":[1],\"max_tokens\":0}", "max_tokens"},
        {"{\"model\":\"m\",\"messages\":[1],\"max_tokens\":1.5}", "max_tokens"},
        {"{\"model\":\"m\",\"messages\":[1],\"seed\":\"1\"}", "seed"},
        {"{\"model\":\"m\",\"messages\":[1],\"stop\":{}}", "stop"},
        {"{\"model\":\"m\",\"messages\":[1],\"stop\":[\"a\",null]}", "stop[1]"},
        {"{\"model\":\"m\",\"messages\":[1],\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\","
         "\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}",
         "stop"},
        {"{\"model\":\"m\",\"messages\":[1],\"logit_bias\":[]}", "logit_bias"},
        {"{\"model\":\"m\",\"messages\":[1],\"logit_bias\":{\"-1\":1}}", "logit_bias"},
        {"{\"model\":\"m\",\"messages\":[1],\"logit_bias\":{\"1x\":1}}", "logit_bias"},
        {"{\"model\":\"m\",\"messages\":[1],\"logit_bias\":{\"1\":\"a\"}}", "logit_bias"},
        {"{\"model\":\"m\",\"messages\":[1],\"logit_bias\":{\"1\":101}}", "logit_bias"},
        {"{\"model\":\"m\",\"messages\":[1],\"logprobs\":1}", "logprobs"},
        {"{\"model\":\"m\",\"messages\":[1],\"top_logprobs\":2}", "top_logprobs"},
        {"{\"model\":\"m\",\"messages\":[1],\"logprobs\":true,\"top_logprobs\":21}",
         "top_logprobs"},
        {"{\"model\":\"m\",\"messages\":[1],\"stream\":1}", "stream"},
        {"{\"model\":\"m\",\"messages\":[1],\"stream_options\":true}", "stream_options"},
        {"{\"model\":\"m\",\"messages\":[1],\"stream_options\":{\"include_usage\":1}}",
         "stream_options.include_usage"},
        {"{\"model\":\"m\",\"messages\":[1],\"user\":5}", "user"},
        {"{\"model\":\"m\",\"messages\":[1],\"response_format\":{\"type\":\"json_schema\"}}",
         "response_format.json_schema"},
        {"{\"model\":\"m\",\"messages\":[1],\"response_format\":{\"type\":\"xml\"}}",
         "response_format.type"},
        {"{\"model\":\"m\",\"messages\":[1],\"response_format\":{\"type\":\"json_schema\","
         "\"json_schema\":{\"schema\":{}}}}",
         "response_format.json_schema.name"},
        {"{\"model\":\"m\",\"messages\":[1],\"response_format\":{\"type\":\"json_schema\","
         "\"json_schema\":{\"name\":\"n\",\"strict\":1}}}",
         "response_format.json_schema.strict"},
        /* (a schema the grammar cannot express is refused when the generation
         * starts, after the prompt-length check: test_grammar, test_server_grammar) */
        {"{\"model\":\"m\",\"messages\":[1],\"response_format\":{\"type\":\"json_schema\","
         "\"json_schema\":{\"name\":\"n\",\"schema\":5}}}",
         "response_format.json_schema.schema"},
        {"{\"model\":\"m\",\"messages\":[1],\"response_format\":{}}", "response_format.type"},
        {"{\"model\":\"m\",\"messages\":[1],\"tools\":{}}", "tools"},
        {"{\"model\":\"m\",\"messages\":[1],\"tools\":[1]}", "tools[0]"},
        {"{\"model\":\"m\",\"messages\":[1],\"tool_choice\":\"required\"}", "tool_choice"},
        {"{\"model\":\"m\",\"messages\":[1],\"tool_choice\":{\"type\":\"function\","
         "\"function\":{\"name\":\"f\"}}}",
         "tool_choice"},
        {"{\"model\":\"m\",\"messages\":[1],\"tools\":[{\"type\":\"function\",\"function\":{"
         "\"name\":\"f\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":"
         "\"g\"}}}",
         "tool_choice"},
        {"{\"model\":\"m\",\"messages\":[1],\"tools\":[{\"type\":\"function\",\"function\":{"
         "\"name\":\"f\"}}],\"tool_choice\":\"any\"}",
         "tool_choice"},
        {"{\"model\":\"m\",\"messages\":[1],\"tools\":[{\"type\":\"function\"}]}",
         "tools[0].function"},
        {"{\"model\":\"m\",\"messages\":[1],\"parallel_tool_calls\":1}", "parallel_tool_calls"},
        {"{\"model\":\"m\",\"messages\":[1],\"modalities\":[\"audio\"]}", "modalities"},
        {"{\"model\":\"m\",\"messages\":[1],\"chat_template_kwargs\":[]}", "chat_template_kwargs"},
        {"{\"model\":\"m\",\"messages\":[1],\"functions\":[]}", "functions"},
        {"{\"model\":\"m\",\"messages\":[1],\"whatever\":[]}", "whatever"},
        {"{\"model\":\"m\",\"messages\":[1],\"echo\":true}", "echo"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lmx_oai_req r;
        lmx_api_err e;
        int st = parse(cases[i].body, LMX_OAI_CHAT, &r, &e);
        if (st != 400) FAILF("case %zu (%s): status %d", i, cases[i].body, st);
        if (strcmp(e.param, cases[i].param))
            FAILF("case %zu (%s): param '%s', expected '%s' (%s)", i, cases[i].body, e.param,
                  cases[i].param, e.message);
        CHECK(e.message[0] && !strcmp(e.type, "invalid_request_error"));
    }
}

TEST(openai_params_tool_choice_forms) {
    lmx_oai_req r;
    lmx_api_err e;
    json_t *j = json_loads(
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{"
        "\"type\":\"function\",\"function\":{\"name\":\"f\"}},{\"type\":\"function\",\"function\":{"
        "\"name\":\"g\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}},"
        "\"parallel_tool_calls\":false}",
        0, NULL);
    int rc = lmx_oai_parse(j, LMX_OAI_CHAT, &r, &e);
    bool ok = rc == 0 && r.tools && r.tool_choice == LMX_TOOL_NAMED && r.tool_name &&
              !strcmp(r.tool_name, "g") && !r.parallel_tool_calls;
    lmx_oai_req_free(&r);
    json_object_set_new(j, "tool_choice", json_string("required"));
    json_object_del(j, "parallel_tool_calls");
    rc = lmx_oai_parse(j, LMX_OAI_CHAT, &r, &e);
    ok = ok && rc == 0 && r.tool_choice == LMX_TOOL_REQUIRED && r.parallel_tool_calls;
    lmx_oai_req_free(&r);
    json_object_set_new(j, "tool_choice", json_string("none"));
    rc = lmx_oai_parse(j, LMX_OAI_CHAT, &r, &e);
    ok = ok && rc == 0 && r.tool_choice == LMX_TOOL_NONE;
    lmx_oai_req_free(&r);
    json_decref(j);
    CHECK(ok);
}

TEST(openai_params_completions_prompt_forms) {
    static const struct {
        const char *prompt, *param; /* param NULL: accepted */
    } cases[] = {
        {"\"x\"", NULL},
        {"[\"a\",\"b\"]", NULL},
        {"[1,2,3]", NULL},
        {"[[1],[2,3]]", NULL},
        {"5", "prompt"},
        {"[]", "prompt"},
        {"[\"a\",1]", "prompt[1]"},
        {"[[1],[]]", "prompt[1]"},
        {"[[1,\"x\"]]", "prompt[0][1]"},
        {"[-4]", "prompt[0]"},
        {"[{}]", "prompt[0]"},
        {"null", "prompt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"model\":\"m\",\"prompt\":%s}", cases[i].prompt);
        lmx_oai_req r;
        lmx_api_err e;
        int st = parse(body, LMX_OAI_COMPLETIONS, &r, &e);
        if (!cases[i].param && st) FAILF("%s refused: %s", body, e.message);
        if (cases[i].param && (st != 400 || strcmp(e.param, cases[i].param)))
            FAILF("%s: status %d param '%s', expected 400 '%s'", body, st, e.param, cases[i].param);
    }
    lmx_oai_req r;
    lmx_api_err e;
    CHECK_EQ_INT(
        parse("{\"model\":\"m\",\"prompt\":\"x\",\"suffix\":\"y\"}", LMX_OAI_COMPLETIONS, &r, &e),
        400);
    CHECK_EQ_STR(e.param, "suffix");
    CHECK_EQ_INT(
        parse("{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":true}", LMX_OAI_COMPLETIONS, &r, &e),
        400);
    CHECK_EQ_INT(
        parse("{\"model\":\"m\",\"prompt\":\"x\",\"best_of\":3}", LMX_OAI_COMPLETIONS, &r, &e),
        400);
    CHECK_EQ_INT(
        parse("{\"model\":\"m\",\"prompt\":\"x\",\"messages\":[]}", LMX_OAI_COMPLETIONS, &r, &e),
        400);
    CHECK_EQ_STR(e.param, "messages");
}

/* No model named: the manager's default model decides (lmx_mgr_default_model). */
TEST(openai_params_model_may_be_left_out) {
    lmx_oai_req r;
    lmx_api_err e;
    json_t *j = json_loads("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 0, NULL);
    CHECK_EQ_INT(lmx_oai_parse(j, LMX_OAI_CHAT, &r, &e), 0);
    CHECK_EQ_STR(r.model, "");
    lmx_oai_req_free(&r);
    json_decref(j);
}

TEST(openai_params_field_policy) {
    CHECK(lmx_oai_field_policy(LMX_OAI_CHAT, "messages") == LMX_FIELD_SUPPORTED);
    CHECK(lmx_oai_field_policy(LMX_OAI_COMPLETIONS, "messages") == LMX_FIELD_REFUSED);
    CHECK(lmx_oai_field_policy(LMX_OAI_CHAT, "store") == LMX_FIELD_IGNORED);
    CHECK(lmx_oai_field_policy(LMX_OAI_CHAT, "suffix") == LMX_FIELD_REFUSED);
    CHECK(lmx_oai_field_policy(LMX_OAI_COMPLETIONS, "echo") == LMX_FIELD_SUPPORTED);
}

static json_t *normalize(const char *msgs, lmx_api_err *e) {
    json_t *m = json_loads(msgs, 0, NULL);
    memset(e, 0, sizeof *e);
    json_t *out = lmx_chat_normalize(m, e);
    json_decref(m);
    return out;
}

TEST(openai_chat_messages_are_normalized_for_templates) {
    lmx_api_err e;
    json_t *n =
        normalize("[{\"role\":\"developer\",\"content\":\"S\"},"
                  "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":"
                  "\"text\",\"text\":\"b\"}],\"name\":\"x\"},"
                  "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"1\",\"type\":"
                  "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"k\\\":1}\"}}]}]",
                  &e);
    CHECK(n != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(n, 0), "role")), "system");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(n, 1), "content")), "a\nb");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(n, 2), "content")), "");
    json_t *args = json_object_get(
        json_object_get(json_array_get(json_object_get(json_array_get(n, 2), "tool_calls"), 0),
                        "function"),
        "arguments");
    CHECK(json_is_object(args) && json_integer_value(json_object_get(args, "k")) == 1);
    json_decref(n);

    static const struct {
        const char *msgs, *param;
    } bad[] = {
        {"[1]", "messages[0]"},
        {"[{\"content\":\"x\"}]", "messages[0].role"},
        {"[{\"role\":\"bot\",\"content\":\"x\"}]", "messages[0].role"},
        {"[{\"role\":\"user\",\"content\":1}]", "messages[0].content"},
        {"[{\"role\":\"user\",\"content\":[1]}]", "messages[0].content[0]"},
        {"[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]", "messages[0].content[0]"},
        {"[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]", "messages[0].content[0]"},
        {"[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]",
         "messages[0].content[0]"},
        {"[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\"}]}]",
         "messages[0].content[0]"},
        {"[{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}]", "messages[0].content[0]"},
        {"[{\"role\":\"user\",\"content\":\"x\",\"name\":3}]", "messages[0].name"},
        {"[{\"role\":\"assistant\",\"content\":\"x\",\"tool_calls\":{}}]",
         "messages[0].tool_calls"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *x = normalize(bad[i].msgs, &e);
        if (x) {
            json_decref(x);
            FAILF("%s accepted", bad[i].msgs);
        }
        if (e.status != 400 || strcmp(e.param, bad[i].param))
            FAILF("%s: %d '%s', expected 400 '%s'", bad[i].msgs, e.status, e.param, bad[i].param);
    }
}

TEST(openai_chat_merges_for_strict_templates) {
    json_t *m = json_loads(
        "[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"A\"},"
        "{\"role\":\"user\",\"content\":\"B\"},{\"role\":\"assistant\",\"content\":\"C\"}]",
        0, NULL);
    json_t *s = lmx_chat_merge_system(m), *r = lmx_chat_merge_runs(s);
    CHECK_EQ_INT(json_array_size(s), 3);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(s, 0), "content")), "S\n\nA");
    CHECK_EQ_INT(json_array_size(r), 2);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(r, 0), "content")),
                 "S\n\nA\n\nB");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(r, 1), "role")), "assistant");
    json_decref(m);
    json_decref(s);
    json_decref(r);
    m = json_loads("[{\"role\":\"system\",\"content\":\"only\"}]", 0, NULL);
    s = lmx_chat_merge_system(m);
    CHECK_EQ_INT(json_array_size(s), 1);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(s, 0), "role")), "user");
    json_decref(m);
    json_decref(s);
}

TEST(openai_sse_framing) {
    lmx_buf b = {0};
    json_t *o = json_pack("{s:s}", "a", "x\ny");
    CHECK(lmx_sse_json(&b, o));
    CHECK(lmx_sse_keepalive(&b));
    CHECK(lmx_sse_done(&b));
    json_decref(o);
    CHECK_EQ_STR(b.p, "data: {\"a\":\"x\\ny\"}\n\n: keep-alive\n\ndata: [DONE]\n\n");
    char out[8];
    size_t k = lmx_buf_take(&b, out, sizeof out);
    CHECK_EQ_INT(k, 8);
    CHECK_EQ_INT(lmx_buf_unread(&b), b.n - 8);
    lmx_buf_free(&b);
}

TEST(openai_params_completions_max_tokens_0_needs_echo) {
    lmx_oai_req r;
    lmx_api_err e;
    json_t *j =
        json_loads("{\"prompt\":\"x\",\"max_tokens\":0,\"echo\":true,\"logprobs\":2}", 0, NULL);
    CHECK_EQ_INT(lmx_oai_parse(j, LMX_OAI_COMPLETIONS, &r, &e), 0);
    CHECK(r.prompt_only && r.echo && r.top_logprobs == 2);
    lmx_oai_req_free(&r);
    json_decref(j);
    j = json_loads("{\"prompt\":\"x\",\"max_tokens\":3,\"echo\":true}", 0, NULL);
    CHECK_EQ_INT(lmx_oai_parse(j, LMX_OAI_COMPLETIONS, &r, &e), 0);
    CHECK(!r.prompt_only && r.max_tokens == 3);
    lmx_oai_req_free(&r);
    json_decref(j);
    CHECK_EQ_INT(parse("{\"prompt\":\"x\",\"max_tokens\":0}", LMX_OAI_COMPLETIONS, &r, &e), 400);
    CHECK_EQ_STR(e.param, "max_tokens");
    CHECK_EQ_INT(
        parse("{\"prompt\":\"x\",\"max_tokens\":0,\"echo\":false}", LMX_OAI_COMPLETIONS, &r, &e),
        400);
    CHECK_EQ_INT(
        parse("{\"prompt\":\"x\",\"max_tokens\":-2,\"echo\":true}", LMX_OAI_COMPLETIONS, &r, &e),
        400);
}
