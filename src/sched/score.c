/* Log-probabilities and prompt scoring: see score.h. */
#include "sched/score.h"

#include <math.h>
#include <string.h>

void lmx_logprobs(const float *raw, int nv, int32_t chosen, int n_top, lmx_event *ev) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < nv; i++)
        if (raw[i] > mx) mx = raw[i];
    for (int i = 0; i < nv; i++) sum += exp((double)raw[i] - mx);
    double lse = mx + log(sum);
    ev->logprob = (float)(raw[chosen] - lse);
    ev->n_top = 0;
    for (int i = 0; i < nv; i++) { /* insertion into a sorted top-n (n <= 20) */
        float v = raw[i];
        int k = ev->n_top;
        if (k == n_top && (k == 0 || v <= ev->top_logprob[k - 1])) continue;
        if (k < n_top)
            ev->n_top++;
        else
            k--;
        while (k > 0 && ev->top_logprob[k - 1] < v) {
            ev->top_logprob[k] = ev->top_logprob[k - 1];
            ev->top_id[k] = ev->top_id[k - 1];
            k--;
        }
        ev->top_logprob[k] = v;
        ev->top_id[k] = i;
    }
    for (int k = 0; k < ev->n_top; k++) ev->top_logprob[k] = (float)(ev->top_logprob[k] - lse);
}

int lmx_score_rows(int n_vocab, int prefill_chunk) {
    size_t row = sizeof(float) * (size_t)(n_vocab > 0 ? n_vocab : 1);
    size_t n = LMX_SCORE_ROW_BYTES / row;
    if (n < 8) n = 8;
    return (size_t)prefill_chunk < n ? prefill_chunk : (int)n;
}

void lmx_score_event(const int32_t *prompt, int pos, const float *row, int n_vocab, int n_top,
                     lmx_event *ev) {
    memset(ev, 0, sizeof *ev);
    ev->type = LMX_EV_PROMPT;
    ev->token = prompt[pos];
    if (pos == 0)
        ev->logprob = NAN;
    else
        lmx_logprobs(row, n_vocab, prompt[pos], n_top, ev);
}
