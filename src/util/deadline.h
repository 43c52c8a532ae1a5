/* Deadlines for pthread_cond_timedwait, which takes an absolute time on
 * CLOCK_REALTIME (the condition variables here use the default clock). */
#ifndef LMX_UTIL_DEADLINE_H
#define LMX_UTIL_DEADLINE_H

#include <time.h>

/* Now + ms (>= 0). */
static inline struct timespec lmx_deadline_ms(long long ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ns = ts.tv_nsec + ms % 1000 * 1000000LL;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

#endif
