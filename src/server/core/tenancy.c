/* Tenants, keys, quotas and client limits (see tenancy.h).
 *
 * Usage windows are calendar ones: the current UTC minute and day. Each
 * change of a tenant's usage is written through to SQLite at once (one small
 * UPSERT), so a restart — or a crash — loses nothing already counted. */
#include "server/core/tenancy.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "server/core/ident.h"
#include "util/clock.h"
#include "util/fail.h"
#include "util/topn.h"

#define MAX_TENANTS 64
#define MAX_KEYS    256
#define MAX_CLIENTS 4096

_Thread_local lmx_caller *lmx_caller_current;
_Thread_local lmx_tenancy *lmx_tenancy_current;

enum { REJ_QUOTA, REJ_RATE, REJ_QUEUE, REJ_BUSY, N_REJ };
static const char *const rej_code[N_REJ] = {"quota_exceeded", "rate_limited", "queue_full",
                                            "model_busy"};

typedef struct {
    char name[64];
    double weight;
    long rpm, tpm, tpd, inflight_cap; /* 0: none */
    long minute, req_min, tok_min, day, tok_day;
    int inflight;
    uint64_t requests, prompt_tokens, completion_tokens, rejected[N_REJ];
} tenant;

typedef struct {
    char hash[65], tenant[64], id[32];
} key_ent;

typedef struct {
    char tenant[64], client[128];
    int inflight;
    long minute, prompt_min;
    bool used;
} client_ent;

struct lmx_tenancy {
    pthread_mutex_t mu;
    sqlite3 *db;
    tenant tenants[MAX_TENANTS];
    int n_tenants;
    key_ent cfg_keys[MAX_KEYS], db_keys[MAX_KEYS];
    int n_cfg_keys, n_db_keys;
    char legacy_hash[65];
    lmx_cidr proxies[LMX_MAX_CIDRS];
    int n_proxies;
    long client_max_inflight, client_prompt_tpm, max_prompt_tokens, queue_max_wait;
    client_ent clients[MAX_CLIENTS];
    lmx_topn *labels; /* client ids with their own metric label: the most active lately */
};

/* ---- helpers ---- */

static void sha256_hex(const char *s, char out[65]) {
    unsigned char d[32];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), d, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void rand_alnum(char *out, size_t n) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char b[64];
    if (n > sizeof b) n = sizeof b;
    if (getrandom(b, n, 0) != (ssize_t)n) /* never short for <= 256 bytes; be safe anyway */
        for (size_t i = 0; i < n; i++) b[i] = (unsigned char)rand();
    for (size_t i = 0; i < n; i++) out[i] = al[b[i] % 62];
    out[n] = 0;
}

static bool name_ok(const char *s) {
    if (!*s || strlen(s) >= 64) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-_.@", *s)) return false;
    return true;
}

static tenant *tenant_find(lmx_tenancy *t, const char *name) {
    for (int i = 0; i < t->n_tenants; i++)
        if (!strcmp(t->tenants[i].name, name)) return &t->tenants[i];
    return NULL;
}

/* A tenant's record, made with weight 1 and no quotas when first seen; the
 * last slot is shared by every tenant past the table's size. */
static tenant *tenant_get(lmx_tenancy *t, const char *name) {
    tenant *x = tenant_find(t, name);
    if (x) return x;
    if (t->n_tenants == MAX_TENANTS) return &t->tenants[MAX_TENANTS - 1];
    x = &t->tenants[t->n_tenants++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    x->weight = 1;
    return x;
}

static void roll(tenant *x, long minute, long day) {
    if (x->minute != minute) x->minute = minute, x->req_min = x->tok_min = 0;
    if (x->day != day) x->day = day, x->tok_day = 0;
}

static void persist(lmx_tenancy *t, const tenant *x) {
    if (!t->db) return;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(t->db,
                           "INSERT INTO usage(tenant, minute, req_min, tok_min, day, tok_day) "
                           "VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(tenant) DO UPDATE SET "
                           "minute=?2, req_min=?3, tok_min=?4, day=?5, tok_day=?6",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, x->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, x->minute);
    sqlite3_bind_int64(st, 3, x->req_min);
    sqlite3_bind_int64(st, 4, x->tok_min);
    sqlite3_bind_int64(st, 5, x->day);
    sqlite3_bind_int64(st, 6, x->tok_day);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

static void load_db(lmx_tenancy *t) {
    sqlite3_stmt *st;
    t->n_db_keys = 0;
    if (sqlite3_prepare_v2(t->db, "SELECT id, tenant, hash FROM keys WHERE revoked = 0", -1, &st,
                           NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW && t->n_db_keys < MAX_KEYS) {
            key_ent *k = &t->db_keys[t->n_db_keys++];
            snprintf(k->id, sizeof k->id, "%s", (const char *)sqlite3_column_text(st, 0));
            snprintf(k->tenant, sizeof k->tenant, "%s", (const char *)sqlite3_column_text(st, 1));
            snprintf(k->hash, sizeof k->hash, "%s", (const char *)sqlite3_column_text(st, 2));
        }
        sqlite3_finalize(st);
    }
}

lmx_tenancy *lmx_tenancy_open(const char *path, char *err, size_t errlen) {
    lmx_tenancy *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    if (sqlite3_open(path && *path ? path : ":memory:", &t->db) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, t->db ? sqlite3_errmsg(t->db) : "cannot open");
        lmx_tenancy_close(t);
        return NULL;
    }
    sqlite3_busy_timeout(t->db, 2000);
    char *msg = NULL;
    if (sqlite3_exec(t->db,
                     "PRAGMA journal_mode=WAL;"
                     "CREATE TABLE IF NOT EXISTS keys(id TEXT PRIMARY KEY, tenant TEXT NOT NULL, "
                     "hash TEXT NOT NULL UNIQUE, created INTEGER NOT NULL, revoked INTEGER NOT "
                     "NULL DEFAULT 0);"
                     "CREATE TABLE IF NOT EXISTS usage(tenant TEXT PRIMARY KEY, minute INTEGER, "
                     "req_min INTEGER, tok_min INTEGER, day INTEGER, tok_day INTEGER);",
                     NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path ? path : ":memory:", msg ? msg : "cannot initialize");
        sqlite3_free(msg);
        lmx_tenancy_close(t);
        return NULL;
    }
    load_db(t);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(t->db,
                           "SELECT tenant, minute, req_min, tok_min, day, tok_day FROM usage", -1,
                           &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            tenant *x = tenant_get(t, (const char *)sqlite3_column_text(st, 0));
            x->minute = (long)sqlite3_column_int64(st, 1);
            x->req_min = (long)sqlite3_column_int64(st, 2);
            x->tok_min = (long)sqlite3_column_int64(st, 3);
            x->day = (long)sqlite3_column_int64(st, 4);
            x->tok_day = (long)sqlite3_column_int64(st, 5);
        }
        sqlite3_finalize(st);
    }
    return t;
}

void lmx_tenancy_close(lmx_tenancy *t) {
    if (!t) return;
    if (t->db) sqlite3_close(t->db);
    lmx_topn_free(t->labels);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* ---- configuration ---- */

/* Parses one entry p of a list (its leading blanks skipped; not blank) into
 * slot i of the caller's array out: 0, or -1 with err set. */
typedef int entry_fn(char *p, int i, void *out, char *err, size_t errlen);

/* Parses the list s, whose entries end at a character of seps and are
 * shorter than max, entry by entry with fn (blank ones skipped): how many
 * there were, or -1 with err set (what names the list). */
static int parse_list(const char *s, const char *seps, size_t max, const char *what, entry_fn *fn,
                      void *out, char *err, size_t errlen) {
    int n = 0;
    char one[512];
    while (s && *s) {
        size_t len = strcspn(s, seps);
        if (len >= max || len >= sizeof one)
            return lmx_fail(err, errlen, "%s: entry too long", what);
        memcpy(one, s, len);
        one[len] = 0;
        s += len + (s[len] != 0);
        char *p = one;
        while (isspace((unsigned char)*p)) p++;
        if (*p && fn(p, n++, out, err, errlen)) return -1;
    }
    return n;
}

/* One entry of the tenants list: "NAME:weight=3,rpm=60" (entries end at ';'). */
static int tenant_entry(char *p, int i, void *out, char *err, size_t errlen) {
    char *colon = strchr(p, ':');
    if (colon) *colon = 0;
    char *end = p + strlen(p);
    while (end > p && isspace((unsigned char)end[-1])) *--end = 0;
    if (!name_ok(p))
        return lmx_fail(err, errlen,
                        "tenants: '%s' is not a tenant name (letters, digits, - _ . @; "
                        "under 64)",
                        p);
    if (i == MAX_TENANTS) return lmx_fail(err, errlen, "tenants: at most %d", MAX_TENANTS);
    tenant *x = (tenant *)out + i;
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", p);
    x->weight = 1;
    for (char *kv = colon ? strtok(colon + 1, ",") : NULL; kv; kv = strtok(NULL, ",")) {
        while (isspace((unsigned char)*kv)) kv++;
        char *eq = strchr(kv, '=');
        if (!eq)
            return lmx_fail(err, errlen, "tenants: %s: expected KEY=VALUE, got '%s'", x->name, kv);
        *eq = 0;
        char *v = eq + 1, *e;
        double d = strtod(v, &e);
        while (isspace((unsigned char)*e)) e++;
        if (!*v || *e || !(d >= 0 && d <= 1e15))
            return lmx_fail(err, errlen, "tenants: %s: %s: expected a number, got '%s'", x->name,
                            kv, v);
        if (!strcmp(kv, "weight")) {
            if (!(d > 0 && d <= 1000))
                return lmx_fail(err, errlen, "tenants: %s: weight must be > 0 and <= 1000",
                                x->name);
            x->weight = d;
        } else if (!strcmp(kv, "rpm"))
            x->rpm = (long)d;
        else if (!strcmp(kv, "tpm"))
            x->tpm = (long)d;
        else if (!strcmp(kv, "tpd"))
            x->tpd = (long)d;
        else if (!strcmp(kv, "inflight"))
            x->inflight_cap = (long)d;
        else
            return lmx_fail(err, errlen,
                            "tenants: %s: unknown setting '%s' (known: weight, rpm, tpm, tpd, "
                            "inflight)",
                            x->name, kv);
    }
    return 0;
}

static bool hex64(const char *s) {
    if (strlen(s) != 64) return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s)) return false;
    return true;
}

/* One entry of the api_keys list: "TENANT:SHA256HEX" (entries end at ';' or ','). */
static int key_entry(char *p, int i, void *out, char *err, size_t errlen) {
    char *colon = strrchr(p, ':');
    if (!colon) return lmx_fail(err, errlen, "api_keys: expected TENANT:SHA256HEX, got '%.40s'", p);
    *colon = 0;
    char *h = colon + 1;
    if (!strncmp(h, "sha256", 6) && colon > p && !strcmp(colon - 6, "sha256")) {
        /* TENANT:sha256:HEX: the last colon split off HEX; drop the scheme */
        colon[-7] = 0;
    }
    if (!name_ok(p)) return lmx_fail(err, errlen, "api_keys: '%s' is not a tenant name", p);
    if (!hex64(h))
        return lmx_fail(err, errlen,
                        "api_keys: %s: expected the key's SHA-256 as 64 hex digits (`printf "
                        "%%s KEY | sha256sum`), not the key itself",
                        p);
    if (i == MAX_KEYS) return lmx_fail(err, errlen, "api_keys: at most %d", MAX_KEYS);
    key_ent *k = (key_ent *)out + i;
    snprintf(k->tenant, sizeof k->tenant, "%s", p);
    for (int j = 0; j < 64; j++) k->hash[j] = (char)tolower((unsigned char)h[j]);
    k->hash[64] = 0;
    snprintf(k->id, sizeof k->id, "config");
    return 0;
}

int lmx_tenancy_configure(lmx_tenancy *t, const lmx_tenancy_cfg *c, char *err, size_t errlen) {
    static tenant parsed[MAX_TENANTS]; /* configure runs under the caller's reload lock */
    static key_ent keys[MAX_KEYS];
    int n_p = 0;
    lmx_cidr proxies[LMX_MAX_CIDRS];
    char msg[256];
    int n_t = parse_list(c->tenants, ";", 512, "tenants", tenant_entry, parsed, err, errlen);
    if (n_t < 0) return -1;
    int n_k = parse_list(c->api_keys, ";,", 200, "api_keys", key_entry, keys, err, errlen);
    if (n_k < 0) return -1;
    if (lmx_cidr_parse_list(c->trusted_proxies, proxies, LMX_MAX_CIDRS, &n_p, msg, sizeof msg))
        return lmx_fail(err, errlen, "trusted_proxies: %s", msg);
    pthread_mutex_lock(&t->mu);
    /* configured tenants take their settings; others keep usage, lose settings */
    for (int i = 0; i < t->n_tenants; i++) {
        tenant *x = &t->tenants[i];
        x->weight = 1;
        x->rpm = x->tpm = x->tpd = x->inflight_cap = 0;
    }
    for (int i = 0; i < n_t; i++) {
        tenant *x = tenant_get(t, parsed[i].name);
        x->weight = parsed[i].weight;
        x->rpm = parsed[i].rpm;
        x->tpm = parsed[i].tpm;
        x->tpd = parsed[i].tpd;
        x->inflight_cap = parsed[i].inflight_cap;
    }
    memcpy(t->cfg_keys, keys, sizeof keys[0] * (size_t)n_k);
    t->n_cfg_keys = n_k;
    t->legacy_hash[0] = 0;
    if (c->legacy_key && *c->legacy_key) sha256_hex(c->legacy_key, t->legacy_hash);
    memcpy(t->proxies, proxies, sizeof proxies[0] * (size_t)n_p);
    t->n_proxies = n_p;
    t->client_max_inflight = c->client_max_inflight;
    t->client_prompt_tpm = c->client_prompt_tpm;
    t->max_prompt_tokens = c->max_prompt_tokens;
    t->queue_max_wait = c->queue_max_wait;
    if (!t->labels)
        t->labels = lmx_topn_new(c->client_labels > 0 ? (int)c->client_labels : 32, 300);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

/* ---- keys ---- */

bool lmx_tenancy_keys_required(lmx_tenancy *t) {
    pthread_mutex_lock(&t->mu);
    bool r = t->n_cfg_keys || t->n_db_keys || t->legacy_hash[0];
    pthread_mutex_unlock(&t->mu);
    return r;
}

bool lmx_tenancy_key_tenant(lmx_tenancy *t, const char *key, char *tenant_out, size_t cap) {
    char h[65];
    sha256_hex(key, h);
    bool ok = false;
    pthread_mutex_lock(&t->mu);
    /* comparing hashes: a timing difference reveals nothing about the key */
    if (t->legacy_hash[0] && !strcmp(h, t->legacy_hash)) {
        snprintf(tenant_out, cap, "default");
        ok = true;
    }
    for (int i = 0; !ok && i < t->n_cfg_keys; i++)
        if (!strcmp(h, t->cfg_keys[i].hash)) {
            snprintf(tenant_out, cap, "%s", t->cfg_keys[i].tenant);
            ok = true;
        }
    for (int i = 0; !ok && i < t->n_db_keys; i++)
        if (!strcmp(h, t->db_keys[i].hash)) {
            snprintf(tenant_out, cap, "%s", t->db_keys[i].tenant);
            ok = true;
        }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

json_t *lmx_tenancy_key_add(lmx_tenancy *t, const char *tenant_name, char *err, size_t errlen) {
    if (!tenant_name || !name_ok(tenant_name)) {
        snprintf(err, errlen,
                 "'tenant' must be a name of letters, digits, '-', '_', '.', '@' (under 64)");
        return NULL;
    }
    char key[64] = "lmx-", id[32] = "key_", h[65];
    rand_alnum(key + 4, 40);
    rand_alnum(id + 4, 12);
    sha256_hex(key, h);
    pthread_mutex_lock(&t->mu);
    sqlite3_stmt *st;
    bool ok =
        t->n_db_keys < MAX_KEYS &&
        sqlite3_prepare_v2(t->db, "INSERT INTO keys(id, tenant, hash, created) VALUES(?1,?2,?3,?4)",
                           -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, tenant_name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, h, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
        ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_finalize(st);
    }
    if (ok)
        load_db(t);
    else
        snprintf(err, errlen, "%s",
                 t->n_db_keys >= MAX_KEYS ? "too many keys (revoke some first)"
                                          : sqlite3_errmsg(t->db));
    pthread_mutex_unlock(&t->mu);
    return ok ? json_pack("{s:s,s:s,s:s}", "id", id, "key", key, "tenant", tenant_name) : NULL;
}

json_t *lmx_tenancy_key_list(lmx_tenancy *t) {
    json_t *a = json_array();
    pthread_mutex_lock(&t->mu);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(t->db,
                           "SELECT id, tenant, created, revoked FROM keys ORDER BY created, id", -1,
                           &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:b}", "id",
                                               (const char *)sqlite3_column_text(st, 0), "tenant",
                                               (const char *)sqlite3_column_text(st, 1), "created",
                                               (json_int_t)sqlite3_column_int64(st, 2), "revoked",
                                               sqlite3_column_int(st, 3) != 0));
        sqlite3_finalize(st);
    }
    for (int i = 0; i < t->n_cfg_keys; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "id", "config", "tenant",
                                           t->cfg_keys[i].tenant, "revoked", 0));
    pthread_mutex_unlock(&t->mu);
    return a;
}

bool lmx_tenancy_key_revoke(lmx_tenancy *t, const char *id) {
    pthread_mutex_lock(&t->mu);
    sqlite3_stmt *st;
    bool ok = false;
    if (sqlite3_prepare_v2(t->db, "UPDATE keys SET revoked = 1 WHERE id = ?1 AND revoked = 0", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(t->db) == 1;
        sqlite3_finalize(st);
    }
    if (ok) load_db(t);
    pthread_mutex_unlock(&t->mu);
    return ok;
}

/* ---- identity ---- */

static const char *body_str(json_t *body, const char *k) {
    json_t *v = body ? json_object_get(body, k) : NULL;
    return json_is_string(v) && json_string_length(v) ? json_string_value(v) : NULL;
}

void lmx_tenancy_identify(lmx_tenancy *t, lmx_caller *c, const char *peer, const char *xff,
                          const char *fwd, const char *agent_id, const char *session_key,
                          json_t *body) {
    pthread_mutex_lock(&t->mu);
    lmx_ident_client_addr(peer, xff, fwd, t->proxies, t->n_proxies, c->addr, sizeof c->addr);
    tenant *x = tenant_find(t, c->tenant);
    c->weight = x ? x->weight : 1;
    pthread_mutex_unlock(&t->mu);
    const char *u;
    if (agent_id && *agent_id)
        snprintf(c->client, sizeof c->client, "agent:%.100s", agent_id);
    else if (session_key && *session_key) {
        char h[65]; /* a session key may be a secret: only its hash names the client */
        sha256_hex(session_key, h);
        snprintf(c->client, sizeof c->client, "session:%.16s", h);
    } else if ((u = body_str(body, "user")) || (u = body_str(body, "safety_identifier")) ||
               (u = body_str(body, "prompt_cache_key")))
        snprintf(c->client, sizeof c->client, "user:%.100s", u);
    else
        snprintf(c->client, sizeof c->client, "addr:%s", c->addr);
}

/* ---- admission ---- */

static client_ent *client_get(lmx_tenancy *t, const lmx_caller *c, long minute) {
    client_ent *free_e = NULL;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        client_ent *e = &t->clients[i];
        if (e->used && !strcmp(e->client, c->client) && !strcmp(e->tenant, c->tenant)) return e;
        if (!free_e && (!e->used || (e->inflight == 0 && e->minute != minute))) free_e = e;
    }
    if (!free_e) return NULL; /* 4096 clients in flight: no per-client limit for the rest */
    memset(free_e, 0, sizeof *free_e);
    free_e->used = true;
    snprintf(free_e->tenant, sizeof free_e->tenant, "%s", c->tenant);
    snprintf(free_e->client, sizeof free_e->client, "%s", c->client);
    free_e->minute = minute;
    return free_e;
}

int lmx_retry_after(int queued, double drain_per_s) {
    if (drain_per_s <= 0) return queued > 0 ? 5 : 1; /* nothing drained lately: a guess, short */
    double s = (queued + 1) / drain_per_s;
    int r = (int)(s + 0.999);
    return r < 1 ? 1 : r > 59 ? 59 : r;
}

static void rl_fill(lmx_caller *c, const tenant *x, long now) {
    long reset_min = 60 - now % 60;
    c->rl_req_limit = x->rpm ? x->rpm : -1;
    c->rl_req_left = x->rpm ? (x->rpm > x->req_min ? x->rpm - x->req_min : 0) : -1;
    c->rl_req_reset = reset_min;
    c->rl_tok_limit = x->tpm ? x->tpm : -1;
    c->rl_tok_left = x->tpm ? (x->tpm > x->tok_min ? x->tpm - x->tok_min : 0) : -1;
    c->rl_tok_reset = reset_min;
}

/* A tenant's quotas, in the order they are checked: true, with e set, when
 * one is spent. Retry-After is the quota's reset: a retry sooner cannot
 * succeed. */
static bool over_quota(const tenant *x, long now, lmx_api_err *e) {
    const struct {
        long used, limit;
        const char *per;
        long window; /* seconds */
    } q[] = {
        {x->req_min, x->rpm, "requests per minute", 60},
        {x->tok_min, x->tpm, "tokens per minute", 60},
        {x->tok_day, x->tpd, "tokens per day (UTC)", 86400},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        if (!q[i].limit || q[i].used < q[i].limit) continue;
        long reset = q[i].window - now % q[i].window;
        char then[64];
        if (q[i].window == 60)
            snprintf(then, sizeof then, "Retry after the minute resets.");
        else
            snprintf(then, sizeof then, "It resets in %ld seconds.", reset);
        lmx_err_set(e, 429, "rate_limit_error", "quota_exceeded", NULL,
                    "Tenant '%s' reached its quota of %ld %s. %s", x->name, q[i].limit, q[i].per,
                    then);
        e->retry_after = (int)reset;
        return true;
    }
    return false;
}

bool lmx_tenancy_admit(lmx_tenancy *t, lmx_caller *c, lmx_api_err *e) {
    long now = (long)time(NULL), minute = now / 60, day = now / 86400;
    pthread_mutex_lock(&t->mu);
    tenant *x = tenant_get(t, c->tenant);
    roll(x, minute, day);
    rl_fill(c, x, now);
    int rej = -1;
    if (over_quota(x, now, e)) {
        rej = REJ_QUOTA;
    } else if (x->inflight_cap && x->inflight >= x->inflight_cap) {
        lmx_err_set(e, 429, "rate_limit_error", "rate_limited", NULL,
                    "Tenant '%s' has %d requests in flight, its limit. Retry when one finishes.",
                    x->name, x->inflight);
        e->retry_after = 1;
        rej = REJ_RATE;
    }
    client_ent *ce = rej < 0 ? client_get(t, c, minute) : NULL;
    if (rej < 0 && ce && t->client_max_inflight && ce->inflight >= t->client_max_inflight) {
        lmx_err_set(e, 429, "rate_limit_error", "rate_limited", NULL,
                    "Client '%s' has %d requests in flight, the limit per client. Retry when one "
                    "finishes.",
                    c->client, ce->inflight);
        e->retry_after = 1;
        rej = REJ_RATE;
    }
    if (rej >= 0) {
        x->rejected[rej]++;
    } else {
        if (ce) ce->inflight++;
        x->inflight++;
        x->req_min++;
        x->requests++;
        c->counted = true;
        rl_fill(c, x, now);
        persist(t, x);
    }
    if (t->labels) lmx_topn_hit(t->labels, c->client, lmx_now_s());
    pthread_mutex_unlock(&t->mu);
    return rej < 0;
}

bool lmx_tenancy_prompt(lmx_tenancy *t, lmx_caller *c, int n, lmx_api_err *e) {
    long now = (long)time(NULL), minute = now / 60;
    pthread_mutex_lock(&t->mu);
    bool ok = true;
    if (t->max_prompt_tokens && n > t->max_prompt_tokens) {
        lmx_err_set(e, 400, "invalid_request_error", "prompt_too_long", NULL,
                    "The prompt has %d tokens; this server admits at most %ld per request "
                    "(max_prompt_tokens).",
                    n, t->max_prompt_tokens);
        ok = false;
    } else if (t->client_prompt_tpm) {
        client_ent *ce = client_get(t, c, minute);
        if (ce) {
            if (ce->minute != minute) ce->minute = minute, ce->prompt_min = 0;
            if (ce->prompt_min + n > t->client_prompt_tpm && ce->prompt_min > 0) {
                lmx_err_set(e, 429, "rate_limit_error", "rate_limited", NULL,
                            "Client '%s' sent %ld prompt tokens this minute; the limit per client "
                            "is %ld. Retry after the minute resets.",
                            c->client, ce->prompt_min, t->client_prompt_tpm);
                e->retry_after = (int)(60 - now % 60);
                ok = false;
                tenant *x = tenant_find(t, c->tenant);
                if (x) x->rejected[REJ_RATE]++;
            } else {
                ce->prompt_min += n;
            }
        }
    }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

bool lmx_tenancy_queue_ok(lmx_tenancy *t, int queued, double drain_per_s, lmx_api_err *e) {
    pthread_mutex_lock(&t->mu);
    long max = t->queue_max_wait;
    pthread_mutex_unlock(&t->mu);
    if (!max || queued == 0 || drain_per_s <= 0) return true;
    double wait = queued / drain_per_s;
    if (wait <= (double)max) return true;
    lmx_err_set(e, 429, "rate_limit_error", "model_busy", NULL,
                "The model is busy: %d requests are waiting, about %.0f s of work, more than the "
                "%ld s this server lets a request wait (queue_max_wait).",
                queued, wait, max);
    e->retry_after = lmx_retry_after((int)(queued - max * drain_per_s), drain_per_s);
    return false;
}

void lmx_tenancy_finish(lmx_tenancy *t, lmx_caller *c, int prompt_tokens, int completion_tokens,
                        int status) {
    long now = (long)time(NULL), minute = now / 60, day = now / 86400;
    pthread_mutex_lock(&t->mu);
    (void)status;
    tenant *x = tenant_get(t, c->tenant);
    for (int k = 0; c->refused && k < N_REJ; k++)
        if (!strcmp(c->refused, rej_code[k])) x->rejected[k]++;
    c->refused = NULL;
    if (c->counted) {
        if (x->inflight > 0) x->inflight--;
        client_ent *ce = client_get(t, c, minute);
        if (ce && ce->inflight > 0) ce->inflight--;
        roll(x, minute, day);
        long tok = (long)prompt_tokens + completion_tokens;
        x->tok_min += tok;
        x->tok_day += tok;
        x->prompt_tokens += (uint64_t)prompt_tokens;
        x->completion_tokens += (uint64_t)completion_tokens;
        persist(t, x);
        c->counted = false;
    }
    pthread_mutex_unlock(&t->mu);
}

/* ---- reporting ---- */

json_t *lmx_tenancy_status(lmx_tenancy *t) {
    long now = (long)time(NULL);
    json_t *a = json_array();
    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < t->n_tenants; i++) {
        tenant *x = &t->tenants[i];
        roll(x, now / 60, now / 86400);
        json_array_append_new(
            a,
            json_pack("{s:s,s:f,s:i,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I}}", "name", x->name, "weight",
                      x->weight, "inflight", x->inflight, "requests_this_minute",
                      (json_int_t)x->req_min, "tokens_this_minute", (json_int_t)x->tok_min,
                      "tokens_today", (json_int_t)x->tok_day, "quotas", "requests_per_minute",
                      (json_int_t)x->rpm, "tokens_per_minute", (json_int_t)x->tpm, "tokens_per_day",
                      (json_int_t)x->tpd, "max_inflight", (json_int_t)x->inflight_cap));
    }
    pthread_mutex_unlock(&t->mu);
    return json_pack("{s:o}", "tenants", a);
}

static void label(FILE *f, const char *v) {
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"' || *v == '\\') fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
    fputc('"', f);
}

/* The per-tenant series that are one number each: name, help, type, field. */
static const struct {
    const char *name, *help, *type;
    size_t off; /* of a uint64_t in tenant; SIZE_MAX: inflight (an int) */
} tenant_series[] = {
    {"lmx_tenant_requests_total", "Requests admitted, by tenant.", "counter",
     offsetof(tenant, requests)},
    {"lmx_tenant_completion_tokens_total", "Generated tokens of finished requests, by tenant.",
     "counter", offsetof(tenant, completion_tokens)},
    {"lmx_tenant_prompt_tokens_total", "Prompt tokens of finished requests, by tenant.", "counter",
     offsetof(tenant, prompt_tokens)},
    {"lmx_tenant_inflight", "Requests in flight, by tenant.", "gauge", SIZE_MAX},
};

static void tenant_series_out(lmx_tenancy *t, FILE *f, int s) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", tenant_series[s].name, tenant_series[s].help,
            tenant_series[s].name, tenant_series[s].type);
    for (int i = 0; i < t->n_tenants; i++) {
        const tenant *x = &t->tenants[i];
        fprintf(f, "%s{tenant=", tenant_series[s].name), label(f, x->name);
        if (tenant_series[s].off == SIZE_MAX)
            fprintf(f, "} %d\n", x->inflight);
        else
            fprintf(
                f, "} %llu\n",
                (unsigned long long)*(const uint64_t *)((const char *)x + tenant_series[s].off));
    }
}

void lmx_tenancy_metrics(lmx_tenancy *t, FILE *f) {
    pthread_mutex_lock(&t->mu);
    tenant_series_out(t, f, 0);
    fputs("# HELP lmx_tenant_rejected_total Requests refused by the overload contract, by tenant "
          "and code.\n# TYPE lmx_tenant_rejected_total counter\n",
          f);
    for (int i = 0; i < t->n_tenants; i++)
        for (int k = 0; k < N_REJ; k++)
            fputs("lmx_tenant_rejected_total{tenant=", f), label(f, t->tenants[i].name),
                fprintf(f, ",code=\"%s\"} %llu\n", rej_code[k],
                        (unsigned long long)t->tenants[i].rejected[k]);
    for (int s = 1; s < (int)(sizeof tenant_series / sizeof *tenant_series); s++)
        tenant_series_out(t, f, s);
    fputs("# HELP lmx_client_requests_total Requests seen, by client id: the client_labels most "
          "active over the last minutes have their own label, the rest count as \"other\"; a "
          "label given to a busier client disappears and restarts at 0 if it returns.\n"
          "# TYPE lmx_client_requests_total counter\n",
          f);
    for (int i = 0; t->labels && i < lmx_topn_slots(t->labels); i++) {
        const char *k = lmx_topn_key(t->labels, i);
        if (!k) continue;
        fputs("lmx_client_requests_total{client=", f), label(f, k),
            fprintf(f, "} %llu\n", (unsigned long long)lmx_topn_count(t->labels, i));
    }
    fprintf(f, "lmx_client_requests_total{client=\"other\"} %llu\n",
            (unsigned long long)(t->labels ? lmx_topn_other(t->labels) : 0));
    fputs("# HELP lmx_client_label_evictions_total Client labels handed from a client gone quiet "
          "to a busier one.\n# TYPE lmx_client_label_evictions_total counter\n",
          f);
    fprintf(f, "lmx_client_label_evictions_total %llu\n",
            (unsigned long long)(t->labels ? lmx_topn_evictions(t->labels) : 0));
    pthread_mutex_unlock(&t->mu);
}
