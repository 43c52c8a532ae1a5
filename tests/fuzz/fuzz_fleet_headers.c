/* libFuzzer harness for the fleet's header and setting parsers: the client
 * address behind trusted proxies (server/ident.c: X-Forwarded-For,
 * Forwarded, CIDR lists), W3C traceparent (trace/trace.c) and the tenants /
 * api_keys settings (server/tenancy.c).
 *
 * Input: NUL-separated fields — a CIDR list, an XFF value, a Forwarded value,
 * a traceparent, a tenants setting. Whatever they hold: no crash, no leak, no
 * read out of bounds; the chosen address is the peer or parses as an address;
 * a traceparent that parses formats back to a valid one.
 * Build and run: make fuzz && build-fuzz/fuzz_fleet_headers -max_total_time=60 CORPUS_DIR */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/ident.h"
#include "server/core/tenancy.h"
#include "trace/trace.h"

static lmx_tenancy *ten;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 16384) return 0;
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    const char *f[5] = {"", "", "", "", ""};
    size_t at = 0;
    for (int i = 0; i < 5 && at <= size; i++) {
        f[i] = buf + at;
        at += strlen(buf + at) + 1;
    }
    lmx_cidr list[LMX_MAX_CIDRS];
    int n = 0;
    char err[256], out[64];
    if (lmx_cidr_parse_list(f[0], list, LMX_MAX_CIDRS, &n, err, sizeof err)) n = 0;
    lmx_ident_client_addr("127.0.0.1", f[1], f[2], list, n, out, sizeof out);
    uint8_t a[16];
    if (strcmp(out, "127.0.0.1") && !lmx_ip_parse(out, a)) abort();
    lmx_trace_ctx c;
    if (lmx_trace_parse(f[3], &c)) {
        char tp[64];
        lmx_trace_format(&c, tp, sizeof tp);
        lmx_trace_ctx d;
        if (!lmx_trace_parse(tp, &d) || memcmp(c.trace_id, d.trace_id, 16) ||
            memcmp(c.span_id, d.span_id, 8))
            abort();
    }
    if (!ten) ten = lmx_tenancy_open(NULL, err, sizeof err);
    if (ten) {
        lmx_tenancy_cfg tc = {.tenants = f[4], .api_keys = f[4], .trusted_proxies = f[0]};
        lmx_tenancy_configure(ten, &tc, err, sizeof err);
    }
    free(buf);
    return 0;
}
