/* Client addresses behind trusted proxies (see ident.h). */
#include "server/core/ident.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HOPS 32

bool lmx_ip_parse(const char *s, uint8_t out[16]) {
    struct in_addr a4;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        return true;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, s, &a6) == 1) {
        memcpy(out, &a6, 16);
        return true;
    }
    return false;
}

int lmx_cidr_parse_list(const char *s, lmx_cidr *out, int cap, int *n_out, char *err,
                        size_t errlen) {
    int n = 0;
    *n_out = 0;
    while (s && *s) {
        while (*s == ',' || isspace((unsigned char)*s)) s++;
        if (!*s) break;
        size_t len = strcspn(s, ", \t");
        char one[80];
        if (len >= sizeof one) {
            snprintf(err, errlen, "trusted proxy entry too long: '%.40s...'", s);
            return -1;
        }
        memcpy(one, s, len);
        one[len] = 0;
        s += len;
        char *slash = strchr(one, '/');
        long bits = -1;
        if (slash) {
            *slash = 0;
            char *end;
            bits = strtol(slash + 1, &end, 10);
            if (!slash[1] || *end || bits < 0) bits = -2;
        }
        lmx_cidr c;
        if (!lmx_ip_parse(one, c.addr) || bits == -2) {
            snprintf(err, errlen, "'%s%s%s' is not an address or CIDR (e.g. 10.0.0.0/8, ::1)", one,
                     slash ? "/" : "", slash ? slash + 1 : "");
            return -1;
        }
        bool v4 = strchr(one, ':') == NULL;
        if (bits < 0) bits = v4 ? 32 : 128;
        if (bits > (v4 ? 32 : 128)) {
            snprintf(err, errlen, "'%s/%ld': prefix longer than the address", one, bits);
            return -1;
        }
        c.bits = (int)(v4 ? bits + 96 : bits);
        if (n == cap) {
            snprintf(err, errlen, "at most %d trusted proxy entries", cap);
            return -1;
        }
        out[n++] = c;
    }
    *n_out = n;
    return 0;
}

bool lmx_cidr_match(const lmx_cidr *list, int n, const uint8_t addr[16]) {
    for (int i = 0; i < n; i++) {
        int bits = list[i].bits, k = 0;
        for (; bits >= 8; bits -= 8, k++)
            if (addr[k] != list[i].addr[k]) break;
        if (bits >= 8) continue;
        if (bits == 0) return true;
        uint8_t mask = (uint8_t)(0xff << (8 - bits));
        if ((addr[k] & mask) == (list[i].addr[k] & mask)) return true;
    }
    return false;
}

/* One hop's text → a bare address in out: strips quotes, [v6]:port and
 * v4:port. false for "unknown", obfuscated ids and garbage. */
static bool hop_addr(const char *s, size_t n, char *out, size_t cap) {
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') s++, n -= 2;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) return false;
        s++;
        n = (size_t)(close - s);
    } else if (memchr(s, '.', n)) {
        const char *colon = memchr(s, ':', n);
        if (colon) n = (size_t)(colon - s); /* a.b.c.d:port */
    }
    if (n == 0 || n >= cap || n >= 64) return false;
    memcpy(out, s, n);
    out[n] = 0;
    uint8_t a[16];
    return lmx_ip_parse(out, a);
}

/* Splits a header into hops: XFF "a, b", or Forwarded's for= parameters
 * "for=a;proto=x, for=b". Returns how many (at most MAX_HOPS, the last ones). */
static int hops(const char *h, bool forwarded, char out[][64]) {
    int n = 0;
    for (const char *s = h; s && *s;) {
        size_t len = strcspn(s, ",");
        const char *v = s;
        size_t vn = len;
        bool have = true;
        if (forwarded) {
            have = false;
            /* find for= among the ;-separated pairs of this element */
            for (const char *p = s; p < s + len;) {
                size_t pl = strcspn(p, ";");
                if (p + pl > s + len) pl = (size_t)(s + len - p);
                const char *q = p;
                while (q < p + pl && isspace((unsigned char)*q)) q++;
                if ((size_t)(p + pl - q) > 4 && !strncasecmp(q, "for=", 4)) {
                    v = q + 4;
                    vn = (size_t)(p + pl - v);
                    have = true;
                    break;
                }
                p += pl + (p + pl < s + len);
            }
        }
        char a[64];
        bool ok = have && hop_addr(v, vn, a, sizeof a);
        if (n == MAX_HOPS) { /* keep the rightmost hops: they are the trusted end */
            memmove(out[0], out[1], (MAX_HOPS - 1) * sizeof out[0]);
            n--;
        }
        snprintf(out[n++], 64, "%s", ok ? a : "");
        s += len;
        if (*s == ',') s++;
    }
    return n;
}

void lmx_ident_client_addr(const char *peer, const char *xff, const char *fwd,
                           const lmx_cidr *trusted, int n_trusted, char *out, size_t cap) {
    snprintf(out, cap, "%s", peer ? peer : "");
    uint8_t a[16];
    if (!n_trusted || !peer || !lmx_ip_parse(peer, a) || !lmx_cidr_match(trusted, n_trusted, a))
        return;
    char h[MAX_HOPS][64];
    int n = xff && *xff ? hops(xff, false, h) : fwd && *fwd ? hops(fwd, true, h) : 0;
    for (int i = n - 1; i >= 0; i--) {
        if (!h[i][0] || !lmx_ip_parse(h[i], a)) return; /* garbage: the last trusted hop */
        snprintf(out, cap, "%s", h[i]);
        if (!lmx_cidr_match(trusted, n_trusted, a)) return;
    }
}
