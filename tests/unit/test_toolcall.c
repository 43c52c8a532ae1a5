/* Tool-call parsing (text/toolcall.c): each family's real output format →
 * exact content and calls; and the same output fed in two pieces cut at every
 * byte, and byte by byte, gives the same result with no markup in the content
 * deltas. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "text/toolcall.h"

/* "C[content]" then "T[name|args]" per call. */
static void repr_add(char *out, size_t cap, const char *tag, const char *a, const char *b) {
    size_t n = strlen(out);
    if (b)
        snprintf(out + n, cap - n, "%s[%s|%s]", tag, a, b);
    else
        snprintf(out + n, cap - n, "%s[%s]", tag, a);
}

static void repr_totals(const lmx_tc *p, char *out, size_t cap) {
    out[0] = 0;
    repr_add(out, cap, "C", lmx_tc_content(p, NULL), NULL);
    for (int i = 0; i < lmx_tc_n_calls(p); i++) {
        const char *name, *args;
        lmx_tc_call(p, i, NULL, &name, &args);
        repr_add(out, cap, "T", name, args);
    }
}

typedef struct {
    char content[4096];
    char calls[4096];
    char ids[16][32];
    int n_calls;
    int bad; /* a delta out of order or malformed */
} stream_acc;

static void acc(stream_acc *a, const lmx_tc_delta *d) {
    for (int i = 0; i < d->n; i++) {
        const lmx_tc_item *it = &d->items[i];
        if (it->index < 0) {
            if (!it->len || strlen(it->text) != it->len) a->bad = 1;
            strncat(a->content, it->text, sizeof a->content - strlen(a->content) - 1);
            continue;
        }
        if (it->index != a->n_calls || !it->id || !it->name || a->n_calls >= 16) {
            a->bad = 1;
            continue;
        }
        snprintf(a->ids[a->n_calls++], sizeof a->ids[0], "%s", it->id);
        repr_add(a->calls, sizeof a->calls, "T", it->name, it->text);
    }
}

static bool id_ok(const char *id) {
    if (strncmp(id, "call_", 5) || strlen(id) != 29) return false;
    for (int i = 5; i < 29; i++)
        if (!isalnum((unsigned char)id[i])) return false;
    return true;
}

/* Feeds text in the given cut points (sorted, within [0, n]); the result as repr. */
static int run_cuts(lmx_tc_family f, const json_t *tools, const char *text, const size_t *cuts,
                    int n_cuts, char *out, size_t cap, char *totals, stream_acc *a) {
    lmx_tc *p = lmx_tc_new(f, tools, 42);
    lmx_tc_delta d = {0};
    memset(a, 0, sizeof *a);
    size_t n = strlen(text), at = 0;
    int rc = 0;
    for (int i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts[i] : n;
        rc |= lmx_tc_feed(p, text + at, to - at, &d);
        acc(a, &d);
        lmx_tc_delta_clear(&d);
        at = to;
    }
    rc |= lmx_tc_finish(p, &d);
    acc(a, &d);
    lmx_tc_delta_clear(&d);
    out[0] = 0;
    repr_add(out, cap, "C", a->content, NULL);
    snprintf(out + strlen(out), cap - strlen(out), "%s", a->calls);
    repr_totals(p, totals, cap);
    for (int i = 0; i < a->n_calls; i++) {
        const char *id;
        lmx_tc_call(p, i, &id, NULL, NULL);
        if (!id_ok(a->ids[i]) || strcmp(id, a->ids[i])) a->bad = 1;
        for (int j = 0; j < i; j++)
            if (!strcmp(a->ids[i], a->ids[j])) a->bad = 1;
    }
    lmx_tc_free(p);
    return rc;
}

/* Checks text parses to `want` whole, split at every byte, and byte by byte.
 * Returns NULL or a description of the first mismatch (static buffer). */
static const char *check_parse(lmx_tc_family f, const json_t *tools, const char *text,
                               const char *want) {
    static char why[16384];
    char got[8192], tot[8192];
    stream_acc a;
    size_t n = strlen(text);
    if (run_cuts(f, tools, text, NULL, 0, got, sizeof got, tot, &a) || a.bad || strcmp(got, want) ||
        strcmp(tot, want)) {
        snprintf(why, sizeof why, "whole: got %s (totals %s), want %s", got, tot, want);
        return why;
    }
    for (size_t k = 0; k <= n; k++) {
        if (run_cuts(f, tools, text, &k, 1, got, sizeof got, tot, &a) || a.bad ||
            strcmp(got, want) || strcmp(tot, want)) {
            snprintf(why, sizeof why, "cut at %zu: got %s (totals %s), want %s", k, got, tot, want);
            return why;
        }
    }
    size_t *cuts = malloc(n * sizeof *cuts);
    for (size_t k = 0; k < n; k++) cuts[k] = k;
    int rc = run_cuts(f, tools, text, cuts, (int)n, got, sizeof got, tot, &a);
    free(cuts);
    if (rc || a.bad || strcmp(got, want) || strcmp(tot, want)) {
        snprintf(why, sizeof why, "byte by byte: got %s, want %s", got, want);
        return why;
    }
    return NULL;
}

#define CHECK_PARSE(f, tools, text, want)                                                          \
    do {                                                                                           \
        const char *why_ = check_parse(f, tools, text, want);                                      \
        if (why_) FAILF("%s", why_);                                                               \
    } while (0)

/* ---- family detection from the real templates ---- */

static lmx_tc_family detect_file(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/templates/%s", lmx_test_shared(), name);
    FILE *f = fopen(path, "rb");
    if (!f) return (lmx_tc_family)-1;
    static char buf[1 << 17];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return lmx_tc_detect(buf, n);
}

TEST(toolcall_detects_families_from_templates) {
    static const struct {
        const char *file;
        lmx_tc_family f;
    } cases[] = {
        {"Qwen-Qwen2.5-7B-Instruct.jinja", LMX_TC_HERMES},
        {"Qwen-Qwen3-0.6B.jinja", LMX_TC_HERMES},
        {"Qwen-QwQ-32B.jinja", LMX_TC_HERMES},
        {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", LMX_TC_HERMES},
        {"Qwen3-Coder.jinja", LMX_TC_QWEN3_CODER},
        {"Qwen3.5-4B.jinja", LMX_TC_QWEN3_CODER},
        {"meta-llama-Llama-3.1-8B-Instruct.jinja", LMX_TC_LLAMA3},
        {"meta-llama-Llama-3.2-3B-Instruct.jinja", LMX_TC_LLAMA3},
        {"meta-llama-Llama-3.3-70B-Instruct.jinja", LMX_TC_LLAMA3},
        {"mistralai-Mistral-Nemo-Instruct-2407.jinja", LMX_TC_MISTRAL},
        {"Mistral-Small-3.2-24B-Instruct-2506.jinja", LMX_TC_MISTRAL},
        {"unsloth-mistral-Devstral-Small-2507.jinja", LMX_TC_MISTRAL},
        {"google-gemma-2-2b-it.jinja", LMX_TC_GENERIC},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lmx_tc_family f = detect_file(cases[i].file);
        if (f != cases[i].f)
            FAILF("%s: detected %s, expected %s", cases[i].file, lmx_tc_family_name(f),
                  lmx_tc_family_name(cases[i].f));
    }
    CHECK_EQ_INT(lmx_tc_detect(NULL, 0), LMX_TC_GENERIC);
}

/* ---- Hermes / Qwen 2.5 / Qwen 3 / QwQ ---- */

#define H_CALL                                                                                     \
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\", "           \
    "\"unit\": \"celsius\"}}\n</tool_call>"
#define H_WANT "T[get_weather|{\"location\": \"Paris\", \"unit\": \"celsius\"}]"

TEST(toolcall_hermes_single) {
    CHECK_PARSE(LMX_TC_HERMES, NULL, H_CALL, "C[]" H_WANT);
}

TEST(toolcall_hermes_parallel) {
    CHECK_PARSE(LMX_TC_HERMES, NULL,
                H_CALL "\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": "
                       "\"Europe/Paris\"}}\n</tool_call>",
                "C[]" H_WANT "T[get_time|{\"tz\": \"Europe/Paris\"}]");
}

TEST(toolcall_hermes_text_before) {
    CHECK_PARSE(LMX_TC_HERMES, NULL, "Let me check the weather.\n\n" H_CALL,
                "C[Let me check the weather.]" H_WANT);
    /* Qwen 3's thinking block stays content */
    CHECK_PARSE(LMX_TC_HERMES, NULL, "<think>\nParis, so celsius.\n</think>\n\n" H_CALL,
                "C[<think>\nParis, so celsius.\n</think>]" H_WANT);
}

TEST(toolcall_hermes_malformed_is_content) {
    const char *bad = "Sure.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                      "{\"location\": }}\n</tool_call>";
    char want[512];
    snprintf(want, sizeof want, "C[%s]", bad);
    CHECK_PARSE(LMX_TC_HERMES, NULL, bad, want);
    /* no name */
    CHECK_PARSE(LMX_TC_HERMES, NULL, "<tool_call>{\"arguments\": {}}</tool_call>",
                "C[<tool_call>{\"arguments\": {}}</tool_call>]");
    /* a good call after a bad one still parses */
    CHECK_PARSE(LMX_TC_HERMES, NULL, "<tool_call>oops</tool_call>" H_CALL,
                "C[<tool_call>oops</tool_call>]" H_WANT);
}

TEST(toolcall_hermes_unclosed_and_plain_text) {
    /* the model stopped before </tool_call>: the call is whole, accept it */
    CHECK_PARSE(LMX_TC_HERMES, NULL,
                "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1, 2]}}\n",
                "C[]T[f|{\"a\": [1, 2]}]");
    /* cut short inside the JSON: content */
    CHECK_PARSE(LMX_TC_HERMES, NULL, "<tool_call>\n{\"name\": \"f\", \"argu",
                "C[<tool_call>\n{\"name\": \"f\", \"argu]");
    /* text that only looks like the start of a marker */
    CHECK_PARSE(LMX_TC_HERMES, NULL, "if a <b and c <tool then <tool_cal",
                "C[if a <b and c <tool then <tool_cal]");
    CHECK_PARSE(LMX_TC_HERMES, NULL, "  Hello,\n\n world  \n", "C[  Hello,\n\n world  \n]");
    CHECK_PARSE(LMX_TC_HERMES, NULL, "", "C[]");
}

TEST(toolcall_hermes_argument_forms) {
    /* arguments as a JSON string, "parameters", none, and non-ASCII / braces in strings */
    CHECK_PARSE(LMX_TC_HERMES, NULL,
                "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}</tool_call>",
                "C[]T[f|{\"a\": 1}]");
    CHECK_PARSE(LMX_TC_HERMES, NULL,
                "<tool_call>{\"name\": \"f\", \"parameters\": {\"a\": 1}}</tool_call>",
                "C[]T[f|{\"a\": 1}]");
    CHECK_PARSE(LMX_TC_HERMES, NULL, "<tool_call>{\"name\": \"now\"}</tool_call>", "C[]T[now|{}]");
    CHECK_PARSE(LMX_TC_HERMES, NULL,
                "<tool_call>{\"arguments\": {\"q\": \"caf\xc3\xa9 }{ \\\"x\\\" </tool_call>\"}, "
                "\"name\": \"search\"}</tool_call>",
                "C[]T[search|{\"q\": \"caf\xc3\xa9 }{ \\\"x\\\" </tool_call>\"}]");
}

/* ---- Qwen3-Coder XML ---- */

#define QC_CALL                                                                                    \
    "<tool_call>\n<function=get_weather>\n<parameter=location>\nParis, France\n</parameter>\n"     \
    "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>"

TEST(toolcall_qwen3_coder_single_and_types) {
    CHECK_PARSE(LMX_TC_QWEN3_CODER, NULL, QC_CALL,
                "C[]T[get_weather|{\"location\":\"Paris, France\",\"days\":3}]");
    /* the schema says days is a string: keep it one */
    json_t *tools = json_loads(
        "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{"
        "\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\"},\"days\":{"
        "\"type\":\"string\"}}}}}]",
        0, NULL);
    const char *why =
        check_parse(LMX_TC_QWEN3_CODER, tools, QC_CALL,
                    "C[]T[get_weather|{\"location\":\"Paris, France\",\"days\":\"3\"}]");
    json_decref(tools);
    if (why) FAILF("%s", why);
    /* multi-line code values and objects */
    CHECK_PARSE(LMX_TC_QWEN3_CODER, NULL,
                "<tool_call>\n<function=write_file>\n<parameter=path>\na.py\n</parameter>\n"
                "<parameter=content>\nif x:\n    print(\"hi\")\n\n</parameter>\n<parameter=opts>\n"
                "{\"mode\": \"w\"}\n</parameter>\n</function>\n</tool_call>",
                "C[]T[write_file|{\"path\":\"a.py\",\"content\":\"if x:\\n    "
                "print(\\\"hi\\\")\\n\",\"opts\":{\"mode\": \"w\"}}]");
}

TEST(toolcall_qwen3_coder_parallel_text_malformed) {
    CHECK_PARSE(LMX_TC_QWEN3_CODER, NULL,
                "I'll look.\n" QC_CALL "\n<tool_call>\n<function=now>\n</function>\n</tool_call>",
                "C[I'll look.]T[get_weather|{\"location\":\"Paris, France\",\"days\":3}]T[now|{}]");
    const char *bad = "<tool_call>\n<function=get_weather>\n<parameter=location>\nParis\n"
                      "</function>\n</tool_call>";
    char want[512];
    snprintf(want, sizeof want, "C[%s]", bad);
    CHECK_PARSE(LMX_TC_QWEN3_CODER, NULL, bad, want);
    /* JSON bodies are accepted in this family too */
    CHECK_PARSE(LMX_TC_QWEN3_CODER, NULL, H_CALL, "C[]" H_WANT);
}

/* ---- Llama 3.x ---- */

TEST(toolcall_llama3_json) {
    CHECK_PARSE(LMX_TC_LLAMA3, NULL,
                "{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}",
                "C[]T[get_weather|{\"location\": \"Paris\"}]");
    CHECK_PARSE(LMX_TC_LLAMA3, NULL,
                "\n\n  {\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}\n",
                "C[]T[get_weather|{\"location\": \"Paris\"}]");
    CHECK_PARSE(LMX_TC_LLAMA3, NULL,
                "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"location\": "
                "\"Paris\"}}",
                "C[]T[get_weather|{\"location\": \"Paris\"}]");
    /* parallel: separated by ';' or newlines */
    CHECK_PARSE(LMX_TC_LLAMA3, NULL,
                "{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": "
                "{\"x\": true}}\n{\"name\": \"c\", \"parameters\": {}}",
                "C[]T[a|{}]T[b|{\"x\": true}]T[c|{}]");
}

TEST(toolcall_llama3_text_and_malformed) {
    /* JSON inside prose is not a call */
    CHECK_PARSE(LMX_TC_LLAMA3, NULL, "Call it as {\"name\": \"f\", \"parameters\": {}} please.",
                "C[Call it as {\"name\": \"f\", \"parameters\": {}} please.]");
    /* text before a tagged call */
    CHECK_PARSE(LMX_TC_LLAMA3, NULL,
                "Checking.<|python_tag|>{\"name\": \"f\", \"parameters\": {\"a\": 1}}",
                "C[Checking.]T[f|{\"a\": 1}]");
    /* a JSON answer that is not a call, an unclosed object, a builtin python call */
    CHECK_PARSE(LMX_TC_LLAMA3, NULL, "{\"answer\": 42}", "C[{\"answer\": 42}]");
    CHECK_PARSE(LMX_TC_LLAMA3, NULL, "{\"name\": \"f\", \"parameters\": {\"a\": 1}",
                "C[{\"name\": \"f\", \"parameters\": {\"a\": 1}]");
    CHECK_PARSE(LMX_TC_LLAMA3, NULL, "<|python_tag|>brave_search.call(query=\"x\")",
                "C[<|python_tag|>brave_search.call(query=\"x\")]");
}

/* ---- Mistral ---- */

TEST(toolcall_mistral_nemo_array) {
    CHECK_PARSE(LMX_TC_MISTRAL, NULL,
                "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"location\": "
                "\"Paris\"}, \"id\": \"a1b2c3d4e\"}]",
                "C[]T[get_weather|{\"location\": \"Paris\"}]");
    CHECK_PARSE(LMX_TC_MISTRAL, NULL,
                "[TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", "
                "\"arguments\": {\"k\": [1, {\"z\": null}]}}]",
                "C[]T[a|{}]T[b|{\"k\": [1, {\"z\": null}]}]");
    /* one bad element: the whole group is content */
    CHECK_PARSE(LMX_TC_MISTRAL, NULL, "[TOOL_CALLS][{\"name\": \"a\"}, {\"arguments\": {}}]",
                "C[[TOOL_CALLS][{\"name\": \"a\"}, {\"arguments\": {}}]]");
}

TEST(toolcall_mistral_args_form) {
    CHECK_PARSE(LMX_TC_MISTRAL, NULL, "[TOOL_CALLS]get_weather[ARGS]{\"location\": \"Paris\"}",
                "C[]T[get_weather|{\"location\": \"Paris\"}]");
    CHECK_PARSE(LMX_TC_MISTRAL, NULL,
                "[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{\"location\": \"Paris\"}",
                "C[]T[get_weather|{\"location\": \"Paris\"}]");
    CHECK_PARSE(LMX_TC_MISTRAL, NULL,
                "Let me look.[TOOL_CALLS]read_file[ARGS]{\"path\": \"a.c\"}[TOOL_CALLS]"
                "list_dir[ARGS]{}",
                "C[Let me look.]T[read_file|{\"path\": \"a.c\"}]T[list_dir|{}]");
    /* malformed: a space in the name, args not an object, args never closed */
    CHECK_PARSE(LMX_TC_MISTRAL, NULL, "[TOOL_CALLS]get weather[ARGS]{}",
                "C[[TOOL_CALLS]get weather[ARGS]{}]");
    CHECK_PARSE(LMX_TC_MISTRAL, NULL, "[TOOL_CALLS]f[ARGS]42", "C[[TOOL_CALLS]f[ARGS]42]");
    CHECK_PARSE(LMX_TC_MISTRAL, NULL,
                "[TOOL_CALLS]f[ARGS]{\"a\": ", "C[[TOOL_CALLS]f[ARGS]{\"a\": ]");
    CHECK_PARSE(LMX_TC_MISTRAL, NULL, "Plain [TOOL text [ARGS] here.",
                "C[Plain [TOOL text [ARGS] here.]");
}

/* ---- generic ---- */

TEST(toolcall_generic) {
    CHECK_PARSE(LMX_TC_GENERIC, NULL, "{\"name\": \"f\", \"arguments\": {\"a\": 1}}",
                "C[]T[f|{\"a\": 1}]");
    CHECK_PARSE(LMX_TC_GENERIC, NULL, "Hi." H_CALL, "C[Hi.]" H_WANT);
    CHECK_PARSE(LMX_TC_GENERIC, NULL, "The answer is 4.", "C[The answer is 4.]");
    CHECK_PARSE(LMX_TC_NONE, NULL, H_CALL, "C[" H_CALL "]");
}

TEST(toolcall_ids_are_random_per_parser) {
    lmx_tc *a = lmx_tc_new(LMX_TC_HERMES, NULL, 1), *b = lmx_tc_new(LMX_TC_HERMES, NULL, 2);
    lmx_tc_feed(a, H_CALL, strlen(H_CALL), NULL);
    lmx_tc_feed(b, H_CALL, strlen(H_CALL), NULL);
    lmx_tc_finish(a, NULL);
    lmx_tc_finish(b, NULL);
    const char *ia, *ib;
    CHECK_EQ_INT(lmx_tc_n_calls(a), 1);
    lmx_tc_call(a, 0, &ia, NULL, NULL);
    lmx_tc_call(b, 0, &ib, NULL, NULL);
    bool ok = id_ok(ia) && id_ok(ib) && strcmp(ia, ib);
    lmx_tc_free(a);
    lmx_tc_free(b);
    CHECK(ok);
}
