/* TLS for lmx serve, through libmicrohttpd's GnuTLS support.
 *
 * The certificate and key are handed to GnuTLS by a callback at each
 * handshake, from a pair this module holds: a reload (SIGHUP) loads the new
 * files and swaps the pair, so new connections get the new certificate and
 * open ones are not dropped. Replaced pairs are kept until exit (a handshake
 * in progress may still use one). With a CA (mTLS), client certificates are
 * requested and lmx_tls_peer verifies them against it; the subject's common
 * name names the tenant. One TLS configuration per process. */
#ifndef LMX_SRV_TLS_H
#define LMX_SRV_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* Loads cert (PEM chain) and key (PEM), and the CA (PEM, NULL or "": no
 * mTLS). 0, or -1 with err naming the file and the reason. */
int lmx_tls_init(const char *cert, const char *key, const char *ca, char *err, size_t errlen);
/* Loads a new pair and swaps it in; the old one stays on failure. */
int lmx_tls_reload(const char *cert, const char *key, char *err, size_t errlen);
bool lmx_tls_enabled(void);
/* The CA's PEM text for MHD_OPTION_HTTPS_MEM_TRUST, NULL without mTLS. */
const char *lmx_tls_ca_pem(void);
/* The certificate callback for MHD_OPTION_HTTPS_CERT_CALLBACK. */
void *lmx_tls_cert_callback(void);
/* A connection's client certificate (session: its gnutls_session_t):
 * 1 verified (cn gets the subject's common name), 0 none presented, -1
 * presented but not valid (why says why). */
int lmx_tls_peer(void *session, char *cn, size_t cap, char *why, size_t whylen);
void lmx_tls_shutdown(void);

#endif
