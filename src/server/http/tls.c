/* TLS: the certificate pair, its reload, client certificates (see tls.h). */
#include "server/http/tls.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/zalloc.h"

#define MAX_CHAIN 8

typedef struct pair {
    gnutls_pcert_st certs[MAX_CHAIN];
    unsigned n;
    gnutls_privkey_t key;
    struct pair *older; /* replaced pairs, freed at shutdown */
} pair;

static _Atomic(pair *) current;
static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;
static char *ca_pem;

static void pair_free(pair *p) {
    while (p) {
        pair *o = p->older;
        for (unsigned i = 0; i < p->n; i++) gnutls_pcert_deinit(&p->certs[i]);
        if (p->key) gnutls_privkey_deinit(p->key);
        free(p);
        p = o;
    }
}

static pair *pair_load(const char *cert, const char *key, char *err, size_t errlen) {
    gnutls_datum_t c = {0}, k = {0};
    pair *p = lmx_zalloc(sizeof *p, err, errlen);
    int rc;
    if (!p) return NULL;
    if ((rc = gnutls_load_file(cert, &c)) < 0) {
        snprintf(err, errlen, "tls_cert %s: %s", cert, gnutls_strerror(rc));
        goto fail;
    }
    if ((rc = gnutls_load_file(key, &k)) < 0) {
        snprintf(err, errlen, "tls_key %s: %s", key, gnutls_strerror(rc));
        goto fail;
    }
    p->n = MAX_CHAIN;
    if ((rc = gnutls_pcert_list_import_x509_raw(p->certs, &p->n, &c, GNUTLS_X509_FMT_PEM, 0)) < 0) {
        p->n = 0;
        snprintf(err, errlen, "tls_cert %s: %s", cert, gnutls_strerror(rc));
        goto fail;
    }
    if ((rc = gnutls_privkey_init(&p->key)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(p->key, &k, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        snprintf(err, errlen, "tls_key %s: %s", key, gnutls_strerror(rc));
        goto fail;
    }
    gnutls_free(c.data);
    gnutls_free(k.data);
    return p;
fail:
    gnutls_free(c.data);
    gnutls_free(k.data);
    pair_free(p);
    return NULL;
}

static int cert_cb(gnutls_session_t s, const gnutls_datum_t *req_ca_dn, int nreqs,
                   const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                   gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey) {
    (void)s, (void)req_ca_dn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    pair *p = atomic_load(&current);
    if (!p) return -1;
    *pcert = p->certs;
    *pcert_length = p->n;
    *pkey = p->key;
    return 0;
}

int lmx_tls_init(const char *cert, const char *key, const char *ca, char *err, size_t errlen) {
    pair *p = pair_load(cert, key, err, errlen);
    if (!p) return -1;
    if (ca && *ca) {
        gnutls_datum_t d = {0};
        int rc = gnutls_load_file(ca, &d);
        if (rc < 0) {
            snprintf(err, errlen, "tls_ca %s: %s", ca, gnutls_strerror(rc));
            pair_free(p);
            return -1;
        }
        ca_pem = malloc(d.size + 1);
        if (ca_pem) {
            memcpy(ca_pem, d.data, d.size);
            ca_pem[d.size] = 0;
        }
        gnutls_free(d.data);
        if (!ca_pem || !strstr(ca_pem, "-----BEGIN CERTIFICATE-----")) {
            snprintf(err, errlen, "tls_ca %s: not a PEM certificate", ca);
            free(ca_pem);
            ca_pem = NULL;
            pair_free(p);
            return -1;
        }
    }
    atomic_store(&current, p);
    return 0;
}

int lmx_tls_reload(const char *cert, const char *key, char *err, size_t errlen) {
    if (!atomic_load(&current)) return 0;
    pair *p = pair_load(cert, key, err, errlen);
    if (!p) return -1;
    pthread_mutex_lock(&reload_mu);
    p->older = atomic_exchange(&current, p);
    pthread_mutex_unlock(&reload_mu);
    return 0;
}

bool lmx_tls_enabled(void) {
    return atomic_load(&current) != NULL;
}

const char *lmx_tls_ca_pem(void) {
    return ca_pem;
}

void *lmx_tls_cert_callback(void) {
    return (void *)cert_cb;
}

int lmx_tls_peer(void *session, char *cn, size_t cap, char *why, size_t whylen) {
    gnutls_session_t s = session;
    unsigned n = 0, status = 0;
    const gnutls_datum_t *list = s ? gnutls_certificate_get_peers(s, &n) : NULL;
    if (!list || !n) return 0;
    int rc = gnutls_certificate_verify_peers2(s, &status);
    if (rc < 0 || status) {
        gnutls_datum_t out = {0};
        if (rc >= 0 &&
            gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) >= 0) {
            snprintf(why, whylen, "%s", (const char *)out.data);
            gnutls_free(out.data);
        } else {
            snprintf(why, whylen, "%s", gnutls_strerror(rc));
        }
        return -1;
    }
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0) return -1;
    size_t sz = cap;
    cn[0] = 0;
    if (gnutls_x509_crt_import(crt, &list[0], GNUTLS_X509_FMT_DER) < 0 ||
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &sz) < 0)
        cn[0] = 0;
    gnutls_x509_crt_deinit(crt);
    return 1;
}

void lmx_tls_shutdown(void) {
    pair_free(atomic_exchange(&current, NULL));
    free(ca_pem);
    ca_pem = NULL;
}
