/* Rolling top-N by decayed activity (see topn.h). */
#include "util/topn.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char key[LMX_TOPN_KEY];
    double score, at; /* decayed count as of time `at` */
    uint64_t count;   /* events while labelled (labels only) */
    bool used;
} slot;

struct lmx_topn {
    int n, n_cand;
    double half_life;
    slot *lab, *cand; /* both point into slots[]: n labels, then n_cand candidates */
    uint64_t other, evictions;
    slot slots[];
};

lmx_topn *lmx_topn_new(int n, double half_life_s) {
    if (n < 1) n = 1;
    /* one allocation: the table and its 5n slots live and die together */
    lmx_topn *t = calloc(1, sizeof *t + 5 * (size_t)n * sizeof(slot));
    if (!t) return NULL;
    t->n = n;
    t->n_cand = 4 * n;
    t->half_life = half_life_s > 0 ? half_life_s : 300;
    t->lab = t->slots;
    t->cand = t->slots + n;
    return t;
}

void lmx_topn_free(lmx_topn *t) {
    free(t);
}

/* A slot's score decayed to now. */
static double score(const lmx_topn *t, const slot *s, double now) {
    if (!s->used) return 0;
    double dt = now - s->at;
    return dt > 0 ? s->score * exp2(-dt / t->half_life) : s->score;
}

static void bump(const lmx_topn *t, slot *s, double now) {
    s->score = score(t, s, now) + 1;
    s->at = now;
}

static slot *find(slot *v, int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (v[i].used && !strncmp(v[i].key, key, LMX_TOPN_KEY - 1)) return &v[i];
    return NULL;
}

/* The least active slot (an unused one first). */
static slot *least(const lmx_topn *t, slot *v, int n, double now) {
    slot *best = &v[0];
    double bs = score(t, best, now);
    for (int i = 0; i < n && best->used; i++) {
        double s = score(t, &v[i], now);
        if (!v[i].used || s < bs) best = &v[i], bs = s;
    }
    return best;
}

int lmx_topn_hit(lmx_topn *t, const char *key, double now) {
    slot *l = find(t->lab, t->n, key);
    if (!l) {
        slot *free_lab = least(t, t->lab, t->n, now);
        if (!free_lab->used) { /* a label to spare */
            l = free_lab;
            memset(l, 0, sizeof *l);
            snprintf(l->key, sizeof l->key, "%s", key);
            l->used = true;
            l->at = now;
        }
    }
    if (l) {
        bump(t, l, now);
        l->count++;
        return (int)(l - t->lab);
    }
    /* a candidate: space-saving over the candidate table */
    slot *c = find(t->cand, t->n_cand, key);
    if (!c) {
        c = least(t, t->cand, t->n_cand, now);
        double inherit = score(t, c, now); /* 0 for an unused slot */
        memset(c, 0, sizeof *c);
        snprintf(c->key, sizeof c->key, "%s", key);
        c->used = true;
        c->score = inherit;
        c->at = now;
    }
    bump(t, c, now);
    slot *low = least(t, t->lab, t->n, now);
    double cs = score(t, c, now), ls = score(t, low, now);
    if (cs <= 2 * ls + 1) {
        t->other++;
        return -1;
    }
    /* promote: the candidate takes the least active label, which becomes a
     * candidate (keeping its score, so it can win a label back) */
    slot evicted = *low;
    memset(low, 0, sizeof *low);
    memcpy(low->key, c->key, sizeof low->key);
    low->score = c->score;
    low->at = c->at;
    low->used = true;
    low->count = 1;
    memcpy(c->key, evicted.key, sizeof c->key);
    c->score = evicted.score;
    c->at = evicted.at;
    t->evictions++;
    return (int)(low - t->lab);
}

int lmx_topn_slots(const lmx_topn *t) {
    return t->n;
}

const char *lmx_topn_key(const lmx_topn *t, int i) {
    return i >= 0 && i < t->n && t->lab[i].used ? t->lab[i].key : NULL;
}

uint64_t lmx_topn_count(const lmx_topn *t, int i) {
    return i >= 0 && i < t->n && t->lab[i].used ? t->lab[i].count : 0;
}

uint64_t lmx_topn_other(const lmx_topn *t) {
    return t->other;
}

uint64_t lmx_topn_evictions(const lmx_topn *t) {
    return t->evictions;
}
