/* Grammar automaton, vocabulary masks and JSON Schema compilation
 * (text/grammar.h, text/json_schema.h).
 *
 * A toy vocabulary (every printable byte, a few multi-byte pieces, UTF-8
 * bytes, an end token) drives random constrained walks: whatever the walk
 * picks, the output must parse and validate against the schema (checked by a
 * small validator of the supported keywords); the trie mask must equal a
 * brute-force check of every token. */
#include <jansson.h>
#include <stdlib.h>

#include "engine/sample.h"
#include "test.h"
#include "text/json_schema.h"

/* ---- toy vocabulary ---- */

static const char *toy_multi[] = {
    "{\"",          "\":",   "\": ", "true",     "false",         "null", "abc",   "\"}",
    "},",           "12",    "0.5",  "\"name\"", "\xc3\xa9",      "\\n",  "\\",    "{}",
    "[]",           "\"a\"", "-1",   ", \"",     "xyz\"",         "  ",   "\":\"", "]}",
    "\xe2\x82\xac", "ab\"c", "\"\"", "100",      "\n</tool_call>"};
#define TOY_EOG 0

typedef struct {
    char **p;
    int n;
} toy_vocab;

static toy_vocab toy;

/* plus "qa".."qz", "qqa".."qqz": a subtree big enough to be taken whole in a
 * string; "k" + one or two of {é, €, 𝄞, a, b} (whole UTF-8 characters: taken
 * whole through the UTF-8 rule); "j" + the same with a cut character each
 * (walked) */
#define TOY_Q 52
#define TOY_K 30
static const char *const toy_chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e", "a", "b"};

static void toy_init(void) {
    if (toy.n) return;
    int n = 1 + 256 + (int)(sizeof toy_multi / sizeof *toy_multi) + TOY_Q + 2 * TOY_K;
    toy.p = calloc((size_t)n, sizeof *toy.p);
    toy.p[0] = strdup("");
    for (int b = 0; b < 256; b++) {
        toy.p[1 + b] = calloc(2, 1);
        toy.p[1 + b][0] = (char)b;
    }
    for (size_t i = 0; i < sizeof toy_multi / sizeof *toy_multi; i++)
        toy.p[257 + i] = strdup(toy_multi[i]);
    for (int i = 0; i < TOY_Q; i++) {
        char q[4] = {'q', 'q', 0, 0};
        q[i < 26 ? 1 : 2] = (char)('a' + i % 26);
        toy.p[n - 2 * TOY_K - TOY_Q + i] = strdup(q);
    }
    for (int i = 0; i < TOY_K; i++) {
        char k[16], j[16];
        const char *a = toy_chars[i % 5], *b = i < 5 ? "" : toy_chars[(i / 5 + i) % 5];
        snprintf(k, sizeof k, "k%s%s", a, b);
        snprintf(j, sizeof j, "j%s%.*s", a, (int)(strlen(b) > 1 ? strlen(b) - 1 : strlen(b)), b);
        toy.p[n - 2 * TOY_K + i] = strdup(k);
        toy.p[n - TOY_K + i] = strdup(j);
    }
    toy.n = n;
}

static size_t toy_len(int id) {
    return id == 1 ? 1 : strlen(toy.p[id]);
} /* byte 0 is id 1 */

static size_t toy_piece(void *ctx, int32_t id, char *buf, size_t cap) {
    (void)ctx;
    size_t n = toy_len(id);
    memcpy(buf, toy.p[id], n < cap ? n : cap);
    return n;
}

static lmx_gram_vocab *toy_vocab_new(void) {
    toy_init();
    bool *eog = calloc((size_t)toy.n, 1);
    eog[TOY_EOG] = true;
    lmx_gram_vocab *v = lmx_gram_vocab_new(toy.n, toy_piece, NULL, eog);
    free(eog);
    return v;
}

/* ---- a validator for the supported keywords ---- */

static bool validate(const json_t *v, const json_t *s, const json_t *root);

static bool type_ok(const json_t *v, const char *t) {
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "integer")) return json_is_integer(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    return false;
}

static size_t utf8_len(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool validate_inner(const json_t *v, const json_t *s, const json_t *root);

static bool validate(const json_t *v, const json_t *s, const json_t *root) {
    static int depth; /* {"anyOf": [{"$ref": "#"}, ...]} refers to itself without nesting */
    if (depth > 64) return false;
    depth++;
    bool ok = validate_inner(v, s, root);
    depth--;
    return ok;
}

static bool validate_inner(const json_t *v, const json_t *s, const json_t *root) {
    if (json_is_true(s)) return true;
    const json_t *x;
    if ((x = json_object_get(s, "$ref"))) {
        const char *ref = json_string_value(x);
        if (!strcmp(ref, "#")) return validate(v, root, root);
        const char *name = strrchr(ref, '/') + 1;
        const json_t *defs = json_object_get(root, "$defs");
        if (!defs) defs = json_object_get(root, "definitions");
        return validate(v, json_object_get(defs, name), root);
    }
    if (json_is_null(v) && json_is_true(json_object_get(s, "nullable"))) return true;
    if ((x = json_object_get(s, "const"))) return json_equal((json_t *)v, (json_t *)x);
    if ((x = json_object_get(s, "enum"))) {
        size_t i;
        const json_t *e;
        json_array_foreach(x, i, e) if (json_equal((json_t *)v, (json_t *)e)) return true;
        return false;
    }
    const json_t *any = json_object_get(s, "anyOf");
    if (!any) any = json_object_get(s, "oneOf");
    if (any) {
        size_t i;
        const json_t *e;
        json_array_foreach(any, i, e) if (validate(v, e, root)) return true;
        return false;
    }
    if ((x = json_object_get(s, "type"))) {
        bool ok = false;
        if (json_is_string(x)) ok = type_ok(v, json_string_value(x));
        size_t i;
        const json_t *e;
        json_array_foreach(x, i, e) ok = ok || type_ok(v, json_string_value(e));
        if (!ok) return false;
    }
    if (json_is_string(v)) {
        size_t n = utf8_len(json_string_value(v));
        if ((x = json_object_get(s, "minLength")) && n < (size_t)json_integer_value(x))
            return false;
        if ((x = json_object_get(s, "maxLength")) && n > (size_t)json_integer_value(x))
            return false;
    }
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if ((x = json_object_get(s, "minimum")) && d < json_number_value(x)) return false;
        if ((x = json_object_get(s, "maximum")) && d > json_number_value(x)) return false;
        if ((x = json_object_get(s, "exclusiveMinimum")) && json_is_true(x) &&
            d <= json_number_value(json_object_get(s, "minimum")))
            return false; /* draft 4 */
        if ((x = json_object_get(s, "exclusiveMinimum")) && json_is_number(x) &&
            d <= json_number_value(x))
            return false;
        if ((x = json_object_get(s, "exclusiveMaximum")) && d >= json_number_value(x)) return false;
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v), np = json_array_size(json_object_get(s, "prefixItems"));
        if ((x = json_object_get(s, "minItems")) && n < (size_t)json_integer_value(x)) return false;
        if ((x = json_object_get(s, "maxItems")) && n > (size_t)json_integer_value(x)) return false;
        for (size_t i = 0; i < n; i++) {
            const json_t *is = i < np ? json_array_get(json_object_get(s, "prefixItems"), i)
                                      : json_object_get(s, "items");
            if (json_is_false(is) || (is && !validate(json_array_get(v, i), is, root)))
                return false;
        }
    }
    if (json_is_object(v)) {
        const json_t *props = json_object_get(s, "properties"),
                     *ap = json_object_get(s, "additionalProperties");
        size_t i;
        const json_t *e;
        json_array_foreach(json_object_get(s, "required"), i,
                           e) if (!json_object_get(v, json_string_value(e))) return false;
        const char *k;
        const json_t *m;
        json_object_foreach((json_t *)v, k, m) {
            const json_t *ps = json_object_get(props, k);
            if (ps) {
                if (!validate(m, ps, root)) return false;
            } else if (json_is_false(ap) || (json_is_object(ap) && !validate(m, ap, root)))
                return false;
        }
    }
    return true;
}

/* ---- walks ---- */

/* A random constrained walk of at most max tokens; returns the text (malloc'd)
 * and whether it ended with the end token. */
static char *walk(lmx_gram *g, const lmx_gram_vocab *v, uint64_t seed, int max, bool *ended) {
    lmx_gram_state *st = lmx_gram_state_new(g, v);
    if (!st) return NULL;
    int32_t *allowed = malloc(sizeof(int32_t) * (size_t)toy.n);
    char *out = calloc(1, 4096 * 4);
    size_t n = 0;
    lmx_rng r;
    lmx_rng_seed(&r, seed);
    *ended = false;
    for (int i = 0; i < max; i++) {
        int k = lmx_gram_mask(st, max - i, allowed);
        if (k == 0) break;
        int32_t t = allowed[lmx_rng_next(&r) % (uint64_t)k];
        if (lmx_gram_accept(st, t)) {
            n = 0;
            break;
        }
        if (t == TOY_EOG) {
            *ended = true;
            break;
        }
        memcpy(out + n, toy.p[t], toy_len(t));
        n += toy_len(t);
    }
    out[n] = 0;
    free(allowed);
    lmx_gram_state_free(st);
    return out;
}

static const char *schemas[] = {
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":120},\"tags\":{\"type\":\"array\","
    "\"items\":{\"enum\":[\"a\",\"b\",\"c d\"]},\"minItems\":1,\"maxItems\":3}},"
    "\"required\":[\"name\",\"age\",\"tags\"],\"additionalProperties\":false}",
    "{\"anyOf\":[{\"type\":\"string\",\"minLength\":2,\"maxLength\":4},{\"type\":\"number\","
    "\"exclusiveMinimum\":-2.5,\"maximum\":3.5},{\"type\":\"null\"}]}",
    "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
    "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"},\"maxItems\":2}},"
    "\"required\":[\"v\"]}},\"$ref\":\"#/$defs/node\"}",
    "{\"type\":\"array\",\"prefixItems\":[{\"const\":\"x\"},{\"type\":\"boolean\"}],"
    "\"items\":{\"type\":[\"integer\",\"null\"]},\"maxItems\":4}",
    "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"number\",\"minimum\":1}}",
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"nullable\":true},"
    "\"b\":{\"const\":{\"k\":[1,2]}},\"c\":{\"type\":\"number\",\"minimum\":0}},"
    "\"required\":[\"b\"],\"title\":\"t\",\"description\":\"d\"}",
    "{\"type\":\"string\",\"minLength\":3}",
    "{\"type\":\"integer\",\"minimum\":-1000000}",
    "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\"}},\"required\":[\"s\"]}",
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"definitions\":{\"n\":{"
    "\"type\":\"number\",\"exclusiveMaximum\":10,\"exclusiveMinimum\":-10}},\"type\":\"object\","
    "\"properties\":{\"x\":{\"$ref\":\"#/definitions/n\"},\"y\":{\"oneOf\":[{\"type\":"
    "\"integer\",\"exclusiveMinimum\":5,\"exclusiveMaximum\":9},{\"const\":\"no\"}]},\"z\":{"
    "\"type\":\"number\",\"minimum\":0,\"default\":1,\"examples\":[2]},\"w\":{\"type\":"
    "\"integer\",\"minimum\":3,\"exclusiveMinimum\":true}},\"required\":[\"x\",\"y\",\"z\","
    "\"w\"]}",
    "{\"type\":\"object\",\"additionalProperties\":true,\"maxItems\":2}",
    "{\"type\":\"array\",\"items\":{\"type\":\"number\",\"maximum\":-3.5},\"minItems\":2}",
    "{\"enum\":[\"apple\",\"apricot\",\"app\",\"banana\",12,120,null,{\"k\":\"v\"},\"app\"]}",
    "true",
};

TEST(grammar_schema_walks_always_validate) {
    lmx_gram_vocab *v = toy_vocab_new();
    CHECK(v);
    for (size_t i = 0; i < sizeof schemas / sizeof *schemas; i++) {
        json_t *s = json_loads(schemas[i], JSON_DECODE_ANY, NULL);
        CHECK(s);
        char err[256];
        lmx_gram *g = lmx_json_schema_grammar(s, "schema", err, sizeof err);
        if (!g) FAILF("schema %zu: %s", i, err);
        for (uint64_t seed = 1; seed <= 60; seed++) {
            bool ended;
            int max = 64 + (int)(seed % 3) * 40;
            char *out = walk(g, v, seed * 7919 + i, max, &ended);
            CHECK(out);
            json_error_t je;
            json_t *j = json_loads(out, JSON_DECODE_ANY, &je);
            if (!j)
                FAILF("schema %zu seed %llu: output does not parse: %s (%s)", i,
                      (unsigned long long)seed, out, je.text);
            if (!validate(j, s, s))
                FAILF("schema %zu seed %llu: output does not validate: %s", i,
                      (unsigned long long)seed, out);
            json_decref(j);
            free(out);
        }
        lmx_gram_release(g);
        json_decref(s);
    }
    lmx_gram_vocab_free(v);
}

/* The mask after prefix equals a byte-by-byte check of every token (and is
 * the same when served from the mask cache). NULL, or what differs. */
static const char *mask_differs(lmx_gram *g, const lmx_gram_vocab *v, const char *prefix) {
    static char why[256];
    int32_t *allowed = malloc(sizeof(int32_t) * (size_t)toy.n),
            *again = malloc(sizeof(int32_t) * (size_t)toy.n);
    char *in = calloc((size_t)toy.n, 1);
    lmx_gram_state *st = lmx_gram_state_new(g, v);
    const char *bad = NULL;
    if (lmx_gram_accept_bytes(st, prefix, strlen(prefix))) bad = "prefix refused";
    int k = bad ? 0 : lmx_gram_mask(st, 0, allowed);
    if (!bad &&
        (lmx_gram_mask(st, 0, again) != k || memcmp(again, allowed, sizeof(int32_t) * (size_t)k)))
        bad = "cached mask differs";
    for (int i = 0; i < k; i++) in[allowed[i]] = 1;
    for (int t = 1; t < toy.n && !bad; t++) {
        lmx_gram_state *b = lmx_gram_state_new(g, v);
        lmx_gram_accept_bytes(b, prefix, strlen(prefix));
        bool ok = toy_len(t) && lmx_gram_accept_bytes(b, toy.p[t], toy_len(t)) == 0;
        lmx_gram_state_free(b);
        if (ok != (bool)in[t]) {
            snprintf(why, sizeof why, "token %d '%s': mask %d, brute force %d", t, toy.p[t], in[t],
                     ok);
            bad = why;
        }
    }
    if (!bad && in[TOY_EOG] != lmx_gram_complete(st)) bad = "end token";
    lmx_gram_state_free(st);
    free(in), free(allowed), free(again);
    return bad;
}

/* Inside an unbounded string the big subtrees are taken whole (plain bytes,
 * and whole UTF-8 characters); the result is still exactly the brute force. */
TEST(grammar_string_mask_shortcuts_match_brute_force) {
    lmx_gram_vocab *v = toy_vocab_new();
    const char *srcs[] = {schemas[8], "{\"type\":\"string\",\"maxLength\":3}",
                          "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}"};
    const char *prefixes[] = {
        "{\"s\":\"", "{\"s\":\"ab", "{\"s\":\"\xc3\xa9", "{\"s\":\"\xe2\x82", "{\"s\":\"a\\", "\"",
        "\"k",       "[\"",         "[\"\xf0\x9d",       "[\"\",\""};
    for (size_t i = 0; i < 3; i++) {
        json_t *s = json_loads(srcs[i], 0, NULL);
        char err[256];
        lmx_gram *g = lmx_json_schema_grammar(s, "schema", err, sizeof err);
        CHECK(g);
        for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++) {
            lmx_gram_state *st = lmx_gram_state_new(g, v);
            bool fits = lmx_gram_accept_bytes(st, prefixes[p], strlen(prefixes[p])) == 0;
            lmx_gram_state_free(st);
            if (!fits) continue;
            const char *why = mask_differs(g, v, prefixes[p]);
            if (why) FAILF("schema %zu prefix '%s': %s", i, prefixes[p], why);
        }
        lmx_gram_release(g);
        json_decref(s);
    }
    lmx_gram_vocab_free(v);
}

/* The trie walk allows exactly the tokens a byte-by-byte check allows. */
TEST(grammar_mask_matches_brute_force) {
    lmx_gram_vocab *v = toy_vocab_new();
    json_t *s = json_loads(schemas[0], 0, NULL);
    char err[256];
    lmx_gram *g = lmx_json_schema_grammar(s, "schema", err, sizeof err);
    CHECK(g);
    const char *prefixes[] = {"",
                              "{",
                              "{\"name\": \"ab",
                              "{\"name\":\"\",\"age\":1",
                              "{\"name\":\"\",\"age\":12,\"tags\":[\"c",
                              "{\"name\":\"\\"};
    int32_t *allowed = malloc(sizeof(int32_t) * (size_t)toy.n);
    for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++) {
        lmx_gram_state *st = lmx_gram_state_new(g, v);
        CHECK(lmx_gram_accept_bytes(st, prefixes[p], strlen(prefixes[p])) == 0);
        int k = lmx_gram_mask(st, 0, allowed);
        int32_t *again = malloc(sizeof(int32_t) * (size_t)toy.n);
        CHECK(lmx_gram_mask(st, 0, again) == k); /* the second time from the mask cache */
        CHECK(!memcmp(again, allowed, sizeof(int32_t) * (size_t)k));
        free(again);
        char *in = calloc((size_t)toy.n, 1);
        for (int i = 0; i < k; i++) in[allowed[i]] = 1;
        for (int t = 1; t < toy.n; t++) {
            lmx_gram_state *b = lmx_gram_state_new(g, v);
            lmx_gram_accept_bytes(b, prefixes[p], strlen(prefixes[p]));
            bool ok = toy_len(t) && lmx_gram_accept_bytes(b, toy.p[t], toy_len(t)) == 0;
            lmx_gram_state_free(b);
            if (ok != (bool)in[t])
                FAILF("prefix '%s': token '%s' mask %d, brute force %d", prefixes[p], toy.p[t],
                      in[t], ok);
        }
        CHECK(!in[TOY_EOG]); /* incomplete: no end */
        free(in);
        lmx_gram_state_free(st);
    }
    /* complete: the end token is allowed, and only then */
    lmx_gram_state *st = lmx_gram_state_new(g, v);
    const char *full = "{\"name\":\"x\",\"age\":7,\"tags\":[\"a\"]}";
    CHECK(lmx_gram_accept_bytes(st, full, strlen(full)) == 0);
    CHECK(lmx_gram_complete(st));
    CHECK(lmx_gram_mask(st, 0, allowed) == 1 && allowed[0] == TOY_EOG);
    CHECK(lmx_gram_accept(st, TOY_EOG) == 0);
    CHECK(lmx_gram_mask(st, 0, allowed) == 0);
    lmx_gram_state_free(st);
    free(allowed);
    lmx_gram_release(g);
    json_decref(s);
    lmx_gram_vocab_free(v);
}

/* Dropping the caches mid-walk changes nothing: same masks, same outputs. */
TEST(grammar_compaction_keeps_the_state) {
    lmx_gram_vocab *v = toy_vocab_new();
    int32_t *a = malloc(sizeof(int32_t) * (size_t)toy.n),
            *b = malloc(sizeof(int32_t) * (size_t)toy.n);
    for (size_t i = 0; i < sizeof schemas / sizeof *schemas; i++) {
        json_t *s = json_loads(schemas[i], JSON_DECODE_ANY, NULL);
        char err[256];
        lmx_gram *g = lmx_json_schema_grammar(s, "schema", err, sizeof err);
        CHECK(g);
        lmx_gram_state *x = lmx_gram_state_new(g, v), *y = lmx_gram_state_new(g, v);
        lmx_rng r;
        lmx_rng_seed(&r, i);
        for (int step = 0; step < 80; step++) {
            if (step % 3 == 0) lmx_gram_compact(y);
            int na = lmx_gram_mask(x, 80 - step, a), nb = lmx_gram_mask(y, 80 - step, b);
            CHECK(na == nb && !memcmp(a, b, sizeof(int32_t) * (size_t)na));
            CHECK(lmx_gram_min_close(x) == lmx_gram_min_close(y));
            if (na == 0) break;
            int32_t t = a[lmx_rng_next(&r) % (uint64_t)na];
            CHECK(lmx_gram_accept(x, t) == 0 && lmx_gram_accept(y, t) == 0);
            if (t == TOY_EOG) break;
        }
        CHECK(lmx_gram_complete(x) == lmx_gram_complete(y));
        lmx_gram_state_free(x);
        lmx_gram_state_free(y);
        lmx_gram_release(g);
        json_decref(s);
    }
    free(a);
    free(b);
    lmx_gram_vocab_free(v);
}

/* Close to the budget, only tokens that move towards the end are allowed. */
TEST(grammar_budget_forces_closing) {
    lmx_gram_vocab *v = toy_vocab_new();
    json_t *s = json_loads(schemas[8], 0, NULL);
    char err[256];
    lmx_gram *g = lmx_json_schema_grammar(s, "schema", err, sizeof err);
    lmx_gram_state *st = lmx_gram_state_new(g, v);
    CHECK(lmx_gram_accept_bytes(st, "{\"s\":\"abc", 9) == 0);
    CHECK(lmx_gram_min_close(st) == 2); /* "} */
    int32_t *allowed = malloc(sizeof(int32_t) * (size_t)toy.n);
    int k = lmx_gram_mask(st, 3, allowed);
    CHECK(k >= 1);
    for (int i = 0; i < k; i++) CHECK(strchr(toy.p[allowed[i]], '"')); /* closes the string */
    CHECK(lmx_gram_mask(st, 100, allowed) > 100); /* no hurry: any string character */
    free(allowed);
    lmx_gram_state_free(st);
    lmx_gram_release(g);
    json_decref(s);
    lmx_gram_vocab_free(v);
}

TEST(grammar_schema_errors_name_the_keyword) {
    static const struct {
        const char *schema, *msg;
    } cases[] = {
        {"{\"type\":\"object\",\"patternProperties\":{}}",
         "S: unsupported JSON Schema keyword 'patternProperties'"},
        {"{\"properties\":{\"a\":{\"type\":\"string\",\"format\":\"date\"}}}",
         "S.properties.a: unsupported JSON Schema keyword 'format'"},
        {"{\"type\":\"strin\"}", "S: unknown type 'strin'"},
        {"{\"$ref\":\"#/$defs/missing\"}", "S: '$ref' '#/$defs/missing' does not resolve"},
        {"{\"$ref\":\"http://x/y\"}", "S: only local '$ref's"},
        {"{\"type\":\"string\",\"minLength\":-1}", "S: 'minLength' must be a non-negative integer"},
        {"{\"type\":\"array\",\"minItems\":3,\"maxItems\":1}", "S: 'maxItems' (1) is less than"},
        {"{\"enum\":[]}", "S: 'enum' must be a non-empty array"},
        {"{\"anyOf\":[{\"type\":\"string\"},{\"not\":{}}]}",
         "S.anyOf[1]: unsupported JSON Schema keyword 'not'"},
        {"false", "S: the schema false accepts no value"},
        {"{\"type\":\"integer\",\"minimum\":1,\"maximum\":0}", "S: no integer lies between"},
        {"{\"type\":\"object\",\"required\":[\"x\"],\"additionalProperties\":false}",
         "S: required property 'x' is not allowed"},
        {"{\"items\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/items/foo\"}}}",
         "S.items.items: '$ref' '#/items/foo' does not resolve"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *s = json_loads(cases[i].schema, JSON_DECODE_ANY, NULL);
        CHECK(s);
        char err[256] = "";
        lmx_gram *g = lmx_json_schema_grammar(s, "S", err, sizeof err);
        json_decref(s);
        if (g) FAILF("case %zu compiled", i);
        if (strncmp(err, cases[i].msg, strlen(cases[i].msg)))
            FAILF("case %zu: got '%s', want '%s'", i, err, cases[i].msg);
    }
}

TEST(grammar_recursive_ref_to_root_terminates) {
    lmx_gram_vocab *v = toy_vocab_new();
    const char *srcs[] = {"{\"$ref\":\"#\"}", "{\"anyOf\":[{\"$ref\":\"#\"},{\"type\":\"null\"}]}",
                          "{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}"};
    for (size_t i = 0; i < 3; i++) {
        json_t *s = json_loads(srcs[i], 0, NULL);
        char err[256];
        lmx_gram *g = lmx_json_schema_grammar(s, "S", err, sizeof err);
        CHECK(g);
        bool ended;
        char *out = walk(g, v, 5 + i, 64, &ended);
        if (i > 0) {
            json_t *j = json_loads(out, JSON_DECODE_ANY, NULL);
            if (!j || !validate(j, s, s)) FAILF("schema %zu: %s", i, out);
            json_decref(j);
        }
        free(out);
        lmx_gram_release(g);
        json_decref(s);
    }
    lmx_gram_vocab_free(v);
}

TEST(grammar_json_object_and_tool_calls) {
    lmx_gram_vocab *v = toy_vocab_new();
    char err[256];
    lmx_gram *g = lmx_json_object_grammar(err, sizeof err);
    CHECK(g);
    for (uint64_t seed = 1; seed <= 40; seed++) {
        bool ended;
        char *out = walk(g, v, seed, 64 + (int)seed, &ended);
        json_t *j = json_loads(out, 0, NULL);
        if (!json_is_object(j)) FAILF("seed %llu: %s", (unsigned long long)seed, out);
        json_decref(j);
        free(out);
    }
    lmx_gram_release(g);
    json_t *tools = json_loads(
        "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":"
        "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"noop\"}}]",
        0, NULL);
    bool none;
    g = lmx_tool_call_grammar(LMX_TC_HERMES, tools, NULL, false, &none, err, sizeof err);
    CHECK(g && !none);
    for (uint64_t seed = 1; seed <= 40; seed++) {
        bool ended;
        char *out = walk(g, v, seed, 80, &ended);
        char *end = strstr(out, "\n</tool_call>");
        if (!end || end[13]) FAILF("seed %llu: %s", (unsigned long long)seed, out);
        *end = 0;
        json_t *j = json_loads(out, 0, NULL);
        const char *name = json_string_value(json_object_get(j, "name"));
        if (!name || (strcmp(name, "get_weather") && strcmp(name, "noop")))
            FAILF("seed %llu: %s", (unsigned long long)seed, out);
        json_t *args = json_object_get(j, "arguments");
        if (!json_is_object(args) ||
            (!strcmp(name, "get_weather") && !json_is_string(json_object_get(args, "city"))))
            FAILF("seed %llu: %s", (unsigned long long)seed, out);
        json_decref(j);
        free(out);
    }
    lmx_gram_release(g);
    g = lmx_tool_call_grammar(LMX_TC_QWEN3_CODER, tools, NULL, false, &none, err, sizeof err);
    CHECK(!g && none);
    json_t *bad = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
                             "{\"type\":\"object\",\"minProperties\":1}}}]",
                             0, NULL);
    g = lmx_tool_call_grammar(LMX_TC_HERMES, bad, "f", false, &none, err, sizeof err);
    CHECK(!g && !none);
    CHECK(!strcmp(err, "tools[0].function.parameters: unsupported JSON Schema keyword "
                       "'minProperties'"));
    json_decref(bad);
    json_decref(tools);
    lmx_gram_vocab_free(v);
}

/* A request-sized literal (an enum value of 60,000 bytes) compiles without
 * nesting a rule per byte, and is spelled out exactly. */
TEST(grammar_long_literals_compile_flat) {
    lmx_gram_vocab *v = toy_vocab_new();
    size_t n = 60000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
    big[n] = 0;
    json_t *s = json_pack("{s:[s,s]}", "enum", big, "abc");
    char err[256];
    lmx_gram *g = lmx_json_schema_grammar(s, "S", err, sizeof err);
    CHECK(g);
    lmx_gram_state *st = lmx_gram_state_new(g, v);
    CHECK(lmx_gram_accept_bytes(st, "\"", 1) == 0);
    CHECK(lmx_gram_accept_bytes(st, big, n) == 0);
    CHECK(!lmx_gram_complete(st) && lmx_gram_min_close(st) == 1);
    CHECK(lmx_gram_accept_bytes(st, "\"", 1) == 0 && lmx_gram_complete(st));
    lmx_gram_state_free(st);
    lmx_gram_release(g);
    json_decref(s);
    free(big);
    lmx_gram_vocab_free(v);
}
