/* Semantic versions of skills and the selectors callers name them by.
 *
 * A version is MAJOR.MINOR.PATCH with an optional -PRERELEASE (build
 * metadata after '+' is accepted and ignored). A selector is what follows
 * '@' in "ns/name@1.2": one, two or three numeric parts (the highest version
 * whose leading parts are equal), a full version with a prerelease (exactly
 * that one), or nothing (the latest stable). Prereleases are chosen only by
 * naming them exactly, as npm and cargo do: "@1" never picks 1.3.0-beta. */
#ifndef LMX_SKILLS_SEMVER_H
#define LMX_SKILLS_SEMVER_H

#include <stdbool.h>

typedef struct {
    long major, minor, patch;
    char pre[48]; /* "" for a stable release */
} lmx_semver;

typedef struct {
    int parts; /* 0: latest stable; 1..3: numeric parts given */
    lmx_semver v;
} lmx_semsel;

/* Parses "1.2.3", "1.2.3-rc.1", "1.2.3+build". false when malformed. */
bool lmx_semver_parse(const char *s, lmx_semver *v);
/* <0, 0, >0 by semver precedence (a prerelease sorts before its release). */
int lmx_semver_cmp(const lmx_semver *a, const lmx_semver *b);
/* "" (latest), "1", "1.2", "1.2.3", "1.2.3-beta". false when malformed. */
bool lmx_semsel_parse(const char *s, lmx_semsel *sel);
bool lmx_semsel_match(const lmx_semsel *sel, const lmx_semver *v);

#endif
