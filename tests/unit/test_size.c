/*
 * Unit tests for base/size.h and base/error.h: gw_parse_size turns human
 * sizes ("512M", "4G", "1KiB") into bytes and rejects everything else, and
 * gw_error_set/gw_error_clear fill the caller-owned error record that the
 * rest of the tree uses to report failures.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "base/size.h"

/* Parses text and asserts it yields expected bytes. */
static void assert_size(const char *text, uint64_t expected)
{
    uint64_t bytes = 0;
    assert_int_equal(gw_parse_size(text, &bytes), 0);
    assert_true(bytes == expected);
}

/* Asserts text is rejected and *bytes is left untouched. */
static void assert_bad_size(const char *text)
{
    uint64_t bytes = 12345;
    assert_int_equal(gw_parse_size(text, &bytes), -EINVAL);
    assert_true(bytes == 12345);
}

static void test_size_plain_number(void **state)
{
    (void)state;
    assert_size("0", 0);
    assert_size("4096", 4096);
    assert_size("18446744073709551615", UINT64_MAX);
}

static void test_size_suffixes(void **state)
{
    (void)state;
    assert_size("1K", 1ULL << 10);
    assert_size("512M", 512ULL << 20);
    assert_size("4G", 4ULL << 30);
    assert_size("2T", 2ULL << 40);
}

static void test_size_suffix_case_insensitive(void **state)
{
    (void)state;
    assert_size("512m", 512ULL << 20);
    assert_size("4g", 4ULL << 30);
}

static void test_size_suffix_with_ib_or_b(void **state)
{
    (void)state;
    assert_size("1KiB", 1ULL << 10);
    assert_size("1kib", 1ULL << 10);
    assert_size("3MB", 3ULL << 20);
    assert_size("3mb", 3ULL << 20);
}

static void test_size_rejects_empty(void **state)
{
    (void)state;
    assert_bad_size("");
}

static void test_size_rejects_null(void **state)
{
    (void)state;
    assert_bad_size(NULL);
}

static void test_size_rejects_negative(void **state)
{
    (void)state;
    assert_bad_size("-1");
    assert_bad_size("-1M");
}

static void test_size_rejects_unknown_suffix(void **state)
{
    (void)state;
    assert_bad_size("12X");
    assert_bad_size("12P");
    assert_bad_size("12Mx");
    assert_bad_size("12MiBs");
    assert_bad_size("12B");
}

static void test_size_rejects_suffix_without_number(void **state)
{
    (void)state;
    assert_bad_size("M");
    assert_bad_size("KiB");
}

static void test_size_rejects_spaces(void **state)
{
    (void)state;
    assert_bad_size(" 12");
    assert_bad_size("12 M");
    assert_bad_size("12M ");
}

static void test_size_rejects_number_overflow(void **state)
{
    (void)state;
    assert_bad_size("18446744073709551616");    /* UINT64_MAX + 1 */
    assert_bad_size("99999999999999999999");
}

static void test_size_rejects_suffix_overflow(void **state)
{
    (void)state;
    assert_size("17179869183G", 17179869183ULL << 30);  /* largest that fits */
    assert_bad_size("17179869184G");                    /* 2^64 bytes */
    assert_bad_size("16777216T");                       /* 2^64 bytes */
}

static void test_error_set_returns_code_and_formats(void **state)
{
    (void)state;
    struct gw_error err = { 0 };
    assert_int_equal(gw_error_set(&err, -EINVAL, "value %d is %s", 42, "bad"), -EINVAL);
    assert_int_equal(err.code, -EINVAL);
    assert_string_equal(err.msg, "value 42 is bad");
}

static void test_error_set_accepts_null(void **state)
{
    (void)state;
    assert_int_equal(gw_error_set(NULL, -ENOENT, "no such %s", "thing"), -ENOENT);
}

static void test_error_set_truncates_long_message(void **state)
{
    (void)state;
    char long_text[600];
    memset(long_text, 'a', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    struct gw_error err = { 0 };
    assert_int_equal(gw_error_set(&err, -E2BIG, "%s", long_text), -E2BIG);
    assert_int_equal(strlen(err.msg), sizeof err.msg - 1);
}

static void test_error_clear_resets_record(void **state)
{
    (void)state;
    struct gw_error err = { 0 };
    gw_error_set(&err, -EIO, "broken");
    gw_error_clear(&err);
    assert_int_equal(err.code, 0);
    assert_string_equal(err.msg, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_plain_number),
        cmocka_unit_test(test_size_suffixes),
        cmocka_unit_test(test_size_suffix_case_insensitive),
        cmocka_unit_test(test_size_suffix_with_ib_or_b),
        cmocka_unit_test(test_size_rejects_empty),
        cmocka_unit_test(test_size_rejects_null),
        cmocka_unit_test(test_size_rejects_negative),
        cmocka_unit_test(test_size_rejects_unknown_suffix),
        cmocka_unit_test(test_size_rejects_suffix_without_number),
        cmocka_unit_test(test_size_rejects_spaces),
        cmocka_unit_test(test_size_rejects_number_overflow),
        cmocka_unit_test(test_size_rejects_suffix_overflow),
        cmocka_unit_test(test_error_set_returns_code_and_formats),
        cmocka_unit_test(test_error_set_accepts_null),
        cmocka_unit_test(test_error_set_truncates_long_message),
        cmocka_unit_test(test_error_clear_resets_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
