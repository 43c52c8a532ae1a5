/* Secrets kept in small files of the state directory (default ~/.lmx): the
 * admin token that `lmx serve` creates at first start and the lmx CLI reads.
 *
 * A secret file is created with O_EXCL and mode 0600 (its directory 0700
 * when it has to be made), so two daemons starting at once agree on one
 * token and no other user can read it. */
#ifndef LMX_UTIL_SECRET_FILE_H
#define LMX_UTIL_SECRET_FILE_H

#include <stdbool.h>
#include <stddef.h>

/* <state_dir>/<name>; state_dir NULL or "": $LMX_STATE_DIR, else $HOME/.lmx. */
void lmx_state_path(const char *state_dir, const char *name, char *out, size_t cap);

/* Reads the secret at path into out (without trailing whitespace). When the
 * file does not exist and create is set, writes 32 random bytes as 64 hex
 * digits first (creating its directory 0700). 0, or -1 with err set
 * ("PATH: why"); 1 when it does not exist and create is not set. */
int lmx_secret_file(const char *path, bool create, char *out, size_t cap, char *err, size_t errlen);

#endif
