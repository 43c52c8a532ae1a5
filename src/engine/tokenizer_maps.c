/* Small containers behind the tokenizers: string interning, a pair map for
 * BPE merge ranks, a growable id list, and UTF-8 read/write with llama.cpp's
 * tolerance of invalid input (a bad byte reads as U+FFFD and is skipped). */
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer_impl.h"
#include "util/grow.h"

uint64_t lmx_hash_bytes(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)s[i] << (8 * i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    h *= 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

int lmx_strmap_find(const lmx_strmap *m, const char *s, size_t n) {
    if (!m->ht) return -1;
    size_t i = (size_t)lmx_hash_bytes(s, n) & m->ht_mask;
    for (;;) {
        uint32_t e = m->ht[i];
        if (!e) return -1;
        e--;
        if (m->slen[e] == n && (!n || !memcmp(m->buf + m->off[e], s, n))) return (int)e;
        i = (i + 1) & m->ht_mask;
    }
}

static int strmap_rehash(lmx_strmap *m, size_t nslots) {
    uint32_t *ht = calloc(nslots, sizeof *ht);
    if (!ht) return -1;
    for (int e = 0; e < m->n; e++) {
        size_t i = (size_t)lmx_hash_bytes(m->buf + m->off[e], m->slen[e]) & (nslots - 1);
        while (ht[i]) i = (i + 1) & (nslots - 1);
        ht[i] = (uint32_t)e + 1;
    }
    free(m->ht);
    m->ht = ht;
    m->ht_mask = nslots - 1;
    return 0;
}

int lmx_strmap_add(lmx_strmap *m, const char *s, size_t n) {
    int f = lmx_strmap_find(m, s, n);
    if (f >= 0) return f;
    if (n > UINT32_MAX || m->n >= INT32_MAX / 4) return -1;
    if ((size_t)(m->n + 1) * 2 > (m->ht ? m->ht_mask + 1 : 0)) {
        size_t ns = m->ht ? (m->ht_mask + 1) * 2 : 1024;
        if (strmap_rehash(m, ns)) return -1;
    }
    if (m->n == m->ncap) { /* off and slen grow together */
        int c_off = m->ncap, c_len = m->ncap;
        if (!lmx_grow_int(&m->off, &c_off, m->n + 1, sizeof *m->off, 1024) ||
            !lmx_grow_int(&m->slen, &c_len, m->n + 1, sizeof *m->slen, 1024))
            return -1;
        m->ncap = c_off;
    }
    /* allocated even for an empty string: buf + off must never be NULL + 0
     * (a vocabulary of empty strings is a hostile file's, not a crash) */
    size_t need = m->len + n ? m->len + n : 1;
    if (need > UINT32_MAX || !lmx_grow(&m->buf, &m->cap, need, 1, 4096)) return -1;
    /* s may point into m->buf (it was just reallocated): copy via offset */
    if (n) memmove(m->buf + m->len, s, n);
    m->off[m->n] = (uint32_t)m->len;
    m->slen[m->n] = (uint32_t)n;
    m->len += n;
    size_t i = (size_t)lmx_hash_bytes(m->buf + m->off[m->n], n) & m->ht_mask;
    while (m->ht[i]) i = (i + 1) & m->ht_mask;
    m->ht[i] = (uint32_t)m->n + 1;
    return m->n++;
}

void lmx_strmap_free(lmx_strmap *m) {
    free(m->buf);
    free(m->off);
    free(m->slen);
    free(m->ht);
    memset(m, 0, sizeof *m);
}

static size_t pair_slot(uint64_t k, size_t mask) {
    k ^= k >> 31;
    k *= 0x7fb5d329728ea185ull;
    k ^= k >> 27;
    return (size_t)k & mask;
}

int32_t lmx_pairmap_get(const lmx_pairmap *m, uint32_t a, uint32_t b) {
    if (!m->keys) return -1;
    uint64_t k = (((uint64_t)a << 32) | b) + 1;
    for (size_t i = pair_slot(k, m->mask);; i = (i + 1) & m->mask) {
        if (m->keys[i] == k) return m->vals[i];
        if (!m->keys[i]) return -1;
    }
}

int lmx_pairmap_put(lmx_pairmap *m, uint32_t a, uint32_t b, int32_t v) {
    if ((m->n + 1) * 2 > (m->keys ? m->mask + 1 : 0)) {
        size_t ns = m->keys ? (m->mask + 1) * 2 : 1024;
        uint64_t *k = calloc(ns, sizeof *k);
        int32_t *vv = malloc(ns * sizeof *vv);
        if (!k || !vv) {
            free(k);
            free(vv);
            return -1;
        }
        for (size_t i = 0; m->keys && i <= m->mask; i++) {
            if (!m->keys[i]) continue;
            size_t j = pair_slot(m->keys[i], ns - 1);
            while (k[j]) j = (j + 1) & (ns - 1);
            k[j] = m->keys[i];
            vv[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = k;
        m->vals = vv;
        m->mask = ns - 1;
    }
    uint64_t k = (((uint64_t)a << 32) | b) + 1;
    size_t i = pair_slot(k, m->mask);
    while (m->keys[i]) {
        if (m->keys[i] == k) return 0;
        i = (i + 1) & m->mask;
    }
    m->keys[i] = k;
    m->vals[i] = v;
    m->n++;
    return 0;
}

void lmx_pairmap_free(lmx_pairmap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

void lmx_ids_push(lmx_ids *o, int32_t id) {
    if (o->oom) return;
    if (!lmx_grow_int(&o->v, &o->cap, o->n + 1, sizeof *o->v, 256)) {
        o->oom = true;
        return;
    }
    o->v[o->n++] = id;
}

int lmx_utf8_len(uint8_t lead) {
    static const int len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[lead >> 4];
}

uint32_t lmx_utf8_next(const char *s, size_t n, size_t *i) {
    const uint8_t *u = (const uint8_t *)s + *i;
    size_t left = n - *i;
    if (!(u[0] & 0x80)) {
        *i += 1;
        return u[0];
    }
    int need = (u[0] & 0xe0) == 0xc0   ? 2
               : (u[0] & 0xf0) == 0xe0 ? 3
               : (u[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (!need || (size_t)need > left) goto bad;
    for (int k = 1; k < need; k++)
        if ((u[k] & 0xc0) != 0x80) goto bad;
    uint32_t cp = need == 2 ? (u[0] & 0x1fu) : need == 3 ? (u[0] & 0x0fu) : (u[0] & 0x07u);
    for (int k = 1; k < need; k++) cp = (cp << 6) | (u[k] & 0x3fu);
    *i += (size_t)need;
    return cp;
bad:
    *i += 1;
    return 0xfffd;
}

int lmx_utf8_put(uint32_t cp, char *out) {
    uint8_t *o = (uint8_t *)out;
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xc0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    if (cp > 0x10ffff) cp = 0xfffd;
    if (cp < 0x10000) return lmx_utf8_put(cp, out);
    o[0] = (uint8_t)(0xf0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}
