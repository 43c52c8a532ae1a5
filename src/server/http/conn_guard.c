/* Connection admission, per-peer counts and request deadlines. See
 * conn_guard.h.
 *
 * Connections live on one list (the reaper walks it); per-peer counts in a
 * small chained hash table. Lock: g->mu guards both, the totals and every
 * lmx_conn's fields. The reaper shuts a socket down only while its
 * connection is on the list, under the lock, and the HTTP layer removes it
 * (lmx_guard_close) before libmicrohttpd closes the descriptor, so a
 * descriptor number reused by a later connection is never touched. */
#include "server/http/conn_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/core/ident.h"
#include "util/clock.h"
#include "util/zalloc.h"

#define N_BUCKETS 1024

typedef struct {
    uint8_t b[17]; /* family byte + address (IPv4) or IPv6 /64 */
} peer_key;

typedef struct peer {
    peer_key k;
    int n;
    struct peer *next;
} peer;

struct lmx_conn {
    int fd;
    peer_key k;
    bool trusted, reserve;
    bool in_head, in_body, killed;
    bool bad_path;   /* written and read on the connection's own loop thread */
    double deadline; /* for the head: shut down past it */
    double body_t0;  /* when the body began */
    size_t body_bytes;
    struct lmx_conn *prev, *next;
};

struct lmx_guard {
    lmx_guard_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* stop */
    peer *buckets[N_BUCKETS];
    lmx_cidr trusted[LMX_MAX_CIDRS]; /* the trusted_proxies setting, shared with identity */
    int n_trusted;
    lmx_conn *conns;
    int n_open, n_reserve;
    lmx_guard_stats st;
    pthread_t reaper;
    bool stop, reaper_started;
};

static bool key_of(const struct sockaddr *sa, peer_key *k) {
    memset(k, 0, sizeof *k);
    if (!sa) return false;
    if (sa->sa_family == AF_INET) {
        k->b[0] = 4;
        memcpy(k->b + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            k->b[0] = 4;
            memcpy(k->b + 1, a->s6_addr + 12, 4);
        } else {
            k->b[0] = 6;
            memcpy(k->b + 1, a->s6_addr, 8); /* one host usually owns a whole /64 */
        }
        return true;
    }
    return false;
}

static unsigned hash_key(const peer_key *k) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof k->b; i++) h = (h ^ k->b[i]) * 16777619u;
    return h % N_BUCKETS;
}

static peer *find_peer(lmx_guard *g, const peer_key *k, bool create) {
    unsigned b = hash_key(k);
    for (peer *p = g->buckets[b]; p; p = p->next)
        if (!memcmp(p->k.b, k->b, sizeof k->b)) return p;
    if (!create) return NULL;
    peer *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->k = *k;
    p->next = g->buckets[b];
    g->buckets[b] = p;
    return p;
}

static void drop_peer(lmx_guard *g, const peer_key *k) {
    unsigned b = hash_key(k);
    for (peer **pp = &g->buckets[b]; *pp; pp = &(*pp)->next)
        if (!memcmp((*pp)->k.b, k->b, sizeof k->b)) {
            peer *p = *pp;
            if (--p->n <= 0) {
                *pp = p->next;
                free(p);
            }
            return;
        }
}

/* The peer's whole address (not its /64 key) against the trusted CIDRs. */
static bool is_trusted(const lmx_guard *g, const struct sockaddr *sa) {
    if (!g->n_trusted || !sa) return false;
    uint8_t a[16] = {0};
    if (sa->sa_family == AF_INET) {
        a[10] = a[11] = 0xff; /* ::ffff:a.b.c.d, the form lmx_cidr uses */
        memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    } else {
        return false;
    }
    return lmx_cidr_match(g->trusted, g->n_trusted, a);
}

static void *reaper_main(void *arg) {
    lmx_guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        double now = lmx_now_s();
        for (lmx_conn *c = g->conns; c; c = c->next) {
            if (c->killed) continue;
            bool late = c->in_head && now > c->deadline;
            bool slow = false;
            if (!late && c->in_body && g->o.body_min_rate > 0) {
                double el = now - c->body_t0;
                slow = el > g->o.header_timeout &&
                       (double)c->body_bytes < (double)g->o.body_min_rate * el;
            }
            if (late || slow) {
                c->killed = true;
                if (late)
                    g->st.killed_head++;
                else
                    g->st.killed_body++;
                shutdown(c->fd, SHUT_RDWR);
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

lmx_guard *lmx_guard_create(const lmx_guard_opts *o, char *err, size_t errlen) {
    lmx_guard *g = lmx_zalloc(sizeof *g, err, errlen);
    if (!g) return NULL;
    g->o = *o;
    if (g->o.header_timeout <= 0) g->o.header_timeout = 10;
    if (g->o.idle_timeout <= 0) g->o.idle_timeout = 120;
    /* trusted proxies: the same CIDR list identity believes X-Forwarded-For from */
    char why[256];
    const char *tp = o->trusted && strcmp(o->trusted, "none") ? o->trusted : "";
    if (lmx_cidr_parse_list(tp, g->trusted, LMX_MAX_CIDRS, &g->n_trusted, why, sizeof why)) {
        snprintf(err, errlen, "trusted_proxies: %s", why);
        free(g);
        return NULL;
    }
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    if (pthread_create(&g->reaper, NULL, reaper_main, g)) {
        snprintf(err, errlen, "cannot start the connection reaper thread");
        lmx_guard_destroy(g);
        return NULL;
    }
    g->reaper_started = true;
    return g;
}

void lmx_guard_destroy(lmx_guard *g) {
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (g->reaper_started) pthread_join(g->reaper, NULL);
    for (int b = 0; b < N_BUCKETS; b++)
        for (peer *p = g->buckets[b], *n; p; p = n) {
            n = p->next;
            free(p);
        }
    for (lmx_conn *c = g->conns, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

bool lmx_guard_admit(lmx_guard *g, const struct sockaddr *sa) {
    peer_key k;
    key_of(sa, &k);
    pthread_mutex_lock(&g->mu);
    bool ok = true;
    if (g->n_open >= g->o.max_conns + g->o.reserve) {
        ok = false;
        g->st.refused_full++;
    } else if (g->o.per_peer > 0 && !is_trusted(g, sa)) {
        peer *p = find_peer(g, &k, false);
        if (p && p->n >= g->o.per_peer) {
            ok = false;
            g->st.refused_peer++;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return ok;
}

lmx_conn *lmx_guard_open(lmx_guard *g, const struct sockaddr *sa, int fd) {
    lmx_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = fd;
    key_of(sa, &c->k);
    pthread_mutex_lock(&g->mu);
    c->trusted = is_trusted(g, sa);
    peer *p = find_peer(g, &c->k, true);
    if (p) p->n++;
    /* admit() is a fast path: with a thread pool, two workers can both pass it before either
     * counts its connection here. This count is the authority, so a connection over the
     * cap is shut now; the server sees EOF and closes it through lmx_guard_close(). */
    bool over = g->n_open >= g->o.max_conns + g->o.reserve ||
                (g->o.per_peer > 0 && !c->trusted && p && p->n > g->o.per_peer);
    if (over) {
        if (g->n_open >= g->o.max_conns + g->o.reserve)
            g->st.refused_full++;
        else
            g->st.refused_peer++;
        if (fd >= 0) shutdown(fd, SHUT_RDWR);
    }
    c->reserve = g->n_open >= g->o.max_conns;
    g->n_open++;
    g->n_reserve += c->reserve;
    c->in_head = true;
    c->deadline = lmx_now_s() + g->o.header_timeout;
    c->next = g->conns;
    if (g->conns) g->conns->prev = c;
    g->conns = c;
    pthread_mutex_unlock(&g->mu);
    return c;
}

void lmx_guard_close(lmx_guard *g, lmx_conn *c) {
    if (!c) return;
    pthread_mutex_lock(&g->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    drop_peer(g, &c->k);
    g->n_open--;
    g->n_reserve -= c->reserve;
    pthread_mutex_unlock(&g->mu);
    free(c);
}

void lmx_guard_request_line(lmx_guard *g, lmx_conn *c, bool bad_path) {
    if (!c) return;
    c->bad_path = bad_path;
    pthread_mutex_lock(&g->mu);
    double d = lmx_now_s() + g->o.header_timeout;
    if (!c->in_head || d < c->deadline) c->deadline = d;
    c->in_head = true;
    pthread_mutex_unlock(&g->mu);
}

void lmx_guard_head_done(lmx_guard *g, lmx_conn *c, bool has_body) {
    if (!c) return;
    pthread_mutex_lock(&g->mu);
    c->in_head = false;
    c->in_body = has_body;
    c->body_t0 = lmx_now_s();
    c->body_bytes = 0;
    pthread_mutex_unlock(&g->mu);
}

void lmx_guard_body(lmx_guard *g, lmx_conn *c, size_t n) {
    if (!c) return;
    pthread_mutex_lock(&g->mu);
    c->body_bytes += n;
    pthread_mutex_unlock(&g->mu);
}

void lmx_guard_body_done(lmx_guard *g, lmx_conn *c) {
    if (!c) return;
    pthread_mutex_lock(&g->mu);
    c->in_body = false;
    pthread_mutex_unlock(&g->mu);
}

void lmx_guard_request_done(lmx_guard *g, lmx_conn *c) {
    if (!c) return;
    pthread_mutex_lock(&g->mu);
    /* the next request head: after an idle wait, then header_timeout from its line */
    c->in_head = true;
    c->in_body = false;
    c->deadline = lmx_now_s() + g->o.idle_timeout + g->o.header_timeout;
    pthread_mutex_unlock(&g->mu);
}

bool lmx_conn_is_reserve(const lmx_conn *c) {
    return c && c->reserve;
}

bool lmx_conn_bad_path(const lmx_conn *c) {
    return c && c->bad_path;
}

void lmx_guard_get_stats(lmx_guard *g, lmx_guard_stats *out) {
    pthread_mutex_lock(&g->mu);
    *out = g->st;
    out->open = g->n_open;
    out->reserve_open = g->n_reserve;
    pthread_mutex_unlock(&g->mu);
}
