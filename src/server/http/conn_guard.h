/* Connection admission and deadlines: what keeps one client from locking the
 * others out of the HTTP server.
 *
 * - A general limit (max_conns) plus a reserve: connections accepted beyond
 *   the general limit are "reserve" connections, which the server answers
 *   only for its probes and the admin API (http.c decides), so /health,
 *   /readyz and the operator stay reachable when the general limit is full.
 * - A cap per peer address (IPv4 address, IPv6 /64), with trusted proxies
 *   (which carry many clients) exempt.
 * - A total deadline for each request head, not an idle timer that every
 *   byte resets: a fresh connection has header_timeout from its accept, a
 *   kept-alive one idle_timeout + header_timeout after its last answer and
 *   header_timeout after its next request line. A body must keep to
 *   body_min_rate bytes/s after a grace of header_timeout.
 *   A connection past its deadline is shut down (shutdown(2) on its socket;
 *   the event loop then sees the end of the stream and closes it).
 *
 * The HTTP layer reports each connection's life (open / request line / head
 * done / body bytes / request done / close); a reaper thread checks the
 * deadlines 10 times a second. Thread-safe: one mutex (the guard's). */
#ifndef LMX_SRV_HTTP_CONN_GUARD_H
#define LMX_SRV_HTTP_CONN_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct {
    int max_conns;         /* general limit */
    int reserve;           /* more, for probes and the admin API */
    int per_peer;          /* 0: no cap */
    const char *trusted;   /* comma/space-separated numeric addresses exempt from per_peer */
    double header_timeout; /* seconds for a request head */
    double idle_timeout;   /* seconds a kept-alive connection may wait for its next request */
    long body_min_rate;    /* bytes/s a body must keep to; 0: no minimum */
} lmx_guard_opts;

typedef struct lmx_guard lmx_guard;
typedef struct lmx_conn lmx_conn;

typedef struct {
    int open, reserve_open;              /* now */
    uint64_t refused_peer, refused_full; /* refused at accept, since start */
    uint64_t killed_head, killed_body;   /* shut down past a deadline, since start */
} lmx_guard_stats;

/* NULL with err set (a bad trusted address). */
lmx_guard *lmx_guard_create(const lmx_guard_opts *o, char *err, size_t errlen);
void lmx_guard_destroy(lmx_guard *g);

/* At accept, before anything is read: false refuses the connection. */
bool lmx_guard_admit(lmx_guard *g, const struct sockaddr *sa);
/* A connection started (after admit) / ended. open returns NULL when out of memory. */
lmx_conn *lmx_guard_open(lmx_guard *g, const struct sockaddr *sa, int fd);
void lmx_guard_close(lmx_guard *g, lmx_conn *c);

/* Its life, as the HTTP layer sees it. */
void lmx_guard_request_line(lmx_guard *g, lmx_conn *c, bool bad_path);
void lmx_guard_head_done(lmx_guard *g, lmx_conn *c, bool has_body);
void lmx_guard_body(lmx_guard *g, lmx_conn *c, size_t n);
void lmx_guard_body_done(lmx_guard *g, lmx_conn *c);
void lmx_guard_request_done(lmx_guard *g, lmx_conn *c);

/* Accepted beyond the general limit: probes and admin only. */
bool lmx_conn_is_reserve(const lmx_conn *c);
/* Its current request's raw path held a NUL or control byte (%00 ...). */
bool lmx_conn_bad_path(const lmx_conn *c);
void lmx_guard_get_stats(lmx_guard *g, lmx_guard_stats *out);

#endif
