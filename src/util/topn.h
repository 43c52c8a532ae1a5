/* Rolling top-N: which keys (client ids) get their own metric label.
 *
 * At most n keys hold a label at a time; every other key's events count
 * under "other", so a metric's cardinality stays at n + 1 however many
 * clients come and go. A label goes to the keys most active *recently*:
 * each key's activity is an exponentially decayed count (half-life
 * half_life_s), so a client that becomes busy later takes the label of one
 * that went idle, and an idle one falls back to "other".
 *
 * Keys without a label are tracked in a candidate table of 4n entries run as
 * space-saving (Metwally et al.): an unseen key takes the least active
 * candidate's place and inherits its score + 1, so a key's score is never
 * underestimated and memory stays fixed. A candidate takes the least active
 * label only when its score is over twice that label's + 1: two clients of
 * about equal activity do not swap the label back and forth.
 *
 * Prometheus semantics: a label's count only grows while the key holds it.
 * An evicted label's series is no longer written (Prometheus marks it stale);
 * if the key wins a label again later its count restarts at 0, which rate()
 * and increase() read as a counter reset. "other" only grows, and never
 * absorbs an evicted label's count (that would show as a burst of traffic).
 *
 * Not thread-safe: the caller holds its own lock. */
#ifndef LMX_UTIL_TOPN_H
#define LMX_UTIL_TOPN_H

#include <stdint.h>

#define LMX_TOPN_KEY 128 /* longer keys are cut */

typedef struct lmx_topn lmx_topn;

/* n labels (>= 1); NULL when out of memory. */
lmx_topn *lmx_topn_new(int n, double half_life_s);
void lmx_topn_free(lmx_topn *t);

/* One event of key at time now (seconds, monotonic). Returns the label slot
 * it was counted under, or -1 for "other". */
int lmx_topn_hit(lmx_topn *t, const char *key, double now);

/* The label slots (in no particular order): a slot holds a key when
 * lmx_topn_key returns non-NULL. */
int lmx_topn_slots(const lmx_topn *t);
const char *lmx_topn_key(const lmx_topn *t, int slot);
uint64_t lmx_topn_count(const lmx_topn *t, int slot);
uint64_t lmx_topn_other(const lmx_topn *t);
/* Labels taken from one key and given to another, since creation. */
uint64_t lmx_topn_evictions(const lmx_topn *t);

#endif
