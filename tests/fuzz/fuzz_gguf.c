/* libFuzzer harness for the GGUF reader and the model loader on top of it.
 *
 * Each input is written to a memfd and opened as a model, the way a user's
 * file is: header, metadata, tensor table, shapes against hyper-parameters.
 * Any crash, out-of-bounds read (ASan) or UB (UBSan) is a finding.
 * Build and run: make fuzz && build-fuzz/fuzz_gguf -max_total_time=60 CORPUS_DIR */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "engine/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.gguf", MFD_CLOEXEC);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64], err[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    lmx_gguf *g = lmx_gguf_open(path, err, sizeof err);
    if (g) {
        /* touch every value the way inspect does */
        for (int64_t i = 0; i < g->n_kv; i++) {
            const lmx_gguf_kv *kv = &g->kv[i];
            for (uint64_t k = 0; k < kv->arr_n && k < 64; k++) {
                if (kv->arr_type == LMX_GGUF_STR) {
                    size_t n;
                    const char *s = lmx_gguf_arr_str(kv, k, &n);
                    if (n) (void)*(volatile const char *)(s + n - 1);
                } else {
                    (void)lmx_gguf_arr_int(kv, k);
                }
            }
        }
        for (int64_t i = 0; i < g->n_tensors; i++)
            if (g->tensors[i].nbytes)
                (void)*(volatile const uint8_t *)((const uint8_t *)g->tensors[i].data +
                                                  g->tensors[i].nbytes - 1);
        lmx_gguf_close(g);
        lmx_model *m = lmx_model_open(path, NULL, err, sizeof err);
        lmx_model_free(m);
    }
    close(fd);
    return 0;
}
