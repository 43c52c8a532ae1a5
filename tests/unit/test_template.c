/* Chat-template engine: byte-exact agreement with Python Jinja2 on the reference
 * renderings (../shared/refs/chat_templates.jsonl), then language features one by
 * one, then hostile input (syntax errors with positions, recursion, runaway loops). */
#include "test.h"

#include <stdlib.h>
#include <time.h>

#include <jansson.h>

#include "text/template.h"

/* 2026-11-23 09:30 local time: the clock the references were rendered with */
static time_t pinned_now(void) {
    struct tm tm = {.tm_year = 2026 - 1900,
                    .tm_mon = 10,
                    .tm_mday = 23,
                    .tm_hour = 9,
                    .tm_min = 30,
                    .tm_isdst = -1};
    return mktime(&tm);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0;
    if (len) *len = (size_t)n;
    return b;
}

/* Prints where got and want first differ, with a little context. */
static void show_diff(const char *got, const char *want) {
    size_t i = 0;
    while (got[i] && got[i] == want[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "    first difference at byte %zu\n    want: ", i);
    for (size_t k = from; want[k] && k < i + 40; k++)
        fputc(want[k] == '\n' ? '|' : want[k], stderr);
    fprintf(stderr, "\n    got:  ");
    for (size_t k = from; got[k] && k < i + 40; k++) fputc(got[k] == '\n' ? '|' : got[k], stderr);
    fprintf(stderr, "\n");
}

TEST(template_refs_match_jinja2) {
    char path[1024];
    snprintf(path, sizeof path, "%s/refs/chat_cases.json", lmx_test_shared());
    json_error_t je;
    json_t *cases = json_load_file(path, 0, &je);
    CHECK(cases);
    snprintf(path, sizeof path, "%s/refs/chat_templates.jsonl", lmx_test_shared());
    char *refs = slurp(path, NULL);
    if (!refs) {
        json_decref(cases);
        FAILF("cannot read %s", path);
    }
    int total = 0, bad = 0;
    char cur_name[256] = "";
    lmx_tmpl *tmpl = NULL;
    char perr[512] = "";
    time_t now = pinned_now();
    for (char *line = strtok(refs, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *row = json_loads(line, 0, &je);
        if (!row) continue;
        total++;
        const char *tname = json_string_value(json_object_get(row, "template"));
        const char *cname = json_string_value(json_object_get(row, "case"));
        if (strcmp(tname, cur_name)) {
            lmx_tmpl_free(tmpl);
            snprintf(cur_name, sizeof cur_name, "%s", tname);
            snprintf(path, sizeof path, "%s/templates/%s.jinja", lmx_test_shared(), tname);
            size_t len;
            char *src = slurp(path, &len);
            tmpl = src ? lmx_tmpl_parse(src, len, perr, sizeof perr) : NULL;
            if (!src) snprintf(perr, sizeof perr, "cannot read template");
            free(src);
        }
        json_t *cs = NULL;
        for (size_t i = 0; i < json_array_size(cases); i++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(cases, i), "case")),
                        cname))
                cs = json_array_get(cases, i);
        json_t *ctx = json_object();
        json_t *kwargs = json_object_get(cs, "kwargs");
        if (kwargs) json_object_update(ctx, kwargs);
        json_object_set(ctx, "messages", json_object_get(cs, "messages"));
        json_t *agp = json_object_get(cs, "add_generation_prompt");
        json_object_set_new(ctx, "add_generation_prompt", agp ? json_incref(agp) : json_true());
        json_object_set(ctx, "bos_token", json_object_get(row, "bos_token"));
        json_object_set(ctx, "eos_token", json_object_get(row, "eos_token"));
        json_t *tools = json_object_get(cs, "tools");
        if (tools && !json_is_null(tools)) json_object_set(ctx, "tools", tools);

        const char *want = json_string_value(json_object_get(row, "output"));
        const char *want_err = json_string_value(json_object_get(row, "error"));
        char err[1024] = "", got_err[1100] = "";
        lmx_tmpl_opts opts = {.now = now};
        char *out = NULL;
        if (tmpl)
            out = lmx_tmpl_render(tmpl, ctx, &opts, err, sizeof err);
        else
            snprintf(err, sizeof err, "parse: %s", perr);
        if (!out)
            snprintf(got_err, sizeof got_err, "%s%s", opts.raised ? "TemplateError: " : "", err);
        int ok =
            want ? (out && !strcmp(out, want)) : (!out && want_err && !strcmp(got_err, want_err));
        if (!ok) {
            bad++;
            fprintf(stderr, "  MISMATCH %s / %s\n", tname, cname);
            if (want && out)
                show_diff(out, want);
            else if (want)
                fprintf(stderr, "    want output, got error: %s\n", got_err);
            else if (out)
                fprintf(stderr, "    want error '%s', got output\n", want_err);
            else
                fprintf(stderr, "    want error '%s'\n    got error  '%s'\n", want_err, got_err);
        }
        free(out);
        json_decref(ctx);
        json_decref(row);
    }
    lmx_tmpl_free(tmpl);
    free(refs);
    json_decref(cases);
    fprintf(stderr, "  refs: %d/%d match\n", total - bad, total);
    CHECK(total == 162);
    CHECK_EQ_INT(bad, 0);
}

/* Renders src with ctx_json; returns malloc'd output or NULL with err filled. */
static char *render(const char *src, const char *ctx_json, char *err, size_t errlen,
                    lmx_tmpl_opts *o) {
    lmx_tmpl *t = lmx_tmpl_parse(src, strlen(src), err, errlen);
    if (!t) return NULL;
    json_t *ctx = json_loads(ctx_json ? ctx_json : "{}", 0, NULL);
    lmx_tmpl_opts local = {.now = pinned_now()};
    char *out = lmx_tmpl_render(t, ctx, o ? o : &local, err, errlen);
    json_decref(ctx);
    lmx_tmpl_free(t);
    return out;
}

/* Expected outputs produced by Python Jinja2 3.1 in the transformers setup. */
static const struct {
    const char *tmpl, *ctx, *want;
} features[] = {
    {"{{ 'a' ~ 1 ~ none ~ true }}", "{}", "a1NoneTrue"},
    {"{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 "
     "}} {{ 6 / 3 }}",
     "{}", "7 3 -4 1 2 1024 3.5 2.0"},
    {"{{ 1.5 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 100.0 }} {{ 3.0 * 2 }} {{ 1/3 }}", "{}",
     "1.5 0.30000000000000004 1e+20 1e-05 100.0 6.0 0.3333333333333333"},
    {"{{ [1, 'a', none, true, 2.5] }} {{ {'k': 'v', 'n': [1]} }} {{ (1,) }} {{ ('a', 'b') }}", "{}",
     "[1, 'a', None, True, 2.5] {'k': 'v', 'n': [1]} (1,) ('a', 'b')"},
    {"{{ \"it's\" }} {{ [\"it's\", 'say \"hi\"', 'a\\nb'] }}", "{}",
     "it's [\"it's\", 'say \"hi\"', 'a\\nb']"},
    {"{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ "
     "loop.length }}{{ loop.revindex }}|{% endfor %}",
     "{\"xs\": [\"a\", \"b\", \"c\"]}", "10TrueFalse33|21FalseFalse32|32FalseTrue31|"},
    {"{% for x in xs %}{{ loop.previtem is defined }}{{ loop.previtem }}-{{ loop.nextitem }};{% "
     "endfor %}",
     "{\"xs\": [1, 2, 3]}", "False-2;True1-3;True2-;"},
    {"{% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% else %}empty{% endfor %}",
     "{\"xs\": [1, 2, 3]}", "2232"},
    {"{% for x in xs %}{{ x }}{% else %}empty{% endfor %}", "{\"xs\": []}", "empty"},
    {"{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}", "{\"d\": {\"b\": 1, \"a\": 2}}",
     "b=1,a=2,"},
    {"{% for k in d %}{{ k }}{% endfor %}", "{\"d\": {\"b\": 1, \"a\": 2}}", "ba"},
    {"{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% "
     "endif %}{{ x }}{% endfor %}",
     "{}", "0134"},
    {"{% set c = 0 %}{% for i in range(3) %}{% set c = c + 1 %}{{ c }}{% endfor %}{{ c }}", "{}",
     "1110"},
    {"{% set ns = namespace(c=0) %}{% for i in range(3) %}{% set ns.c = ns.c + i %}{% endfor %}{{ "
     "ns.c }}",
     "{}", "3"},
    {"{% set x %}a{{ 1 }}b{% endset %}[{{ x }}]", "{}", "[a1b]"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}", "{}", "12"},
    {"{% macro m(a, b='d') %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }} {{ m(1, 2) }} {{ m(b=3, a=4) "
     "}}",
     "{}", "1-d 1-2 4-3"},
    {"{% macro m(x) %}<{{ caller() }}{{ x }}>{% endmacro %}{% call m(1) %}body{% endcall %}", "{}",
     "<body1>"},
    {"{{ '  x  '|trim }}|{{ 'aBc'|upper }}{{ 'aBc'|lower }}|{{ 'hello world'|capitalize }}|{{ "
     "'hello wORLD-x'|title }}",
     "{}", "x|ABCabc|Hello world|Hello World-X"},
    {"{{ xs|length }} {{ 'héllo'|length }} {{ xs|join(', ') }} {{ xs|first }} {{ xs|last }} {{ "
     "xs|reverse|list }}",
     "{\"xs\": [\"b\", \"a\", \"c\"]}", "3 5 b, a, c b c ['c', 'a', 'b']"},
    {"{{ xs|sort }} {{ xs|sort(reverse=true) }} {{ ys|sort(attribute='n')|map(attribute='n')|list "
     "}}",
     "{\"xs\": [\"b\", \"A\", \"c\"], \"ys\": [{\"n\": 2}, {\"n\": 1}]}",
     "['A', 'b', 'c'] ['c', 'b', 'A'] [1, 2]"},
    {"{{ d|dictsort }} {{ d|items|list }} {{ xs|unique|list }}",
     "{\"d\": {\"b\": 1, \"A\": 2}, \"xs\": [1, 2, 1, 3]}",
     "[('A', 2), ('b', 1)] [('b', 1), ('A', 2)] [1, 2, 3]"},
    {"{{ xs|select('odd')|list }} {{ xs|reject('odd')|list }} {{ ms|selectattr('role', 'equalto', "
     "'user')|list|length }} {{ ms|rejectattr('x')|list|length }}",
     "{\"xs\": [1, 2, 3, 4], \"ms\": [{\"role\": \"user\"}, {\"role\": \"system\", \"x\": 1}]}",
     "[1, 3] [2, 4] 1 1"},
    {"{{ xs|map('upper')|join }} {{ 3.7|int }} {{ '42'|int }} {{ 'x'|int }} {{ '2.5'|float }} {{ "
     "3|float }} {{ -3|abs }} {{ 2.567|round(2) }} {{ 2.5|round }}",
     "{\"xs\": [\"a\", \"b\"]}", "AB 3 42 0 2.5 3.0 3 2.57 2.0"},
    {"{{ x|default('d') }} {{ none|default('d') }} {{ ''|default('d', true) }} {{ x|d('e') }}",
     "{}", "d None d e"},
    {"{{ 'a b c'|replace(' ', '-') }} {{ 'one two three'|wordcount }} {{ 'x\ny'|indent(2) }}|{{ "
     "'x\n\ny'|indent(2, true) }}",
     "{}", "a-b-c 3 x\n  y|  x\n\n  y"},
    {"{{ d|tojson }} {{ d|tojson(indent=2) }} {{ 'é\"\\n'|tojson }} {{ [1.0, none, true]|tojson }} "
     "{{ {}|tojson }} {{ []|tojson(indent=2) }}",
     "{\"d\": {\"a\": [1, {\"b\": \"\\u00fc\"}], \"c\": null}}",
     "{\"a\": [1, {\"b\": \"ü\"}], \"c\": null} {\n  \"a\": [\n    1,\n    {\n      \"b\": \"ü\"\n "
     "   }\n  ],\n  \"c\": null\n} \"é\\\"\\n\" [1.0, null, true] {} []"},
    {"{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is "
     "number }} {{ 1.5 is integer }} {{ 1 is integer }} {{ {} is mapping }} {{ [] is iterable }} "
     "{{ 'a' is sequence }} {{ true is boolean }} {{ false is false }} {{ true is true }}",
     "{}", "False True True True True False True True True True True True True"},
    {"{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 'a' is eq 'a' }} {{ 1 is equalto "
     "2 }} {{ 'a' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ not "
     "true }}",
     "{}", "True True True True False True True True True False"},
    {"{{ 1 if true else 2 }} {{ 1 if false else 2 }} [{{ 1 if false }}] {{ true and 'x' }} {{ "
     "false or 'y' }} {{ 0 or '' }}",
     "{}", "1 2 [] x y "},
    {"{{ 'abcdef'[1:3] }} {{ 'abcdef'[::-1] }} {{ xs[-1] }} {{ xs[1:] }} {{ xs[:-1] }} {{ xs[::2] "
     "}} {{ 'héllo'[1] }}",
     "{\"xs\": [1, 2, 3, 4]}", "bc fedcba 4 [2, 3, 4] [1, 2, 3] [1, 3] é"},
    {"{{ ' a b '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() "
     "}}|{{ 'a b c'.split(' ', 1) }}|{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}",
     "{}", "a b|a|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|TrueTrue"},
    {"{{ 'Hello'.upper() }}{{ 'Hello'.lower() }} {{ 'hello world'.title() }} {{ 'a-b'.replace('-', "
     "'+') }} {{ '{} and {}'.format(1, 'x') }} {{ 'héllo'.find('l') }} {{ 'banana'.count('a') }} "
     "{{ 'x'.rstrip() }}",
     "{}", "HELLOhello Hello World a+b 1 and x 2 3 x"},
    {"{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 5) }} {{ d.keys()|list }} {{ d.values()|list "
     "}} {{ d['a'] }} {{ d.a }} {{ d.zz }}|{{ d.items()|list }}",
     "{\"d\": {\"a\": 1, \"b\": 2}}", "1 None 5 ['a', 'b'] [1, 2] 1 1 |[('a', 1), ('b', 2)]"},
    {"a\n  {% if true %}\n  b\n  {% endif %}\nc\n", "{}", "a\n  b\nc"},
    {"a  {%- if true -%}  b  {%- endif -%}  c", "{}", "abc"},
    {"a\n  {%+ if true %}b{% endif +%}\nc", "{}", "a\n  b\nc"},
    {"a {# comment #}\n  {# c2 #}\nb  {{- 'x' -}}  c\n{{ 'y' }}\n", "{}", "a bxc\ny"},
    {"{% raw %}{{ not rendered }}{% endraw %}", "{}", "{{ not rendered }}"},
    {"{{ '%s=%d' % ('a', 3) }} {{ '%05.1f'|format(3.14159) }}", "{}", "a=3 003.1"},
    {"{{ strftime_now('%Y-%m-%d %H:%M') }} {{ strftime_now('%d %b %Y') }}", "{}",
     "2026-11-23 09:30 23 Nov 2026"},
    {"{{ 'a' < 'b' }} {{ 1 < 2.5 }} {{ [1, 2] == [1, 2] }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' "
     "!= 'a' }} {{ 1 < 2 < 3 }}",
     "{}", "True True True True True False True"},
    {"{{ [1, 2] + [3] }} {{ 'ab' * 3 }} {{ 'a' + 'b' }} {{ 10 - 2.5 }}", "{}",
     "[1, 2, 3] ababab ab 7.5"},
    {"{% if xs %}yes{% elif y %}y{% else %}no{% endif %}{% if not xs %}!{% endif %}",
     "{\"xs\": [], \"y\": 0}", "no!"},
    {"{% filter upper %}abc{{ 'd' }}{% endfilter %}", "{}", "ABCD"},
    {"{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }}", "{}", "3"},
    {"{{ 'a\\tb\\x41\\u00e9\\\\' }}", "{}", "a\tbAé\\"},
    {"{{ true }} {{ false }} {{ none }} {{ True }} {{ None }}", "{}", "True False None True None"},
    {"{% for a, b in [[1, 2], [3, 4]] %}{{ a }}{{ b }}{% endfor %}", "{}", "1234"},
    {"{% for x in xs %}{% for y in x %}{{ loop.index }}{{ y }}{% endfor %};{% endfor %}",
     "{\"xs\": [[\"a\", \"b\"], [\"c\"]]}", "1a2b;1c;"},
    {"{{ loop }}{% for x in 'ab' %}{{ x }}{% endfor %}", "{}", "ab"},
    {"{{ xs|map(attribute='a', default='-')|join(',') }} {{ xs|join(',', attribute='a') }}",
     "{\"xs\": [{\"a\": 1}, {\"b\": 2}]}", "1,- 1,"},
    {"{{ 'x'|tojson(indent=4) }} {{ d|tojson(sort_keys=true) }} {{ d|tojson(separators=(',', ':')) "
     "}}",
     "{\"d\": {\"b\": 1, \"a\": [1, 2]}}", "\"x\" {\"a\": [1, 2], \"b\": 1} {\"b\":1,\"a\":[1,2]}"},
    {"{{ d }} {{ d|string }} {{ [d] }}",
     "{\"d\": {\"s\": \"x'y\", \"n\": null, \"f\": 1.0, \"t\": true}}",
     "{'s': \"x'y\", 'n': None, 'f': 1.0, 't': True} {'s': \"x'y\", 'n': None, 'f': 1.0, 't': "
     "True} [{'s': \"x'y\", 'n': None, 'f': 1.0, 't': True}]"},
    {"{{ namespace(a=1).a }} {{ dict(a=1) }} {{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ "
     "range(5, 0, -2)|list }}",
     "{}", "1 {'a': 1} [0, 1, 2] [1, 4, 7] [5, 3, 1]"},
    {"{{ xs|sum }} {{ xs|min }} {{ xs|max }} {{ xs|count }}", "{\"xs\": [3, 1, 2]}", "6 1 3 3"},
    {"{% for x in xs %}{{ loop.cycle('a', 'b') }}{% endfor %}", "{\"xs\": [1, 2, 3]}", "aba"},
    {"{{ 'hello' is lower }} {{ 'Hello' is upper }} {{ 'abc'|center(7) }}|", "{}",
     "True False   abc  |"},
    {"{{ [3, 1]|sort|first }} {{ 'ab'|list }} {{ 'x'|e }} {{ '<a&b>'|e }}", "{}",
     "1 ['a', 'b'] x &lt;a&amp;b&gt;"},
};

TEST(template_features_match_jinja2) {
    int bad = 0;
    for (size_t i = 0; i < sizeof features / sizeof features[0]; i++) {
        char err[512];
        char *out = render(features[i].tmpl, features[i].ctx, err, sizeof err, NULL);
        if (!out || strcmp(out, features[i].want)) {
            bad++;
            fprintf(stderr, "  case %zu: %s\n    want: %s\n    got:  %s\n", i, features[i].tmpl,
                    features[i].want, out ? out : err);
        }
        free(out);
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(template_raise_exception_reports_message_verbatim) {
    char err[256];
    lmx_tmpl_opts o = {0};
    char *out = render("a{{ raise_exception('Bad role: ' ~ r) }}", "{\"r\": \"tool\"}", err,
                       sizeof err, &o);
    CHECK(!out);
    CHECK_EQ_INT(o.raised, 1);
    CHECK_EQ_STR(err, "Bad role: tool");
    out = render("{{ 1 + x }}", "{}", err, sizeof err, &o); /* a runtime error, not raised */
    CHECK(!out);
    CHECK_EQ_INT(o.raised, 0);
    CHECK(strstr(err, "'x' is undefined"));
}

TEST(template_syntax_errors_have_positions) {
    static const struct {
        const char *src, *want;
    } cases[] = {
        {"{% if x %}abc", "opened at 1:1"},
        {"ab\n{% for x in y %}{% if x %}{% endfor %}", "2:"},
        {"{{ a $ b }}", "1:6: unexpected character '$'"},
        {"x\n  {{ 'abc }}", "2:6: unterminated string"},
        {"{% endif %}", "1:4: unknown or unexpected tag 'endif'"},
        {"{{ }}", "1:4: unexpected"},
        {"{{ a + }}", "1:8: unexpected"},
        {"{% for in x %}{% endfor %}", "1:11: unexpected 'x', expected 'in'"},
        {"{% bogus %}", "unknown or unexpected tag 'bogus'"},
        {"{{ a", "unclosed variable tag"},
        {"{# never closed", "unclosed comment"},
        {"{% break %}", "outside of a loop"},
        {"{{ f(a=1, 2) }}", "positional argument follows keyword"},
        {"{{ (1 }}", "1:8: unbalanced"},
        {"{{ a ] }}", "unbalanced"},
        {"{% raw %}xx", "unclosed 'raw'"},
        {"{% macro m(a=1, b) %}{% endmacro %}", "non-default argument"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        lmx_tmpl *t = lmx_tmpl_parse(cases[i].src, strlen(cases[i].src), err, sizeof err);
        if (t) {
            lmx_tmpl_free(t);
            FAILF("case %zu parsed: %s", i, cases[i].src);
        }
        if (!strstr(err, cases[i].want))
            FAILF("case %zu: error '%s' lacks '%s'", i, err, cases[i].want);
    }
}

TEST(template_deep_nesting_is_an_error_not_a_crash) {
    size_t n = 100000;
    char *src = malloc(n * 2 + 16);
    CHECK(src);
    strcpy(src, "{{ ");
    size_t k = 3;
    for (size_t i = 0; i < n / 2; i++) src[k++] = '(';
    src[k++] = '1';
    for (size_t i = 0; i < n / 2; i++) src[k++] = ')';
    strcpy(src + k, " }}");
    char err[512];
    lmx_tmpl *t = lmx_tmpl_parse(src, strlen(src), err, sizeof err);
    CHECK(!t);
    CHECK(strstr(err, "nested too deeply"));
    k = 0;
    for (size_t i = 0; i < 5000; i++) k += (size_t)sprintf(src + k, "{%% if 1 %%}");
    t = lmx_tmpl_parse(src, k, err, sizeof err);
    free(src);
    CHECK(!t);
    CHECK(strstr(err, "nested too deeply"));
    char *out =
        render("{{ -------------------------------------------------1 }}{{ not not not not 1 }}",
               NULL, err, sizeof err, NULL);
    CHECK_EQ_STR(out, "-1True");
    free(out);
}

TEST(template_runaway_recursion_and_loops_are_bounded) {
    char err[512];
    char *out = render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, err,
                       sizeof err, NULL);
    CHECK(!out);
    CHECK(strstr(err, "RecursionError"));
    lmx_tmpl_opts o = {.max_steps = 100000};
    out = render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                 NULL, err, sizeof err, &o);
    CHECK(!out);
    CHECK(strstr(err, "step limit"));
    lmx_tmpl_opts o2 = {.max_output = 1 << 20};
    out = render("{% for i in range(1000000) %}{{ 'x' * 100 }}{% endfor %}", NULL, err, sizeof err,
                 &o2);
    CHECK(!out);
    CHECK(strstr(err, "size limit"));
    out = render("{% set s = 'x' * 1000000000 %}{{ s|length }}", NULL, err, sizeof err, NULL);
    CHECK(!out);
    CHECK(strstr(err, "MemoryError"));
    out = render("{% for i in range(1000000000) %}{% endfor %}", NULL, err, sizeof err, NULL);
    CHECK(!out);
    CHECK(strstr(err, "range too large"));
    /* a list that grows while looping over it: the loop runs over a snapshot */
    out =
        render("{% set l = [1] %}{% for x in l %}{{ l.append(x) or '' }}{% endfor %}{{ l|length }}",
               NULL, err, sizeof err, NULL);
    CHECK_EQ_STR(out, "2");
    free(out);
}

TEST(template_runtime_errors_are_reported) {
    static const struct {
        const char *src, *want;
    } cases[] = {
        {"{{ 1 / 0 }}", "ZeroDivisionError"},
        {"{{ 'a' + 1 }}", "TypeError"},
        {"{{ none.x() }}", "UndefinedError"},
        {"{{ 5() }}", "not callable"},
        {"{% for x in 5 %}{% endfor %}", "not iterable"},
        {"{{ 1|nofilter }}", "No filter named 'nofilter'"},
        {"{{ 1 is notest }}", "no test named 'notest'"},
        {"{% set a, b = [1] %}", "not enough values"},
        {"{{ 'x'.nomethod() }}", "UndefinedError"},
        {"{{ [1] < 'a' }}", "TypeError"},
        {"{% set x = 1 %}{% set x.y = 2 %}", "non-namespace"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        char *out = render(cases[i].src, NULL, err, sizeof err, NULL);
        if (out) {
            fprintf(stderr, "  case %zu rendered '%s'\n", i, out);
            free(out);
            FAILF("case %zu rendered: %s", i, cases[i].src);
        }
        if (!strstr(err, cases[i].want))
            FAILF("case %zu: error '%s' lacks '%s'", i, err, cases[i].want);
    }
}

TEST(template_api_edge_cases) {
    char err[256];
    lmx_tmpl *t = lmx_tmpl_parse("x{{ y }}\r\n", 10, err, sizeof err);
    CHECK(t);
    char *out = lmx_tmpl_render(t, NULL, NULL, err, sizeof err); /* no context, no opts */
    CHECK_EQ_STR(out, "x");
    free(out);
    json_t *arr = json_array();
    out = lmx_tmpl_render(t, arr, NULL, err, sizeof err);
    CHECK(!out);
    json_decref(arr);
    lmx_tmpl_free(t);
    lmx_tmpl_free(NULL);
    t = lmx_tmpl_parse("", 0, err, sizeof err);
    CHECK(t);
    out = lmx_tmpl_render(t, NULL, NULL, err, sizeof err);
    CHECK_EQ_STR(out, "");
    free(out);
    lmx_tmpl_free(t);
}

/* Found by differential runs against Python Jinja2 (expected outputs from it). */
TEST(template_indent_and_round_match_jinja2) {
    static const struct {
        const char *tmpl, *want;
    } cases[] = {
        {"{% set t %}  a\n  b\n{% endset %}{{ t|indent(4, first=true) }}|", "      a\n      b\n|"},
        {"{{ 'a\n\nb\n'|indent(2) }}|{{ 'a\n\nb\n'|indent(2, blank=true) }}|{{ ''|indent }}|"
         "{{ 'x'|indent(first=true) }}|{{ 'a\r\nb'|indent(1) }}",
         "a\n\n  b\n|a\n  \n  b\n  ||    x|a\n b"},
        {"{{ 3|round }} {{ true|round }} {{ 3|round(2, 'floor') }} {{ 2.5|round }}", "3 1 3.0 2.0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256];
        char *out = render(cases[i].tmpl, NULL, err, sizeof err, NULL);
        if (!out || strcmp(out, cases[i].want)) {
            fprintf(stderr, "  case %zu got: %s\n", i, out ? out : err);
            free(out);
            FAILF("case %zu", i);
        }
        free(out);
    }
}
