/* The Responses API's store: save / read / delete, the row and age limits,
 * the file surviving a reopen, and the in-memory fallback. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "server/api/response_store.h"
#include "test.h"

static json_t *resp(const char *id) {
    return json_pack("{s:s,s:s,s:[]}", "id", id, "object", "response", "output");
}

static void tmp_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "/tmp/lmx-rstore-%d/%s", (int)getpid(), name);
}

TEST(rstore_put_get_delete) {
    lmx_rstore *st = lmx_rstore_new(NULL, 0, 0);
    CHECK(st);
    char err[256];
    json_t *r = resp("resp_1"), *conv = json_pack("[{s:s}]", "type", "message");
    CHECK_EQ_INT(lmx_rstore_put(st, "resp_1", 100, r, conv, err, sizeof err), 0);
    json_t *c2 = NULL, *r2 = lmx_rstore_get(st, "resp_1", &c2);
    CHECK(r2 && c2);
    CHECK(json_equal(r, r2) && json_equal(conv, c2));
    json_decref(r2);
    json_decref(c2);
    CHECK(!lmx_rstore_get(st, "resp_2", NULL));
    CHECK_EQ_INT(lmx_rstore_delete(st, "resp_1"), 1);
    CHECK_EQ_INT(lmx_rstore_delete(st, "resp_1"), 0);
    CHECK(!lmx_rstore_get(st, "resp_1", NULL));
    json_decref(r);
    json_decref(conv);
    lmx_rstore_free(st);
}

TEST(rstore_keeps_the_newest_rows_and_drops_old_ones) {
    lmx_rstore *st = lmx_rstore_new(NULL, 3, 3600);
    char err[256], id[32];
    long long now = (long long)time(NULL);
    json_t *conv = json_array();
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "resp_%d", i);
        json_t *r = resp(id);
        CHECK_EQ_INT(lmx_rstore_put(st, id, now - 10 + i, r, conv, err, sizeof err), 0);
        json_decref(r);
    }
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "resp_%d", i);
        json_t *r = lmx_rstore_get(st, id, NULL);
        CHECK((r != NULL) == (i >= 2));
        json_decref(r);
    }
    /* older than max_age: pruned at the next write, and never returned */
    json_t *r = resp("old");
    CHECK_EQ_INT(lmx_rstore_put(st, "old", now - 7200, r, conv, err, sizeof err), 0);
    CHECK(!lmx_rstore_get(st, "old", NULL));
    json_decref(r);
    json_decref(conv);
    lmx_rstore_free(st);
}

TEST(rstore_file_survives_a_reopen) {
    char path[256], dir[256];
    tmp_path(path, sizeof path, "sub/responses.db");
    tmp_path(dir, sizeof dir, "");
    char err[256];
    lmx_rstore *st = lmx_rstore_new(path, 10, 0);
    json_t *r = resp("resp_f"), *conv = json_array();
    CHECK_EQ_INT(lmx_rstore_put(st, "resp_f", 1, r, conv, err, sizeof err), 0);
    lmx_rstore_free(st);
    st = lmx_rstore_new(path, 10, 0);
    json_t *r2 = lmx_rstore_get(st, "resp_f", NULL);
    CHECK(r2 && json_equal(r, r2));
    json_decref(r2);
    lmx_rstore_free(st);
    json_decref(r);
    json_decref(conv);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
}

TEST(rstore_unusable_file_falls_back_to_memory) {
    /* a directory where the file should be: SQLite cannot open it */
    char path[256], dir[256];
    tmp_path(path, sizeof path, "isdir");
    tmp_path(dir, sizeof dir, "");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    CHECK_EQ_INT(system(cmd), 0);
    lmx_rstore *st = lmx_rstore_new(path, 10, 0);
    char err[256];
    json_t *r = resp("resp_m"), *conv = json_array();
    CHECK_EQ_INT(lmx_rstore_put(st, "resp_m", 1, r, conv, err, sizeof err), 0);
    json_t *r2 = lmx_rstore_get(st, "resp_m", NULL);
    CHECK(r2);
    json_decref(r2);
    json_decref(r);
    json_decref(conv);
    lmx_rstore_free(st);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
}
