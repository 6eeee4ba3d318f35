/*
 * Unit tests for vmm/memory.h: guest_memory_check_size accepts only
 * page-aligned RAM sizes within [GW_MEMORY_MIN_BYTES, GW_MEMORY_MAX_BYTES],
 * guest_memory_init maps a small memfd-backed RAM, and guest_memory_ptr --
 * the bounds check every guest-physical access from the VMM goes through --
 * returns NULL for any range that is not wholly inside RAM, including
 * ranges whose end overflows 64 bits.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/memory.h"

#define TEST_RAM_BYTES (4ULL << 20)

static void expect_bad_size(uint64_t bytes, const char *phrase)
{
    struct gw_error err = { 0 };
    assert_int_equal(guest_memory_check_size(bytes, &err), -EINVAL);
    assert_int_equal(err.code, -EINVAL);
    if (!strstr(err.msg, phrase))
        fail_msg("message '%s' lacks '%s'", err.msg, phrase);
}

static void test_memory_size_zero_rejected(void **state)
{
    (void)state;
    expect_bad_size(0, "must not be zero");
}

static void test_memory_size_unaligned_rejected(void **state)
{
    (void)state;
    expect_bad_size((256ULL << 20) + 1, "not a multiple");
    expect_bad_size((256ULL << 20) - 512, "not a multiple");
}

static void test_memory_size_below_minimum_rejected(void **state)
{
    (void)state;
    expect_bad_size(GW_PAGE_SIZE, "below the minimum");
    expect_bad_size(GW_MEMORY_MIN_BYTES - GW_PAGE_SIZE, "below the minimum of 2 MiB");
}

static void test_memory_size_above_maximum_rejected(void **state)
{
    (void)state;
    expect_bad_size(GW_MEMORY_MAX_BYTES + GW_PAGE_SIZE, "above the maximum of 64 GiB");
    expect_bad_size(1ULL << 62, "above the maximum");
}

static void test_memory_size_limits_accepted(void **state)
{
    (void)state;
    assert_int_equal(guest_memory_check_size(GW_MEMORY_MIN_BYTES, NULL), 0);
    assert_int_equal(guest_memory_check_size(256ULL << 20, NULL), 0);
    assert_int_equal(guest_memory_check_size(GW_MEMORY_MAX_BYTES, NULL), 0);
}

static int setup_memory(void **state)
{
    struct guest_memory *mem = calloc(1, sizeof *mem);
    if (!mem)
        return -1;
    struct gw_error err = { 0 };
    if (guest_memory_init(mem, TEST_RAM_BYTES, &err)) {
        print_error("guest_memory_init: %s\n", err.msg);
        free(mem);
        return -1;
    }
    *state = mem;
    return 0;
}

static int teardown_memory(void **state)
{
    struct guest_memory *mem = *state;
    guest_memory_uninit(mem);
    free(mem);
    return 0;
}

static void test_memory_init_maps_zeroed_ram(void **state)
{
    struct guest_memory *mem = *state;
    assert_true(mem->bytes == TEST_RAM_BYTES);
    assert_non_null(mem->host);
    assert_true(mem->memfd >= 0);
    assert_true((uint64_t)lseek(mem->memfd, 0, SEEK_END) == TEST_RAM_BYTES);
    for (uint64_t i = 0; i < TEST_RAM_BYTES; i += GW_PAGE_SIZE)
        assert_int_equal(mem->host[i], 0);
}

static void test_memory_init_writes_reach_memfd(void **state)
{
    struct guest_memory *mem = *state;
    mem->host[0x1234] = 0x5a;
    uint8_t byte = 0;
    assert_int_equal(pread(mem->memfd, &byte, 1, 0x1234), 1);
    assert_int_equal(byte, 0x5a);
}

static void test_memory_init_rejects_bad_size(void **state)
{
    (void)state;
    struct guest_memory mem;
    struct gw_error err = { 0 };
    assert_int_equal(guest_memory_init(&mem, 12345, &err), -EINVAL);
    assert_int_equal(err.code, -EINVAL);
    assert_non_null(strstr(err.msg, "not a multiple"));
}

static void test_memory_ptr_inside(void **state)
{
    struct guest_memory *mem = *state;
    assert_ptr_equal(guest_memory_ptr(mem, 0, 1), mem->host);
    assert_ptr_equal(guest_memory_ptr(mem, 0x1000, 0x1000), mem->host + 0x1000);
    assert_ptr_equal(guest_memory_ptr(mem, 0, TEST_RAM_BYTES), mem->host);
}

static void test_memory_ptr_last_byte(void **state)
{
    struct guest_memory *mem = *state;
    assert_ptr_equal(guest_memory_ptr(mem, TEST_RAM_BYTES - 1, 1), mem->host + TEST_RAM_BYTES - 1);
    assert_ptr_equal(guest_memory_ptr(mem, TEST_RAM_BYTES - 8, 8), mem->host + TEST_RAM_BYTES - 8);
}

static void test_memory_ptr_one_past_end(void **state)
{
    struct guest_memory *mem = *state;
    assert_null(guest_memory_ptr(mem, TEST_RAM_BYTES, 1));
    assert_null(guest_memory_ptr(mem, TEST_RAM_BYTES - 8, 9));
    assert_null(guest_memory_ptr(mem, 0, TEST_RAM_BYTES + 1));
}

static void test_memory_ptr_far_outside(void **state)
{
    struct guest_memory *mem = *state;
    assert_null(guest_memory_ptr(mem, TEST_RAM_BYTES + GW_PAGE_SIZE, 1));
    assert_null(guest_memory_ptr(mem, UINT64_MAX, 1));
}

static void test_memory_ptr_huge_len(void **state)
{
    struct guest_memory *mem = *state;
    assert_null(guest_memory_ptr(mem, 0, UINT64_MAX));
    assert_null(guest_memory_ptr(mem, 0x1000, 1ULL << 40));
}

static void test_memory_ptr_gpa_plus_len_overflow(void **state)
{
    struct guest_memory *mem = *state;
    /* 0x1000 + len wraps around to 0x800, which is inside RAM. */
    assert_null(guest_memory_ptr(mem, 0x1000, UINT64_MAX - 0x7ff));
    assert_null(guest_memory_ptr(mem, UINT64_MAX - 0xf, 0x20));
}

static void test_memory_uninit_releases(void **state)
{
    (void)state;
    struct guest_memory mem;
    struct gw_error err = { 0 };
    assert_int_equal(guest_memory_init(&mem, TEST_RAM_BYTES, &err), 0);
    int fd = mem.memfd;
    guest_memory_uninit(&mem);
    assert_null(mem.host);
    assert_int_equal(mem.memfd, -1);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
}

#define MEM_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_memory, teardown_memory)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_size_zero_rejected),
        cmocka_unit_test(test_memory_size_unaligned_rejected),
        cmocka_unit_test(test_memory_size_below_minimum_rejected),
        cmocka_unit_test(test_memory_size_above_maximum_rejected),
        cmocka_unit_test(test_memory_size_limits_accepted),
        MEM_TEST(test_memory_init_maps_zeroed_ram),
        MEM_TEST(test_memory_init_writes_reach_memfd),
        cmocka_unit_test(test_memory_init_rejects_bad_size),
        MEM_TEST(test_memory_ptr_inside),
        MEM_TEST(test_memory_ptr_last_byte),
        MEM_TEST(test_memory_ptr_one_past_end),
        MEM_TEST(test_memory_ptr_far_outside),
        MEM_TEST(test_memory_ptr_huge_len),
        MEM_TEST(test_memory_ptr_gpa_plus_len_overflow),
        cmocka_unit_test(test_memory_uninit_releases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
