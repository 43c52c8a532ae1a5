/* Byte sizes as people write them: "4096", "64K", "512M", "1.5GiB", "2T". */
#ifndef LMX_UTIL_SIZE_H
#define LMX_UTIL_SIZE_H

#include <stdbool.h>
#include <stdint.h>

/* A number (starting with a digit) and an optional binary multiple K, M, G
 * or T (any case, "i" and "B" optional after it: 2G = 2GiB = 2GB = 2 << 30),
 * or a plain number with an optional B. false on anything else or a size
 * beyond uint64_t (*out untouched). The one parser behind the config's,
 * the manager's and the skill manifests' sizes. */
bool lmx_size_parse(const char *s, uint64_t *out);

#endif
