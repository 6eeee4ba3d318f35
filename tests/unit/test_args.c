/*
 * Unit tests for godwit-vmm's command line (cmd/godwit-vmm/args.h):
 * vmm_args_parse fills struct vmm_args with defaults and the options
 * given, and turns every bad value into -EINVAL with a sentence naming
 * the option.  vmm_args_parse resets getopt's state itself, so the tests
 * call it many times in one process.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/godwit-vmm/args.h"
#include "godwit/abi.h"

#define ARGC(argv) ((int)(sizeof(argv) / sizeof((argv)[0])) - 1)

/* Asserts argv is rejected with -EINVAL and a message containing phrase. */
static void expect_bad_args(int argc, char **argv, const char *phrase)
{
    struct vmm_args args;
    struct gw_error err = { 0 };
    assert_int_equal(vmm_args_parse(argc, argv, &args, &err), -EINVAL);
    assert_int_equal(err.code, -EINVAL);
    if (!strstr(err.msg, phrase))
        fail_msg("message '%s' lacks '%s'", err.msg, phrase);
}

/* Parses `godwit-vmm --kernel k OPTION VALUE` and expects phrase. */
static void expect_bad_value(const char *option, const char *value, const char *phrase)
{
    char *argv[] = { "godwit-vmm", "--kernel", "k", (char *)option, (char *)value, NULL };
    expect_bad_args(ARGC(argv), argv, phrase);
}

/* Parses `godwit-vmm --kernel k OPTION VALUE` and expects success. */
static void parse_ok(const char *option, const char *value, struct vmm_args *args)
{
    char *argv[] = { "godwit-vmm", "--kernel", "k", (char *)option, (char *)value, NULL };
    struct gw_error err = { 0 };
    int rc = vmm_args_parse(ARGC(argv), argv, args, &err);
    if (rc)
        fail_msg("%s %s: %s", option, value, err.msg);
}

static void test_args_defaults(void **state)
{
    (void)state;
    char *argv[] = { "godwit-vmm", "--kernel", "guest.elf", NULL };
    struct vmm_args args;
    struct gw_error err = { 0 };
    assert_int_equal(vmm_args_parse(ARGC(argv), argv, &args, &err), 0);
    assert_string_equal(args.kernel, "guest.elf");
    assert_true(args.memory_bytes == 256ULL << 20);
    assert_int_equal(args.vcpus, 1);
    assert_string_equal(args.cmdline, "");
    assert_null(args.console);
    assert_null(args.control);
    assert_int_equal(args.log_level, GW_LOG_INFO);
    assert_false(args.help);
}

static void test_args_all_options(void **state)
{
    (void)state;
    char *argv[] = { "godwit-vmm", "--kernel", "guest.elf", "--memory", "1G", "--vcpus", "8",
                     "--cmdline", "a=1 b=2", "--console", "console.log", "--control",
                     "/tmp/ctl.sock", "--log-level", "debug", NULL };
    struct vmm_args args;
    struct gw_error err = { 0 };
    assert_int_equal(vmm_args_parse(ARGC(argv), argv, &args, &err), 0);
    assert_string_equal(args.kernel, "guest.elf");
    assert_true(args.memory_bytes == 1ULL << 30);
    assert_int_equal(args.vcpus, 8);
    assert_string_equal(args.cmdline, "a=1 b=2");
    assert_string_equal(args.console, "console.log");
    assert_string_equal(args.control, "/tmp/ctl.sock");
    assert_int_equal(args.log_level, GW_LOG_DEBUG);
    assert_false(args.help);
}

static void test_args_equals_form(void **state)
{
    (void)state;
    char *argv[] = { "godwit-vmm", "--kernel=guest.elf", "--memory=512M", "--vcpus=2", NULL };
    struct vmm_args args;
    assert_int_equal(vmm_args_parse(ARGC(argv), argv, &args, NULL), 0);
    assert_string_equal(args.kernel, "guest.elf");
    assert_true(args.memory_bytes == 512ULL << 20);
    assert_int_equal(args.vcpus, 2);
}

static void test_args_log_levels(void **state)
{
    (void)state;
    static const struct { const char *name; enum gw_log_level level; } cases[] = {
        { "error", GW_LOG_ERROR }, { "warn", GW_LOG_WARN },
        { "info", GW_LOG_INFO }, { "debug", GW_LOG_DEBUG },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct vmm_args args;
        parse_ok("--log-level", cases[i].name, &args);
        assert_int_equal(args.log_level, cases[i].level);
    }
}

static void test_args_vcpus_limits(void **state)
{
    (void)state;
    struct vmm_args args;
    parse_ok("--vcpus", "1", &args);
    assert_int_equal(args.vcpus, 1);
    parse_ok("--vcpus", "64", &args);
    assert_int_equal(args.vcpus, GW_MAX_VCPUS);
}

static void test_args_repeated_parse_is_independent(void **state)
{
    (void)state;
    struct vmm_args args;
    parse_ok("--vcpus", "4", &args);
    char *argv[] = { "godwit-vmm", "--kernel", "k", NULL };
    assert_int_equal(vmm_args_parse(ARGC(argv), argv, &args, NULL), 0);
    assert_int_equal(args.vcpus, 1);
}

static void test_args_help(void **state)
{
    (void)state;
    char *argv[] = { "godwit-vmm", "--help", NULL };
    struct vmm_args args;
    struct gw_error err = { 0 };
    assert_int_equal(vmm_args_parse(ARGC(argv), argv, &args, &err), 0);
    assert_true(args.help);
}

static void test_args_help_after_kernel(void **state)
{
    (void)state;
    char *argv[] = { "godwit-vmm", "--kernel", "k", "--help", NULL };
    struct vmm_args args;
    assert_int_equal(vmm_args_parse(ARGC(argv), argv, &args, NULL), 0);
    assert_true(args.help);
}

static void test_args_usage_mentions_options(void **state)
{
    (void)state;
    static const char *const options[] = { "--kernel", "--memory", "--vcpus", "--cmdline",
                                           "--console", "--control", "--log-level", "--help" };
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        assert_non_null(strstr(vmm_usage, options[i]));
}

static void test_args_missing_kernel(void **state)
{
    (void)state;
    char *argv[] = { "godwit-vmm", "--memory", "512M", NULL };
    expect_bad_args(ARGC(argv), argv, "--kernel IMAGE is required");
}

static void test_args_no_arguments(void **state)
{
    (void)state;
    char *argv[] = { "godwit-vmm", NULL };
    expect_bad_args(ARGC(argv), argv, "--kernel IMAGE is required");
}

static void test_args_memory_not_a_size(void **state)
{
    (void)state;
    expect_bad_value("--memory", "lots", "--memory: 'lots' is not a size");
    expect_bad_value("--memory", "12X", "is not a size");
    expect_bad_value("--memory", "-1G", "is not a size");
    expect_bad_value("--memory", "", "is not a size");
}

static void test_args_memory_zero(void **state)
{
    (void)state;
    expect_bad_value("--memory", "0", "must not be zero");
}

static void test_args_memory_unaligned(void **state)
{
    (void)state;
    expect_bad_value("--memory", "4097K", "not a multiple");
}

static void test_args_memory_too_small(void **state)
{
    (void)state;
    expect_bad_value("--memory", "1M", "below the minimum");
}

static void test_args_memory_too_big(void **state)
{
    (void)state;
    expect_bad_value("--memory", "65G", "--memory: memory size");
    expect_bad_value("--memory", "65G", "above the maximum");
}

static void test_args_vcpus_zero(void **state)
{
    (void)state;
    expect_bad_value("--vcpus", "0", "--vcpus: '0' is not a number from 1 to 64");
}

static void test_args_vcpus_too_many(void **state)
{
    (void)state;
    expect_bad_value("--vcpus", "65", "--vcpus: '65' is not a number from 1 to 64");
    expect_bad_value("--vcpus", "4294967297", "is not a number");  /* 2^32 + 1 */
}

static void test_args_vcpus_not_a_number(void **state)
{
    (void)state;
    expect_bad_value("--vcpus", "abc", "--vcpus: 'abc' is not a number");
    expect_bad_value("--vcpus", "4x", "is not a number");
    expect_bad_value("--vcpus", "", "is not a number");
}

static void test_args_vcpus_negative(void **state)
{
    (void)state;
    expect_bad_value("--vcpus", "-1", "--vcpus: '-1' is not a number");
    /* strtoul would negate this to 1. */
    expect_bad_value("--vcpus", "-18446744073709551615", "is not a number");
}

static void test_args_unknown_option(void **state)
{
    (void)state;
    char *argv[] = { "godwit-vmm", "--kernel", "k", "--bogus", NULL };
    expect_bad_args(ARGC(argv), argv, "unknown option '--bogus'");
}

static void test_args_unknown_short_option(void **state)
{
    (void)state;
    char *argv[] = { "godwit-vmm", "-x", "--kernel", "k", NULL };
    expect_bad_args(ARGC(argv), argv, "unknown option '-x'");
}

static void test_args_option_missing_value(void **state)
{
    (void)state;
    char *argv[] = { "godwit-vmm", "--kernel", "k", "--memory", NULL };
    expect_bad_args(ARGC(argv), argv, "--memory needs a value");
}

static void test_args_kernel_missing_value(void **state)
{
    (void)state;
    char *argv[] = { "godwit-vmm", "--kernel", NULL };
    expect_bad_args(ARGC(argv), argv, "--kernel needs a value");
}

static void test_args_stray_positional(void **state)
{
    (void)state;
    char *argv[] = { "godwit-vmm", "--kernel", "k", "extra", NULL };
    expect_bad_args(ARGC(argv), argv, "unexpected argument 'extra'");
}

static void test_args_stray_positional_first(void **state)
{
    (void)state;
    char *argv[] = { "godwit-vmm", "extra", "--kernel", "k", NULL };
    expect_bad_args(ARGC(argv), argv, "unexpected argument 'extra'");
}

static void test_args_bad_log_level(void **state)
{
    (void)state;
    expect_bad_value("--log-level", "verbose",
                     "--log-level: 'verbose' is not error, warn, info or debug");
    expect_bad_value("--log-level", "INFO", "is not error, warn, info or debug");
}

static void test_args_cmdline_1023_bytes_accepted(void **state)
{
    (void)state;
    char cmdline[GW_CMDLINE_MAX];
    memset(cmdline, 'c', sizeof cmdline - 1);
    cmdline[sizeof cmdline - 1] = '\0';
    struct vmm_args args;
    parse_ok("--cmdline", cmdline, &args);
    assert_int_equal(strlen(args.cmdline), GW_CMDLINE_MAX - 1);
}

static void test_args_cmdline_1024_bytes_rejected(void **state)
{
    (void)state;
    char cmdline[GW_CMDLINE_MAX + 1];
    memset(cmdline, 'c', sizeof cmdline - 1);
    cmdline[sizeof cmdline - 1] = '\0';
    expect_bad_value("--cmdline", cmdline, "--cmdline: 1024 bytes is longer than 1023");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_defaults),
        cmocka_unit_test(test_args_all_options),
        cmocka_unit_test(test_args_equals_form),
        cmocka_unit_test(test_args_log_levels),
        cmocka_unit_test(test_args_vcpus_limits),
        cmocka_unit_test(test_args_repeated_parse_is_independent),
        cmocka_unit_test(test_args_help),
        cmocka_unit_test(test_args_help_after_kernel),
        cmocka_unit_test(test_args_usage_mentions_options),
        cmocka_unit_test(test_args_missing_kernel),
        cmocka_unit_test(test_args_no_arguments),
        cmocka_unit_test(test_args_memory_not_a_size),
        cmocka_unit_test(test_args_memory_zero),
        cmocka_unit_test(test_args_memory_unaligned),
        cmocka_unit_test(test_args_memory_too_small),
        cmocka_unit_test(test_args_memory_too_big),
        cmocka_unit_test(test_args_vcpus_zero),
        cmocka_unit_test(test_args_vcpus_too_many),
        cmocka_unit_test(test_args_vcpus_not_a_number),
        cmocka_unit_test(test_args_vcpus_negative),
        cmocka_unit_test(test_args_unknown_option),
        cmocka_unit_test(test_args_unknown_short_option),
        cmocka_unit_test(test_args_option_missing_value),
        cmocka_unit_test(test_args_kernel_missing_value),
        cmocka_unit_test(test_args_stray_positional),
        cmocka_unit_test(test_args_stray_positional_first),
        cmocka_unit_test(test_args_bad_log_level),
        cmocka_unit_test(test_args_cmdline_1023_bytes_accepted),
        cmocka_unit_test(test_args_cmdline_1024_bytes_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
