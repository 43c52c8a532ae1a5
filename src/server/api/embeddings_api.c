/* POST /v1/embeddings: OpenAI's embeddings endpoint on the loaded model.
 *
 * input is a string, an array of strings, an array of token ids, or an array
 * of token-id arrays; each input becomes one scheduler embedding job (the
 * scheduler batches them with each other and with running generations, and
 * pools the final hidden states per the model's pooling type — see
 * docs/embeddings.md). Jobs are kept in flight a window at a time so a long
 * input list neither fills the scheduler's queue nor waits one by one.
 *
 * encoding_format "base64" is the vectors' little-endian float32 bytes (what
 * the openai SDKs ask for by default). `dimensions` is refused unless it is
 * the model's own size: a causal LM's hidden state cannot be truncated
 * meaningfully (no Matryoshka training). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/manager.h"
#include "server/api/embeddings_api.h"
#include "server/core/chat_prompt.h"
#include "server/http/http.h"
#include "server/core/mgr_error.h"

#define MAX_INPUTS 2048 /* OpenAI's own limit per request */

typedef struct {
    int32_t *tok;
    int n;
} input;

static void free_inputs(input *in, int n) {
    for (int i = 0; in && i < n; i++) free(in[i].tok);
    free(in);
}

/* A JSON array of token ids → in (ids checked against the vocabulary). */
static int token_array(const json_t *a, int n_vocab, const char *where, input *in, lmx_api_err *e) {
    size_t n = json_array_size(a);
    if (n == 0) {
        lmx_err_bad(e, "input",
                    "Invalid '%s': empty array. Expected a non-empty array of token ids.", where);
        return -1;
    }
    in->tok = malloc(sizeof(int32_t) * n);
    if (!in->tok) {
        lmx_err_set(e, 500, "server_error", NULL, NULL, "out of memory");
        return -1;
    }
    in->n = (int)n;
    for (size_t k = 0; k < n; k++) {
        const json_t *v = json_array_get(a, k);
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || id >= n_vocab) {
            lmx_err_bad(e, "input",
                        "Invalid '%s[%zu]': expected a token id in [0, %d) (an integer).", where, k,
                        n_vocab);
            return -1;
        }
        in->tok[k] = (int32_t)id;
    }
    return 0;
}

static int text_input(const lmx_served *s, const json_t *v, const char *where, input *in,
                      lmx_api_err *e) {
    if (!json_string_length(v)) {
        lmx_err_bad(e, "input", "Invalid '%s': empty string. Expected a non-empty string.", where);
        return -1;
    }
    return lmx_srv_tokenize(s, json_string_value(v), json_string_length(v), true, &in->tok, &in->n,
                            e);
}

/* body.input → token lists; -1 with e set. */
static int parse_input(const lmx_served *s, const json_t *v, const char *field, input **out,
                       int *n_out, lmx_api_err *e) {
    int nv = s->m->hp.n_vocab;
    *out = NULL;
    *n_out = 0;
    if (!v) {
        lmx_err_bad(e, field, "Missing required parameter: '%s'.", field);
        return -1;
    }
    bool one_tokens =
        json_is_array(v) && json_array_size(v) && json_is_integer(json_array_get(v, 0));
    size_t n = json_is_string(v) || one_tokens ? 1 : json_array_size(v);
    if (!json_is_string(v) && !json_is_array(v)) {
        lmx_err_bad(e, field,
                    "Invalid type for '%s': expected a string, an array of strings, an array "
                    "of token ids or an array of token-id arrays.",
                    field);
        return -1;
    }
    if (n == 0 || n > MAX_INPUTS) {
        lmx_err_bad(e, field, "Invalid '%s': expected 1 to %d inputs, got %zu.", field, MAX_INPUTS,
                    n);
        return -1;
    }
    input *in = calloc(n, sizeof *in);
    if (!in) {
        lmx_err_set(e, 500, "server_error", NULL, NULL, "out of memory");
        return -1;
    }
    int rc = 0;
    if (json_is_string(v))
        rc = text_input(s, v, field, &in[0], e);
    else if (one_tokens)
        rc = token_array(v, nv, field, &in[0], e);
    else
        for (size_t i = 0; i < n && !rc; i++) {
            const json_t *x = json_array_get(v, i);
            char where[32];
            snprintf(where, sizeof where, "%.16s[%zu]", field, i);
            if (json_is_string(x))
                rc = text_input(s, x, where, &in[i], e);
            else if (json_is_array(x))
                rc = token_array(x, nv, where, &in[i], e);
            else {
                lmx_err_bad(e, field,
                            "Invalid type for '%s': expected a string or an array of token ids.",
                            where);
                rc = -1;
            }
        }
    if (rc) {
        free_inputs(in, (int)n);
        return -1;
    }
    *out = in;
    *n_out = (int)n;
    return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The vector as base64 of its little-endian float32 bytes (new reference). */
static json_t *base64_floats(const float *v, int d) {
    size_t nb = (size_t)d * 4, no = (nb + 2) / 3 * 4;
    unsigned char *raw = malloc(nb);
    char *out = malloc(no + 1);
    json_t *j = NULL;
    if (raw && out) {
        for (int k = 0; k < d; k++) {
            uint32_t u;
            memcpy(&u, &v[k], 4);
            for (int b = 0; b < 4; b++) raw[4 * k + b] = (unsigned char)(u >> (8 * b));
        }
        size_t o = 0;
        for (size_t i = 0; i < nb; i += 3) {
            uint32_t w = (uint32_t)raw[i] << 16;
            if (i + 1 < nb) w |= (uint32_t)raw[i + 1] << 8;
            if (i + 2 < nb) w |= raw[i + 2];
            out[o++] = b64[(w >> 18) & 63];
            out[o++] = b64[(w >> 12) & 63];
            out[o++] = i + 1 < nb ? b64[(w >> 6) & 63] : '=';
            out[o++] = i + 2 < nb ? b64[w & 63] : '=';
        }
        j = json_stringn(out, o);
    }
    free(raw);
    free(out);
    return j;
}

static json_t *float_array(const float *v, int d) {
    json_t *a = json_array();
    for (int k = 0; k < d; k++) json_array_append_new(a, json_real(v[k]));
    return a;
}

static void submit_error(lmx_served *s, lmx_api_err *e, lmx_submit_status st) {
    if (st == LMX_SUBMIT_QUEUE_FULL) {
        lmx_gen_queue_full(s, e);
    } else if (st == LMX_SUBMIT_STOPPING) {
        lmx_err_set(e, 503, "server_error", "shutting_down", NULL, "The server is shutting down.");
    } else {
        lmx_err_set(e, 500, "server_error", NULL, NULL,
                    "The scheduler refused an embedding job (out of memory).");
    }
}

/* Runs every input through the scheduler; fills out->v in input order. */
static int run_jobs(lmx_served *s, const input *in, int n, lmx_embeds *out, lmx_api_err *e) {
    int window = s->n_parallel > 0 ? s->n_parallel : 1;
    lmx_job **jobs = calloc((size_t)n, sizeof *jobs);
    out->dim = s->m->hp.n_embd;
    out->v = malloc(sizeof(float) * (size_t)n * (size_t)out->dim);
    if (!jobs || !out->v) {
        free(jobs);
        lmx_err_set(e, 500, "server_error", NULL, NULL, "out of memory");
        return -1;
    }
    int next = 0, rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        while (next < n && next < i + window) { /* keep a window of jobs in flight */
            lmx_job_params p = {.prompt = in[next].tok, .n_prompt = in[next].n, .embed = true};
            lmx_gen_identify(&p);
            lmx_submit_status st;
            jobs[next] = lmx_sched_submit(s->sched, &p, &st);
            if (!jobs[next]) {
                submit_error(s, e, st);
                rc = -1;
                break;
            }
            next++;
        }
        if (rc) break;
        lmx_event ev;
        lmx_event_type t;
        do t = lmx_job_next(jobs[i], &ev, 1000);
        while (t != LMX_EV_DONE && t != LMX_EV_ERROR && (lmx_event_clear(&ev), 1));
        if (t == LMX_EV_ERROR || !ev.embd || ev.n_embd != out->dim) {
            lmx_err_set(e, 500, "server_error", NULL, NULL, "Embedding input %d failed: %s", i,
                        t == LMX_EV_ERROR ? ev.message : "no vector of the model's size");
            rc = -1;
        } else {
            memcpy(out->v + (size_t)i * (size_t)out->dim, ev.embd,
                   sizeof(float) * (size_t)out->dim);
            out->n = i + 1;
        }
        lmx_event_clear(&ev);
    }
    for (int i = 0; i < next; i++) {
        if (rc && jobs[i]) lmx_job_cancel(jobs[i]);
        lmx_job_release(jobs[i]);
    }
    free(jobs);
    return rc;
}

int lmx_embed(lmx_served *s, const json_t *inputs, const char *field, bool truncate,
              lmx_embeds *out, lmx_api_err *e) {
    memset(out, 0, sizeof *out);
    input *in = NULL;
    int n_in = 0, rc = -1;
    if (parse_input(s, inputs, field, &in, &n_in, e)) return -1;
    for (int i = 0; i < n_in; i++) {
        if (in[i].n > s->n_ctx && truncate) in[i].n = s->n_ctx; /* the first n_ctx tokens */
        if (in[i].n > s->n_ctx) {
            lmx_err_set(e, 400, "invalid_request_error", "context_length_exceeded", field,
                        "This model's maximum context length is %d tokens, however %s[%d] "
                        "has %d tokens. Please reduce the length of the input.",
                        s->n_ctx, field, i, in[i].n);
            goto out;
        }
        out->tokens += in[i].n;
    }
    rc = run_jobs(s, in, n_in, out, e);
out:
    free_inputs(in, n_in);
    return rc;
}

void lmx_embeds_free(lmx_embeds *x) {
    free(x->v);
    memset(x, 0, sizeof *x);
}

int lmx_embed_reply(lmx_req *r, json_t *o, const lmx_api_err *e, lmx_served *s, lmx_embeds *em,
                    json_t *body) {
    int ok = o ? lmx_reply_json(r, 200, o) : lmx_reply_err(r, e);
    if (s) lmx_mgr_release(s);
    lmx_embeds_free(em);
    json_decref(body);
    return ok;
}

static const char *const known[] = {"model", "input", "encoding_format", "dimensions", "user"};

int lmx_embeddings_openai(lmx_req *r, lmx_embed_acquire_fn acquire, const char *extra_field) {
    lmx_api_err e = {0};
    json_t *body = lmx_req_json(r, false, &e);
    if (!body) return lmx_reply_err(r, &e);
    lmx_served *s = NULL;
    lmx_embeds em = {0};
    const char *key;
    json_t *val;
    if (!json_is_object(body)) {
        lmx_err_bad(&e, NULL, "The request body must be a JSON object.");
        goto fail;
    }
    json_object_foreach(body, key, val) {
        bool k = extra_field && !strcmp(key, extra_field);
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) k = k || !strcmp(key, known[i]);
        if (!k) {
            lmx_err_bad(&e, key, "Unrecognized request argument supplied: %s", key);
            goto fail;
        }
    }
    const json_t *model = json_object_get(body, "model");
    if (!json_is_string(model)) {
        lmx_err_bad(&e, "model",
                    model ? "Invalid type for 'model': expected a string."
                          : "You must provide a model parameter.");
        goto fail;
    }
    lmx_req_set_model(r, json_string_value(model));
    const json_t *fmt = json_object_get(body, "encoding_format"),
                 *user = json_object_get(body, "user");
    bool b64out = false;
    if (fmt && !json_is_null(fmt)) {
        const char *f = json_string_value(fmt);
        if (!f || (strcmp(f, "float") && strcmp(f, "base64"))) {
            lmx_err_bad(&e, "encoding_format",
                        "Invalid 'encoding_format': expected 'float' or 'base64'.");
            goto fail;
        }
        b64out = !strcmp(f, "base64");
    }
    if (user && !json_is_string(user) && !json_is_null(user)) {
        lmx_err_bad(&e, "user", "Invalid type for 'user': expected a string.");
        goto fail;
    }
    s = acquire ? acquire(r, body, json_string_value(model), &e)
                : lmx_api_acquire(lmx_req_app(r)->mgr, json_string_value(model), &e);
    if (!s) goto fail;
    const json_t *dims = json_object_get(body, "dimensions");
    int d = s->m->hp.n_embd;
    if (dims && !json_is_null(dims) && (!json_is_integer(dims) || json_integer_value(dims) != d)) {
        lmx_err_bad(&e, "dimensions",
                    "Invalid 'dimensions': model '%s' gives %d-dimensional embeddings and cannot "
                    "shorten them; leave 'dimensions' out or set it to %d.",
                    s->name, d, d);
        goto fail;
    }
    if (lmx_embed(s, json_object_get(body, "input"), "input", false, &em, &e)) goto fail;
    json_t *data = json_array();
    for (int i = 0; i < em.n; i++) {
        const float *v = em.v + (size_t)i * (size_t)em.dim;
        json_t *vec = b64out ? base64_floats(v, em.dim) : float_array(v, em.dim);
        json_array_append_new(data, json_pack("{s:s,s:i,s:o}", "object", "embedding", "index", i,
                                              "embedding", vec ? vec : json_null()));
    }
    json_t *resp =
        json_pack("{s:s,s:o,s:s,s:{s:i,s:i}}", "object", "list", "data", data, "model", s->name,
                  "usage", "prompt_tokens", em.tokens, "total_tokens", em.tokens);
    return lmx_embed_reply(r, resp, &e, s, &em, body);
fail:
    return lmx_embed_reply(r, NULL, &e, s, &em, body);
}

LMX_HANDLER_CALL(lmx_h_embeddings, lmx_embeddings_openai, NULL, NULL)
