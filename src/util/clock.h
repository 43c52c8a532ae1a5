/* Monotonic time in seconds, for durations (never for timestamps shown to users). */
#ifndef LMX_UTIL_CLOCK_H
#define LMX_UTIL_CLOCK_H

#include <time.h>

static inline double lmx_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
