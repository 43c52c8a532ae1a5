/* The Hub client's pure parts: names that may reach the filesystem, choosing
 * files from a listing by quant or file name, quant names in file names. */
#include <jansson.h>
#include <stdlib.h>

#include "manager/hub.h"
#include "test.h"

static json_t *listing(const char *const *paths) {
    json_t *a = json_array();
    for (int i = 0; paths[i]; i++)
        json_array_append_new(a, json_pack("{s:s,s:i}", "path", paths[i], "size", 100 + i));
    return a;
}

static const char *const REPO[] = {"README.md",
                                   "model-Q4_K_M.gguf",
                                   "model-Q4_K_S.gguf",
                                   "model-q8_0.gguf",
                                   "mmproj-model-F16.gguf",
                                   "model-F16.gguf",
                                   "big/model-Q6_K-00001-of-00003.gguf",
                                   "big/model-Q6_K-00002-of-00003.gguf",
                                   "big/model-Q6_K-00003-of-00003.gguf",
                                   "part/model-Q5_K_M-00001-of-00002.gguf",
                                   NULL};

TEST(hub_repo_and_path_names_cannot_escape_the_store) {
    CHECK(lmx_hub_valid_repo("unsloth/Qwen3-0.6B-GGUF"));
    CHECK(!lmx_hub_valid_repo("noslash"));
    CHECK(!lmx_hub_valid_repo("../x"));
    CHECK(!lmx_hub_valid_repo("a/.."));
    CHECK(!lmx_hub_valid_repo("a/b/c"));
    CHECK(!lmx_hub_valid_repo("/b"));
    CHECK(!lmx_hub_valid_repo("a b/c"));
    /* a component starting with a dot is hidden (the store's own is .lmx) */
    CHECK(!lmx_hub_valid_repo(".lmx/downloads"));
    CHECK(!lmx_hub_valid_repo("org/.hidden"));
    CHECK(lmx_hub_valid_repo("org/name.v2"));
    CHECK(!lmx_hub_valid_path(".lmx/x.gguf"));
    CHECK(!lmx_hub_valid_path("dir/.x.gguf"));
    CHECK(lmx_hub_valid_path("dir/model.gguf"));
    CHECK(!lmx_hub_valid_path("../model.gguf"));
    CHECK(!lmx_hub_valid_path("dir/../../x"));
    CHECK(!lmx_hub_valid_path("/etc/passwd"));
    CHECK(!lmx_hub_valid_path("a//b"));
    CHECK(!lmx_hub_valid_path("a\\b"));
    CHECK(!lmx_hub_valid_path(""));
}

TEST(hub_quant_matches_whole_tokens_case_insensitively) {
    json_t *l = listing(REPO);
    lmx_hub_file *f;
    lmx_mgr_err e = {0};
    int n = lmx_hub_choose(l, NULL, "q4_k_m", &f, &e);
    CHECK(n == 1 && !strcmp(f[0].name, "model-Q4_K_M.gguf") && f[0].size == 101);
    lmx_hub_files_free(f, n);
    n = lmx_hub_choose(l, NULL, "Q8_0", &f, &e);
    CHECK(n == 1 && !strcmp(f[0].name, "model-q8_0.gguf"));
    lmx_hub_files_free(f, n);
    /* Q4_K is not Q4_K_M nor Q4_K_S */
    n = lmx_hub_choose(l, NULL, "Q4_K", &f, &e);
    CHECK(n == -1 && e.status == LMX_MGR_NOT_FOUND && e.what == LMX_MGR_W_FILE);
    CHECK(strstr(e.message, "model-Q4_K_M.gguf") &&
          strstr(e.message, "big/model-Q6_K-00001-of-00003.gguf"));
    CHECK(!strstr(e.message, "00002-of-00003")); /* one line per split model */
    /* F16: the projector is passed over for the model */
    n = lmx_hub_choose(l, NULL, "F16", &f, &e);
    CHECK(n == 1 && !strcmp(f[0].name, "model-F16.gguf"));
    lmx_hub_files_free(f, n);
    json_decref(l);
}

TEST(hub_split_models_are_fetched_whole) {
    json_t *l = listing(REPO);
    lmx_hub_file *f;
    lmx_mgr_err e = {0};
    int n = lmx_hub_choose(l, NULL, "Q6_K", &f, &e);
    CHECK(n == 3 && !strcmp(f[2].name, "big/model-Q6_K-00003-of-00003.gguf"));
    lmx_hub_files_free(f, n);
    n = lmx_hub_choose(l, "big/model-Q6_K-00002-of-00003.gguf", NULL, &f, &e);
    CHECK(n == 3 && !strcmp(f[0].name, "big/model-Q6_K-00001-of-00003.gguf"));
    lmx_hub_files_free(f, n);
    /* a shard missing from the repo */
    n = lmx_hub_choose(l, NULL, "Q5_K_M", &f, &e);
    CHECK(n == -1 && e.status == LMX_MGR_NOT_FOUND && strstr(e.message, "00002-of-00002"));
    json_decref(l);
}

TEST(hub_file_must_exist_and_several_models_are_ambiguous) {
    json_t *l = listing(REPO);
    lmx_hub_file *f;
    lmx_mgr_err e = {0};
    int n = lmx_hub_choose(l, "README.md", NULL, &f, &e);
    CHECK(n == 1 && !strcmp(f[0].name, "README.md"));
    lmx_hub_files_free(f, n);
    n = lmx_hub_choose(l, "nope.gguf", NULL, &f, &e);
    CHECK(n == -1 && e.status == LMX_MGR_NOT_FOUND && e.arg && !strcmp(e.arg, "file"));
    n = lmx_hub_choose(l, NULL, NULL, &f, &e);
    CHECK(n == -1 && e.status == LMX_MGR_AMBIGUOUS);
    json_decref(l);
    static const char *const one[] = {"README.md", "only-Q8_0.gguf", NULL};
    l = listing(one);
    n = lmx_hub_choose(l, NULL, NULL, &f, &e);
    CHECK(n == 1 && !strcmp(f[0].name, "only-Q8_0.gguf"));
    lmx_hub_files_free(f, n);
    json_decref(l);
}

TEST(hub_listing_paths_that_leave_the_store_are_ignored) {
    static const char *const evil[] = {"../evil-Q8_0.gguf", "a/../../b-Q8_0.gguf", "/abs-Q8_0.gguf",
                                       NULL};
    json_t *l = listing(evil);
    lmx_hub_file *f;
    lmx_mgr_err e = {0};
    CHECK(lmx_hub_choose(l, NULL, "Q8_0", &f, &e) == -1 && e.status == LMX_MGR_NOT_FOUND);
    CHECK(lmx_hub_choose(l, "../evil-Q8_0.gguf", NULL, &f, &e) == -1 &&
          e.status == LMX_MGR_NOT_FOUND);
    json_decref(l);
}

TEST(hub_quant_read_from_file_names) {
    char q[32];
    lmx_hub_quant_of("Qwen3-0.6B-Q4_K_M.gguf", q, sizeof q);
    CHECK(!strcmp(q, "Q4_K_M"));
    lmx_hub_quant_of("dir/model.q8_0.gguf", q, sizeof q);
    CHECK(!strcmp(q, "Q8_0"));
    lmx_hub_quant_of("model-IQ4_XS-00001-of-00002.gguf", q, sizeof q);
    CHECK(!strcmp(q, "IQ4_XS"));
    lmx_hub_quant_of("model-bf16.gguf", q, sizeof q);
    CHECK(!strcmp(q, "BF16"));
    lmx_hub_quant_of("stories260K.gguf", q, sizeof q);
    CHECK(!strcmp(q, ""));
}
