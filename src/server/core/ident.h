/* Who is calling: the client's address behind trusted proxies, and its
 * client id within its tenant.
 *
 * X-Forwarded-For and Forwarded are believed only when the peer itself is a
 * configured trusted proxy (a CIDR list): then the chain is walked from the
 * right, skipping trusted proxies, and the first address that is not one is
 * the client. From any other peer those headers are ignored — a bot cannot
 * pick its own identity by sending them. Pure functions: no I/O, no state. */
#ifndef LMX_SRV_IDENT_H
#define LMX_SRV_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LMX_MAX_CIDRS 32

typedef struct {
    uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
    int bits;         /* prefix length over the 128-bit form */
} lmx_cidr;

/* "10.0.0.0/8, 192.168.1.7, ::1/128" → list; 0, or -1 with err naming the
 * bad entry. n_out receives the count. */
int lmx_cidr_parse_list(const char *s, lmx_cidr *out, int cap, int *n_out, char *err,
                        size_t errlen);
/* Parses a textual address (IPv4 or IPv6, no port) into the 128-bit form. */
bool lmx_ip_parse(const char *s, uint8_t out[16]);
bool lmx_cidr_match(const lmx_cidr *list, int n, const uint8_t addr[16]);

/* The client address: peer (textual) unless it is trusted, then the first
 * untrusted hop of X-Forwarded-For (xff) or else Forwarded's for= (fwd),
 * from the right. Either header may be NULL. Writes a textual address. */
void lmx_ident_client_addr(const char *peer, const char *xff, const char *fwd,
                           const lmx_cidr *trusted, int n_trusted, char *out, size_t cap);

#endif
