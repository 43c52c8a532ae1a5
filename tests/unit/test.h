/* A tiny unit-test harness.
 *
 * Each test file defines tests with TEST(name) { ... }; they register
 * themselves at start-up (constructor attribute), and tests/unit/main.c runs
 * them all, or those whose name contains argv[1]. CHECK* macros record a
 * failure and return from the test; the run ends with "N passed, N failed". */
#ifndef LMX_TEST_H
#define LMX_TEST_H

#include <stdio.h>
#include <string.h>
#include <math.h>

typedef void (*lmx_test_fn)(int *failed);
void lmx_test_register(const char *name, const char *file, lmx_test_fn fn);

/* Path to ../shared (LMX_SHARED or "../shared"), for tests reading refs and models. */
const char *lmx_test_shared(void);

#define TEST(name)                                                                                 \
    static void test_##name(int *lmx_failed_);                                                     \
    __attribute__((constructor)) static void register_##name(void) {                              \
        lmx_test_register(#name, __FILE__, test_##name);                                           \
    }                                                                                              \
    static void test_##name(int *lmx_failed_)

#define FAILF(...)                                                                                 \
    do {                                                                                           \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                          \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        *lmx_failed_ = 1;                                                                          \
        return;                                                                                    \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) FAILF("check failed: %s", #cond);                                             \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) FAILF("%s == %lld, expected %s == %lld", #a, a_, #b, b_);                     \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            FAILF("%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)");    \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (tol))) FAILF("%s == %g, expected %g (tol %g)", #a, a_, b_, (double)(tol)); \
    } while (0)

#endif
