/*
 * Unit tests for godwit's command line (cli/args.h): cli_args_parse turns
 * argv into one struct cli_args, accepts global options before and after
 * the command, keeps each command to its own options, and turns every bad
 * value into -EINVAL with a sentence naming what is wrong (and args.name
 * naming the command, for the --help hint).  Also the socket's fallback
 * order and the help texts' promises.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/args.h"

#define ARGC(argv) ((int)(sizeof(argv) / sizeof((argv)[0])) - 1)

static void parse_ok(int argc, char **argv, struct cli_args *args)
{
    struct gw_error err = { 0 };
    if (cli_args_parse(argc, argv, args, &err))
        fail_msg("%s: %s", argv[1], err.msg);
}

/* Asserts argv is rejected with a message containing phrase, and that the
 * --help hint names `command` (NULL: the top level). */
static void expect_bad(int argc, char **argv, const char *phrase, const char *command)
{
    struct cli_args args;
    struct gw_error err = { 0 };
    assert_int_equal(cli_args_parse(argc, argv, &args, &err), -EINVAL);
    if (!strstr(err.msg, phrase))
        fail_msg("message '%s' lacks '%s'", err.msg, phrase);
    if (command)
        assert_string_equal(args.name, command);
    else
        assert_null(args.name);
}

static void test_list_defaults(void **state)
{
    (void)state;
    char *argv[] = { "godwit", "vm", "list", NULL };
    struct cli_args args;
    parse_ok(ARGC(argv), argv, &args);
    assert_int_equal(args.command, CLI_VM_LIST);
    assert_string_equal(args.name, "vm list");
    assert_null(args.help);
    assert_null(args.socket);
    assert_int_equal(args.output, CLI_OUTPUT_TEXT);
    assert_null(args.target);
}

static void test_global_options_anywhere(void **state)
{
    (void)state;
    char *before[] = { "godwit", "--socket", "/s.sock", "-o", "json", "host", "list", NULL };
    char *after[] = { "godwit", "migration", "show", "m-1", "--output=json", "--socket=/t", NULL };
    struct cli_args args;
    parse_ok(ARGC(before), before, &args);
    assert_int_equal(args.command, CLI_HOST_LIST);
    assert_string_equal(args.socket, "/s.sock");
    assert_int_equal(args.output, CLI_OUTPUT_JSON);
    parse_ok(ARGC(after), after, &args);
    assert_int_equal(args.command, CLI_MIGRATION_SHOW);
    assert_string_equal(args.target, "m-1");
    assert_string_equal(args.socket, "/t");
    assert_int_equal(args.output, CLI_OUTPUT_JSON);
}

static void test_vm_create(void **state)
{
    (void)state;
    char *argv[] = { "godwit", "vm", "create", "--kernel", "k.elf", "vm1", "--memory", "1G",
                     "--vcpus", "4", "--cmdline", "rate=25000 x=1", NULL };
    struct cli_args args;
    parse_ok(ARGC(argv), argv, &args);
    assert_int_equal(args.command, CLI_VM_CREATE);
    assert_string_equal(args.target, "vm1");
    assert_string_equal(args.kernel, "k.elf");
    assert_string_equal(args.memory, "1G");         /* passed on as typed */
    assert_true(args.has_vcpus);
    assert_int_equal(args.vcpus, 4);
    assert_string_equal(args.cmdline, "rate=25000 x=1");

    char *minimal[] = { "godwit", "vm", "create", "vm2", "--kernel", "k", NULL };
    parse_ok(ARGC(minimal), minimal, &args);
    assert_null(args.memory);
    assert_false(args.has_vcpus);
    assert_null(args.cmdline);
}

static void test_vm_create_errors(void **state)
{
    (void)state;
    char *no_name[] = { "godwit", "vm", "create", "--kernel", "k", NULL };
    expect_bad(ARGC(no_name), no_name, "needs a NAME", "vm create");
    char *no_kernel[] = { "godwit", "vm", "create", "vm1", NULL };
    expect_bad(ARGC(no_kernel), no_kernel, "--kernel", "vm create");
    char *memory[] = { "godwit", "vm", "create", "vm1", "--kernel", "k", "--memory", "lots", NULL };
    expect_bad(ARGC(memory), memory, "--memory: 'lots'", "vm create");
    char *vcpus0[] = { "godwit", "vm", "create", "vm1", "--kernel", "k", "--vcpus", "0", NULL };
    expect_bad(ARGC(vcpus0), vcpus0, "--vcpus", "vm create");
    char *vcpus_neg[] = { "godwit", "vm", "create", "vm1", "--kernel", "k", "--vcpus", "-2", NULL };
    expect_bad(ARGC(vcpus_neg), vcpus_neg, "--vcpus", "vm create");
    char *other_cmd_option[] = { "godwit", "vm", "create", "vm1", "--kernel", "k", "--verify",
                                 NULL };
    expect_bad(ARGC(other_cmd_option), other_cmd_option, "unknown option '--verify'",
               "vm create");
    char *two_names[] = { "godwit", "vm", "create", "vm1", "vm2", "--kernel", "k", NULL };
    expect_bad(ARGC(two_names), two_names, "unexpected argument 'vm2'", "vm create");
    char *no_value[] = { "godwit", "vm", "create", "vm1", "--kernel", NULL };
    expect_bad(ARGC(no_value), no_value, "--kernel needs a value", "vm create");
    char *empty[] = { "godwit", "vm", "create", "", "--kernel", "k", NULL };
    expect_bad(ARGC(empty), empty, "NAME must not be empty", "vm create");
}

static void test_vm_one_name_commands(void **state)
{
    (void)state;
    static const struct { const char *verb; enum cli_command command; } cases[] = {
        { "start", CLI_VM_START }, { "stop", CLI_VM_STOP }, { "delete", CLI_VM_DELETE },
        { "show", CLI_VM_SHOW }, { "console", CLI_VM_CONSOLE },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[] = { "godwit", "vm", (char *)cases[i].verb, "vm1", NULL };
        struct cli_args args;
        parse_ok(ARGC(argv), argv, &args);
        assert_int_equal(args.command, cases[i].command);
        assert_string_equal(args.target, "vm1");

        char *missing[] = { "godwit", "vm", (char *)cases[i].verb, NULL };
        expect_bad(ARGC(missing), missing, "needs a NAME", args.name);
    }
    char *list_extra[] = { "godwit", "vm", "list", "vm1", NULL };
    expect_bad(ARGC(list_extra), list_extra, "unexpected argument 'vm1'", "vm list");
}

static void test_vm_console_bytes(void **state)
{
    (void)state;
    char *argv[] = { "godwit", "vm", "console", "vm1", "--bytes", "64K", NULL };
    struct cli_args args;
    parse_ok(ARGC(argv), argv, &args);
    assert_true(args.has_console_bytes);
    assert_true(args.console_bytes == 65536);
    char *bad[] = { "godwit", "vm", "console", "vm1", "--bytes", "many", NULL };
    expect_bad(ARGC(bad), bad, "--bytes", "vm console");
}

static void test_migrate(void **state)
{
    (void)state;
    char *argv[] = { "godwit", "migrate", "--to", "host-b", "vm1", "--max-downtime", "50",
                     "--bandwidth", "100M", "--timeout", "60", "--verify", "--detach", NULL };
    struct cli_args args;
    parse_ok(ARGC(argv), argv, &args);
    assert_int_equal(args.command, CLI_MIGRATE);
    assert_string_equal(args.name, "migrate");
    assert_string_equal(args.target, "vm1");
    assert_string_equal(args.to, "host-b");
    assert_true(args.policy.has_max_downtime);
    assert_int_equal(args.policy.max_downtime_ms, 50);
    assert_true(args.policy.has_bandwidth);
    assert_true(args.policy.bandwidth == 100ULL << 20);
    assert_true(args.policy.has_timeout);
    assert_int_equal(args.policy.timeout_s, 60);
    assert_true(args.verify);
    assert_true(args.detach);

    char *plain[] = { "godwit", "migrate", "vm1", "--to", "host-b", "--bandwidth", "0", NULL };
    parse_ok(ARGC(plain), plain, &args);
    assert_false(args.policy.has_max_downtime);
    assert_false(args.policy.has_timeout);
    assert_true(args.policy.has_bandwidth);     /* 0 = unlimited, still sent */
    assert_true(args.policy.bandwidth == 0);
    assert_false(args.verify);
    assert_false(args.detach);
}

static void test_migrate_errors(void **state)
{
    (void)state;
    char *no_to[] = { "godwit", "migrate", "vm1", NULL };
    expect_bad(ARGC(no_to), no_to, "--to HOST", "migrate");
    char *no_vm[] = { "godwit", "migrate", "--to", "host-b", NULL };
    expect_bad(ARGC(no_vm), no_vm, "needs a VM", "migrate");
    char *rate[] = { "godwit", "migrate", "vm1", "--to", "b", "--bandwidth", "fast", NULL };
    expect_bad(ARGC(rate), rate, "--bandwidth: 'fast'", "migrate");
    char *ms[] = { "godwit", "migrate", "vm1", "--to", "b", "--max-downtime", "1.5", NULL };
    expect_bad(ARGC(ms), ms, "--max-downtime: '1.5'", "migrate");
    char *neg[] = { "godwit", "migrate", "vm1", "--to", "b", "--timeout", "-1", NULL };
    expect_bad(ARGC(neg), neg, "--timeout: '-1'", "migrate");
    char *huge[] = { "godwit", "migrate", "vm1", "--to", "b", "--timeout", "99999999999", NULL };
    expect_bad(ARGC(huge), huge, "--timeout", "migrate");
    char *keep[] = { "godwit", "migrate", "vm1", "--to", "b", "--keep", "source", NULL };
    expect_bad(ARGC(keep), keep, "unknown option '--keep'", "migrate");
}

static void test_migration_commands(void **state)
{
    (void)state;
    struct cli_args args;
    char *list[] = { "godwit", "migration", "list", NULL };
    parse_ok(ARGC(list), list, &args);
    assert_int_equal(args.command, CLI_MIGRATION_LIST);
    char *cancel[] = { "godwit", "migration", "cancel", "m-1", NULL };
    parse_ok(ARGC(cancel), cancel, &args);
    assert_int_equal(args.command, CLI_MIGRATION_CANCEL);
    assert_string_equal(args.target, "m-1");

    char *set[] = { "godwit", "migration", "set", "m-1", "--timeout", "300", NULL };
    parse_ok(ARGC(set), set, &args);
    assert_int_equal(args.command, CLI_MIGRATION_SET);
    assert_true(args.policy.has_timeout);
    assert_false(args.policy.has_bandwidth);
    char *set_nothing[] = { "godwit", "migration", "set", "m-1", NULL };
    expect_bad(ARGC(set_nothing), set_nothing, "at least one", "migration set");
    char *set_verify[] = { "godwit", "migration", "set", "m-1", "--verify", NULL };
    expect_bad(ARGC(set_verify), set_verify, "unknown option", "migration set");

    char *resolve[] = { "godwit", "migration", "resolve", "m-1", "--keep", "destination", NULL };
    parse_ok(ARGC(resolve), resolve, &args);
    assert_int_equal(args.command, CLI_MIGRATION_RESOLVE);
    assert_string_equal(args.keep, "destination");
    char *keep_bad[] = { "godwit", "migration", "resolve", "m-1", "--keep", "both", NULL };
    expect_bad(ARGC(keep_bad), keep_bad, "--keep: 'both'", "migration resolve");
    char *keep_missing[] = { "godwit", "migration", "resolve", "m-1", NULL };
    expect_bad(ARGC(keep_missing), keep_missing, "--keep", "migration resolve");
}

static void test_help(void **state)
{
    (void)state;
    struct cli_args args;
    char *top[] = { "godwit", "--help", NULL };
    parse_ok(ARGC(top), top, &args);
    assert_ptr_equal(args.help, cli_usage_top);
    char *top_short[] = { "godwit", "-h", "vm", "list", NULL };
    parse_ok(ARGC(top_short), top_short, &args);
    assert_ptr_equal(args.help, cli_usage_top);

    char *group[] = { "godwit", "vm", "--help", NULL };
    parse_ok(ARGC(group), group, &args);
    assert_ptr_equal(args.help, cli_usage_group("vm"));
    char *migration_group[] = { "godwit", "migration", "-h", NULL };
    parse_ok(ARGC(migration_group), migration_group, &args);
    assert_ptr_equal(args.help, cli_usage_group("migration"));

    /* A command's --help wins over its missing arguments. */
    char *command[] = { "godwit", "vm", "create", "--help", NULL };
    parse_ok(ARGC(command), command, &args);
    assert_ptr_equal(args.help, cli_usage_command(CLI_VM_CREATE));
    char *migrate[] = { "godwit", "migrate", "-h", NULL };
    parse_ok(ARGC(migrate), migrate, &args);
    assert_ptr_equal(args.help, cli_usage_command(CLI_MIGRATE));
}

static void test_help_texts(void **state)
{
    (void)state;
    for (int c = CLI_VM_CREATE; c <= CLI_MIGRATION_RESOLVE; c++) {
        const char *text = cli_usage_command((enum cli_command)c);
        assert_non_null(text);
        assert_true(!strncmp(text, "usage: godwit ", 14));
        assert_non_null(strstr(text, "xit status"));
    }
    assert_null(cli_usage_command(CLI_NONE));
    assert_null(cli_usage_group("vmm"));
    /* Every exit code is documented at the top level. */
    static const char *const codes[] = { "\n  0  ", "\n  1  ", "\n  2  ", "\n  3  ", "\n  4  " };
    for (size_t i = 0; i < 5; i++)
        assert_non_null(strstr(cli_usage_top, codes[i]));
    assert_non_null(strstr(cli_usage_command(CLI_MIGRATE), "\n  3  "));
}

static void test_unknown_commands(void **state)
{
    (void)state;
    char *none[] = { "godwit", NULL };
    expect_bad(ARGC(none), none, "no command", NULL);
    char *only_options[] = { "godwit", "-o", "json", NULL };
    expect_bad(ARGC(only_options), only_options, "no command", NULL);
    char *unknown[] = { "godwit", "vms", "list", NULL };
    expect_bad(ARGC(unknown), unknown, "unknown command 'vms'", NULL);
    char *verb[] = { "godwit", "vm", "destroy", "vm1", NULL };
    expect_bad(ARGC(verb), verb, "unknown command 'vm destroy'", "vm");
    char *group_only[] = { "godwit", "migration", NULL };
    expect_bad(ARGC(group_only), group_only, "needs a command", "migration");
    char *migrate_as_group[] = { "godwit", "migrate", "list", "--to", "b", NULL };
    struct cli_args args;       /* "list" is just a VM named list */
    parse_ok(ARGC(migrate_as_group), migrate_as_group, &args);
    assert_string_equal(args.target, "list");
}

static void test_bad_global_options(void **state)
{
    (void)state;
    char *output[] = { "godwit", "-o", "xml", "vm", "list", NULL };
    expect_bad(ARGC(output), output, "-o: 'xml'", NULL);
    char *output_late[] = { "godwit", "vm", "list", "-o", "yaml", NULL };
    expect_bad(ARGC(output_late), output_late, "-o: 'yaml'", "vm list");
    char *missing[] = { "godwit", "vm", "list", "--socket", NULL };
    expect_bad(ARGC(missing), missing, "--socket needs a value", "vm list");
    char *unknown[] = { "godwit", "--verbose", "vm", "list", NULL };
    expect_bad(ARGC(unknown), unknown, "unknown option '--verbose'", NULL);
    char *unknown_short[] = { "godwit", "-x", "vm", "list", NULL };
    expect_bad(ARGC(unknown_short), unknown_short, "unknown option '-x'", NULL);
}

static void test_double_dash(void **state)
{
    (void)state;
    char *argv[] = { "godwit", "vm", "show", "--", "-odd", NULL };
    struct cli_args args;
    parse_ok(ARGC(argv), argv, &args);
    assert_string_equal(args.target, "-odd");
}

static void test_socket_path(void **state)
{
    (void)state;
    struct cli_args args = { .socket = "/flag.sock" };
    assert_string_equal(cli_socket_path(&args, "/env.sock"), "/flag.sock");
    args.socket = NULL;
    assert_string_equal(cli_socket_path(&args, "/env.sock"), "/env.sock");
    assert_string_equal(cli_socket_path(&args, ""), CLI_DEFAULT_SOCKET);
    assert_string_equal(cli_socket_path(&args, NULL), "/run/godwit/godwitd.sock");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_defaults),
        cmocka_unit_test(test_global_options_anywhere),
        cmocka_unit_test(test_vm_create),
        cmocka_unit_test(test_vm_create_errors),
        cmocka_unit_test(test_vm_one_name_commands),
        cmocka_unit_test(test_vm_console_bytes),
        cmocka_unit_test(test_migrate),
        cmocka_unit_test(test_migrate_errors),
        cmocka_unit_test(test_migration_commands),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_help_texts),
        cmocka_unit_test(test_unknown_commands),
        cmocka_unit_test(test_bad_global_options),
        cmocka_unit_test(test_double_dash),
        cmocka_unit_test(test_socket_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
