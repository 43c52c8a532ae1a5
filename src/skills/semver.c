/* Semantic versions (semver.org 2.0.0 precedence) and selectors. */
#include "skills/semver.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A numeric part: digits without a leading zero (except "0"). */
static bool num(const char **s, long *out) {
    const char *p = *s;
    if (!isdigit((unsigned char)*p)) return false;
    if (p[0] == '0' && isdigit((unsigned char)p[1])) return false;
    errno = 0;
    char *end;
    long x = strtol(p, &end, 10);
    if (errno || x < 0 || end - p > 9) return false;
    *out = x;
    *s = end;
    return true;
}

static bool pre_ok(const char *p) {
    if (!*p) return false;
    for (const char *id = p;;) {
        size_t n = strcspn(id, ".");
        if (!n) return false;
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)id[i]) && id[i] != '-') return false;
        if (!id[n]) return true;
        id += n + 1;
    }
}

/* Parses up to three parts; *parts gets how many were present. */
static bool parse(const char *s, lmx_semver *v, int *parts) {
    memset(v, 0, sizeof *v);
    long *f[3] = {&v->major, &v->minor, &v->patch};
    int n = 0;
    while (n < 3) {
        if (!num(&s, f[n])) return false;
        n++;
        if (*s != '.') break;
        s++;
    }
    *parts = n;
    if (*s == '-') {
        if (n != 3) return false;
        s++;
        size_t len = strcspn(s, "+");
        if (len >= sizeof v->pre) return false;
        memcpy(v->pre, s, len);
        v->pre[len] = 0;
        if (!pre_ok(v->pre)) return false;
        s += len;
    }
    if (*s == '+') {
        if (n != 3 || !s[1]) return false;
        for (s++; *s; s++)
            if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-') return false;
    }
    return *s == 0;
}

bool lmx_semver_parse(const char *s, lmx_semver *v) {
    int parts;
    return s && parse(s, v, &parts) && parts == 3;
}

static bool all_digits(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return false;
    return n > 0;
}

/* Prerelease precedence: identifiers left to right, numeric ones compared as
 * numbers and below alphanumeric ones; a shorter list that is a prefix sorts first. */
static int pre_cmp(const char *a, const char *b) {
    if (!*a || !*b) return !*a && !*b ? 0 : (!*a ? 1 : -1);
    for (;;) {
        size_t na = strcspn(a, "."), nb = strcspn(b, ".");
        bool da = all_digits(a, na), db = all_digits(b, nb);
        int c;
        if (da && db)
            c = na != nb ? (na < nb ? -1 : 1) : strncmp(a, b, na);
        else if (da != db)
            c = da ? -1 : 1;
        else {
            c = strncmp(a, b, na < nb ? na : nb);
            if (!c && na != nb) c = na < nb ? -1 : 1;
        }
        if (c) return c < 0 ? -1 : 1;
        if (!a[na] || !b[nb]) return !a[na] && !b[nb] ? 0 : (!a[na] ? -1 : 1);
        a += na + 1;
        b += nb + 1;
    }
}

int lmx_semver_cmp(const lmx_semver *a, const lmx_semver *b) {
    if (a->major != b->major) return a->major < b->major ? -1 : 1;
    if (a->minor != b->minor) return a->minor < b->minor ? -1 : 1;
    if (a->patch != b->patch) return a->patch < b->patch ? -1 : 1;
    return pre_cmp(a->pre, b->pre);
}

bool lmx_semsel_parse(const char *s, lmx_semsel *sel) {
    memset(sel, 0, sizeof *sel);
    if (!s || !*s || !strcmp(s, "latest")) return true;
    return parse(s, &sel->v, &sel->parts);
}

bool lmx_semsel_match(const lmx_semsel *sel, const lmx_semver *v) {
    if (sel->v.pre[0]) return !lmx_semver_cmp(&sel->v, v);
    if (v->pre[0]) return false;
    if (sel->parts >= 1 && v->major != sel->v.major) return false;
    if (sel->parts >= 2 && v->minor != sel->v.minor) return false;
    if (sel->parts >= 3 && v->patch != sel->v.patch) return false;
    return true;
}
