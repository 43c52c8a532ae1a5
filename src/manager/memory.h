/* What memory the machine can give to models: MemAvailable from meminfo and,
 * inside a cgroup v2 container, the tightest memory.max up the hierarchy less
 * what the cgroup already uses (memory.current minus the reclaimable page
 * cache, inactive_file in memory.stat).
 *
 * Every path is read under `root` ("/" on a real system) so tests can point
 * the parser at a fake tree. */
#ifndef LMX_MGR_MEMORY_H
#define LMX_MGR_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t mem_total;     /* MemTotal; 0 if unknown */
    uint64_t mem_available; /* MemAvailable; 0 if unknown */
    bool cgroup;            /* a cgroup v2 limit applies */
    uint64_t cg_limit;      /* smallest memory.max up the hierarchy */
    uint64_t cg_usage;      /* memory.current - inactive_file of the limiting cgroup */
    uint64_t available;     /* what a new model may take: min of both views */
    const char *source;     /* "meminfo" | "cgroup" */
} lmx_mem_info;

/* Reads root/proc/meminfo, root/proc/self/cgroup and root/sys/fs/cgroup/...
 * 0, or -1 when meminfo cannot be read (out stays zeroed). */
int lmx_mem_probe(const char *root, lmx_mem_info *out);

/* "2G", "512M", "1.5GiB", "1048576" → bytes; false on anything else. */
bool lmx_mem_parse_size(const char *s, uint64_t *out);

#endif
