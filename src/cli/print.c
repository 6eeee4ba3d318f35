/*
 * Text output of godwit's commands; see print.h.  Lists go through a small
 * table builder that sizes each column to its widest cell, so names of any
 * length line up; one object prints as aligned "key: value" lines, which
 * both humans and grep read well.
 */
#include "cli/print.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/format.h"

#define TABLE_MAX_COLS 8
#define KEY_WIDTH 19        /* "expected downtime:" and a space */

struct table {
    size_t ncols, nrows;
    char **cells;           /* nrows * ncols strings, owned */
};

/* Adds a row of ncols cells (NULL prints as "-").  On allocation failure
 * the row is dropped: a short listing beats a crash in a CLI. */
static void table_add(struct table *t, const char *const *row)
{
    char **grown = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *grown);
    if (!grown)
        return;
    t->cells = grown;
    for (size_t c = 0; c < t->ncols; c++)
        grown[t->nrows * t->ncols + c] = strdup(row[c] ? row[c] : "-");
    t->nrows++;
}

/* Prints and frees the table. */
static void table_print(FILE *out, struct table *t)
{
    size_t width[TABLE_MAX_COLS] = { 0 };
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
        size_t len = t->cells[i] ? strlen(t->cells[i]) : 1;
        if (len > width[i % t->ncols])
            width[i % t->ncols] = len;
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            if (c + 1 < t->ncols)
                fprintf(out, "%-*s  ", (int)width[c], cell ? cell : "-");
            else
                fprintf(out, "%s\n", cell ? cell : "-");
        }
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = 0;
}

/* A number field as text ("-" if absent or null); integers without decimals. */
static const char *num_text(const json_t *obj, const char *key, char buf[FMT_LEN])
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        snprintf(buf, FMT_LEN, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, FMT_LEN, "%g", json_real_value(v));
    else
        snprintf(buf, FMT_LEN, "-");
    return buf;
}

/* A size field in binary units, or "-". */
static const char *bytes_text(const json_t *obj, const char *key, char buf[FMT_LEN])
{
    double v;
    if (fmt_num(obj, key, &v) && v >= 0)
        return fmt_bytes((uint64_t)v, buf);
    snprintf(buf, FMT_LEN, "-");
    return buf;
}

static void kv(FILE *out, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void kv(FILE *out, const char *key, const char *fmt, ...)
{
    fprintf(out, "%s:%*s", key, (int)(KEY_WIDTH - strlen(key) - 1), "");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
}

static const char *or_dash(const char *s)
{
    return s ? s : "-";
}

void print_json(FILE *out, const json_t *obj)
{
    json_dumpf(obj, out, JSON_COMPACT);
    fputc('\n', out);
}

void print_vm(FILE *out, const json_t *vm)
{
    char buf[FMT_LEN];
    kv(out, "name", "%s", or_dash(fmt_str(vm, "name")));
    kv(out, "host", "%s", or_dash(fmt_str(vm, "host")));
    kv(out, "state", "%s", or_dash(fmt_str(vm, "state")));
    kv(out, "vmm state", "%s", or_dash(fmt_str(vm, "vmm_state")));
    kv(out, "pid", "%s", num_text(vm, "pid", buf));
    kv(out, "memory", "%s", bytes_text(vm, "memory_bytes", buf));
    kv(out, "vcpus", "%s", num_text(vm, "vcpus", buf));
    kv(out, "kernel", "%s", or_dash(fmt_str(vm, "kernel")));
    kv(out, "cmdline", "%s", or_dash(fmt_str(vm, "cmdline")));
    kv(out, "exit code", "%s", num_text(vm, "exit_code", buf));
    kv(out, "migration", "%s", or_dash(fmt_str(vm, "migration")));
}

void print_vm_list(FILE *out, const json_t *reply)
{
    struct table t = { .ncols = 6 };
    static const char *const header[] = { "NAME", "STATE", "VMM-STATE", "MEMORY", "VCPUS",
                                          "MIGRATION" };
    table_add(&t, header);
    size_t i;
    json_t *vm;
    json_array_foreach(json_object_get(reply, "vms"), i, vm) {
        char memory[FMT_LEN], vcpus[FMT_LEN];
        const char *row[] = { fmt_str(vm, "name"), fmt_str(vm, "state"),
                              fmt_str(vm, "vmm_state"), bytes_text(vm, "memory_bytes", memory),
                              num_text(vm, "vcpus", vcpus), fmt_str(vm, "migration") };
        table_add(&t, row);
    }
    table_print(out, &t);
}

void print_host_list(FILE *out, const json_t *reply)
{
    struct table t = { .ncols = 3 };
    static const char *const header[] = { "NAME", "ADDRESS", "STATE" };
    table_add(&t, header);
    size_t i;
    json_t *host;
    json_array_foreach(json_object_get(reply, "hosts"), i, host) {
        char state[300];
        const char *error = fmt_str(host, "error");
        if (json_is_true(json_object_get(host, "self")))
            snprintf(state, sizeof state, "self");
        else if (json_is_true(json_object_get(host, "reachable")))
            snprintf(state, sizeof state, "up");
        else
            snprintf(state, sizeof state, "down (%s)", error ? error : "no reason given");
        const char *row[] = { fmt_str(host, "name"), fmt_str(host, "address"), state };
        table_add(&t, row);
    }
    table_print(out, &t);
}

void print_port_list(FILE *out, const json_t *reply)
{
    struct table t = { .ncols = 6 };
    static const char *const header[] = { "NAME", "MAC", "IP", "CHASSIS", "ADDITIONAL",
                                          "STATE" };
    table_add(&t, header);
    size_t i;
    json_t *port;
    json_array_foreach(json_object_get(reply, "ports"), i, port) {
        const char *chassis = fmt_str(port, "chassis");
        const char *additional = fmt_str(port, "additional_chassis");
        const char *row[] = { fmt_str(port, "name"), fmt_str(port, "mac"), fmt_str(port, "ip"),
                              chassis && chassis[0] ? chassis : "-",
                              additional && additional[0] ? additional : "-",
                              fmt_str(port, "state") };
        table_add(&t, row);
    }
    table_print(out, &t);
}

/* The DETAIL column of a migration list: what matters in its state. */
static void migration_detail(const json_t *m, char *buf, size_t size)
{
    const char *state = fmt_str(m, "state");
    const json_t *progress = json_object_get(m, "progress");
    const json_t *result = json_object_get(m, "result");
    double percent, pass, total_ms, downtime_ms;
    buf[0] = '\0';
    if (!state)
        return;
    if (!strcmp(state, "unknown"))
        snprintf(buf, size, "needs resolve: godwit migration show %s", or_dash(fmt_str(m, "id")));
    else if (fmt_str(m, "error"))
        snprintf(buf, size, "%s", fmt_str(m, "error"));
    else if (!strcmp(state, "completed") && fmt_num(result, "total_ms", &total_ms) &&
             fmt_num(result, "downtime_ms", &downtime_ms))
        snprintf(buf, size, "%.2f s, downtime %.1f ms", total_ms / 1000.0, downtime_ms);
    else if (!fmt_migration_ended(state) && fmt_num(progress, "percent", &percent) &&
             fmt_num(progress, "pass", &pass))
        snprintf(buf, size, "%.1f%%, pass %.0f", percent, pass);
}

void print_migration_list(FILE *out, const json_t *reply)
{
    struct table t = { .ncols = 7 };
    static const char *const header[] = { "ID", "VM", "ROLE", "SOURCE", "DESTINATION", "STATE",
                                          "DETAIL" };
    table_add(&t, header);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(reply, "migrations"), i, m) {
        char detail[300];
        migration_detail(m, detail, sizeof detail);
        const char *row[] = { fmt_str(m, "id"), fmt_str(m, "vm"), fmt_str(m, "role"),
                              fmt_str(m, "source"), fmt_str(m, "destination"),
                              fmt_str(m, "state"), detail[0] ? detail : "" };
        table_add(&t, row);
    }
    table_print(out, &t);
}

static void print_policy(FILE *out, const json_t *policy)
{
    char buf[FMT_LEN];
    double v;
    kv(out, "max downtime", "%s ms", num_text(policy, "max_downtime_ms", buf));
    kv(out, "bandwidth", "%s", fmt_num(policy, "max_bandwidth", &v) && v >= 0 ?
                               fmt_bandwidth((uint64_t)v, buf) : "-");
    kv(out, "timeout", "%s s", num_text(policy, "timeout_s", buf));
    json_t *verify = json_object_get(policy, "verify_memory");
    kv(out, "verify memory", "%s", json_is_boolean(verify) ? json_is_true(verify) ? "yes" : "no"
                                                           : "-");
    json_t *converge = json_object_get(policy, "auto_converge");
    kv(out, "auto-converge", "%s", json_is_boolean(converge) ? json_is_true(converge) ? "on" : "off"
                                                             : "-");
}

static void print_progress(FILE *out, const json_t *progress)
{
    char buf[FMT_LEN], buf2[FMT_LEN], buf3[FMT_LEN];
    double v;
    if (fmt_num(progress, "elapsed_ms", &v))
        kv(out, "elapsed", "%.2f s", v / 1000.0);
    kv(out, "pass", "%s", num_text(progress, "pass", buf));
    kv(out, "progress", "%s%% (%s of %s sent)",
       fmt_num(progress, "percent", &v) ? (snprintf(buf3, sizeof buf3, "%.1f", v), buf3) : "-",
       bytes_text(progress, "bytes_sent", buf), bytes_text(progress, "total_bytes", buf2));
    kv(out, "remaining", "%s", bytes_text(progress, "remaining_bytes", buf));
    if (fmt_num(progress, "throughput_bps", &v))
        kv(out, "throughput", "%.1f MB/s", v / 1e6);
    if (fmt_num(progress, "dirty_pages_per_s", &v))
        kv(out, "dirty pages", "%.0f/s", v);
    if (fmt_num(progress, "expected_downtime_ms", &v))
        kv(out, "expected downtime", "%.1f ms", v);
    if (fmt_num(progress, "throttle_pct", &v) && v > 0)
        kv(out, "vCPU throttle", "%.0f%%", v);
}

static void print_result(FILE *out, const json_t *result)
{
    char buf[FMT_LEN];
    double v, passes;
    if (fmt_num(result, "total_ms", &v))
        kv(out, "total time", "%.2f s", v / 1000.0);
    if (fmt_num(result, "downtime_ms", &v))
        kv(out, "downtime", "%.1f ms", v);
    if (fmt_num(result, "setup_ms", &v))
        kv(out, "setup", "%.0f ms", v);
    if (fmt_num(result, "passes", &passes))
        kv(out, "sent", "%s in %.0f pass%s", bytes_text(result, "bytes_sent", buf), passes,
           passes == 1 ? "" : "es");
}

void print_migration(FILE *out, const json_t *m)
{
    const char *state = fmt_str(m, "state"), *id = fmt_str(m, "id");
    const char *error = fmt_str(m, "error"), *hint = fmt_str(m, "hint");
    if (state && !strcmp(state, "unknown")) {
        /* First, and set apart: the one thing the operator must act on. */
        fprintf(out, "*** OUTCOME UNKNOWN: operator action needed ***\n"
                     "%s\n"
                     "Then: godwit migration resolve %s --keep source|destination\n\n",
                hint ? hint : "(the agent gave no hint)", or_dash(id));
    }
    kv(out, "id", "%s", or_dash(id));
    kv(out, "vm", "%s", or_dash(fmt_str(m, "vm")));
    kv(out, "role", "%s", or_dash(fmt_str(m, "role")));
    kv(out, "source", "%s", or_dash(fmt_str(m, "source")));
    kv(out, "destination", "%s", or_dash(fmt_str(m, "destination")));
    kv(out, "state", "%s", or_dash(state));
    if (error)
        kv(out, "error", "%s", error);
    if (hint)
        kv(out, "hint", "%s", hint);

    double created_ms;
    if (fmt_num(m, "created_ms", &created_ms)) {
        time_t t = (time_t)(created_ms / 1000);
        struct tm tm;
        char when[64];
        if (localtime_r(&t, &tm) && strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", &tm))
            kv(out, "created", "%s", when);
    }
    const json_t *policy = json_object_get(m, "policy");
    if (json_is_object(policy))
        print_policy(out, policy);
    const json_t *progress = json_object_get(m, "progress");
    if (json_is_object(progress))
        print_progress(out, progress);
    const json_t *result = json_object_get(m, "result");
    if (json_is_object(result))
        print_result(out, result);
}
