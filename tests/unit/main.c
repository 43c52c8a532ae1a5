/* Runs every registered unit test (or those whose name contains argv[1]). */
#include "test.h"

#include <stdlib.h>

#define MAX_TESTS 2048

static struct {
    const char *name, *file;
    lmx_test_fn fn;
} tests[MAX_TESTS];
static int n_tests;

void lmx_test_register(const char *name, const char *file, lmx_test_fn fn) {
    if (n_tests < MAX_TESTS) {
        tests[n_tests].name = name;
        tests[n_tests].file = file;
        tests[n_tests].fn = fn;
        n_tests++;
    }
}

const char *lmx_test_shared(void) {
    const char *s = getenv("LMX_SHARED");
    return s && *s ? s : "../shared";
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        int f = 0;
        tests[i].fn(&f);
        if (f) {
            fprintf(stderr, "FAIL %s (%s)\n", tests[i].name, tests[i].file);
            failed++;
        } else {
            fprintf(stderr, "ok   %s\n", tests[i].name);
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
