/* Temporary: commands not yet written. Removed as each cmd_*.c lands. */
#include <stdio.h>

#include "cli/cli.h"

#define STUB(fn)                                                                                   \
    int fn(int argc, char **argv) {                                                                \
        (void)argc;                                                                                \
        fprintf(stderr, "lmx %s: not built yet\n", argv[0]);                                       \
        return 2;                                                                                  \
    }
STUB(cmd_tokenize)
