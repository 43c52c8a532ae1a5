/* Memory the machine can give: /proc/meminfo and cgroup v2 files, parsed
 * under a root directory (tests feed fake trees). See memory.h. */
#include "manager/memory.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/size.h"

/* Reads a small file whole (NUL terminated) into buf; false if unreadable. */
static bool slurp(const char *root, const char *path, char *buf, size_t cap) {
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s%s", strcmp(root, "/") ? root : "", path);
    FILE *f = fopen(full, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return true;
}

/* "Key:   123 kB" in meminfo → bytes. */
static bool meminfo_field(const char *text, const char *key, uint64_t *out) {
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) || p[kl] != ':') continue;
        char *end;
        unsigned long long v = strtoull(p + kl + 1, &end, 10);
        while (*end == ' ') end++;
        *out = (uint64_t)v * (strncmp(end, "kB", 2) ? 1 : 1024);
        return true;
    }
    return false;
}

/* The cgroup v2 path of this process ("0::/a/b" line), into path. */
static bool own_cgroup(const char *root, char *path, size_t cap) {
    char buf[4096];
    if (!slurp(root, "/proc/self/cgroup", buf, sizeof buf)) return false;
    for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, "0::", 3)) continue;
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p - 3) : strlen(p + 3);
        if (n >= cap) return false;
        memcpy(path, p + 3, n);
        path[n] = 0;
        return path[0] == '/';
    }
    return false;
}

/* A number file (memory.max, memory.current); "max" → UINT64_MAX. */
static bool read_num(const char *root, const char *dir, const char *file, uint64_t *out) {
    char p[PATH_MAX], buf[64];
    snprintf(p, sizeof p, "/sys/fs/cgroup%s/%s", strcmp(dir, "/") ? dir : "", file);
    if (!slurp(root, p, buf, sizeof buf)) return false;
    if (!strncmp(buf, "max", 3)) {
        *out = UINT64_MAX;
        return true;
    }
    if (!isdigit((unsigned char)buf[0])) return false;
    *out = strtoull(buf, NULL, 10);
    return true;
}

static uint64_t inactive_file(const char *root, const char *dir) {
    char p[PATH_MAX], buf[8192];
    snprintf(p, sizeof p, "/sys/fs/cgroup%s/memory.stat", strcmp(dir, "/") ? dir : "");
    if (!slurp(root, p, buf, sizeof buf)) return 0;
    for (char *l = buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (!strncmp(l, "inactive_file ", 14)) return strtoull(l + 14, NULL, 10);
    return 0;
}

int lmx_mem_probe(const char *root, lmx_mem_info *out) {
    memset(out, 0, sizeof *out);
    out->source = "meminfo";
    char buf[16384];
    if (!slurp(root, "/proc/meminfo", buf, sizeof buf)) return -1;
    meminfo_field(buf, "MemTotal", &out->mem_total);
    if (!meminfo_field(buf, "MemAvailable", &out->mem_available)) {
        /* kernels before 3.14: free + page cache is the closest */
        uint64_t fr = 0, cached = 0;
        meminfo_field(buf, "MemFree", &fr);
        meminfo_field(buf, "Cached", &cached);
        out->mem_available = fr + cached;
    }
    out->available = out->mem_available;

    /* cgroup v2: walk from our cgroup to the root; the tightest limit wins,
     * and its usage is what counts against it */
    char cg[PATH_MAX];
    if (!own_cgroup(root, cg, sizeof cg)) return 0;
    uint64_t best = UINT64_MAX;
    char best_dir[PATH_MAX] = "";
    for (;;) {
        uint64_t lim;
        if (read_num(root, cg, "memory.max", &lim) && lim < best) {
            best = lim;
            snprintf(best_dir, sizeof best_dir, "%s", cg);
        }
        if (!strcmp(cg, "/")) break;
        char *slash = strrchr(cg, '/');
        if (slash == cg)
            cg[1] = 0;
        else
            *slash = 0;
    }
    if (best == UINT64_MAX) return 0;
    uint64_t cur = 0;
    read_num(root, best_dir, "memory.current", &cur);
    uint64_t inact = inactive_file(root, best_dir);
    uint64_t used = cur > inact ? cur - inact : 0;
    out->cgroup = true;
    out->cg_limit = best;
    out->cg_usage = used;
    uint64_t cg_avail = best > used ? best - used : 0;
    if (cg_avail < out->available || !out->mem_total) {
        out->available = cg_avail;
        out->source = "cgroup";
    }
    return 0;
}

bool lmx_mem_parse_size(const char *s, uint64_t *out) {
    return lmx_size_parse(s, out);
}
