/* Edit-distance suggestions. Candidates are few (commands, a command's
 * options, the store's models), so the quadratic distance is cheap. */
#include "cli/suggest.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Levenshtein distance with adjacent transpositions, capped at 64 bytes. */
static int distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 64 || nb > 64) return 1000;
    int d[65][65];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[na][nb];
}

const char *lmx_suggest(const char *word, const char *const *cands, size_t n) {
    const char *best = NULL;
    int best_d = 1000;
    size_t wl = strlen(word);
    for (size_t i = 0; i < n; i++) {
        if (!cands[i] || !*cands[i]) continue;
        int d = distance(word, cands[i]);
        size_t cl = strlen(cands[i]);
        /* "stories" for "stories260K": a word that starts or ends the candidate */
        if (wl >= 3 && cl > wl &&
            (!strncasecmp(cands[i], word, wl) || !strcasecmp(cands[i] + cl - wl, word)))
            d = d < 2 ? d : 2;
        if (d < best_d) best_d = d, best = cands[i];
    }
    int limit = wl < 4 ? 1 : wl < 8 ? 2 : 3;
    return best && best_d <= limit ? best : NULL;
}
