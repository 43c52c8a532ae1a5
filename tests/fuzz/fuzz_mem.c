/* libFuzzer harness for the memory-file parsers (manager/memory.c) and the
 * model-name check (manager/store.c).
 *
 * Input: up to five NUL-separated parts written as /proc/meminfo,
 * /proc/self/cgroup, and memory.max, memory.current, memory.stat of the
 * cgroup "/a" (and memory.max of the root) in a private temporary tree; the
 * whole input is also given to the size parser and the name check. Nothing may
 * crash, leak or read out of bounds, and the result must be consistent:
 * available never exceeds a cgroup limit that applies.
 * Build and run: make fuzz && build-fuzz/fuzz_mem -max_total_time=60 CORPUS_DIR */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager/memory.h"
#include "manager/store.h"

static char root[64];

static void put(const char *rel, const uint8_t *p, size_t n) {
    char path[256];
    snprintf(path, sizeof path, "%s%s", root, rel);
    FILE *f = fopen(path, "w");
    if (!f) return;
    fwrite(p, 1, n, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) return 0;
    if (!root[0]) {
        snprintf(root, sizeof root, "/tmp/lmx-fuzz-mem-%d", (int)getpid());
        const char *dirs[] = {"",        "/proc",          "/proc/self",      "/sys",
                              "/sys/fs", "/sys/fs/cgroup", "/sys/fs/cgroup/a"};
        for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
            char p[256];
            snprintf(p, sizeof p, "%s%s", root, dirs[i]);
            mkdir(p, 0700);
        }
    }
    static const char *const files[] = {
        "/proc/meminfo", "/proc/self/cgroup", "/sys/fs/cgroup/a/memory.max",
        "/sys/fs/cgroup/a/memory.current", "/sys/fs/cgroup/a/memory.stat"};
    size_t at = 0;
    for (int k = 0; k < 5; k++) {
        const uint8_t *z = at < size ? memchr(data + at, 0, size - at) : NULL;
        size_t n = z ? (size_t)(z - (data + at)) : (at < size ? size - at : 0);
        put(files[k], data + at, n);
        at += n + (z ? 1 : 0);
    }
    put("/sys/fs/cgroup/memory.max", (const uint8_t *)"max\n", 4);
    lmx_mem_info mi;
    if (lmx_mem_probe(root, &mi) == 0 && mi.cgroup && mi.available > mi.cg_limit &&
        !strcmp(mi.source, "cgroup"))
        abort();

    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    uint64_t v;
    lmx_mem_parse_size(s, &v);
    char why[128];
    if (lmx_store_valid_name(s, why, sizeof why) && (strstr(s, "/../") || s[0] == '/'))
        abort(); /* a name that passed must not climb or be absolute */
    free(s);
    return 0;
}
