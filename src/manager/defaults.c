/* See defaults.h. */
#include "manager/defaults.h"

static uint64_t need(const lmx_defaults_in *in, int ctx, int par) {
    return in->fixed + in->kv_per_token * (uint64_t)ctx * (uint64_t)par;
}

void lmx_defaults_choose(const lmx_defaults_in *in, lmx_defaults_out *out) {
    int ctx = in->ctx_given > 0 ? in->ctx_given : in->ctx_max;
    int par = in->parallel_given > 0 ? in->parallel_given : in->parallel_max;
    if (ctx < 1) ctx = 1;
    if (par < 1) par = 1;
    uint64_t room = in->available > in->fixed ? in->available - in->fixed : 0;
    uint64_t per = in->kv_per_token ? in->kv_per_token : 1;
    bool reduced = false;
    /* parallel first: the most sequences of the full context that fit */
    if (in->parallel_given <= 0 && need(in, ctx, par) > in->available) {
        uint64_t p = room / (per * (uint64_t)ctx);
        int np = p < 1 ? 1 : (int)p;
        if (np < par) {
            par = np;
            reduced = true;
        }
    }
    /* then the context, in steps of 256 positions, not below the floor */
    if (in->ctx_given <= 0 && need(in, ctx, par) > in->available) {
        int floor = in->ctx_max < LMX_DEFAULT_CTX_FLOOR ? in->ctx_max : LMX_DEFAULT_CTX_FLOOR;
        uint64_t c = room / (per * (uint64_t)par);
        c -= c % 256;
        int nc = c < (uint64_t)floor ? floor : (int)c;
        if (nc < ctx) {
            ctx = nc;
            reduced = true;
        }
    }
    out->n_ctx = ctx;
    out->n_parallel = par;
    out->needed = need(in, ctx, par);
    out->reduced = reduced;
    out->fits = out->needed <= in->available;
}
