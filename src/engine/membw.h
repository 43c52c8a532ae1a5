/* Measures the machine's memory read bandwidth: all pool threads streaming a
 * buffer much larger than the caches. The bench compares decode speed to it
 * (decode streams every weight once per token, so this is its roofline). */
#ifndef LMX_MEMBW_H
#define LMX_MEMBW_H

#include <stddef.h>

#include "engine/threads.h"

/* Best of `passes` reads of a `bytes` buffer, in bytes per second; 0 on failure. */
double lmx_membw_measure(lmx_pool *pool, size_t bytes, int passes);

#endif
