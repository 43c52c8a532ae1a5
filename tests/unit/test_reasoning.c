/* The <think> splitter on real-format outputs (Qwen3, QwQ / R1-distill, a
 * tool call after the thought, no thought, unfinished thoughts), fed whole,
 * cut at every byte, and one byte at a time: always the same thought and
 * answer, and never a tag in either. */
#include "test.h"

#include <stdbool.h>
#include <stdlib.h>

#include "text/reasoning.h"

typedef struct {
    bool open; /* the prompt opened the thought */
    const char *out, *reasoning, *content;
    bool in_thought; /* after the whole output, before finish */
} rcase;

static const rcase cases[] = {
    /* Qwen3 with thinking on */
    {false, "<think>\nOkay, the user asks what 2+2 is.\n</think>\n\nThe answer is 4.",
     "Okay, the user asks what 2+2 is.", "The answer is 4.", false},
    /* QwQ / R1-distill: the template opened the thought */
    {true, "Let me think.\n\nYes, 4.\n</think>\n\nHello! It is **4**.", "Let me think.\n\nYes, 4.",
     "Hello! It is **4**.", false},
    /* Qwen3 with enable_thinking=false: the template closed an empty thought */
    {false, "Sure, here you go.", "", "Sure, here you go.", false},
    /* an empty thought written by the model */
    {false, "<think>\n\n</think>\n\nAnswer", "", "Answer", false},
    /* a tool call after the thought (Hermes / Qwen form) */
    {false,
     "<think>\nI need the weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", "
     "\"arguments\": {\"location\": \"Paris\"}}\n</tool_call>",
     "I need the weather.",
     "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_call>",
     false},
    /* cut by max_tokens inside the thought: all thought */
    {true, "The user wants a story about a cat </thi", "The user wants a story about a cat </thi", "",
     true},
    {false, "<think>\nHmm \n", "Hmm", "", true},
    /* no thought: everything is answer, byte for byte, tags later included */
    {false, "\n\nHi <think>x</think>", "", "\n\nHi <think>x</think>", false},
    {false, "<thin>x", "", "<thin>x", false},
    {false, "  \n", "", "  \n", false},
    /* one thought only: a later one is answer */
    {false, "<think>a</think>b<think>c</think>", "a", "b<think>c</think>", false},
    /* multi-byte text on both sides, whitespace inside kept */
    {false, " <think>思考 中</think>答案 ", "思考 中", "答案 ", false},
    /* almost-tags inside the thought stay thought */
    {true, "a </ b </think c</think>d", "a </ b </think c", "d", false},
    {true, "", "", "", true},
};

/* Feeds out in pieces: cut (0 = whole) then the rest; or every byte. */
static void run(const rcase *c, size_t cut, bool bytewise, lmx_rsn_out *o, bool *in_thought) {
    lmx_rsn *r = lmx_rsn_new(c->open);
    size_t n = strlen(c->out);
    if (bytewise)
        for (size_t i = 0; i < n; i++) lmx_rsn_feed(r, c->out + i, 1, o);
    else {
        lmx_rsn_feed(r, c->out, cut, o);
        lmx_rsn_feed(r, c->out + cut, n - cut, o);
    }
    *in_thought = lmx_rsn_in_thought(r);
    lmx_rsn_finish(r, o);
    lmx_rsn_free(r);
}

static bool same(const char *p, size_t n, const char *want) {
    return n == strlen(want) && (!n || !memcmp(p, want, n));
}

TEST(reasoning_split_is_the_same_at_every_cut) {
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const rcase *c = &cases[k];
        size_t n = strlen(c->out);
        for (size_t cut = 0; cut <= n + 1; cut++) {
            lmx_rsn_out o = {0};
            bool in;
            run(c, cut > n ? 0 : cut, cut > n, &o, &in);
            bool ok = same(o.reasoning, o.n_reasoning, c->reasoning) &&
                      same(o.content, o.n_content, c->content) && in == c->in_thought;
            if (!ok)
                FAILF("case %zu cut %zu: reasoning \"%s\" content \"%s\" in_thought %d", k, cut,
                      o.reasoning ? o.reasoning : "", o.content ? o.content : "", in);
            lmx_rsn_out_clear(&o);
        }
    }
}

TEST(reasoning_thought_is_known_as_soon_as_it_is_safe) {
    /* streamed: the thought's text comes out before the tag closes it, and a
     * partial closing tag is held back, not leaked */
    lmx_rsn *r = lmx_rsn_new(true);
    lmx_rsn_out o = {0};
    lmx_rsn_feed(r, "Thinking hard", 13, &o);
    CHECK(same(o.reasoning, o.n_reasoning, "Thinking hard"));
    lmx_rsn_out_clear(&o);
    lmx_rsn_feed(r, " now</th", 8, &o);
    CHECK(same(o.reasoning, o.n_reasoning, " now"));
    CHECK(lmx_rsn_in_thought(r));
    lmx_rsn_out_clear(&o);
    lmx_rsn_feed(r, "ink>\n\nOK", 8, &o);
    CHECK_EQ_INT(o.n_reasoning, 0);
    CHECK(same(o.content, o.n_content, "OK"));
    CHECK(!lmx_rsn_in_thought(r));
    lmx_rsn_out_clear(&o);
    lmx_rsn_free(r);
}

TEST(reasoning_prompt_and_template_detection) {
    const char *qwq = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n";
    const char *r1 = "<｜User｜>hi<｜Assistant｜><think>\n";
    const char *off = "<|im_start|>assistant\n<think>\n\n</think>\n\n";
    const char *plain = "<|im_start|>assistant\n";
    CHECK(lmx_rsn_prompt_opens(qwq, strlen(qwq)));
    CHECK(lmx_rsn_prompt_opens(r1, strlen(r1)));
    CHECK(!lmx_rsn_prompt_opens(off, strlen(off)));
    CHECK(!lmx_rsn_prompt_opens(plain, strlen(plain)));
    const char *names[] = {"Qwen-Qwen3-0.6B.jinja", "Qwen-QwQ-32B.jinja",
                           "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
                           "Qwen-Qwen2.5-7B-Instruct.jinja"};
    for (int i = 0; i < 4; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/templates/%s", lmx_test_shared(), names[i]);
        FILE *f = fopen(path, "rb");
        if (!f) FAILF("cannot open %s", path);
        static char buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        if (lmx_rsn_template_thinks(buf, n) != (i < 3)) FAILF("%s: thinks %d", names[i], i < 3);
    }
}
