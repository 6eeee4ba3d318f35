/*
 * Unit tests for vmm/bootinfo.h: bootinfo_build fills the struct
 * gw_boot_info that the VMM writes at GW_BOOT_INFO_GPA for the guest, and
 * rejects command lines and device lists that do not fit.  The layout test
 * pins every field offset of the struct, because the guest SDK and the VMM
 * are compiled separately and share it only through godwit/abi.h.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "godwit/abi.h"
#include "vmm/bootinfo.h"

static const struct gw_device_desc test_devices[] = {
    { .type = GW_DEV_CONSOLE_PIO, .irq = 0, .base = GW_PORT_CONSOLE, .size = 8 },
    { .type = GW_DEV_EXIT_PIO, .irq = 0, .base = GW_PORT_EXIT, .size = 4 },
    { .type = GW_DEV_VIRTIO_MMIO, .irq = 5, .base = GW_MMIO_BASE, .size = 0x200 },
};

static struct bootinfo_params test_params(void)
{
    return (struct bootinfo_params){
        .ram_bytes = 256ULL << 20,
        .tsc_khz = 2400000,
        .image_end = 0x123000,
        .ncpus = 4,
        .cmdline = "console=serial quiet",
        .devices = test_devices,
        .ndevices = sizeof test_devices / sizeof test_devices[0],
    };
}

static void test_bootinfo_sets_header_fields(void **state)
{
    (void)state;
    struct bootinfo_params params = test_params();
    struct gw_boot_info info;
    memset(&info, 0x5a, sizeof info);
    assert_int_equal(bootinfo_build(&info, &params, NULL), 0);
    assert_true(info.magic == GW_BOOT_MAGIC);
    assert_int_equal(info.version, GW_BOOT_VERSION);
    assert_int_equal(info.size_bytes, sizeof(struct gw_boot_info));
}

static void test_bootinfo_copies_machine_fields(void **state)
{
    (void)state;
    struct bootinfo_params params = test_params();
    struct gw_boot_info info;
    assert_int_equal(bootinfo_build(&info, &params, NULL), 0);
    assert_true(info.ram_bytes == 256ULL << 20);
    assert_true(info.tsc_khz == 2400000);
    assert_true(info.image_end == 0x123000);
    assert_int_equal(info.ncpus, 4);
}

static void test_bootinfo_copies_devices(void **state)
{
    (void)state;
    struct bootinfo_params params = test_params();
    struct gw_boot_info info;
    memset(&info, 0x5a, sizeof info);
    assert_int_equal(bootinfo_build(&info, &params, NULL), 0);
    assert_int_equal(info.ndevices, 3);
    assert_memory_equal(info.devices, test_devices, sizeof test_devices);
    /* Unused slots are zero (GW_DEV_NONE), not stale bytes. */
    for (unsigned i = 3; i < GW_MAX_DEVICES; i++)
        assert_int_equal(info.devices[i].type, GW_DEV_NONE);
}

static void test_bootinfo_accepts_max_devices(void **state)
{
    (void)state;
    struct gw_device_desc devices[GW_MAX_DEVICES];
    for (unsigned i = 0; i < GW_MAX_DEVICES; i++)
        devices[i] = (struct gw_device_desc){ .type = GW_DEV_VIRTIO_MMIO, .irq = 5 + i,
                                              .base = GW_MMIO_BASE + i * 0x1000, .size = 0x200 };
    struct bootinfo_params params = test_params();
    params.devices = devices;
    params.ndevices = GW_MAX_DEVICES;
    struct gw_boot_info info;
    assert_int_equal(bootinfo_build(&info, &params, NULL), 0);
    assert_int_equal(info.ndevices, GW_MAX_DEVICES);
    assert_memory_equal(info.devices, devices, sizeof devices);
}

static void test_bootinfo_accepts_no_devices(void **state)
{
    (void)state;
    struct bootinfo_params params = test_params();
    params.devices = NULL;
    params.ndevices = 0;
    struct gw_boot_info info;
    assert_int_equal(bootinfo_build(&info, &params, NULL), 0);
    assert_int_equal(info.ndevices, 0);
}

static void test_bootinfo_copies_cmdline(void **state)
{
    (void)state;
    struct bootinfo_params params = test_params();
    struct gw_boot_info info;
    memset(&info, 0x5a, sizeof info);
    assert_int_equal(bootinfo_build(&info, &params, NULL), 0);
    assert_string_equal(info.cmdline, "console=serial quiet");
    assert_int_equal(info.cmdline[strlen("console=serial quiet")], '\0');
}

static void test_bootinfo_null_cmdline_is_empty(void **state)
{
    (void)state;
    struct bootinfo_params params = test_params();
    params.cmdline = NULL;
    struct gw_boot_info info;
    memset(&info, 0x5a, sizeof info);
    assert_int_equal(bootinfo_build(&info, &params, NULL), 0);
    assert_string_equal(info.cmdline, "");
}

static void test_bootinfo_accepts_1023_byte_cmdline(void **state)
{
    (void)state;
    char cmdline[GW_CMDLINE_MAX];
    memset(cmdline, 'c', GW_CMDLINE_MAX - 1);
    cmdline[GW_CMDLINE_MAX - 1] = '\0';
    struct bootinfo_params params = test_params();
    params.cmdline = cmdline;
    struct gw_boot_info info;
    memset(&info, 0x5a, sizeof info);
    struct gw_error err = { 0 };
    assert_int_equal(bootinfo_build(&info, &params, &err), 0);
    assert_int_equal(info.cmdline[GW_CMDLINE_MAX - 1], '\0');
    assert_string_equal(info.cmdline, cmdline);
}

static void test_bootinfo_rejects_1024_byte_cmdline(void **state)
{
    (void)state;
    char cmdline[GW_CMDLINE_MAX + 1];
    memset(cmdline, 'c', GW_CMDLINE_MAX);
    cmdline[GW_CMDLINE_MAX] = '\0';
    struct bootinfo_params params = test_params();
    params.cmdline = cmdline;
    struct gw_boot_info info;
    struct gw_error err = { 0 };
    assert_int_equal(bootinfo_build(&info, &params, &err), -EINVAL);
    assert_int_equal(err.code, -EINVAL);
    assert_non_null(strstr(err.msg, "command line of 1024 bytes"));
}

static void test_bootinfo_rejects_too_many_devices(void **state)
{
    (void)state;
    struct gw_device_desc devices[GW_MAX_DEVICES + 1];
    memset(devices, 0, sizeof devices);
    struct bootinfo_params params = test_params();
    params.devices = devices;
    params.ndevices = GW_MAX_DEVICES + 1;
    struct gw_boot_info info;
    struct gw_error err = { 0 };
    assert_int_equal(bootinfo_build(&info, &params, &err), -EINVAL);
    assert_int_equal(err.code, -EINVAL);
    assert_non_null(strstr(err.msg, "17 devices"));
}

static void test_bootinfo_layout_is_pinned(void **state)
{
    (void)state;
    assert_int_equal(offsetof(struct gw_boot_info, magic), 0);
    assert_int_equal(offsetof(struct gw_boot_info, version), 8);
    assert_int_equal(offsetof(struct gw_boot_info, size_bytes), 12);
    assert_int_equal(offsetof(struct gw_boot_info, ram_bytes), 16);
    assert_int_equal(offsetof(struct gw_boot_info, tsc_khz), 24);
    assert_int_equal(offsetof(struct gw_boot_info, image_end), 32);
    assert_int_equal(offsetof(struct gw_boot_info, ncpus), 40);
    assert_int_equal(offsetof(struct gw_boot_info, ndevices), 44);
    assert_int_equal(offsetof(struct gw_boot_info, devices), 48);
    assert_int_equal(offsetof(struct gw_boot_info, cmdline), 48 + GW_MAX_DEVICES * 24);
    assert_int_equal(sizeof(struct gw_boot_info), 48 + GW_MAX_DEVICES * 24 + GW_CMDLINE_MAX);
    assert_true(sizeof(struct gw_boot_info) <= 4096);
}

static void test_bootinfo_device_layout_is_pinned(void **state)
{
    (void)state;
    assert_int_equal(sizeof(struct gw_device_desc), 24);
    assert_int_equal(offsetof(struct gw_device_desc, type), 0);
    assert_int_equal(offsetof(struct gw_device_desc, irq), 4);
    assert_int_equal(offsetof(struct gw_device_desc, base), 8);
    assert_int_equal(offsetof(struct gw_device_desc, size), 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bootinfo_sets_header_fields),
        cmocka_unit_test(test_bootinfo_copies_machine_fields),
        cmocka_unit_test(test_bootinfo_copies_devices),
        cmocka_unit_test(test_bootinfo_accepts_max_devices),
        cmocka_unit_test(test_bootinfo_accepts_no_devices),
        cmocka_unit_test(test_bootinfo_copies_cmdline),
        cmocka_unit_test(test_bootinfo_null_cmdline_is_empty),
        cmocka_unit_test(test_bootinfo_accepts_1023_byte_cmdline),
        cmocka_unit_test(test_bootinfo_rejects_1024_byte_cmdline),
        cmocka_unit_test(test_bootinfo_rejects_too_many_devices),
        cmocka_unit_test(test_bootinfo_layout_is_pinned),
        cmocka_unit_test(test_bootinfo_device_layout_is_pinned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
