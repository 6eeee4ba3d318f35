/*
 * Unit tests for godwit's formatting (cli/format.h): human units, the live
 * progress line and the closing summary of a migration, built from JSON
 * objects shaped like the agent's (docs/agent-api.md), including partial
 * ones, and the escaping of names into URL paths.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/format.h"

/* The API document's example migration, in the given state. */
static json_t *example_migration(const char *state)
{
    json_t *m = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:n, s:n, s:I,"
        " s:{s:i, s:i, s:i, s:b},"
        " s:{s:i, s:i, s:f, s:I, s:I, s:I, s:I, s:I, s:f}, s:n}",
        "id", "m-3f9a1c", "vm", "vm1", "role", "source", "source", "host-a",
        "destination", "host-b", "state", state, "error", "hint", "created_ms",
        (json_int_t)1795000000000,
        "policy", "max_downtime_ms", 100, "max_bandwidth", 0, "timeout_s", 180,
        "verify_memory", 0,
        "progress", "elapsed_ms", 1200, "pass", 2, "percent", 87.5, "bytes_sent",
        (json_int_t)939524096, "remaining_bytes", (json_int_t)134217728, "total_bytes",
        (json_int_t)1073741824, "throughput_bps", (json_int_t)812000000, "dirty_pages_per_s",
        (json_int_t)24000, "expected_downtime_ms", 160.2,
        "result");
    assert_non_null(m);
    return m;
}

/* fmt_summary's output as a string (caller frees). */
static char *summary_of(const json_t *m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    fmt_summary(out, m);
    fclose(out);
    return text;
}

static void test_bytes(void **state)
{
    (void)state;
    char buf[FMT_LEN];
    assert_string_equal(fmt_bytes(0, buf), "0 B");
    assert_string_equal(fmt_bytes(1023, buf), "1023 B");
    assert_string_equal(fmt_bytes(1024, buf), "1 KiB");
    assert_string_equal(fmt_bytes(1536, buf), "1.50 KiB");
    assert_string_equal(fmt_bytes(256ULL << 20, buf), "256 MiB");
    assert_string_equal(fmt_bytes(1ULL << 30, buf), "1 GiB");
    assert_string_equal(fmt_bytes(1107296256, buf), "1.03 GiB");
    assert_string_equal(fmt_bytes(3ULL << 40, buf), "3 TiB");
    assert_string_equal(fmt_bytes(UINT64_MAX, buf), "16.00 EiB");
}

static void test_bandwidth(void **state)
{
    (void)state;
    char buf[FMT_LEN];
    assert_string_equal(fmt_bandwidth(0, buf), "unlimited");
    assert_string_equal(fmt_bandwidth(100ULL << 20, buf), "100 MiB/s");
    assert_string_equal(fmt_bandwidth(1000, buf), "1000 B/s");
}

static void test_eta(void **state)
{
    (void)state;
    char buf[FMT_LEN];
    assert_string_equal(fmt_eta(0, buf), "0.0 s");
    assert_string_equal(fmt_eta(0.165, buf), "0.2 s");
    assert_string_equal(fmt_eta(42.3, buf), "42 s");
    assert_string_equal(fmt_eta(185, buf), "3m05s");
    assert_string_equal(fmt_eta(7620, buf), "2h07m");
    assert_string_equal(fmt_eta(-1, buf), "-");
    assert_string_equal(fmt_eta(NAN, buf), "-");
    assert_string_equal(fmt_eta(INFINITY, buf), "-");
}

static void test_fields(void **state)
{
    (void)state;
    json_t *m = example_migration("transferring");
    double v = 0;
    assert_string_equal(fmt_str(m, "vm"), "vm1");
    assert_null(fmt_str(m, "error"));           /* null */
    assert_null(fmt_str(m, "created_ms"));      /* not a string */
    assert_null(fmt_str(NULL, "vm"));
    assert_true(fmt_num(m, "created_ms", &v));
    assert_true(v == 1795000000000.0);
    assert_false(fmt_num(m, "vm", &v));
    assert_false(fmt_num(m, "result", &v));
    json_decref(m);
}

static void test_ended(void **state)
{
    (void)state;
    assert_true(fmt_migration_ended("completed"));
    assert_true(fmt_migration_ended("failed"));
    assert_true(fmt_migration_ended("cancelled"));
    assert_true(fmt_migration_ended("unknown"));
    assert_false(fmt_migration_ended("preparing"));
    assert_false(fmt_migration_ended("transferring"));
    assert_false(fmt_migration_ended("switchover"));
    assert_false(fmt_migration_ended(NULL));
}

static void test_progress_line(void **state)
{
    (void)state;
    json_t *m = example_migration("transferring");
    char line[256];
    fmt_progress_line(m, line, sizeof line);
    /* ETA = 128 MiB / 812 MB/s = 0.165 s */
    assert_string_equal(line, "transferring   87.5%  812.0 MB/s  128.0 MiB left  ETA 0.2 s"
                              "  downtime 160.2 ms  pass 2");
    json_decref(m);
}

static void test_progress_line_partial(void **state)
{
    (void)state;
    char line[256];
    json_t *preparing = json_pack("{s:s, s:n}", "state", "preparing", "progress");
    fmt_progress_line(preparing, line, sizeof line);
    assert_string_equal(line, "preparing");
    json_decref(preparing);

    /* No rate yet: no ETA rather than a division by zero. */
    json_t *stalled = json_pack("{s:s, s:{s:f, s:i, s:I}}", "state", "transferring",
                                "progress", "percent", 0.0, "throughput_bps", 0,
                                "remaining_bytes", (json_int_t)(1 << 20));
    fmt_progress_line(stalled, line, sizeof line);
    assert_string_equal(line, "transferring    0.0%  0.0 MB/s  1.0 MiB left  ETA -  downtime -");
    json_decref(stalled);

    json_t *empty = json_pack("{s:{}}", "progress");
    fmt_progress_line(empty, line, sizeof line);
    assert_string_equal(line, "-                 -%  - MB/s  - MiB left  ETA -  downtime -");
    json_decref(empty);
}

static void test_progress_line_truncates(void **state)
{
    (void)state;
    json_t *m = example_migration("transferring");
    char line[20];
    memset(line, 'x', sizeof line);
    fmt_progress_line(m, line, sizeof line);
    assert_int_equal(strlen(line), sizeof line - 1);
    assert_true(!strncmp(line, "transferring   87.5", 19));
    json_decref(m);
}

static void test_summary_completed(void **state)
{
    (void)state;
    json_t *m = example_migration("completed");
    json_object_set_new(m, "result", json_pack("{s:i, s:f, s:i, s:I, s:i}", "total_ms", 2100,
                                               "downtime_ms", 4.1, "setup_ms", 3, "bytes_sent",
                                               (json_int_t)1107296256, "passes", 5));
    char *text = summary_of(m);
    assert_string_equal(text, "migration m-3f9a1c of vm1 to host-b: completed in 2.10 s, "
                              "downtime 4.1 ms, 1.03 GiB sent in 5 passes\n");
    free(text);

    json_object_set_new(json_object_get(m, "result"), "passes", json_integer(1));
    text = summary_of(m);
    assert_non_null(strstr(text, "sent in 1 pass\n"));
    free(text);

    json_object_set_new(m, "result", json_null());     /* an agent without figures */
    text = summary_of(m);
    assert_string_equal(text, "migration m-3f9a1c of vm1 to host-b: completed\n");
    free(text);
    json_decref(m);
}

static void test_summary_failed_cancelled(void **state)
{
    (void)state;
    json_t *m = example_migration("failed");
    json_object_set_new(m, "error", json_string("host-b refused: busy"));
    char *text = summary_of(m);
    assert_string_equal(text, "migration m-3f9a1c of vm1 to host-b: failed: host-b refused: "
                              "busy; vm1 still runs on host-a\n");
    free(text);

    json_object_set_new(m, "state", json_string("cancelled"));
    json_object_set_new(m, "error", json_null());
    text = summary_of(m);
    assert_string_equal(text, "migration m-3f9a1c of vm1 to host-b: cancelled; vm1 still runs "
                              "on host-a\n");
    free(text);
    json_decref(m);
}

static void test_summary_unknown(void **state)
{
    (void)state;
    json_t *m = example_migration("unknown");
    json_object_set_new(m, "hint", json_string("check whether vm1 runs on host-b"));
    char *text = summary_of(m);
    assert_non_null(strstr(text, "OUTCOME UNKNOWN"));
    assert_non_null(strstr(text, "vm1 is paused on host-a"));
    assert_non_null(strstr(text, "\n  hint: check whether vm1 runs on host-b\n"));
    assert_non_null(strstr(text, "godwit migration resolve m-3f9a1c --keep source|destination"));
    free(text);
    json_decref(m);
}

static void test_url_segment(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(fmt_url_segment("vm-1_a~", buf, sizeof buf), 0);
    assert_string_equal(buf, "vm-1_a~");
    assert_int_equal(fmt_url_segment("../hosts", buf, sizeof buf), 0);
    assert_string_equal(buf, "%2E%2E%2Fhosts");
    assert_int_equal(fmt_url_segment("a b?c=1&d#e", buf, sizeof buf), 0);
    assert_string_equal(buf, "a%20b%3Fc%3D1%26d%23e");
    assert_int_equal(fmt_url_segment("\xc3\xa9", buf, sizeof buf), 0);
    assert_string_equal(buf, "%C3%A9");
    assert_int_equal(fmt_url_segment("", buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(fmt_url_segment("abcd", buf, 4), -ENAMETOOLONG);
    assert_int_equal(fmt_url_segment("abc", buf, 4), 0);
    assert_int_equal(fmt_url_segment("a/", buf, 4), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_bandwidth),
        cmocka_unit_test(test_eta),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_ended),
        cmocka_unit_test(test_progress_line),
        cmocka_unit_test(test_progress_line_partial),
        cmocka_unit_test(test_progress_line_truncates),
        cmocka_unit_test(test_summary_completed),
        cmocka_unit_test(test_summary_failed_cancelled),
        cmocka_unit_test(test_summary_unknown),
        cmocka_unit_test(test_url_segment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
