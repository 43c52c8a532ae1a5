/* Tool calls in a model's output: raw generated text → content + calls.
 *
 * Each model family writes calls its own way; the family is detected once from
 * the chat template's text (the template shows the model how it called tools
 * in past turns). Recognized forms:
 *
 *   HERMES       <tool_call>{"name": N, "arguments": {...}}</tool_call>
 *                (Qwen 2.5, Qwen 3, QwQ, Hermes 3); a block whose body is
 *                <function=N><parameter=P>value</parameter></function> (the
 *                Qwen3-Coder form) is accepted too.
 *   QWEN3_CODER  <tool_call><function=N><parameter=P>\nvalue\n</parameter>...
 *                </function></tool_call>; JSON bodies accepted too.
 *   LLAMA3       {"name": N, "parameters": {...}} as the whole output (after
 *                whitespace), or after <|python_tag|>; several calls may follow
 *                one another separated by whitespace or ';'.
 *   MISTRAL      [TOOL_CALLS][{"name": N, "arguments": {...}}, ...] (Nemo) and
 *                [TOOL_CALLS]N[ARGS]{...} / [TOOL_CALLS]N[CALL_ID]id[ARGS]{...}
 *                (Mistral Small 3.2, Devstral).
 *   GENERIC      a template with no known form (or none): <tool_call> blocks as
 *                HERMES, or one JSON object {"name": N, "arguments": {...}}
 *                ("parameters" also accepted) as the whole output, as LLAMA3.
 *
 * Everywhere "arguments" may also be "parameters", and may be a JSON string
 * holding the object. A call that does not parse (bad JSON, no name, a block
 * never closed) is returned as content, byte for byte: nothing is dropped.
 * Whitespace between calls, and whitespace right before a call or at the end
 * of an output that made calls, is dropped.
 *
 * The parser is incremental: feed the text in any pieces, get content deltas
 * and whole tool calls as soon as they are known. Text that may be the start
 * of a marker is held back until it is known not to be, so raw markup never
 * reaches the content; the final result does not depend on how the text was
 * split. Calls are returned whole (a call is emitted once its closing marker
 * or closing brace arrives and it parsed), so a malformed call can still fall
 * back to content. */
#ifndef LMX_TOOLCALL_H
#define LMX_TOOLCALL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    LMX_TC_NONE = 0, /* do not parse: everything is content */
    LMX_TC_HERMES,
    LMX_TC_QWEN3_CODER,
    LMX_TC_LLAMA3,
    LMX_TC_MISTRAL,
    LMX_TC_GENERIC,
} lmx_tc_family;

/* The family a chat template's source text uses (GENERIC when it shows no
 * known form; also the right choice when a model has no template). */
lmx_tc_family lmx_tc_detect(const char *tmpl, size_t len);
const char *lmx_tc_family_name(lmx_tc_family f);

/* The text that opens a call in family f ("<tool_call>", "[TOOL_CALLS]",
 * "<|python_tag|>"); NULL for NONE. */
const char *lmx_tc_marker(lmx_tc_family f);

/* The opening of a call that forces one (tool_choice "required": name NULL;
 * a named function: name), to append to the prompt and feed to the parser
 * first: "<tool_call>\n", "<tool_call>\n{\"name\": \"NAME\", \"arguments\": ",
 * "[TOOL_CALLS]NAME[ARGS]"... mistral_args: the template uses the
 * [TOOL_CALLS]NAME[ARGS] form (else the JSON-array one). malloc'd; NULL for
 * NONE. */
char *lmx_tc_forced_prefix(lmx_tc_family f, const char *name, bool mistral_args);

typedef struct {
    int index;  /* -1: content; else the call's index in the output */
    char *id;   /* calls: "call_" + 24 alphanumerics */
    char *name; /* calls: the function name */
    char *text; /* content: the text; calls: the arguments (a JSON string's value) */
    size_t len; /* of text */
} lmx_tc_item;

/* What one feed produced, in output order. */
typedef struct {
    lmx_tc_item *items;
    int n, cap;
} lmx_tc_delta;

void lmx_tc_delta_clear(lmx_tc_delta *d); /* frees the items, keeps d usable */

typedef struct lmx_tc lmx_tc;

/* tools: the request's tools array (borrowed; may be NULL), used to read
 * Qwen3-Coder parameter values as their schema's type. seed: for call ids. */
lmx_tc *lmx_tc_new(lmx_tc_family f, const json_t *tools, uint64_t seed);
void lmx_tc_free(lmx_tc *p);

/* Adds text; appends what became known to d. 0, or -1 out of memory. */
int lmx_tc_feed(lmx_tc *p, const char *text, size_t len, lmx_tc_delta *d);
/* The output ended: resolves everything held back. */
int lmx_tc_finish(lmx_tc *p, lmx_tc_delta *d);

/* Totals so far (after finish: the whole result). */
const char *lmx_tc_content(const lmx_tc *p, size_t *len);
int lmx_tc_n_calls(const lmx_tc *p);
/* The i-th call: id, name, arguments (pointers valid until lmx_tc_free). */
void lmx_tc_call(const lmx_tc *p, int i, const char **id, const char **name, const char **args);

#endif
