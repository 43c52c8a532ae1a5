#include "util/size.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

bool lmx_size_parse(const char *s, uint64_t *out) {
    if (!s || !isdigit((unsigned char)*s)) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !isfinite(v)) return false;
    static const char units[] = "KMGT";
    double mul = 1;
    for (int i = 0; *end && units[i]; i++)
        if (toupper((unsigned char)*end) == units[i]) {
            mul = ldexp(1.0, 10 * (i + 1));
            end++;
            break;
        }
    if (mul > 1 && (*end == 'i' || *end == 'I')) end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end) return false;
    v *= mul;
    if (v >= 1.8e19) return false; /* beyond uint64_t */
    *out = (uint64_t)v;
    return true;
}
