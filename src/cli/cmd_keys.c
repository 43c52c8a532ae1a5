/* lmx keys add TENANT | ls | revoke ID: the daemon's inference keys, through
 * its admin API (/admin/keys). A new key is printed once, on stdout; the
 * daemon keeps only its hash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin_client.h"
#include "cli/cli.h"

static const char *usage =
    "usage: lmx keys add TENANT | ls | revoke ID [--json] [--host H] [--port P] [--admin-key K]\n"
    "  add     make an inference key for TENANT (printed once; only its hash is stored)\n"
    "  ls      list keys (ids and tenants, never the keys)\n"
    "  revoke  revoke the key with that id\n";

int cmd_keys(int argc, char **argv) {
    lmx_admin a;
    lmx_admin_init(&a, "lmx keys");
    const char *pos[2] = {NULL, NULL};
    int np = 0;
    for (int i = 1; i < argc; i++) {
        bool bad = false;
        if (lmx_admin_option(&a, argc, argv, &i, &bad)) continue;
        if (bad) return 2;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (argv[i][0] == '-' || np == 2) {
            fprintf(stderr, "lmx keys: unexpected argument '%s'\n%s", argv[i], usage);
            return 2;
        }
        pos[np++] = argv[i];
    }
    if (!np || !lmx_admin_ready(&a)) {
        fputs(usage, stderr);
        return 2;
    }
    const char *sub = pos[0];
    json_t *r = NULL;
    if (!strcmp(sub, "add") && np == 2) {
        json_t *body = json_pack("{s:s}", "tenant", pos[1]);
        r = lmx_admin_do(&a, "POST", "/admin/keys", body);
        json_decref(body);
        if (!r) return 1;
        if (a.json)
            lmx_admin_print_json(r);
        else {
            printf("%s\n", json_string_value(json_object_get(r, "key")));
            fprintf(stderr, "key %s for tenant %s (shown once: store it now)\n",
                    json_string_value(json_object_get(r, "id")), pos[1]);
        }
    } else if (!strcmp(sub, "ls") && np == 1) {
        r = lmx_admin_do(&a, "GET", "/admin/keys", NULL);
        if (!r) return 1;
        if (a.json)
            lmx_admin_print_json(r);
        else {
            printf("%-18s %-24s %s\n", "ID", "TENANT", "STATE");
            size_t i;
            json_t *k;
            json_array_foreach(json_object_get(r, "data"), i, k) {
                printf("%-18s %-24s %s\n", json_string_value(json_object_get(k, "id")),
                       json_string_value(json_object_get(k, "tenant")),
                       json_is_true(json_object_get(k, "revoked")) ? "revoked" : "active");
            }
        }
    } else if (!strcmp(sub, "revoke") && np == 2) {
        char *id = lmx_admin_escape(pos[1]), path[600];
        snprintf(path, sizeof path, "/admin/keys/%s", id ? id : "");
        free(id);
        r = lmx_admin_do(&a, "DELETE", path, NULL);
        if (!r) return 1;
        if (a.json)
            lmx_admin_print_json(r);
        else
            printf("revoked %s\n", pos[1]);
    } else {
        fputs(usage, stderr);
        return 2;
    }
    json_decref(r);
    return 0;
}
