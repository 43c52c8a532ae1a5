/* The manager's results and their one mapping to HTTP (server/core/mgr_error.c):
 * every result code has an HTTP status and type, the codes the API docs name
 * come out unchanged, and a refused load carries its numbers. */
#include <stdlib.h>
#include <unistd.h>

#include "manager/manager.h"
#include "server/core/mgr_error.h"
#include "test.h"

static lmx_api_err mapped(lmx_mgr_status st, lmx_mgr_what what, const char *arg) {
    lmx_mgr_err me;
    lmx_mgr_fail(&me, st, what, arg, "why");
    lmx_api_err e = {0};
    lmx_err_from_mgr(&e, &me);
    return e;
}

TEST(mgr_error_every_code_has_an_http_status_and_type) {
    for (int st = LMX_MGR_INVALID; st <= LMX_MGR_INTERNAL; st++) {
        lmx_api_err e = mapped((lmx_mgr_status)st, LMX_MGR_W_MODEL, "model");
        if (e.status < 400 || e.status > 599 || !e.type)
            FAILF("%s maps to %d %s", lmx_mgr_status_name((lmx_mgr_status)st), e.status,
                  e.type ? e.type : "(no type)");
        CHECK(strcmp(lmx_mgr_status_name((lmx_mgr_status)st), "unknown"));
        /* the manager's message, a remedy may follow (LOADED's names the model) */
        CHECK(st == LMX_MGR_LOADED || !strncmp(e.message, "why", 3));
    }
}

TEST(mgr_error_codes_the_api_documents) {
    lmx_api_err e = mapped(LMX_MGR_NOT_FOUND, LMX_MGR_W_FILE, "quant");
    CHECK_EQ_INT(e.status, 404);
    CHECK_EQ_STR(e.code, "file_not_found");
    CHECK_EQ_STR(e.param, "quant");
    e = mapped(LMX_MGR_NOT_FOUND, LMX_MGR_W_DOWNLOAD, NULL);
    CHECK_EQ_STR(e.code, "download_not_found");
    CHECK_EQ_STR(e.param, "");
    e = mapped(LMX_MGR_NO_MEMORY, LMX_MGR_W_MODEL, "model");
    CHECK_EQ_INT(e.status, 507);
    CHECK_EQ_STR(e.type, "server_error");
    CHECK_EQ_STR(e.code, "insufficient_memory");
    e = mapped(LMX_MGR_FORBIDDEN, LMX_MGR_W_REPO, "repo");
    CHECK_EQ_INT(e.status, 403);
    CHECK_EQ_STR(e.type, "permission_error");
    e = mapped(LMX_MGR_CANARY_FAILED, LMX_MGR_W_MODEL, "model");
    CHECK_EQ_INT(e.status, 422);
    CHECK_EQ_STR(e.code, "model_canary_failed");
    e = mapped(LMX_MGR_INTERNAL, LMX_MGR_W_NONE, NULL);
    CHECK_EQ_INT(e.status, 500);
    CHECK(e.code == NULL);
}

/* The remedies naming an admin route are added by the server, not the manager. */
TEST(mgr_error_route_remedies_come_from_the_server) {
    lmx_mgr_err me;
    lmx_mgr_fail(&me, LMX_MGR_UNSTABLE, LMX_MGR_W_MODEL, "model",
                 "The model 'x' is quarantined: 3 failures.");
    CHECK(!strstr(me.message, "/admin/"));
    lmx_api_err e = {0};
    lmx_err_from_mgr(&e, &me);
    CHECK_EQ_INT(e.status, 409);
    CHECK_EQ_STR(e.message, "The model 'x' is quarantined: 3 failures. Load it again "
                            "(POST /admin/models/load) to clear it.");
    lmx_mgr_fail(&me, LMX_MGR_LOADED, LMX_MGR_W_MODEL, "model", "loaded");
    snprintf(me.name, sizeof me.name, "x");
    lmx_err_from_mgr(&e, &me);
    CHECK_EQ_STR(e.code, "model_loaded");
    CHECK_EQ_STR(e.message,
                 "The model 'x' is loaded; unload it first (POST /admin/models/unload).");
}

/* A load the memory limit refuses says so with the bytes and the knobs. */
TEST(mgr_error_refused_load_carries_its_numbers) {
    char dir[] = "/tmp/lmx-store-XXXXXX", src[1024], dst[1100];
    CHECK(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/models/stories260K.gguf", lmx_test_shared());
    char *real = realpath(src, NULL);
    snprintf(dst, sizeof dst, "%s/tiny.gguf", dir);
    int rc = real ? symlink(real, dst) : -1;
    free(real);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (rc) {
        if (system(cmd)) {
        }
        FAILF("cannot link %s", src);
    }
    lmx_mgr_opts o = {.n_ctx = 64, .n_parallel = 1, .n_queue = 4, .models_dir = dir};
    lmx_mgr *m = lmx_mgr_create(&o);
    lmx_mgr_policy p = {.memory_limit = 4096, .quarantine_errors = 3, .quarantine_window_s = 600};
    lmx_mgr_set_policy(m, &p);
    lmx_mgr_err e = {0}, nf = {0}, bad = {0};
    lmx_served *s = lmx_mgr_load(m, &(lmx_load_req){.model = "tiny"}, &e);
    lmx_served *s2 = lmx_mgr_load(m, &(lmx_load_req){.model = "nope"}, &nf);
    lmx_served *s3 = lmx_mgr_load(m, &(lmx_load_req){.model = "../tiny"}, &bad);
    lmx_mgr_destroy(m, true);
    if (system(cmd)) {
    }
    CHECK(!s && !s2 && !s3);
    CHECK_EQ_INT(e.status, LMX_MGR_NO_MEMORY);
    CHECK_EQ_STR(e.name, "tiny");
    CHECK(e.needed > 4096);
    CHECK(e.available <= 4096);
    CHECK_EQ_INT(e.limit, 4096);
    CHECK_EQ_INT(e.n_ctx, 64);
    CHECK_EQ_INT(e.n_parallel, 1);
    CHECK(strstr(e.message, "Not enough memory to load 'tiny'"));
    CHECK_EQ_INT(nf.status, LMX_MGR_NOT_FOUND);
    CHECK_EQ_INT(nf.what, LMX_MGR_W_MODEL);
    CHECK_EQ_INT(bad.status, LMX_MGR_BAD_NAME);
}
