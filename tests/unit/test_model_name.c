/* Model names as people type them (manager/model_name.c): Ollama's tag, file
 * extensions, hf.co/ and huggingface.co forms and URLs. */
#include <string.h>

#include "manager/model_name.h"
#include "test.h"

TEST(model_name_clean_drops_tags_extensions_and_hub_prefixes) {
    static const char *const cases[][2] = {
        {"stories260K", "stories260K"},
        {"stories260K:latest", "stories260K"},
        {"stories260K.gguf", "stories260K"},
        {"sub/x.GGUF", "sub/x"},
        {"hf.co/org/repo:Q4_K_M", "org/repo:Q4_K_M"},
        {"huggingface.co/org/repo:Q8_0", "org/repo:Q8_0"},
        {"org/repo:Q4_K_M", "org/repo:Q4_K_M"},
        {":latest", ":latest"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        lmx_model_name_clean(cases[i][0], out, sizeof out);
        CHECK_EQ_STR(out, cases[i][1]);
    }
}

TEST(hf_ref_parses_repo_quant_and_urls) {
    lmx_hf_ref r;
    char why[256];
    CHECK(lmx_hf_ref_parse("org/repo:Q4_K_M", &r, why, sizeof why));
    CHECK_EQ_STR(r.repo, "org/repo");
    CHECK_EQ_STR(r.quant, "Q4_K_M");
    CHECK(!r.file[0] && !r.revision[0]);
    CHECK(lmx_hf_ref_parse("hf.co/org/repo:latest", &r, why, sizeof why));
    CHECK_EQ_STR(r.repo, "org/repo");
    CHECK(!r.quant[0]);
    CHECK(lmx_hf_ref_parse("https://huggingface.co/org/repo", &r, why, sizeof why));
    CHECK_EQ_STR(r.repo, "org/repo");
    CHECK(lmx_hf_ref_parse(
        "https://huggingface.co/org/repo/resolve/v1.0/sub/dir/m-Q8_0.gguf?download=true", &r, why,
        sizeof why));
    CHECK_EQ_STR(r.repo, "org/repo");
    CHECK_EQ_STR(r.revision, "v1.0");
    CHECK_EQ_STR(r.file, "sub/dir/m-Q8_0.gguf");
    CHECK(
        lmx_hf_ref_parse("https://huggingface.co/org/repo/blob/main/m.gguf", &r, why, sizeof why));
    CHECK_EQ_STR(r.file, "m.gguf");
    CHECK_EQ_STR(r.revision, "main");
    CHECK(!lmx_hf_ref_parse("justone", &r, why, sizeof why));
    CHECK(strstr(why, "not ORG/REPO") != NULL);
    CHECK(!lmx_hf_ref_parse("org/:Q4_0", &r, why, sizeof why) && strstr(why, "no repository"));
    char longname[1000];
    memset(longname, 'a', sizeof longname - 3);
    memcpy(longname + sizeof longname - 3, "/b", 3);
    CHECK(!lmx_hf_ref_parse(longname, &r, why, sizeof why) && strstr(why, "too long"));
    CHECK(!lmx_hf_ref_parse("https://huggingface.co/org/repo/discussions/3", &r, why, sizeof why));
    CHECK(!lmx_hf_ref_parse("org/repo:Q4/blob/main/x", &r, why, sizeof why));
}
