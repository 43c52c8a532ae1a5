/* Secret files of the state directory. See secret_file.h. */
#include "util/secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void lmx_state_path(const char *state_dir, const char *name, char *out, size_t cap) {
    const char *d = state_dir && *state_dir ? state_dir : getenv("LMX_STATE_DIR");
    if (d && *d) {
        snprintf(out, cap, "%s/%s", d, name);
        return;
    }
    const char *home = getenv("HOME");
    snprintf(out, cap, "%s/.lmx/%s", home && *home ? home : ".", name);
}

/* mkdir -p of path's directory, the last level 0700. */
static int make_parent(const char *path) {
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", path);
    char *sl = strrchr(d, '/');
    if (!sl || sl == d) return 0;
    *sl = 0;
    for (char *p = d + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(d, 0755) && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(d, 0700) && errno != EEXIST ? -1 : 0;
}

static int read_secret(const char *path, char *out, size_t cap, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) return 1;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (!fstat(fd, &sb) && (sb.st_mode & 077) && sb.st_uid == geteuid())
        fchmod(fd, 0600); /* a secret others could read is made private again */
    ssize_t n = read(fd, out, cap - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ')) n--;
    out[n] = 0;
    return 0;
}

int lmx_secret_file(const char *path, bool create, char *out, size_t cap, char *err,
                    size_t errlen) {
    int rc = read_secret(path, out, cap, err, errlen);
    if (rc <= 0 && (rc < 0 || out[0])) return rc;
    if (rc == 1 && !create) return 1;
    if (rc == 1) {
        unsigned char rnd[32];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
            snprintf(err, errlen, "%s: no random bytes for a token: %s", path, strerror(errno));
            return -1;
        }
        char hex[65];
        for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
        if (make_parent(path)) {
            snprintf(err, errlen, "%s: cannot create its directory: %s", path, strerror(errno));
            return -1;
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            bool ok = write(fd, hex, 64) == 64 && write(fd, "\n", 1) == 1;
            ok = !fsync(fd) && ok;
            close(fd);
            if (!ok) {
                snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
                unlink(path);
                return -1;
            }
        } else if (errno != EEXIST) {
            snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
            return -1;
        }
    }
    /* another process may be writing it this instant: read until it is whole */
    for (int tries = 0; tries < 100; tries++) {
        rc = read_secret(path, out, cap, err, errlen);
        if (rc < 0) return rc;
        if (rc == 0 && out[0]) return 0;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    snprintf(err, errlen, "%s: the file is empty", path);
    return -1;
}
