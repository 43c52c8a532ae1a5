/* systemd's readiness protocol (sd_notify(3)), without libsystemd: a
 * datagram to the unix socket named by $NOTIFY_SOCKET ("@name" is Linux's
 * abstract namespace). A no-op when the variable is unset. */
#ifndef LMX_SRV_HTTP_SD_NOTIFY_H
#define LMX_SRV_HTTP_SD_NOTIFY_H

/* Sends state (e.g. "READY=1\nSTATUS=listening"); 0 sent or not asked for,
 * -1 when the socket could not be reached. */
int lmx_sd_notify(const char *state);

#endif
