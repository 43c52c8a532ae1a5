/* The config parser (server/config.c): values, positions in messages, the
 * layering of file, environment and flags, reload diffs, and the docs'
 * key table staying in step with the code. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/config.h"
#include "util/secret_file.h"
#include "test.h"

static lmx_config cfg; /* ~180 KB: not on a test's stack */

static int parse(const char *yaml, char *err, size_t n) {
    lmx_config_defaults(&cfg);
    return lmx_config_parse_yaml(&cfg, "c.yaml", yaml, strlen(yaml), err, n);
}

TEST(config_sizes_take_binary_suffixes) {
    uint64_t v;
    CHECK(lmx_config_parse_size("2G", &v) && v == 2ull << 30);
    CHECK(lmx_config_parse_size("512M", &v) && v == 512ull << 20);
    CHECK(lmx_config_parse_size("1.5GiB", &v) && v == 3ull << 29);
    CHECK(lmx_config_parse_size("64k", &v) && v == 65536);
    CHECK(lmx_config_parse_size("4096", &v) && v == 4096);
    CHECK(lmx_config_parse_size("0", &v) && v == 0);
    CHECK(!lmx_config_parse_size("2X", &v));
    CHECK(!lmx_config_parse_size("-1G", &v));
    CHECK(!lmx_config_parse_size("G", &v));
    CHECK(!lmx_config_parse_size("", &v));
    CHECK(!lmx_config_parse_size("1e30", &v));
}

TEST(config_yaml_sets_every_kind_of_key) {
    char err[512];
    const char *y = "port: 8080\n"
                    "host: 0.0.0.0\n"
                    "api_key: 'secret'\n"
                    "memory_limit: 2G\n"
                    "auto_evict: no\n"
                    "default_ttl: 1.5\n"
                    "quarantine:\n  errors: 5\n  window: 30\n"
                    "aliases:\n  auto: [a, 'b:Q4_K_M']\n  chat: c\n"
                    "models:\n  - x\n  - {model: org/r:Q8_0, ctx_size: 2048, alias: big, ttl: 60}\n";
    if (parse(y, err, sizeof err)) FAILF("%s", err);
    CHECK(cfg.port == 8080);
    CHECK(!strcmp(cfg.host, "0.0.0.0"));
    CHECK(!strcmp(cfg.api_key, "secret"));
    CHECK(cfg.memory_limit == 2ull << 30);
    CHECK(!cfg.auto_evict);
    CHECK(cfg.default_ttl == 1.5);
    CHECK(cfg.quarantine_errors == 5 && cfg.quarantine_window == 30);
    CHECK(cfg.n_aliases == 2);
    CHECK(!strcmp(cfg.aliases[0].name, "auto") && cfg.aliases[0].n_models == 2);
    CHECK(!strcmp(cfg.aliases[0].models[1], "b:Q4_K_M"));
    CHECK(!strcmp(cfg.aliases[1].models[0], "c"));
    CHECK(cfg.n_models == 2 && !strcmp(cfg.models[0].model, "x"));
    CHECK(cfg.models[1].ctx_size == 2048 && !strcmp(cfg.models[1].alias, "big"));
    CHECK(cfg.models[1].ttl_s == 60);
    /* untouched keys keep their defaults */
    CHECK(cfg.parallel == 0 && cfg.load_on_demand); /* 0: chosen from memory at load */
}

/* Each bad file names its line and column and why. */
TEST(config_errors_name_line_column_and_reason) {
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"port: 1234\nprot: 5\n", "c.yaml:2:1: unknown key 'prot' (did you mean 'port'?)"},
        {"port: abc\n", "c.yaml:1:7: port: expected an integer from 0 to 65535, got 'abc'"},
        {"port: 70000\n", "c.yaml:1:7: port: expected an integer"},
        {"port: \"80\"\n", "c.yaml:1:7: port: expected an integer from 0 to 65535, got the string"},
        {"memory_limit: 2X\n", "c.yaml:1:15: memory_limit: expected a size"},
        {"mlock: maybe\n", "c.yaml:1:8: mlock: expected true or false"},
        {"port: [1]\n", "c.yaml:1:7: port: expected a single value, got a list"},
        {"quarantine: 3\n", "c.yaml:1:13: quarantine: expected a mapping"},
        {"quarantine:\n  erors: 3\n", "c.yaml:2:3: unknown key 'quarantine.erors'"},
        {"port: 1\nport: 2\n", "c.yaml:2:1: duplicate key 'port' (first at line 1)"},
        {"aliases: [a]\n", "c.yaml:1:10: aliases: expected a mapping"},
        {"models:\n  - {ctx_size: 10}\n", "c.yaml:2:5: models: an entry needs 'model'"},
        {"models:\n  - {model: a, gpu: 1}\n", "c.yaml:2:16: models: unknown key 'gpu'"},
        {"port: 1\n  bad: [\n", "c.yaml:2:"},
        {"- 1\n- 2\n", "c.yaml:1:1: expected a mapping of settings"},
        {"log_level: loud\n", "c.yaml:1:12: log_level: expected debug, info, warn or error"},
        {"port: 1\n---\nport: 2\n", "only one YAML document"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        if (!parse(cases[i].yaml, err, sizeof err)) FAILF("accepted: %s", cases[i].yaml);
        if (!strstr(err, cases[i].want)) FAILF("got '%s', want '%s'", err, cases[i].want);
    }
}

TEST(config_empty_file_and_nulls_are_fine) {
    char err[512];
    if (parse("", err, sizeof err)) FAILF("%s", err);
    if (parse("# only a comment\n", err, sizeof err)) FAILF("%s", err);
    if (parse("api_key:\nmodels:\naliases: ~\n", err, sizeof err)) FAILF("%s", err);
    CHECK(cfg.api_key[0] == 0);
}

TEST(config_layers_flags_over_env_over_file) {
    char path[] = "/tmp/lmx-test-config-XXXXXX", err[512];
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("port: 1000\napi_key: from-file\nqueue: 5\naliases: {a: [x]}\n", f);
    fclose(f);
    setenv("LMX_PORT", "2000", 1);
    setenv("LMX_API_KEY", "from-env", 1);
    setenv("LMX_ALIASES", "b=y,z", 1);
    char *argv[] = {"serve", "--config", path, "--port", "3000", "--no-auto-evict",
                    "--alias", "a=w", NULL};
    int rc = lmx_config_build(&cfg, path, 8, argv, err, sizeof err);
    unsetenv("LMX_PORT");
    unsetenv("LMX_API_KEY");
    unsetenv("LMX_ALIASES");
    if (rc) FAILF("%s", err);
    CHECK(cfg.port == 3000);
    CHECK(!strcmp(cfg.api_key, "from-env"));
    CHECK(cfg.queue == 5);
    CHECK(!cfg.auto_evict);
    CHECK(cfg.n_aliases == 2);
    CHECK(!strcmp(cfg.aliases[0].name, "a") && !strcmp(cfg.aliases[0].models[0], "w"));
    CHECK(!strcmp(cfg.aliases[1].name, "b") && cfg.aliases[1].n_models == 2);
    /* a bad flag is a usage error (-2), a bad variable a config error (-1) */
    char *bad[] = {"serve", "--port", "x", NULL};
    CHECK(lmx_config_build(&cfg, path, 3, bad, err, sizeof err) == -2);
    CHECK(strstr(err, "bad value for --port") != NULL);
    setenv("LMX_MAX_BODY", "12Q", 1);
    rc = lmx_config_build(&cfg, path, 1, argv, err, sizeof err);
    unsetenv("LMX_MAX_BODY");
    CHECK(rc == -1 && !strncmp(err, "LMX_MAX_BODY: expected a size", 29));
    remove(path);
    CHECK(lmx_config_build(&cfg, path, 1, argv, err, sizeof err) == -1);
    CHECK(strstr(err, "cannot open config file") != NULL);
}

TEST(config_diff_reports_changes_and_keeps_restart_keys) {
    static lmx_config a, b;
    lmx_config_defaults(&a);
    b = a;
    b.port = 9; /* restart */
    snprintf(b.api_key, sizeof b.api_key, "k");
    b.n_aliases = 1;
    snprintf(b.aliases[0].name, sizeof b.aliases[0].name, "auto");
    const char *keys[8];
    bool restart[8];
    int n = lmx_config_diff(&a, &b, keys, restart, 8);
    CHECK(n == 3);
    CHECK(!strcmp(keys[0], "port") && restart[0]);
    CHECK(!strcmp(keys[1], "api_key") && !restart[1]);
    CHECK(!strcmp(keys[2], "aliases") && !restart[2]);
    lmx_config_keep_restart(&b, &a);
    CHECK(b.port == 1234 && !strcmp(b.api_key, "k"));
    CHECK(lmx_config_diff(&a, &a, keys, restart, 8) == 0);
}

/* docs/configuration.md holds the table lmx_config_doc writes, line for line. */
TEST(config_docs_list_every_key) {
    FILE *d = fopen("docs/configuration.md", "r");
    if (!d) FAILF("docs/configuration.md not found (run from the repository root)");
    static char doc[1 << 16];
    size_t n = fread(doc, 1, sizeof doc - 1, d);
    doc[n] = 0;
    fclose(d);
    char *table = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&table, &len);
    lmx_config_doc(f);
    fclose(f);
    for (char *line = strtok(table, "\n"); line; line = strtok(NULL, "\n"))
        if (!strstr(doc, line)) {
            fprintf(stderr, "  missing from docs/configuration.md: %s\n", line);
            free(table);
            FAILF("docs/configuration.md is out of date");
        }
    free(table);
}

/* The admin token: unset admin_key takes <state_dir>/admin.token, created
 * 0600 once and read back the same; "none" means no key; the state
 * directory is state_dir, else $LMX_STATE_DIR, else $HOME/.lmx. */
TEST(config_admin_key_defaults_to_a_private_token_in_the_state_dir) {
    char dir[] = "/tmp/lmx-state-XXXXXX";
    CHECK(mkdtemp(dir));
    char path[256], err[256];
    lmx_state_path(dir, "admin.token", path, sizeof path);
    CHECK(strstr(path, dir) == path && strstr(path, "/admin.token"));
    const char *old_home = getenv("HOME"), *old_sd = getenv("LMX_STATE_DIR");
    char *home = old_home ? strdup(old_home) : NULL, *sd = old_sd ? strdup(old_sd) : NULL;
    unsetenv("LMX_STATE_DIR");
    setenv("HOME", "/h", 1);
    lmx_state_path(NULL, "admin.token", path, sizeof path);
    CHECK_EQ_STR(path, "/h/.lmx/admin.token");
    setenv("LMX_STATE_DIR", "/s", 1);
    lmx_state_path("", "admin.token", path, sizeof path);
    CHECK_EQ_STR(path, "/s/admin.token");
    if (home) setenv("HOME", home, 1);
    if (sd)
        setenv("LMX_STATE_DIR", sd, 1);
    else
        unsetenv("LMX_STATE_DIR");
    free(home), free(sd);

    static lmx_config a, b, c;
    lmx_config_defaults(&a);
    snprintf(a.state_dir, sizeof a.state_dir, "%s/sub", dir);
    b = a;
    c = a;
    CHECK(!lmx_config_admin_key(&a, err, sizeof err));
    CHECK(a.admin_token && strlen(a.admin_key) == 64);
    CHECK(!lmx_config_admin_key(&b, err, sizeof err));
    CHECK_EQ_STR(a.admin_key, b.admin_key); /* created once, read back */
    struct stat st;
    snprintf(path, sizeof path, "%s/sub/admin.token", dir);
    CHECK(!stat(path, &st) && (st.st_mode & 0777) == 0600);
    snprintf(path, sizeof path, "%s/sub", dir);
    CHECK(!stat(path, &st) && (st.st_mode & 0777) == 0700);
    snprintf(c.admin_key, sizeof c.admin_key, "none");
    CHECK(!lmx_config_admin_key(&c, err, sizeof err));
    CHECK(!c.admin_key[0] && !c.admin_token);
    snprintf(path, sizeof path, "%s/sub/admin.token", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
}
