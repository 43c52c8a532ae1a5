/* The small request and formatting helpers the LM Studio and Ollama APIs
 * share (see compat_fmt.h). */
#include "server/core/compat_fmt.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

int lmx_compat_seconds(const json_t *body, const char *field, double *out, lmx_api_err *e) {
    json_t *v = json_object_get(body, field);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0) {
        lmx_err_bad(e, field, "Invalid '%s': expected a number of seconds >= 0.", field);
        return -1;
    }
    *out = json_number_value(v);
    return 1;
}

void lmx_compat_no_limit(json_t *body) {
    json_t *v = json_object_get(body, "max_tokens");
    if (json_is_integer(v) && json_integer_value(v) == -1) json_object_del(body, "max_tokens");
}

void lmx_compat_params(uint64_t n, char *out, size_t cap) {
    static const struct {
        double scale;
        const char *unit;
    } u[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        if ((double)n < u[i].scale) continue;
        double v = (double)n / u[i].scale;
        if (v >= 10 || fabs(v - round(v)) < 0.05)
            snprintf(out, cap, "%.0f%s", round(v), u[i].unit);
        else
            snprintf(out, cap, "%.1f%s", v, u[i].unit);
        return;
    }
    snprintf(out, cap, "%llu", (unsigned long long)n);
}

double lmx_compat_wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void lmx_compat_iso(double unix_s, int digits, char *out, size_t cap) {
    time_t t = (time_t)floor(unix_s);
    double frac = unix_s - (double)t;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (digits == 9)
        snprintf(out, cap, "%s.%09ldZ", base, (long)(frac * 1e9));
    else
        snprintf(out, cap, "%s.%03ldZ", base, (long)(frac * 1e3));
}

void lmx_compat_digest(const char *s, char out[65]) {
    uint64_t h = 1469598103934665603ull;
    for (int part = 0; part < 4; part++) {
        h ^= (uint64_t)part * 0x9E3779B97F4A7C15ull;
        for (const char *p = s; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
        snprintf(out + part * 16, 17, "%016llx", (unsigned long long)h);
    }
}
