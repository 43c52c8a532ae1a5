/* Chat templates: a Jinja2 interpreter for the templates models ship in their
 * tokenizer_config.json / GGUF metadata.
 *
 * Semantics follow Python Jinja2 3.1 configured as Hugging Face transformers does
 * for apply_chat_template: trim_blocks, lstrip_blocks, loop controls (break,
 * continue), a `tojson` filter that keeps non-ASCII text and uses json.dumps
 * spacing, and the globals raise_exception(msg) and strftime_now(fmt).
 *
 * A parsed template is immutable and may be rendered by several threads at once;
 * each render allocates from its own arena and frees it before returning. */
#ifndef LMX_TEMPLATE_H
#define LMX_TEMPLATE_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

typedef struct lmx_tmpl lmx_tmpl;

typedef struct lmx_tmpl_opts {
    time_t now;        /* in: clock for strftime_now (local time); 0 = the real clock */
    size_t max_output; /* in: output size limit in bytes; 0 = 16 MiB */
    long max_steps;    /* in: operation budget: statements, loop iterations, expression
                          evaluations and elements built by range(); 0 = 2M (about 0.5 s) */
    int raised;        /* out: 1 when the error came from raise_exception() in the template */
    int budget;        /* out: 1 when a budget (operations, memory, output size, macro call
                          depth) was exceeded: the template, not the input, is at fault */
} lmx_tmpl_opts;

/* Parses a template. Returns NULL with a "LINE:COL: message" in err on a syntax error.
 * The source need not be NUL-terminated. Free with lmx_tmpl_free. */
lmx_tmpl *lmx_tmpl_parse(const char *src, size_t len, char *err, size_t errlen);
void lmx_tmpl_free(lmx_tmpl *t);

/* Renders with `context` (a JSON object: messages, tools, add_generation_prompt,
 * bos_token, eos_token and any extra keys) as the template's variables.
 * Returns a malloc'd NUL-terminated string (caller frees), or NULL with err set:
 * for raise_exception(msg), err is msg verbatim and opts->raised is set.
 * opts may be NULL (real clock, default limits). */
char *lmx_tmpl_render(const lmx_tmpl *t, const json_t *context, lmx_tmpl_opts *opts, char *err,
                      size_t errlen);

#endif
