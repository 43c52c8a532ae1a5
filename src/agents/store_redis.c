/* The agent store on Redis (see store.h), through hiredis, for operators
 * who run one. Keys (prefix lmx:agents:):
 *   run:ID       the run document (a string)
 *   runs         sorted set of run ids by creation time (listing, purging)
 *   active       set of run ids queued or running (resumption)
 *   ev:ID        a Stream of the run's events; entry id N-1 is event N, so
 *                "events after N" is XRANGE ev:ID (N+1)-0 +
 *   evseq:ID     the run's last event number (INCR)
 *   idem:T:K     "HASH RUNID" for Idempotency-Key K of tenant T (SET NX EX)
 *   roles        hash of role name → definition
 *   queue        the run queue: a Stream read through the consumer group "lmx"
 *   qcount       hash: runs waiting in the queue, in all ("*") and per tenant
 * One connection behind one lock; a dropped connection is reopened on the
 * next call. */
#include "agents/store.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define P "lmx:agents:"

typedef struct {
    lmx_astore base;
    pthread_mutex_t mu; /* guards c */
    redisContext *c;
    char host[256];
    int port, db;
    char consumer[300]; /* this daemon's name in the run queue's consumer group */
} rd_store;

static int rd_connect(rd_store *s, char *err, size_t n) {
    if (s->c && !s->c->err) return 0;
    if (s->c) redisFree(s->c);
    struct timeval tv = {2, 0};
    s->c = redisConnectWithTimeout(s->host, s->port, tv);
    if (!s->c || s->c->err) {
        if (err)
            snprintf(err, n, "redis://%s:%d: %s", s->host, s->port,
                     s->c ? s->c->errstr : "cannot connect");
        if (s->c) redisFree(s->c);
        s->c = NULL;
        return -1;
    }
    struct timeval rt = {10, 0};
    redisSetTimeout(s->c, rt);
    if (s->db) {
        redisReply *r = redisCommand(s->c, "SELECT %d", s->db);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
        if (!ok) {
            if (err) snprintf(err, n, "redis: SELECT %d failed", s->db);
            return -1;
        }
    }
    return 0;
}

/* The store behind b, its connection locked: every entry point starts here. */
static rd_store *locked(lmx_astore *b) {
    rd_store *s = (rd_store *)b;
    pthread_mutex_lock(&s->mu);
    return s;
}

/* A command on the (re)opened connection; NULL on failure. Caller holds mu. */
static redisReply *cmd(rd_store *s, const char *fmt, ...) {
    if (rd_connect(s, NULL, 0)) return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(s->c, fmt, ap);
    va_end(ap);
    if (r && r->type == REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static bool active_status(const char *st) {
    return st && (!strcmp(st, "queued") || !strcmp(st, "running"));
}

static int put_run_locked(rd_store *s, const lmx_arun_row *r) {
    redisReply *a = cmd(s, "SET " P "run:%s %s", r->id, r->doc);
    if (!a) return -1;
    freeReplyObject(a);
    a = cmd(s, "ZADD " P "runs %f %s", r->created, r->id);
    freeReplyObject(a);
    a = active_status(r->status) ? cmd(s, "SADD " P "active %s", r->id)
                                 : cmd(s, "SREM " P "active %s", r->id);
    freeReplyObject(a);
    return 0;
}

static int rd_put_run(lmx_astore *b, const lmx_arun_row *r, char *err, size_t n) {
    rd_store *s = locked(b);
    int rc = put_run_locked(s, r);
    if (rc) snprintf(err, n, "agent store: redis: %s", s->c ? s->c->errstr : "not connected");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static char *get_locked(rd_store *s, const char *id) {
    redisReply *r = cmd(s, "GET " P "run:%s", id);
    char *doc = r && r->type == REDIS_REPLY_STRING ? strndup(r->str, r->len) : NULL;
    freeReplyObject(r);
    return doc;
}

/* The run document, parsed; NULL when absent or unparsable. */
static json_t *load_locked(rd_store *s, const char *id) {
    char *doc = get_locked(s, id);
    json_t *d = doc ? json_loads(doc, 0, NULL) : NULL;
    free(doc);
    return d;
}

static char *rd_get_run(lmx_astore *b, const char *id) {
    rd_store *s = locked(b);
    char *doc = get_locked(s, id);
    pthread_mutex_unlock(&s->mu);
    return doc;
}

static bool field_is(const json_t *d, const char *k, const char *v) {
    const char *x = json_string_value(json_object_get(d, k));
    return !v || (x && !strcmp(x, v));
}

static json_t *rd_list_runs(lmx_astore *b, const char *tenant, const char *status, const char *role,
                            const char *after, int limit) {
    json_t *out = json_array();
    rd_store *s = locked(b);
    char max[64] = "+inf";
    if (after) {
        redisReply *r = cmd(s, "ZSCORE " P "runs %s", after);
        if (r && r->type == REDIS_REPLY_STRING) snprintf(max, sizeof max, "(%s", r->str);
        freeReplyObject(r);
    }
    /* newest first, a page at a time, filtered here (bounded: 5000 looked at) */
    for (int off = 0; off < 5000 && (int)json_array_size(out) < limit; off += 200) {
        redisReply *r = cmd(s, "ZREVRANGEBYSCORE " P "runs %s -inf LIMIT %d 200", max, off);
        if (!r || r->type != REDIS_REPLY_ARRAY || !r->elements) {
            freeReplyObject(r);
            break;
        }
        for (size_t i = 0; i < r->elements && (int)json_array_size(out) < limit; i++) {
            json_t *d = load_locked(s, r->element[i]->str);
            if (d && field_is(d, "_tenant", tenant) && field_is(d, "status", status) &&
                field_is(d, "_role_key", role))
                json_array_append_new(out, d);
            else
                json_decref(d);
        }
        freeReplyObject(r);
    }
    pthread_mutex_unlock(&s->mu);
    return out;
}

static json_t *rd_unfinished(lmx_astore *b) {
    json_t *ids = json_array();
    rd_store *s = locked(b);
    redisReply *r = cmd(s, "SMEMBERS " P "active");
    /* oldest first: by their creation scores */
    json_t *pairs = json_array();
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *sc = cmd(s, "ZSCORE " P "runs %s", r->element[i]->str);
        double t = sc && sc->type == REDIS_REPLY_STRING ? atof(sc->str) : 0;
        freeReplyObject(sc);
        json_array_append_new(pairs, json_pack("[f,s]", t, r->element[i]->str));
    }
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    size_t n = json_array_size(pairs);
    for (size_t i = 0; i < n; i++) { /* selection sort: few entries */
        size_t best = i;
        for (size_t j = i + 1; j < n; j++)
            if (json_real_value(json_array_get(json_array_get(pairs, j), 0)) <
                json_real_value(json_array_get(json_array_get(pairs, best), 0)))
                best = j;
        json_t *x = json_incref(json_array_get(pairs, best));
        json_array_set(pairs, best, json_array_get(pairs, i));
        json_array_set_new(pairs, i, x);
        json_array_append(ids, json_array_get(x, 1));
    }
    json_decref(pairs);
    return ids;
}

static long long rd_append_event(lmx_astore *b, const char *run_id, const char *type,
                                 const char *data, double ts) {
    long long seq = -1;
    rd_store *s = locked(b);
    redisReply *r = cmd(s, "INCR " P "evseq:%s", run_id);
    if (r && r->type == REDIS_REPLY_INTEGER) {
        long long n = r->integer;
        char created[32];
        snprintf(created, sizeof created, "%.6f", ts);
        redisReply *x = cmd(s, "XADD " P "ev:%s %lld-1 type %s data %s created %s", run_id, n, type,
                            data, created);
        if (x) seq = n;
        freeReplyObject(x);
    }
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    return seq;
}

static json_t *rd_events_after(lmx_astore *b, const char *run_id, long long after, int limit) {
    json_t *a = json_array();
    rd_store *s = locked(b);
    redisReply *r = cmd(s, "XRANGE " P "ev:%s %lld-0 + COUNT %d", run_id, after + 1, limit);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
        long long id = atoll(e->element[0]->str);
        redisReply *f = e->element[1];
        const char *type = "", *data = "{}";
        double created = 0;
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            const char *name = f->element[k]->str, *v = f->element[k + 1]->str;
            if (!strcmp(name, "type")) type = v;
            if (!strcmp(name, "data")) data = v;
            if (!strcmp(name, "created")) created = atof(v);
        }
        json_array_append_new(a, lmx_astore_event(id, type, data, created));
    }
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    return a;
}

static void drop_run_locked(rd_store *s, const char *id) {
    freeReplyObject(cmd(s, "DEL " P "run:%s " P "ev:%s " P "evseq:%s", id, id, id));
    freeReplyObject(cmd(s, "ZREM " P "runs %s", id));
    freeReplyObject(cmd(s, "SREM " P "active %s", id));
}

static lmx_idem_result rd_idem_create(lmx_astore *b, const char *tenant, const char *key,
                                      const char *hash, double ttl_s, const lmx_arun_row *r,
                                      char **other_id, char **other_hash, char *err, size_t n) {
    lmx_idem_result res = LMX_IDEM_ERROR;
    rd_store *s = locked(b);
    /* the run first, then the key with NX: the key is the unique constraint, and
     * whoever reads it finds its run already stored */
    if (put_run_locked(s, r)) {
        snprintf(err, n, "agent store: redis: cannot store the run");
        goto out;
    }
    char val[200];
    snprintf(val, sizeof val, "%s %s", hash, r->id);
    redisReply *x = cmd(s, "SET " P "idem:%s:%s %s NX EX %lld", tenant, key, val, (long long)ttl_s);
    if (!x) {
        snprintf(err, n, "agent store: redis: SET NX failed");
        drop_run_locked(s, r->id);
        goto out;
    }
    bool won = x->type == REDIS_REPLY_STATUS;
    freeReplyObject(x);
    if (won) {
        res = LMX_IDEM_CREATED;
        goto out;
    }
    drop_run_locked(s, r->id);
    x = cmd(s, "GET " P "idem:%s:%s", tenant, key);
    if (x && x->type == REDIS_REPLY_STRING) {
        const char *sp = strchr(x->str, ' ');
        if (sp) {
            *other_hash = strndup(x->str, (size_t)(sp - x->str));
            *other_id = strdup(sp + 1);
            res = LMX_IDEM_EXISTS;
        }
    }
    freeReplyObject(x);
    if (res != LMX_IDEM_EXISTS) snprintf(err, n, "agent store: redis: idempotency key vanished");
out:
    pthread_mutex_unlock(&s->mu);
    return res;
}

static int rd_put_role(lmx_astore *b, const char *name, const char *doc) {
    rd_store *s = locked(b);
    redisReply *r = cmd(s, "HSET " P "roles %s %s", name, doc);
    pthread_mutex_unlock(&s->mu);
    int rc = r ? 0 : -1;
    freeReplyObject(r);
    return rc;
}

static int rd_del_role(lmx_astore *b, const char *name) {
    rd_store *s = locked(b);
    redisReply *r = cmd(s, "HDEL " P "roles %s", name);
    pthread_mutex_unlock(&s->mu);
    int rc = !r ? -1 : r->integer ? 0 : 1;
    freeReplyObject(r);
    return rc;
}

static json_t *rd_roles(lmx_astore *b) {
    json_t *o = json_object();
    rd_store *s = locked(b);
    redisReply *r = cmd(s, "HGETALL " P "roles");
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        lmx_astore_add_role(o, r->element[i]->str, r->element[i + 1]->str);
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    return o;
}

static int rd_purge(lmx_astore *b, double before) {
    rd_store *s = locked(b);
    redisReply *r = cmd(s, "ZRANGEBYSCORE " P "runs -inf (%f LIMIT 0 1000", before);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        json_t *d = load_locked(s, r->element[i]->str);
        const char *st = json_string_value(json_object_get(d, "status"));
        if (!d || (!active_status(st) && strcmp(st ? st : "", "requires_action")))
            drop_run_locked(s, r->element[i]->str);
        json_decref(d);
    }
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static void rd_close(lmx_astore *b) {
    rd_store *s = (rd_store *)b;
    if (s->c) redisFree(s->c);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- the run queue: a Stream read through a consumer group ----
 * Every daemon on the store reads the group "lmx" as one consumer named after
 * its host, so each entry goes to one daemon; the entry is acknowledged (and
 * deleted) once its run left the executor. The waiting counts (in all: field
 * "*", per tenant: the tenant) are a hash kept beside it. */

static int rd_q_push(lmx_astore *b, const char *id, const char *tenant) {
    rd_store *s = locked(b);
    redisReply *r = cmd(s, "XADD " P "queue * run %s tenant %s", id, tenant ? tenant : "");
    int rc = r ? 0 : -1;
    freeReplyObject(r);
    if (!rc) {
        freeReplyObject(cmd(s, "HINCRBY " P "qcount %s 1", tenant ? tenant : ""));
        freeReplyObject(cmd(s, "HINCRBY " P "qcount * 1"));
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* The first entry of an XREADGROUP reply: its id, run and tenant. */
static bool first_entry(redisReply *r, char *entry, size_t en, char *id, size_t idn, char *tenant,
                        size_t tn) {
    if (!r || r->type != REDIS_REPLY_ARRAY || !r->elements) return false;
    redisReply *stream = r->element[0];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2) return false;
    redisReply *list = stream->element[1];
    if (list->type != REDIS_REPLY_ARRAY || !list->elements) return false;
    redisReply *e = list->element[0];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) return false;
    snprintf(entry, en, "%s", e->element[0]->str);
    id[0] = tenant[0] = 0;
    redisReply *f = e->element[1];
    for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements; k += 2) {
        if (!strcmp(f->element[k]->str, "run")) snprintf(id, idn, "%s", f->element[k + 1]->str);
        if (!strcmp(f->element[k]->str, "tenant"))
            snprintf(tenant, tn, "%s", f->element[k + 1]->str);
    }
    return true;
}

static int rd_q_pop(lmx_astore *b, char *id, size_t idn, char *entry, size_t en) {
    char tenant[128];
    rd_store *s = locked(b);
    redisReply *r = cmd(s, "XREADGROUP GROUP lmx %s COUNT 1 STREAMS " P "queue >", s->consumer);
    int rc = !r ? -1 : first_entry(r, entry, en, id, idn, tenant, sizeof tenant) ? 1 : 0;
    freeReplyObject(r);
    if (rc == 1) {
        freeReplyObject(cmd(s, "HINCRBY " P "qcount %s -1", tenant));
        freeReplyObject(cmd(s, "HINCRBY " P "qcount * -1"));
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void rd_q_ack(lmx_astore *b, const char *entry) {
    rd_store *s = locked(b);
    freeReplyObject(cmd(s, "XACK " P "queue lmx %s", entry));
    freeReplyObject(cmd(s, "XDEL " P "queue %s", entry));
    pthread_mutex_unlock(&s->mu);
}

static long rd_q_len(lmx_astore *b, const char *tenant) {
    rd_store *s = locked(b);
    redisReply *r = cmd(s, "HGET " P "qcount %s", tenant ? tenant : "*");
    long n = r && r->type == REDIS_REPLY_STRING ? atol(r->str) : 0;
    freeReplyObject(r);
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* At open: the group exists, and the entries this host took but never
 * acknowledged (a killed daemon's runs) are queued again as new entries. */
static int q_recover(rd_store *s, char *err, size_t n) {
    redisReply *r = redisCommand(s->c, "XGROUP CREATE " P "queue lmx 0 MKSTREAM");
    bool ok = r && (r->type != REDIS_REPLY_ERROR || strstr(r->str, "BUSYGROUP"));
    freeReplyObject(r);
    if (!ok) {
        snprintf(err, n, "redis: cannot create the run queue's consumer group");
        return -1;
    }
    for (int guard = 0; guard < 100000; guard++) {
        char entry[64], id[64], tenant[128];
        r = cmd(s, "XREADGROUP GROUP lmx %s COUNT 1 STREAMS " P "queue 0", s->consumer);
        bool got = first_entry(r, entry, sizeof entry, id, sizeof id, tenant, sizeof tenant);
        freeReplyObject(r);
        if (!got) break;
        freeReplyObject(cmd(s, "XADD " P "queue * run %s tenant %s", id, tenant));
        freeReplyObject(cmd(s, "HINCRBY " P "qcount %s 1", tenant));
        freeReplyObject(cmd(s, "HINCRBY " P "qcount * 1"));
        freeReplyObject(cmd(s, "XACK " P "queue lmx %s", entry));
        freeReplyObject(cmd(s, "XDEL " P "queue %s", entry));
    }
    return 0;
}

static const lmx_astore_ops rd_ops = {.put_run = rd_put_run,
                                      .get_run = rd_get_run,
                                      .list_runs = rd_list_runs,
                                      .unfinished = rd_unfinished,
                                      .append_event = rd_append_event,
                                      .events_after = rd_events_after,
                                      .idem_create = rd_idem_create,
                                      .put_role = rd_put_role,
                                      .del_role = rd_del_role,
                                      .roles = rd_roles,
                                      .purge = rd_purge,
                                      .close = rd_close,
                                      .q_push = rd_q_push,
                                      .q_pop = rd_q_pop,
                                      .q_ack = rd_q_ack,
                                      .q_len = rd_q_len};

lmx_astore *lmx_astore_redis(const char *url, char *err, size_t n) {
    rd_store *s = calloc(1, sizeof *s);
    if (!s) return snprintf(err, n, "out of memory"), NULL;
    s->port = 6379;
    const char *p = url && !strncmp(url, "redis://", 8) ? url + 8 : NULL;
    if (!p || !*p) {
        free(s);
        snprintf(err, n, "redis_url: expected redis://HOST:PORT[/DB], got '%s'", url ? url : "");
        return NULL;
    }
    size_t h = strcspn(p, ":/");
    snprintf(s->host, sizeof s->host, "%.*s", (int)h, p);
    p += h;
    if (*p == ':') {
        s->port = atoi(p + 1);
        p += 1 + strspn(p + 1, "0123456789");
    }
    if (*p == '/') s->db = atoi(p + 1);
    if (!s->host[0] || s->port <= 0 || s->port > 65535) {
        free(s);
        snprintf(err, n, "redis_url: expected redis://HOST:PORT[/DB], got '%s'", url);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    char hn[256] = "localhost";
    gethostname(hn, sizeof hn - 1);
    snprintf(s->consumer, sizeof s->consumer, "lmx-%s", hn);
    if (rd_connect(s, err, n) || q_recover(s, err, n)) {
        rd_close(&s->base);
        return NULL;
    }
    s->base.ops = &rd_ops;
    s->base.backend = "redis";
    return &s->base;
}
