/* libFuzzer harness for the Hub listing chooser (manager/hub.c): arbitrary
 * JSON as a listing, and the first line of the input as a quant or file name.
 * It must never crash, leak or read out of bounds, and every chosen file must
 * be a path that cannot leave the store when it is one of the listing's.
 * Build and run: make fuzz && build-fuzz/fuzz_hub_listing -max_total_time=60 CORPUS_DIR */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager/hub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *nl = memchr(data, '\n', size);
    if (!nl || nl - (const char *)data > 200) return 0;
    char key[201];
    size_t kl = (size_t)(nl - (const char *)data);
    memcpy(key, data, kl);
    key[kl] = 0;
    json_t *l = json_loadb(nl + 1, size - kl - 1, 0, NULL);
    if (!l) return 0;
    lmx_mgr_err e = {0};
    lmx_hub_file *f = NULL;
    for (int mode = 0; mode < 3; mode++) {
        int n = lmx_hub_choose(l, mode == 0 ? key : NULL, mode == 1 ? key : NULL, &f, &e);
        if (n > 0) {
            for (int i = 0; i < n; i++) {
                char q[32];
                lmx_hub_quant_of(f[i].name, q, sizeof q);
                if (!lmx_hub_valid_path(f[i].name)) abort(); /* would escape the store */
            }
            lmx_hub_files_free(f, n);
        } else if (n == 0 || e.status == LMX_MGR_OK) {
            abort(); /* a refusal always says why */
        }
    }
    (void)lmx_hub_valid_repo(key);
    json_decref(l);
    return 0;
}
