/* The model manager's pure parts (memory files, sizes, names) and its
 * quarantine rule, on a temporary store holding a link to stories260K. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager/manager.h"
#include "manager/memory.h"
#include "manager/store.h"
#include "test.h"

static void put(const char *root, const char *rel, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s%s", root, rel);
    /* mkdir -p of the parent */
    for (char *s = p + strlen(root) + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void rmtree(const char *dir) {
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {
    }
}

static const char meminfo[] = "MemTotal:       16000000 kB\n"
                              "MemFree:         1000000 kB\n"
                              "MemAvailable:    8000000 kB\n"
                              "Cached:          5000000 kB\n";

TEST(mem_meminfo_only) {
    char root[] = "/tmp/lmx-mem-XXXXXX";
    CHECK(mkdtemp(root));
    put(root, "/proc/meminfo", meminfo);
    lmx_mem_info mi;
    int rc = lmx_mem_probe(root, &mi);
    rmtree(root);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(mi.mem_total, 16000000ull * 1024);
    CHECK_EQ_INT(mi.available, 8000000ull * 1024);
    CHECK(!mi.cgroup);
    CHECK_EQ_STR(mi.source, "meminfo");
}

TEST(mem_cgroup_smallest_limit_up_the_hierarchy) {
    char root[] = "/tmp/lmx-mem-XXXXXX";
    CHECK(mkdtemp(root));
    put(root, "/proc/meminfo", meminfo);
    put(root, "/proc/self/cgroup", "0::/a/b\n");
    put(root, "/sys/fs/cgroup/a/b/memory.max", "max\n");
    put(root, "/sys/fs/cgroup/a/memory.max", "1073741824\n"); /* 1 GiB: the tightest */
    put(root, "/sys/fs/cgroup/a/memory.current", "536870912\n");
    put(root, "/sys/fs/cgroup/a/memory.stat", "anon 100\nfile 300\ninactive_file 268435456\n");
    put(root, "/sys/fs/cgroup/memory.max", "4294967296\n");
    lmx_mem_info mi;
    int rc = lmx_mem_probe(root, &mi);
    rmtree(root);
    CHECK_EQ_INT(rc, 0);
    CHECK(mi.cgroup);
    CHECK_EQ_INT(mi.cg_limit, 1ull << 30);
    CHECK_EQ_INT(mi.cg_usage, (512ull - 256) << 20); /* current - inactive_file */
    CHECK_EQ_INT(mi.available, (1024ull - 256) << 20);
    CHECK_EQ_STR(mi.source, "cgroup");
}

TEST(mem_cgroup_max_everywhere_means_no_limit) {
    char root[] = "/tmp/lmx-mem-XXXXXX";
    CHECK(mkdtemp(root));
    put(root, "/proc/meminfo", meminfo);
    put(root, "/proc/self/cgroup", "0::/\n");
    put(root, "/sys/fs/cgroup/memory.max", "max\n");
    lmx_mem_info mi;
    lmx_mem_probe(root, &mi);
    rmtree(root);
    CHECK(!mi.cgroup);
    CHECK_EQ_INT(mi.available, 8000000ull * 1024);
}

TEST(mem_cgroup_over_its_limit_leaves_nothing) {
    char root[] = "/tmp/lmx-mem-XXXXXX";
    CHECK(mkdtemp(root));
    put(root, "/proc/meminfo", meminfo);
    put(root, "/proc/self/cgroup", "1:cpu:/x\n0::/c\n");
    put(root, "/sys/fs/cgroup/c/memory.max", "1000\n");
    put(root, "/sys/fs/cgroup/c/memory.current", "5000\n");
    lmx_mem_info mi;
    lmx_mem_probe(root, &mi);
    rmtree(root);
    CHECK(mi.cgroup);
    CHECK_EQ_INT(mi.available, 0);
}

TEST(mem_missing_meminfo_fails) {
    lmx_mem_info mi;
    CHECK_EQ_INT(lmx_mem_probe("/nonexistent-lmx-root", &mi), -1);
}

TEST(mem_parse_size) {
    uint64_t v;
    CHECK(lmx_mem_parse_size("2G", &v) && v == 2ull << 30);
    CHECK(lmx_mem_parse_size("512M", &v) && v == 512ull << 20);
    CHECK(lmx_mem_parse_size("1.5GiB", &v) && v == 3ull << 29);
    CHECK(lmx_mem_parse_size("64k", &v) && v == 64ull << 10);
    CHECK(lmx_mem_parse_size("1048576", &v) && v == 1048576);
    CHECK(!lmx_mem_parse_size("", &v));
    CHECK(!lmx_mem_parse_size("G", &v));
    CHECK(!lmx_mem_parse_size("2X", &v));
    CHECK(!lmx_mem_parse_size("-1G", &v));
    CHECK(!lmx_mem_parse_size("2GB extra", &v));
    CHECK(!lmx_mem_parse_size("1e18T", &v));
}

TEST(store_names) {
    char why[128];
    CHECK(lmx_store_valid_name("stories260K", why, sizeof why));
    CHECK(lmx_store_valid_name("org/repo:Q4_K_M", why, sizeof why));
    CHECK(lmx_store_valid_name("a/b/c.d", why, sizeof why));
    CHECK(lmx_store_valid_name("a..", why, sizeof why));
    /* a leading dot is hidden: the store's own .lmx/downloads/ must not be named */
    CHECK(!lmx_store_valid_name("..a", why, sizeof why));
    CHECK(!lmx_store_valid_name(".lmx/downloads/x", why, sizeof why));
    CHECK(!lmx_store_valid_name("org/.repo:Q8_0", why, sizeof why));
    CHECK(!lmx_store_valid_name("", why, sizeof why));
    CHECK(!lmx_store_valid_name("..", why, sizeof why));
    CHECK(!lmx_store_valid_name("../etc/passwd", why, sizeof why));
    CHECK(!lmx_store_valid_name("a/../../b", why, sizeof why));
    CHECK(!lmx_store_valid_name("a/..", why, sizeof why));
    CHECK(!lmx_store_valid_name("./a", why, sizeof why));
    CHECK(!lmx_store_valid_name("/etc/passwd", why, sizeof why));
    CHECK(!lmx_store_valid_name("a//b", why, sizeof why));
    CHECK(!lmx_store_valid_name("a\\..\\b", why, sizeof why));
    CHECK(!lmx_store_valid_name("a\nb", why, sizeof why));
    CHECK(!lmx_store_valid_name("a\x7f", why, sizeof why));
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK(!lmx_store_valid_name(longname, why, sizeof why));
}

TEST(mgr_quarantine_after_repeated_failures) {
    char dir[] = "/tmp/lmx-store-XXXXXX", src[1024], dst[1100];
    CHECK(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/models/stories260K.gguf", lmx_test_shared());
    char *real = realpath(src, NULL);
    snprintf(dst, sizeof dst, "%s/tiny.gguf", dir);
    int rc = real ? symlink(real, dst) : -1;
    free(real);
    if (rc) {
        rmtree(dir);
        FAILF("cannot link %s", src);
    }
    lmx_mgr_opts o = {.n_ctx = 64, .n_parallel = 1, .n_queue = 4, .models_dir = dir};
    lmx_mgr *m = lmx_mgr_create(&o);
    lmx_mgr_err e = {0};
    lmx_served *s = lmx_mgr_acquire(m, "tiny", &e); /* on demand */
    int ok = s != NULL;
    for (int i = 0; ok && i < 3; i++) lmx_mgr_report_failure(s, "non-finite logits");
    lmx_mgr_release(s);
    lmx_served *s2 = ok ? lmx_mgr_acquire(m, "tiny", &e) : NULL;
    bool unstable = !s2 && e.status == LMX_MGR_UNSTABLE;
    lmx_mgr_release(s2);
    lmx_load_req q = {.model = "tiny"};
    lmx_served *s3 = ok ? lmx_mgr_load(m, &q, &e) : NULL; /* a reload clears it */
    bool reloaded = s3 != NULL;
    lmx_mgr_release(s3);
    lmx_mgr_destroy(m, true);
    rmtree(dir);
    CHECK(ok);
    CHECK(unstable);
    CHECK(reloaded);
}

/* The downloader's contract: a file under <dir>/org/repo/ registered with its
 * source is listed once, under "org/repo:QUANT", and the registry keeps it
 * across a restart. */
TEST(mgr_register_download) {
    char dir[] = "/tmp/lmx-store-XXXXXX", src[1024], sub[1100], dst[1200];
    CHECK(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/models/synth/llama-q8_0.gguf", lmx_test_shared());
    char *real = realpath(src, NULL);
    snprintf(sub, sizeof sub, "%s/org", dir);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/org/repo", dir);
    mkdir(sub, 0755);
    snprintf(dst, sizeof dst, "%s/tiny-Q8_0.gguf", sub);
    int rc = real ? symlink(real, dst) : -1;
    free(real);
    if (rc) {
        rmtree(dir);
        FAILF("cannot link %s", src);
    }
    lmx_mgr_opts o = {.n_ctx = 64, .n_parallel = 1, .models_dir = dir};
    lmx_mgr *m = lmx_mgr_create(&o);
    json_t *meta = json_pack("{s:s,s:s,s:s,s:s}", "repo", "org/repo", "revision", "main", "file",
                             "tiny-Q8_0.gguf", "sha256", "ab12");
    char id[256] = "";
    lmx_mgr_err e = {0};
    lmx_store_entry *scan;
    int n_scan = lmx_mgr_store_list(m, &scan); /* scanned first as a dropped file */
    lmx_store_entries_free(scan, n_scan);
    int r1 = lmx_mgr_register(m, dst, meta, id, sizeof id, &e);
    lmx_mgr_destroy(m, true);
    m = lmx_mgr_create(&o); /* a restart */
    lmx_store_entry *list;
    int n_list = lmx_mgr_store_list(m, &list);
    lmx_store_entry *one = n_list == 1 ? &list[0] : NULL;
    bool ok = one && !strcmp(one->id, "org/repo:Q8_0") && one->sha256 &&
              !strcmp(one->sha256, "ab12") && one->repo && !strcmp(one->repo, "org/repo");
    /* outside the store: refused */
    char other[] = "/tmp/lmx-out-XXXXXX";
    int fd = mkstemp(other);
    if (fd >= 0) close(fd);
    lmx_mgr_err e2 = {0};
    char id2[256];
    int r2 = lmx_mgr_register(m, other, meta, id2, sizeof id2, &e2);
    unlink(other);
    json_decref(meta);
    lmx_mgr_destroy(m, true);
    rmtree(dir);
    if (!ok)
        for (int i = 0; i < n_list; i++)
            fprintf(stderr, "  listing: %s sha256=%s repo=%s\n", list[i].id,
                    list[i].sha256 ? list[i].sha256 : "-", list[i].repo ? list[i].repo : "-");
    lmx_store_entries_free(list, n_list);
    CHECK_EQ_INT(r1, 0);
    CHECK_EQ_STR(id, "org/repo:Q8_0");
    CHECK(ok);
    CHECK_EQ_INT(r2, -1);
    CHECK_EQ_INT(e2.status, LMX_MGR_INVALID);
}
