/* Reasoning in a model's output: raw generated text → thought + answer.
 *
 * Thinking models (Qwen3, QwQ, DeepSeek-R1 and its distills) write their
 * chain of thought between <think> and </think> before the answer:
 *
 *     <think>\nLet me see...\n</think>\n\nThe answer is 4.
 *
 * Some templates open the thought themselves at the end of the generation
 * prompt (QwQ's and R1-distill's "...assistant\n<think>\n"): then the output
 * starts inside the thought and only "</think>" appears. Qwen3's template
 * with enable_thinking=false writes an empty "<think>\n\n</think>\n\n" into
 * the prompt: the output is all answer.
 *
 * The splitter is a small streaming state machine: feed the text in any
 * pieces (a tag may be split at any byte), get the thought and the answer
 * out; text that may be the start of a tag is held back until it is known,
 * so tags never reach either side, and the result does not depend on how the
 * text was split. Rules:
 *   - only one thought, at the start: the output may begin (after
 *     whitespace) with <think>; text before anything else means no thought,
 *     and everything is answer, byte for byte;
 *   - whitespace right after <think>, right before </think> and right after
 *     </think> is dropped (the templates put newlines there);
 *   - after </think> everything is answer, tags included;
 *   - an output that ends inside the thought (max_tokens reached) is all
 *     thought.
 * Used by the chat endpoint (server/core/gen.c) and usable by any other API. */
#ifndef LMX_REASONING_H
#define LMX_REASONING_H

#include <stdbool.h>
#include <stddef.h>

/* What a feed produced: the thought's new text, then the answer's (both
 * appended, malloc'd, NUL terminated when non-NULL; free with
 * lmx_rsn_out_clear). Within one output the thought always comes first. */
typedef struct {
    char *reasoning;
    size_t n_reasoning;
    char *content;
    size_t n_content;
} lmx_rsn_out;

void lmx_rsn_out_clear(lmx_rsn_out *o); /* frees both, leaves o empty */

typedef struct lmx_rsn lmx_rsn;

/* in_thought: the prompt already opened the thought (lmx_rsn_prompt_opens). */
lmx_rsn *lmx_rsn_new(bool in_thought);
void lmx_rsn_free(lmx_rsn *r);

/* Adds output text; appends what became known to out. 0, or -1 out of memory. */
int lmx_rsn_feed(lmx_rsn *r, const char *text, size_t len, lmx_rsn_out *out);
/* The output ended: resolves what was held back. */
int lmx_rsn_finish(lmx_rsn *r, lmx_rsn_out *out);

/* The text fed so far is inside the thought (opened, not closed). */
bool lmx_rsn_in_thought(const lmx_rsn *r);

/* A rendered prompt ends with an open <think> (then only whitespace): the
 * output starts inside the thought. */
bool lmx_rsn_prompt_opens(const char *prompt, size_t len);
/* A chat template's source writes thoughts (mentions <think> or </think>). */
bool lmx_rsn_template_thinks(const char *tmpl, size_t len);

#endif
