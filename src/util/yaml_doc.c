#include "util/yaml_doc.h"

#include "util/errat.h"

int lmx_yaml_first(yaml_parser_t *p, yaml_document_t *doc, const char *text, size_t len,
                   const char *name, bool with_col, const char *prefix, char *err, size_t errlen) {
    if (!yaml_parser_initialize(p)) return lmx_errat(err, errlen, name, 0, 0, "out of memory");
    yaml_parser_set_input_string(p, (const unsigned char *)text, len);
    if (yaml_parser_load(p, doc)) return 0;
    const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
    lmx_errat(err, errlen, name, (int)m->line + 1, with_col ? (int)m->column + 1 : 0, "%s%s%s%s",
              prefix, p->problem ? p->problem : "syntax error", p->context ? " " : "",
              p->context ? p->context : "");
    yaml_parser_delete(p);
    return -1;
}
