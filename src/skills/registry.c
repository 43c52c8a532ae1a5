/* The registry: reading the skills directory, resolving references, and
 * bridging MCP servers' tools in as skills. */
#include "skills/registry.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "skills/mcp_client.h"
#include "skills/validate.h"
#include "util/grow.h"

lmx_skills *lmx_skills_new(const lmx_skills_opts *o) {
    lmx_skills *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->freed, NULL);
    s->errors = json_array();
    lmx_skills_set_opts(s, o);
    return s;
}

void lmx_skills_set_opts(lmx_skills *s, const lmx_skills_opts *o) {
    pthread_mutex_lock(&s->lock);
    s->o = *o;
    snprintf(s->dir, sizeof s->dir, "%s", o->dir ? o->dir : "");
    snprintf(s->bwrap, sizeof s->bwrap, "%s", o->bwrap ? o->bwrap : "");
    snprintf(s->tmp_dir, sizeof s->tmp_dir, "%s", o->tmp_dir ? o->tmp_dir : "");
    s->o.dir = s->dir;
    s->o.bwrap = s->bwrap;
    s->o.tmp_dir = s->tmp_dir;
    if (s->o.queue < 0) s->o.queue = 0;
    pthread_mutex_unlock(&s->lock);
}

void lmx_skill_ref(lmx_skill *k) {
    atomic_fetch_add(&k->refs, 1);
}

void lmx_skill_unref(lmx_skill *k) {
    if (k && atomic_fetch_sub(&k->refs, 1) == 1) lmx_skill_free(k);
}

void lmx_skills_free(lmx_skills *s) {
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    bool join = s->bridging;
    s->bridging = false;
    pthread_mutex_unlock(&s->lock);
    if (join) pthread_join(s->bridge, NULL);
    for (int i = 0; i < s->n; i++) lmx_skill_unref(s->skills[i]);
    free(s->skills);
    for (int i = 0; i < s->n_mcp; i++) lmx_mcp_free(s->mcp[i]);
    free(s->mcp);
    for (int i = 0; i < s->n_retired; i++) lmx_mcp_free(s->retired[i]);
    free(s->retired);
    json_decref(s->errors);
    pthread_cond_destroy(&s->freed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- reading the directory ---- */

typedef struct {
    lmx_skill **v;
    int n, cap;
    lmx_mcp_def **defs;
    int nd, capd;
    json_t *errors;
} loaded;

static void push_skill(loaded *l, lmx_skill *k) {
    if (!lmx_grow_int(&l->v, &l->cap, l->n + 1, sizeof *l->v, 32)) {
        lmx_skill_free(k);
        return;
    }
    l->v[l->n++] = k;
}

static bool manifest_name(const char *n) {
    size_t len = strlen(n);
    if (n[0] == '.') return false;
    return (len > 5 && !strcmp(n + len - 5, ".yaml")) ||
           (len > 4 && !strcmp(n + len - 4, ".yml")) || (len > 5 && !strcmp(n + len - 5, ".json"));
}

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Manifests in dir and its subdirectories (one level: a skill's folder). */
static void scan(loaded *l, const char *dir, int depth, const lmx_manifest_opts *mo) {
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, by_name);
    if (n < 0) {
        if (!depth) {
            char msg[1200];
            snprintf(msg, sizeof msg, "%s: cannot read the skills directory", dir);
            json_array_append_new(l->errors, json_pack("{s:s,s:s}", "file", dir, "error", msg));
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        struct stat st;
        if (name[0] != '.' && !stat(path, &st)) {
            if (S_ISDIR(st.st_mode) && depth < 1 && strcmp(name, "node_modules"))
                scan(l, path, depth + 1, mo);
            else if (S_ISREG(st.st_mode) && manifest_name(name)) {
                lmx_skill *k = NULL;
                lmx_mcp_def *d = NULL;
                char err[1024];
                int rc = lmx_manifest_load(path, mo, &k, &d, err, sizeof err);
                if (rc == 1)
                    push_skill(l, k);
                else if (rc == 2) {
                    if (lmx_grow_int(&l->defs, &l->capd, l->nd + 1, sizeof *l->defs, 8))
                        l->defs[l->nd++] = d;
                    else
                        lmx_mcp_def_free(d);
                } else
                    json_array_append_new(l->errors,
                                          json_pack("{s:s,s:s}", "file", path, "error", err));
            }
        }
        free(ents[i]);
    }
    free(ents);
}

static int cmp_skill(const void *a, const void *b) {
    const lmx_skill *x = *(lmx_skill *const *)a, *y = *(lmx_skill *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : -lmx_semver_cmp(&x->ver, &y->ver);
}

/* Skills for the tools of MCP server m (a new list in *out), or -1 with err. */
static int bridge(lmx_mcp *m, const lmx_mcp_def *d, loaded *out, char *err, size_t n) {
    json_t *tools = lmx_mcp_list_tools(m, 10, err, n);
    if (!tools) return -1;
    char vbuf[64];
    lmx_semver ver;
    const char *v = lmx_mcp_server_version(m, vbuf, sizeof vbuf);
    if (!lmx_semver_parse(v, &ver)) v = "0.0.0", lmx_semver_parse(v, &ver);
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        const char *tn = json_string_value(json_object_get(t, "name"));
        if (!tn || strlen(tn) >= sizeof((lmx_skill *)0)->tool) continue;
        lmx_skill *k = calloc(1, sizeof *k);
        if (!k) break;
        snprintf(k->name, sizeof k->name, "mcp/%s/%s", d->name, tn);
        snprintf(k->version, sizeof k->version, "%s", v);
        k->ver = ver;
        const char *desc = json_string_value(json_object_get(t, "description"));
        k->description = strdup(desc ? desc : "");
        json_t *schema = json_object_get(t, "inputSchema");
        k->input_schema =
            json_is_object(schema) ? json_deep_copy(schema) : json_pack("{s:s}", "type", "object");
        json_t *outs = json_object_get(t, "outputSchema");
        char serr[256];
        k->schema_unchecked = lmx_jsv_check(k->input_schema, "inputSchema", serr, sizeof serr) != 0;
        if (json_is_object(outs) && !lmx_jsv_check(outs, "outputSchema", serr, sizeof serr))
            k->output_schema = json_deep_copy(outs);
        k->kind = LMX_SK_MCP;
        snprintf(k->server, sizeof k->server, "%s", d->name);
        snprintf(k->tool, sizeof k->tool, "%s", tn);
        snprintf(k->dir, sizeof k->dir, "%s", d->dir);
        snprintf(k->file, sizeof k->file, "%s", d->file);
        lmx_sk_limits_default(&k->limits);
        atomic_init(&k->refs, 1);
        push_skill(out, k);
    }
    json_decref(tools);
    return 0;
}

/* Sorted, one name@version once (the first file in sorted order wins;
 * the others are reported). */
static void settle(loaded *l) {
    if (l->n > 1) qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_skill); /* v is NULL when empty */
    int w = 0;
    for (int i = 0; i < l->n; i++) {
        if (w && !strcmp(l->v[w - 1]->name, l->v[i]->name) &&
            !lmx_semver_cmp(&l->v[w - 1]->ver, &l->v[i]->ver)) {
            char msg[1400];
            snprintf(msg, sizeof msg, "%s:1: %s@%s is also defined in %s", l->v[i]->file,
                     l->v[i]->name, l->v[i]->version, l->v[w - 1]->file);
            if (l->errors)
                json_array_append_new(l->errors,
                                      json_pack("{s:s,s:s}", "file", l->v[i]->file, "error", msg));
            lmx_skill_unref(l->v[i]);
            continue;
        }
        l->v[w++] = l->v[i];
    }
    l->n = w;
}

/* Errors of file `file` removed; `msg` (may be NULL) added. Under lock. */
static void set_error(lmx_skills *s, const char *file, const char *msg) {
    for (size_t i = 0; i < json_array_size(s->errors);) {
        const char *f = json_string_value(json_object_get(json_array_get(s->errors, i), "file"));
        if (f && !strcmp(f, file))
            json_array_remove(s->errors, i);
        else
            i++;
    }
    if (msg) json_array_append_new(s->errors, json_pack("{s:s,s:s}", "file", file, "error", msg));
}

/* Replaces server `name`'s bridged skills by `add` (taken). Under lock. */
static void install_bridged(lmx_skills *s, const char *name, loaded *add) {
    loaded l = {0};
    for (int i = 0; i < s->n; i++) {
        lmx_skill *k = s->skills[i];
        /* bridged: kind mcp under "mcp/" (a manifest may not use that namespace) */
        if (k->kind == LMX_SK_MCP && !strncmp(k->name, "mcp/", 4) && !strcmp(k->server, name))
            lmx_skill_unref(k);
        else
            push_skill(&l, k);
    }
    for (int i = 0; i < add->n; i++) push_skill(&l, add->v[i]);
    free(add->v);
    *add = (loaded){0};
    settle(&l);
    free(s->skills);
    s->skills = l.v;
    s->n = l.n;
}

typedef struct {
    lmx_skills *s;
    unsigned gen;
    lmx_mcp **clients;
    lmx_mcp_def **defs;
    int n;
    bool *done;
} bridge_job;

static bool current(const bridge_job *j) {
    pthread_mutex_lock(&j->s->lock);
    bool cur = j->s->gen == j->gen && !j->s->stopping;
    pthread_mutex_unlock(&j->s->lock);
    return cur;
}

/* Lists every server's tools; servers that fail are tried again every 3 s
 * until they answer or a reload (or exit) supersedes this job. */
static void *bridge_main(void *p) {
    bridge_job *j = p;
    for (int round = 0;; round++) {
        int left = 0;
        for (int i = 0; i < j->n && current(j); i++) {
            if (j->done[i]) continue;
            loaded add = {0};
            char err[1024];
            int rc = bridge(j->clients[i], j->defs[i], &add, err, sizeof err);
            pthread_mutex_lock(&j->s->lock);
            if (j->s->gen == j->gen) {
                if (!rc) install_bridged(j->s, j->defs[i]->name, &add);
                char msg[1200];
                snprintf(msg, sizeof msg, "%s:1: MCP server '%s': %s", j->defs[i]->file,
                         j->defs[i]->name, err);
                set_error(j->s, j->defs[i]->file, rc ? msg : NULL);
            }
            if (!rc)
                j->done[i] = true;
            else
                left++;
            pthread_mutex_unlock(&j->s->lock);
            for (int k = 0; k < add.n; k++) lmx_skill_unref(add.v[k]);
            free(add.v);
        }
        if (!left || !current(j)) break;
        for (int t = 0; t < 30 && current(j); t++) usleep(100 * 1000);
    }
    for (int i = 0; i < j->n; i++) lmx_mcp_def_free(j->defs[i]);
    free(j->defs);
    free(j->clients);
    free(j->done);
    free(j);
    return NULL;
}

int lmx_skills_reload(lmx_skills *s) {
    pthread_mutex_lock(&s->lock);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", s->dir);
    lmx_manifest_opts mo = {.allow_unsandboxed = s->o.allow_unsandboxed};
    pthread_mutex_unlock(&s->lock);

    loaded l = {.errors = json_array()};
    if (dir[0]) scan(&l, dir, 0, &mo);
    /* one server per name */
    int nd = 0;
    for (int i = 0; i < l.nd; i++) {
        bool dup = false;
        for (int j = 0; j < nd; j++) dup = dup || !strcmp(l.defs[j]->name, l.defs[i]->name);
        if (dup) {
            char msg[1200];
            snprintf(msg, sizeof msg, "%s:1: MCP server '%s' is defined twice", l.defs[i]->file,
                     l.defs[i]->name);
            json_array_append_new(l.errors,
                                  json_pack("{s:s,s:s}", "file", l.defs[i]->file, "error", msg));
            lmx_mcp_def_free(l.defs[i]);
        } else
            l.defs[nd++] = l.defs[i];
    }
    l.nd = nd;

    pthread_mutex_lock(&s->lock);
    /* the previous bridge job stops at its next check */
    s->gen++;
    bool join = s->bridging;
    pthread_t old_thread = s->bridge;
    s->bridging = false;
    /* MCP servers: a client per definition; one of an unchanged definition
     * is kept, connection and bridged tools included, until the new job
     * lists them again */
    lmx_mcp **clients = calloc((size_t)l.nd + 1, sizeof *clients);
    for (int i = 0; i < l.nd; i++) {
        for (int j = 0; j < s->n_mcp && !clients[i]; j++)
            if (s->mcp[j] && lmx_mcp_same(s->mcp[j], l.defs[i])) {
                clients[i] = s->mcp[j];
                s->mcp[j] = NULL;
            }
        if (!clients[i]) clients[i] = lmx_mcp_new(l.defs[i]);
    }
    for (int i = 0; i < s->n; i++) {
        lmx_skill *k = s->skills[i];
        if (k->kind != LMX_SK_MCP || strncmp(k->name, "mcp/", 4)) continue;
        bool kept = false;
        for (int c = 0; c < l.nd && !kept; c++)
            kept = clients[c] && !strcmp(k->server, l.defs[c]->name) &&
                   !strcmp(k->file, l.defs[c]->file);
        if (kept) {
            lmx_skill_ref(k);
            push_skill(&l, k);
        }
    }
    for (int j = 0; j < s->n_mcp; j++)
        if (s->mcp[j]) {
            if (lmx_grow_int(&s->retired, &s->cap_retired, s->n_retired + 1, sizeof *s->retired,
                             4))
                s->retired[s->n_retired++] = s->mcp[j];
        }
    free(s->mcp);
    s->mcp = calloc((size_t)l.nd + 1, sizeof *s->mcp);
    s->n_mcp = 0;
    for (int i = 0; i < l.nd; i++)
        if (clients[i]) s->mcp[s->n_mcp++] = clients[i];
    settle(&l);
    lmx_skill **old = s->skills;
    int n_old = s->n;
    s->skills = l.v;
    s->n = l.n;
    json_decref(s->errors);
    s->errors = l.errors;
    int n = 0;
    for (int i = 0; i < s->n; i++)
        n += s->skills[i]->kind != LMX_SK_MCP || !!strncmp(s->skills[i]->name, "mcp/", 4);
    unsigned gen = s->gen;
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < n_old; i++) lmx_skill_unref(old[i]);
    free(old);
    if (join) pthread_join(old_thread, NULL);

    bridge_job *j = calloc(1, sizeof *j);
    int started = 0;
    if (j && l.nd) {
        j->s = s;
        j->gen = gen;
        j->clients = clients;
        j->defs = l.defs;
        j->n = l.nd;
        j->done = calloc((size_t)l.nd, sizeof *j->done);
        pthread_mutex_lock(&s->lock);
        if (s->gen == gen && !pthread_create(&s->bridge, NULL, bridge_main, j)) {
            s->bridging = true;
            started = 1;
        }
        pthread_mutex_unlock(&s->lock);
    }
    if (!started) {
        if (j) free(j->done);
        free(j);
        free(clients);
        for (int i = 0; i < l.nd; i++) lmx_mcp_def_free(l.defs[i]);
        free(l.defs);
    }
    return n;
}

/* ---- lookups ---- */

lmx_skill *lmx_skills_get(lmx_skills *s, const char *ref, bool *not_found, char *err, size_t n) {
    *not_found = false;
    char name[256];
    const char *at = strrchr(ref, '@');
    size_t nl = at ? (size_t)(at - ref) : strlen(ref);
    if (!nl || nl >= sizeof name) {
        snprintf(err, n, "'%s' is not a skill name (NAMESPACE/NAME[@VERSION])", ref);
        return NULL;
    }
    memcpy(name, ref, nl);
    name[nl] = 0;
    lmx_semsel sel;
    if (!lmx_semsel_parse(at ? at + 1 : "", &sel)) {
        snprintf(err, n,
                 "'%s': the version selector must be MAJOR, MAJOR.MINOR, MAJOR.MINOR.PATCH "
                 "or a full prerelease version",
                 ref);
        return NULL;
    }
    lmx_skill *found = NULL;
    bool named = false;
    char versions[512] = "";
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n; i++) {
        lmx_skill *k = s->skills[i];
        if (strcmp(k->name, name)) continue;
        named = true;
        size_t vl = strlen(versions);
        snprintf(versions + vl, sizeof versions - vl, "%s%s", vl ? ", " : "", k->version);
        if (!found && lmx_semsel_match(&sel, &k->ver)) found = k; /* sorted: highest first */
    }
    if (found) lmx_skill_ref(found);
    pthread_mutex_unlock(&s->lock);
    if (!found) {
        *not_found = true;
        if (!named)
            snprintf(err, n, "no skill named '%s'", name);
        else
            snprintf(err, n, "no version of '%s' matches '%s' (versions: %s%s)", name,
                     at ? at + 1 : "latest stable", versions,
                     sel.parts || sel.v.pre[0] ? "" : "; none is stable");
    }
    return found;
}

lmx_skill *lmx_skills_by_tool(lmx_skills *s, const char *tool) {
    /* the latest stable version of the name; the highest when none is stable */
    lmx_skill *found = NULL;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n; i++) {
        char tn[200];
        lmx_skill_tool_name(s->skills[i]->name, tn, sizeof tn);
        if (strcmp(tn, tool)) continue;
        if (!found) found = s->skills[i];
        if (!s->skills[i]->ver.pre[0]) {
            found = s->skills[i];
            break;
        }
    }
    if (found) lmx_skill_ref(found);
    pthread_mutex_unlock(&s->lock);
    return found;
}

json_t *lmx_skills_list_json(lmx_skills *s) {
    json_t *data = json_array();
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n;) {
        int j = i;
        json_t *versions = json_array();
        const lmx_skill *latest = NULL;
        for (; j < s->n && !strcmp(s->skills[j]->name, s->skills[i]->name); j++) {
            json_array_append_new(versions, json_string(s->skills[j]->version));
            if (!latest && !s->skills[j]->ver.pre[0]) latest = s->skills[j];
        }
        json_t *e = lmx_skill_json(latest ? latest : s->skills[i]);
        json_object_set_new(e, "versions", versions);
        json_object_set_new(e, "latest", latest ? json_string(latest->version) : json_null());
        json_array_append_new(data, e);
        i = j;
    }
    json_t *out = json_pack("{s:s,s:o,s:O}", "object", "list", "data", data, "errors", s->errors);
    pthread_mutex_unlock(&s->lock);
    return out;
}

struct lmx_mcp *lmx_skills_mcp(lmx_skills *s, const char *name) {
    lmx_mcp *m = NULL;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n_mcp && !m; i++)
        if (!strcmp(lmx_mcp_name(s->mcp[i]), name)) m = s->mcp[i];
    pthread_mutex_unlock(&s->lock);
    return m;
}
