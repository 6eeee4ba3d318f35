/*
 * Formatting for godwit; see format.h.  The progress line and the summary
 * are what an operator watches during a migration, so they are built here,
 * where unit tests can pin them down, and migrate.c only decides when to
 * print them.
 */
#include "cli/format.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

const char *fmt_bytes(uint64_t bytes, char buf[FMT_LEN])
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    if (bytes < 1024) {
        snprintf(buf, FMT_LEN, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    unsigned unit = 0;
    while (unit + 1 < sizeof units / sizeof units[0] && bytes >= 1024ULL << (10 * (unit + 1)))
        unit++;
    uint64_t scale = 1ULL << (10 * (unit + 1));
    if (bytes % scale == 0)
        snprintf(buf, FMT_LEN, "%llu %s", (unsigned long long)(bytes / scale), units[unit]);
    else
        snprintf(buf, FMT_LEN, "%.2f %s", (double)bytes / (double)scale, units[unit]);
    return buf;
}

const char *fmt_bandwidth(uint64_t bytes_per_s, char buf[FMT_LEN])
{
    if (!bytes_per_s) {
        snprintf(buf, FMT_LEN, "unlimited");
        return buf;
    }
    fmt_bytes(bytes_per_s, buf);
    strncat(buf, "/s", FMT_LEN - strlen(buf) - 1);
    return buf;
}

const char *fmt_eta(double seconds, char buf[FMT_LEN])
{
    if (!(seconds >= 0) || seconds > 1e9)      /* also NaN */
        snprintf(buf, FMT_LEN, "-");
    else if (seconds < 10)
        snprintf(buf, FMT_LEN, "%.1f s", seconds);
    else if (seconds < 60)
        snprintf(buf, FMT_LEN, "%.0f s", seconds);
    else if (seconds < 3600) {
        unsigned s = (unsigned)(seconds + 0.5);
        snprintf(buf, FMT_LEN, "%um%02us", s / 60, s % 60);
    } else {
        unsigned m = (unsigned)(seconds / 60 + 0.5);
        snprintf(buf, FMT_LEN, "%uh%02um", m / 60, m % 60);
    }
    return buf;
}

const char *fmt_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

bool fmt_num(const json_t *obj, const char *key, double *value)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return false;
    *value = json_number_value(v);
    return true;
}

bool fmt_migration_ended(const char *state)
{
    static const char *const ended[] = { "completed", "failed", "cancelled", "unknown",
                                         "aborted" };
    for (size_t i = 0; state && i < sizeof ended / sizeof ended[0]; i++)
        if (!strcmp(state, ended[i]))
            return true;
    return false;
}

/* Appends to buf (of size) at *len, truncating silently. */
static void append(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len = *len + (size_t)n < size ? *len + (size_t)n : size - 1;
}

void fmt_progress_line(const json_t *migration, char *buf, size_t size)
{
    const char *state = fmt_str(migration, "state");
    const json_t *progress = json_object_get(migration, "progress");
    size_t len = 0;
    if (size)
        buf[0] = '\0';
    if (!json_is_object(progress)) {   /* preparing, or a destination-side object */
        append(buf, size, &len, "%s", state ? state : "-");
        return;
    }
    append(buf, size, &len, "%-12s", state ? state : "-");

    double percent, bps, remaining, downtime, pass;
    bool has_bps = fmt_num(progress, "throughput_bps", &bps);
    bool has_remaining = fmt_num(progress, "remaining_bytes", &remaining);
    char eta[FMT_LEN];

    if (fmt_num(progress, "percent", &percent))
        append(buf, size, &len, "  %5.1f%%", percent);
    else
        append(buf, size, &len, "      -%%");
    if (has_bps)
        append(buf, size, &len, "  %.1f MB/s", bps / 1e6);
    else
        append(buf, size, &len, "  - MB/s");
    if (has_remaining)
        append(buf, size, &len, "  %.1f MiB left", remaining / (1024.0 * 1024.0));
    else
        append(buf, size, &len, "  - MiB left");
    /* ETA = what is left over the current rate; the guest keeps dirtying
     * pages, so it is a lower bound while passes continue. */
    append(buf, size, &len, "  ETA %s",
           has_bps && has_remaining && bps > 0 ? fmt_eta(remaining / bps, eta) : "-");
    if (fmt_num(progress, "expected_downtime_ms", &downtime))
        append(buf, size, &len, "  downtime %.1f ms", downtime);
    else
        append(buf, size, &len, "  downtime -");
    if (fmt_num(progress, "pass", &pass))
        append(buf, size, &len, "  pass %.0f", pass);
    double throttle;
    if (fmt_num(progress, "throttle_pct", &throttle) && throttle > 0)
        append(buf, size, &len, "  throttle %.0f%%", throttle);
}

/* "migration m-3f9a1c of vm1 to host-b" */
static void summary_subject(FILE *out, const json_t *m)
{
    const char *id = fmt_str(m, "id"), *vm = fmt_str(m, "vm"), *to = fmt_str(m, "destination");
    fprintf(out, "migration %s of %s to %s", id ? id : "?", vm ? vm : "?", to ? to : "?");
}

static void summary_completed(FILE *out, const json_t *m)
{
    const json_t *result = json_object_get(m, "result");
    double total_ms, downtime_ms, sent, passes;
    char bytes[FMT_LEN];
    fprintf(out, ": completed");
    if (fmt_num(result, "total_ms", &total_ms))
        fprintf(out, " in %.2f s", total_ms / 1000.0);
    if (fmt_num(result, "downtime_ms", &downtime_ms))
        fprintf(out, ", downtime %.1f ms", downtime_ms);
    if (fmt_num(result, "bytes_sent", &sent) && sent >= 0) {
        fprintf(out, ", %s sent", fmt_bytes((uint64_t)sent, bytes));
        if (fmt_num(result, "passes", &passes))
            fprintf(out, " in %.0f pass%s", passes, passes == 1 ? "" : "es");
    }
    fputc('\n', out);
}

void fmt_summary(FILE *out, const json_t *migration)
{
    const char *state = fmt_str(migration, "state");
    const char *vm = fmt_str(migration, "vm"), *source = fmt_str(migration, "source");
    const char *id = fmt_str(migration, "id"), *error = fmt_str(migration, "error");
    const char *hint = fmt_str(migration, "hint");
    vm = vm ? vm : "the VM";
    source = source ? source : "the source";

    summary_subject(out, migration);
    if (!state) {
        fprintf(out, ": state not reported\n");
    } else if (!strcmp(state, "completed")) {
        summary_completed(out, migration);
    } else if (!strcmp(state, "failed")) {
        fprintf(out, ": failed: %s; %s still runs on %s\n", error ? error : "no reason given",
                vm, source);
    } else if (!strcmp(state, "cancelled")) {
        fprintf(out, ": cancelled; %s still runs on %s\n", vm, source);
    } else if (!strcmp(state, "unknown")) {
        fprintf(out, ": OUTCOME UNKNOWN, operator action needed; %s is paused on %s\n", vm,
                source);
        if (error)
            fprintf(out, "  error: %s\n", error);
        fprintf(out, "  hint: %s\n", hint ? hint : "(the agent gave none)");
        fprintf(out, "  then: godwit migration resolve %s --keep source|destination\n",
                id ? id : "ID");
    } else {
        fprintf(out, ": %s\n", state);
    }
}

int fmt_url_segment(const char *text, char *buf, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '~';
        if (len + (plain ? 1 : 3) >= size)
            return -ENAMETOOLONG;
        if (plain) {
            buf[len++] = (char)*p;
        } else {
            buf[len++] = '%';
            buf[len++] = hex[*p >> 4];
            buf[len++] = hex[*p & 15];
        }
    }
    if (len >= size)
        return -ENAMETOOLONG;
    buf[len] = '\0';
    return 0;
}
