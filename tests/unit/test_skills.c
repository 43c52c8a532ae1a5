/* Skills: version selectors, the argument validator, manifest refusals with
 * file:line, the registry's resolution, and the sandbox's basic promises
 * (tests/e2e/test_skills.py drives the hostile skills through the daemon). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skills/invoke.h"
#include "skills/manifest.h"
#include "skills/registry.h"
#include "skills/sandbox.h"
#include "skills/semver.h"
#include "skills/validate.h"
#include "test.h"

static int sel_pick(const char *sel, const char *const *vers, int n) {
    lmx_semsel s;
    if (!lmx_semsel_parse(sel, &s)) return -2;
    int best = -1;
    for (int i = 0; i < n; i++) {
        lmx_semver v;
        if (!lmx_semver_parse(vers[i], &v)) return -3;
        if (!lmx_semsel_match(&s, &v)) continue;
        lmx_semver b;
        if (best >= 0) lmx_semver_parse(vers[best], &b);
        if (best < 0 || lmx_semver_cmp(&v, &b) > 0) best = i;
    }
    return best;
}

TEST(semver_selectors_pick_the_highest_matching_stable_version) {
    const char *const v[] = {"1.0.0", "1.2.0", "1.2.3", "1.10.1", "2.0.0-beta.1", "0.9.9"};
    CHECK_EQ_INT(sel_pick("", v, 6), 3);  /* latest stable: 1.10.1, not the beta */
    CHECK_EQ_INT(sel_pick("1", v, 6), 3); /* numeric, not lexical: 1.10 > 1.2 */
    CHECK_EQ_INT(sel_pick("1.2", v, 6), 2);
    CHECK_EQ_INT(sel_pick("1.2.0", v, 6), 1);
    CHECK_EQ_INT(sel_pick("2", v, 6), -1); /* prereleases only by exact name */
    CHECK_EQ_INT(sel_pick("2.0.0-beta.1", v, 6), 4);
    CHECK_EQ_INT(sel_pick("0", v, 6), 5);
    CHECK_EQ_INT(sel_pick("01", v, 6), -2); /* leading zero */
    CHECK_EQ_INT(sel_pick("1.x", v, 6), -2);
    lmx_semver a, b;
    CHECK(lmx_semver_parse("1.0.0-alpha", &a) && lmx_semver_parse("1.0.0-alpha.1", &b));
    CHECK(lmx_semver_cmp(&a, &b) < 0);
    CHECK(lmx_semver_parse("1.0.0-alpha.beta", &a) && lmx_semver_parse("1.0.0-beta", &b));
    CHECK(lmx_semver_cmp(&a, &b) < 0);
    CHECK(lmx_semver_parse("1.0.0-rc.1", &a) && lmx_semver_parse("1.0.0", &b));
    CHECK(lmx_semver_cmp(&a, &b) < 0);
    CHECK(!lmx_semver_parse("1.2", &a));
    CHECK(lmx_semver_parse("1.2.3+build.5", &a) && a.patch == 3);
}

static const char *SCHEMA =
    "{\"type\":\"object\",\"required\":[\"q\",\"opts\"],\"additionalProperties\":false,"
    "\"properties\":{\"q\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":8,"
    "\"pattern\":\"^[a-z]+$\"},\"opts\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":"
    "\"integer\",\"minimum\":1,\"maximum\":10},\"mode\":{\"enum\":[\"a\",\"b\"]},\"tags\":{"
    "\"type\":\"array\",\"maxItems\":2,\"items\":{\"type\":\"string\",\"format\":\"email\"}}}},"
    "\"when\":{\"type\":\"string\",\"format\":\"date-time\"}}}";

/* The violations' "pointer rule" pairs, space-separated. */
static void viol_str(const char *args, char *out, size_t n) {
    json_t *s = json_loads(SCHEMA, 0, NULL);
    json_t *a = json_loads(args, 0, NULL);
    json_t *v = lmx_jsv_validate(s, a);
    size_t i, len = 0;
    json_t *e;
    out[0] = 0;
    json_array_foreach(v, i, e) len +=
        (size_t)snprintf(out + len, n - len, "%s%s %s", len ? "; " : "",
                         json_string_value(json_object_get(e, "pointer")),
                         json_string_value(json_object_get(e, "rule")));
    json_decref(v);
    json_decref(a);
    json_decref(s);
}

TEST(validator_reports_every_violation_with_its_pointer_and_rule) {
    char buf[1024], err[256];
    json_t *s = json_loads(SCHEMA, 0, NULL);
    CHECK_EQ_INT(lmx_jsv_check(s, "input_schema", err, sizeof err), 0);
    json_decref(s);
    viol_str("{\"q\":\"abc\",\"opts\":{}}", buf, sizeof buf);
    CHECK_EQ_STR(buf, "");
    viol_str("{\"q\":\"abc\",\"opts\":{\"n\":3,\"mode\":\"b\",\"tags\":[\"a@b.co\"]},"
             "\"when\":\"2024-02-29T10:00:00Z\"}",
             buf, sizeof buf);
    CHECK_EQ_STR(buf, "");
    viol_str("{\"opts\":{}}", buf, sizeof buf);
    CHECK_EQ_STR(buf, "/q required");
    viol_str("{\"q\":\"ABC\",\"opts\":{\"n\":0,\"mode\":\"c\"},\"x\":1}", buf, sizeof buf);
    CHECK_EQ_STR(buf, "/q pattern; /opts/n minimum; /opts/mode enum; /x additionalProperties");
    viol_str("{\"q\":\"abcdefghij\",\"opts\":{\"n\":2.5,\"tags\":[\"x\",\"y@z.io\",\"w\"]}}", buf,
             sizeof buf);
    CHECK_EQ_STR(buf, "/q maxLength; /opts/n type; /opts/tags maxItems; /opts/tags/0 format; "
                      "/opts/tags/2 format");
    viol_str("{\"q\":\"a\",\"opts\":{},\"when\":\"2023-02-29T10:00:00Z\"}", buf, sizeof buf);
    CHECK_EQ_STR(buf, "/when format");
    viol_str("[]", buf, sizeof buf);
    CHECK_EQ_STR(buf, " type");
    /* a pointer escapes ~ and / */
    json_t *s2 = json_loads("{\"type\":\"object\",\"additionalProperties\":false}", 0, NULL);
    json_t *a2 = json_loads("{\"a/b~c\":1}", 0, NULL);
    json_t *v2 = lmx_jsv_validate(s2, a2);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(v2, 0), "pointer")), "/a~1b~0c");
    json_decref(v2), json_decref(a2), json_decref(s2);
}

TEST(validator_refuses_schemas_outside_the_subset_with_their_path) {
    char err[256];
    json_t *s = json_loads("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\","
                           "\"pattern\":\"(\"}}}",
                           0, NULL);
    CHECK_EQ_INT(lmx_jsv_check(s, "input_schema", err, sizeof err), -1);
    CHECK(strstr(err, "input_schema.properties.a.pattern: bad regular expression"));
    json_decref(s);
    s = json_loads("{\"type\":\"object\",\"patternProperties\":{}}", 0, NULL);
    CHECK_EQ_INT(lmx_jsv_check(s, "input_schema", err, sizeof err), -1);
    CHECK_EQ_STR(err, "input_schema.patternProperties: unsupported keyword");
    json_decref(s);
    s = json_loads("{\"format\":\"colour\"}", 0, NULL);
    CHECK_EQ_INT(lmx_jsv_check(s, "x", err, sizeof err), -1);
    json_decref(s);
    s = json_loads("{\"$ref\":\"#/$defs/nope\"}", 0, NULL);
    CHECK_EQ_INT(lmx_jsv_check(s, "x", err, sizeof err), -1);
    json_decref(s);
    /* for a model: format and pattern go, a property named "pattern" stays */
    s = json_loads("{\"type\":\"object\",\"properties\":{\"pattern\":{\"type\":\"string\","
                   "\"pattern\":\"^a\",\"format\":\"email\"}}}",
                   0, NULL);
    json_t *m = lmx_jsv_for_model(s);
    char *d = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_EQ_STR(d, "{\"properties\":{\"pattern\":{\"type\":\"string\"}},\"type\":\"object\"}");
    free(d), json_decref(m), json_decref(s);
}

static int parse_manifest(const char *name, const char *text, char *err, size_t n) {
    lmx_skill *k = NULL;
    lmx_mcp_def *d = NULL;
    lmx_manifest_opts o = {0};
    int rc = lmx_manifest_parse(name, text, strlen(text), &o, &k, &d, err, n);
    lmx_skill_free(k);
    lmx_mcp_def_free(d);
    return rc;
}

TEST(manifest_refusals_name_the_file_and_line) {
    char err[1024];
    const char *ok = "name: t/echo\nversion: 1.0.0\ninput_schema: {type: object}\n"
                     "executor: {type: exec, command: [./run]}\n";
    CHECK_EQ_INT(parse_manifest("d/ok.yaml", ok, err, sizeof err), 1);
    CHECK_EQ_INT(parse_manifest("d/bad.yaml", "name: t/echo\nversion: 1.0\n", err, sizeof err), -1);
    CHECK_EQ_STR(err, "d/bad.yaml:2: version: expected a semantic version MAJOR.MINOR.PATCH[-PRE] "
                      "as a string");
    CHECK_EQ_INT(parse_manifest("d/s.yaml",
                                "name: t/x\nversion: 1.0.0\ninput_schema:\n  type: object\n"
                                "  properties:\n    a: {type: strin}\n"
                                "executor: {type: exec, command: [x]}\n",
                                err, sizeof err),
                 -1);
    CHECK_EQ_STR(err, "d/s.yaml:6: input_schema.properties.a.type: unknown type 'strin'");
    CHECK_EQ_INT(parse_manifest("d/y.yaml", "name: [unclosed\n", err, sizeof err), -1);
    CHECK(!strncmp(err, "d/y.yaml:", 9));
    CHECK_EQ_INT(
        parse_manifest("d/j.json", "{\"name\": \"t/x\",\n \"version\": }", err, sizeof err), -1);
    CHECK(!strncmp(err, "d/j.json:2:", 11));
    CHECK_EQ_INT(parse_manifest("d/n.yaml",
                                "name: t/x\nversion: 1.0.0\ninput_schema: {type: object}\n"
                                "executor: {type: exec, command: [x]}\nsandbox: none\n",
                                err, sizeof err),
                 -1);
    CHECK(strstr(err, "d/n.yaml:5: sandbox: 'none' needs skills_allow_unsandboxed"));
    CHECK_EQ_INT(parse_manifest("d/m.json",
                                "{\"mcp_server\": \"ev\", \"command\": [\"node\", \"x.js\"]}", err,
                                sizeof err),
                 2);
}

static void write_file(const char *path, const char *text, int mode) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
    chmod(path, (mode_t)mode);
}

/* A skills dir with three versions of t/echo and one broken manifest. */
static void make_dir(char *dir, size_t n) {
    snprintf(dir, n, "/tmp/lmx-skills-unit-XXXXXX");
    if (!mkdtemp(dir)) return;
    chmod(dir, 0755);
    char p[512];
    const char *vers[] = {"1.0.0", "1.2.0", "2.0.0", "2.1.0-rc.1"};
    for (int i = 0; i < 4; i++) {
        char m[1024];
        snprintf(m, sizeof m,
                 "name: t/echo\nversion: %s\ninput_schema:\n  type: object\n"
                 "  properties: {x: {type: integer}}\n"
                 "executor: {type: exec, command: [python3, echo.py]}\nlimits: {timeout: 10}\n",
                 vers[i]);
        snprintf(p, sizeof p, "%s/echo-%d.yaml", dir, i);
        write_file(p, m, 0644);
    }
    snprintf(p, sizeof p, "%s/echo.py", dir);
    write_file(p,
               "import json, sys, os\nargs = json.load(sys.stdin)\n"
               "print(json.dumps({'args': args, 'cwd': os.getcwd(), 'env': sorted(os.environ)}))\n",
               0644);
    snprintf(p, sizeof p, "%s/broken.yaml", dir);
    write_file(p, "name: t/broken\nversion: 1.0.0\ninput_schema: {type: object}\nexecutor: 3\n",
               0644);
}

static void rm_dir(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return;
}

TEST(registry_resolves_each_selector_and_reports_broken_manifests) {
    char dir[256];
    make_dir(dir, sizeof dir);
    lmx_skills_opts o = {.dir = dir, .queue = 4};
    lmx_skills *s = lmx_skills_new(&o);
    CHECK_EQ_INT(lmx_skills_reload(s), 4);
    /* latest stable is 2.0.0 */
    const char *want[][2] = {{"t/echo", "2.0.0"},     {"t/echo@1", "1.2.0"},
                             {"t/echo@1.0", "1.0.0"}, {"t/echo@1.2.0", "1.2.0"},
                             {"t/echo@2", "2.0.0"},   {"t/echo@2.1.0-rc.1", "2.1.0-rc.1"}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        bool nf;
        char err[256];
        lmx_skill *k = lmx_skills_get(s, want[i][0], &nf, err, sizeof err);
        if (!k) FAILF("%s: %s", want[i][0], err);
        if (strcmp(k->version, want[i][1])) FAILF("%s gave %s", want[i][0], k->version);
        lmx_skill_unref(k);
    }
    bool nf;
    char err[256];
    CHECK(!lmx_skills_get(s, "t/echo@3", &nf, err, sizeof err) && nf);
    CHECK(strstr(err, "no version of 't/echo' matches '3'"));
    CHECK(!lmx_skills_get(s, "t/none", &nf, err, sizeof err) && nf);
    CHECK(!lmx_skills_get(s, "t/echo@x.y", &nf, err, sizeof err) && !nf);
    json_t *l = lmx_skills_list_json(s);
    CHECK_EQ_INT(json_array_size(json_object_get(l, "errors")), 1);
    CHECK(strstr(json_string_value(
                     json_object_get(json_array_get(json_object_get(l, "errors"), 0), "error")),
                 "broken.yaml:4: executor: expected a mapping"));
    json_decref(l);
    lmx_skills_free(s);
    rm_dir(dir);
}

TEST(sandboxed_skill_runs_with_a_cleared_environment_in_its_scratch_dir) {
    if (access("/usr/bin/bwrap", X_OK))
        FAILF("bubblewrap is not installed (scripts/install-deps.sh)");
    char dir[256];
    make_dir(dir, sizeof dir);
    lmx_skills_opts o = {.dir = dir, .queue = 4};
    lmx_skills *s = lmx_skills_new(&o);
    lmx_skills_reload(s);
    json_t *args = json_pack("{s:i}", "x", 7);
    lmx_skr r;
    lmx_skills_invoke(s, "t/echo@1", args, NULL, &r);
    if (r.code != LMX_SKR_OK) FAILF("%s: %s", lmx_skr_code_name(r.code), r.message);
    char *d = json_dumps(r.result, JSON_COMPACT | JSON_SORT_KEYS);
    char want[600];
    snprintf(want, sizeof want,
             "{\"args\":{\"x\":7},\"cwd\":\"%s\",\"env\":[\"HOME\",\"LANG\",\"PATH\",\"PWD\","
             "\"TMPDIR\"]}",
             dir);
    CHECK_EQ_STR(d, want);
    free(d);
    lmx_skr_free(&r);
    /* invalid arguments never run */
    json_t *bad = json_pack("{s:s}", "x", "seven");
    lmx_skills_invoke(s, "t/echo@1", bad, NULL, &r);
    CHECK_EQ_INT(r.code, LMX_SKR_INVALID_ARGS);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(r.violations, 0), "pointer")),
                 "/x");
    lmx_skr_free(&r);
    json_decref(bad);
    json_decref(args);
    lmx_skills_free(s);
    rm_dir(dir);
}

TEST(sandbox_fails_closed_without_bubblewrap) {
    lmx_sk_limits l;
    lmx_sk_limits_default(&l);
    char *argv[] = {"true", NULL};
    lmx_sbx_spec spec = {.argv = argv,
                         .dir = "/tmp",
                         .profile = LMX_SBX_STRICT,
                         .limits = &l,
                         .bwrap = "/nonexistent/bwrap"};
    lmx_sbx_result r;
    lmx_sbx_run(&spec, &r);
    CHECK_EQ_INT(r.end, LMX_SBX_SETUP_FAILED);
    CHECK(strstr(r.msg, "needs bubblewrap"));
    lmx_sbx_result_free(&r);
}
