/*
 * Unit tests for godwit's text output (cli/print.h): tables sized to their
 * content, host states, "key: value" lines, the hint of an unknown
 * migration shown first, and compact JSON on one line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/print.h"

typedef void printer(FILE *out, const json_t *obj);

/* What print writes for obj (caller frees). */
static char *output_of(printer *print, const json_t *obj)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    print(out, obj);
    fclose(out);
    return text;
}

static json_t *load(const char *text)
{
    json_error_t error;
    json_t *obj = json_loads(text, 0, &error);
    if (!obj)
        fail_msg("bad test JSON: %s", error.text);
    return obj;
}

static void test_vm_list(void **state)
{
    (void)state;
    json_t *reply = load(
        "{\"vms\": ["
        "{\"name\": \"vm1\", \"memory_bytes\": 1073741824, \"vcpus\": 2, \"state\": \"running\","
        " \"vmm_state\": \"running\", \"migration\": \"m-3f9a1c\"},"
        "{\"name\": \"database-7\", \"memory_bytes\": 268435456, \"vcpus\": 1,"
        " \"state\": \"stopped\", \"vmm_state\": null, \"migration\": null}]}");
    char *text = output_of(print_vm_list, reply);
    assert_string_equal(text,
        "NAME        STATE    VMM-STATE  MEMORY   VCPUS  MIGRATION\n"
        "vm1         running  running    1 GiB    2      m-3f9a1c\n"
        "database-7  stopped  -          256 MiB  1      -\n");
    free(text);
    json_decref(reply);

    json_t *empty = load("{\"vms\": []}");
    text = output_of(print_vm_list, empty);
    assert_string_equal(text, "NAME  STATE  VMM-STATE  MEMORY  VCPUS  MIGRATION\n");
    free(text);
    json_decref(empty);
}

static void test_host_list(void **state)
{
    (void)state;
    json_t *reply = load(
        "{\"hosts\": ["
        "{\"name\": \"host-a\", \"address\": \"10.77.0.1:7070\", \"self\": true, \"reachable\": true},"
        "{\"name\": \"host-b\", \"address\": \"10.77.0.2:7070\", \"self\": false, \"reachable\": true},"
        "{\"name\": \"host-c\", \"address\": \"10.77.0.3:7070\", \"self\": false,"
        " \"reachable\": false, \"error\": \"connection refused\"}]}");
    char *text = output_of(print_host_list, reply);
    assert_string_equal(text,
        "NAME    ADDRESS         STATE\n"
        "host-a  10.77.0.1:7070  self\n"
        "host-b  10.77.0.2:7070  up\n"
        "host-c  10.77.0.3:7070  down (connection refused)\n");
    free(text);
    json_decref(reply);
}

static void test_vm_show(void **state)
{
    (void)state;
    json_t *vm = load(
        "{\"name\": \"vm1\", \"kernel\": \"/k.elf\", \"memory_bytes\": 1073741824, \"vcpus\": 2,"
        " \"cmdline\": \"rate=25000\", \"state\": \"running\", \"vmm_state\": \"paused\","
        " \"pid\": 4242, \"exit_code\": null, \"migration\": null, \"host\": \"host-a\"}");
    char *text = output_of(print_vm, vm);
    assert_non_null(strstr(text, "name:              vm1\n"));
    assert_non_null(strstr(text, "vmm state:         paused\n"));
    assert_non_null(strstr(text, "memory:            1 GiB\n"));
    assert_non_null(strstr(text, "pid:               4242\n"));
    assert_non_null(strstr(text, "exit code:         -\n"));
    free(text);
    json_decref(vm);
}

static void test_migration_show_unknown(void **state)
{
    (void)state;
    json_t *m = load(
        "{\"id\": \"m-3f9a1c\", \"vm\": \"vm1\", \"role\": \"source\", \"source\": \"host-a\","
        " \"destination\": \"host-b\", \"state\": \"unknown\", \"error\": null,"
        " \"hint\": \"host-b went silent after switchover: check it\", \"progress\": null,"
        " \"policy\": {\"max_downtime_ms\": 100, \"max_bandwidth\": 104857600,"
        "  \"timeout_s\": 180, \"verify_memory\": true}, \"result\": null}");
    char *text = output_of(print_migration, m);
    /* The hint comes first, before any "key: value" line. */
    assert_true(!strncmp(text, "*** OUTCOME UNKNOWN", 19));
    char *hint = strstr(text, "host-b went silent after switchover: check it\n");
    assert_non_null(hint);
    assert_true(hint < strstr(text, "id:"));
    assert_non_null(strstr(text, "godwit migration resolve m-3f9a1c --keep source|destination"));
    assert_non_null(strstr(text, "state:             unknown\n"));
    assert_non_null(strstr(text, "bandwidth:         100 MiB/s\n"));
    assert_non_null(strstr(text, "verify memory:     yes\n"));
    free(text);
    json_decref(m);
}

static void test_migration_show_completed(void **state)
{
    (void)state;
    json_t *m = load(
        "{\"id\": \"m-1\", \"state\": \"completed\", \"policy\": {\"max_bandwidth\": 0},"
        " \"progress\": {\"percent\": 100.0, \"bytes_sent\": 1107296256,"
        "  \"total_bytes\": 1073741824},"
        " \"result\": {\"total_ms\": 2100, \"downtime_ms\": 4.1, \"setup_ms\": 3,"
        "  \"bytes_sent\": 1107296256, \"passes\": 5}}");
    char *text = output_of(print_migration, m);
    assert_null(strstr(text, "OUTCOME UNKNOWN"));
    assert_true(!strncmp(text, "id:                m-1\n", 23));
    assert_non_null(strstr(text, "bandwidth:         unlimited\n"));
    assert_non_null(strstr(text, "progress:          100.0% (1.03 GiB of 1 GiB sent)\n"));
    assert_non_null(strstr(text, "total time:        2.10 s\n"));
    assert_non_null(strstr(text, "downtime:          4.1 ms\n"));
    assert_non_null(strstr(text, "sent:              1.03 GiB in 5 passes\n"));
    free(text);
    json_decref(m);
}

static void test_migration_list(void **state)
{
    (void)state;
    json_t *reply = load(
        "{\"migrations\": ["
        "{\"id\": \"m-2\", \"vm\": \"vm2\", \"role\": \"source\", \"source\": \"host-a\","
        " \"destination\": \"host-b\", \"state\": \"transferring\","
        " \"progress\": {\"percent\": 42.0, \"pass\": 1}},"
        "{\"id\": \"m-1\", \"vm\": \"vm1\", \"role\": \"destination\", \"source\": \"host-c\","
        " \"destination\": \"host-a\", \"state\": \"aborted\", \"error\": \"source gave up\"}]}");
    char *text = output_of(print_migration_list, reply);
    assert_string_equal(text,
        "ID   VM   ROLE         SOURCE  DESTINATION  STATE         DETAIL\n"
        "m-2  vm2  source       host-a  host-b       transferring  42.0%, pass 1\n"
        "m-1  vm1  destination  host-c  host-a       aborted       source gave up\n");
    free(text);
    json_decref(reply);
}

static void test_json(void **state)
{
    (void)state;
    json_t *obj = load("{\"vms\": [ {\"name\": \"vm1\"} ],\n \"x\": null}");
    char *text = output_of(print_json, obj);
    assert_string_equal(text, "{\"vms\":[{\"name\":\"vm1\"}],\"x\":null}\n");
    free(text);
    json_decref(obj);
}

int main(void)
{
    setenv("TZ", "UTC", 1);     /* print_migration shows created_ms in local time */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vm_list),
        cmocka_unit_test(test_host_list),
        cmocka_unit_test(test_vm_show),
        cmocka_unit_test(test_migration_show_unknown),
        cmocka_unit_test(test_migration_show_completed),
        cmocka_unit_test(test_migration_list),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
