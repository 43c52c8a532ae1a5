/* lmx serve's start-up, as a person starting it sees it: a taken port fails
 * before any model is loaded, one line says what is running and where the
 * models are (and how to add one), and listening beyond loopback without an
 * API key is warned about. */
#ifndef LMX_CLI_SERVE_START_H
#define LMX_CLI_SERVE_START_H

#include <stdbool.h>
#include <stddef.h>

#include "manager/manager.h"
#include "server/config.h"

/* false with why set when host:port cannot be bound now (taken, or not an
 * address of this machine). Port 0 (any) is always free. */
bool lmx_serve_port_free(const char *host, int port, char *why, size_t n);

/* The one start-up line (and the loopback warning) on the log. */
void lmx_serve_announce(lmx_mgr *mgr, const lmx_config *cfg, int port, int threads,
                        const char *cfg_path);

#endif
