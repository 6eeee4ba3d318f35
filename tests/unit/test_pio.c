/*
 * Unit tests for the port I/O bus (dev/pio.h): pio_bus_add refuses
 * overlapping port ranges and a full bus, and pio_bus_access routes each
 * IN/OUT to the owning device with the offset inside its range.  Ports
 * nobody owns read as all-ones and report false.  The devices here are
 * recorders that remember their last access.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dev/pio.h"

/* What a recording device saw last. */
struct recorder {
    unsigned nwrites;
    unsigned nreads;
    uint16_t offset;
    unsigned size;
    uint8_t data[4];
    uint8_t read_value;     /* returned in every byte of a read */
};

static void recorder_write(void *opaque, uint16_t offset, const uint8_t *data, unsigned size)
{
    struct recorder *rec = opaque;
    rec->nwrites++;
    rec->offset = offset;
    rec->size = size;
    memcpy(rec->data, data, size);
}

static void recorder_read(void *opaque, uint16_t offset, uint8_t *data, unsigned size)
{
    struct recorder *rec = opaque;
    rec->nreads++;
    rec->offset = offset;
    rec->size = size;
    memset(data, rec->read_value, size);
}

static struct pio_device recorder_device(struct recorder *rec, const char *name, uint16_t base,
                                         uint16_t nports)
{
    return (struct pio_device){ .name = name, .base = base, .nports = nports, .opaque = rec,
                                .write = recorder_write, .read = recorder_read };
}

static void test_pio_add_disjoint_devices(void **state)
{
    (void)state;
    struct pio_bus bus = { 0 };
    struct recorder a = { 0 }, b = { 0 };
    struct pio_device da = recorder_device(&a, "a", 0x3f8, 8);
    struct pio_device db = recorder_device(&b, "b", 0x400, 8);
    assert_int_equal(pio_bus_add(&bus, &da), 0);
    assert_int_equal(pio_bus_add(&bus, &db), 0);
    assert_int_equal(bus.ndevices, 2);
}

static void test_pio_add_adjacent_devices(void **state)
{
    (void)state;
    struct pio_bus bus = { 0 };
    struct recorder a = { 0 }, b = { 0 }, c = { 0 };
    struct pio_device da = recorder_device(&a, "a", 0x100, 8);
    struct pio_device db = recorder_device(&b, "b", 0x108, 8);     /* right after a */
    struct pio_device dc = recorder_device(&c, "c", 0x0f8, 8);     /* right before a */
    assert_int_equal(pio_bus_add(&bus, &da), 0);
    assert_int_equal(pio_bus_add(&bus, &db), 0);
    assert_int_equal(pio_bus_add(&bus, &dc), 0);
}

static void test_pio_add_overlap_rejected(void **state)
{
    (void)state;
    struct pio_bus bus = { 0 };
    struct recorder r = { 0 };
    struct pio_device base = recorder_device(&r, "base", 0x100, 8);
    struct pio_device same = recorder_device(&r, "same", 0x100, 8);
    struct pio_device tail = recorder_device(&r, "tail", 0x107, 4);
    struct pio_device head = recorder_device(&r, "head", 0x0fe, 3);
    struct pio_device inside = recorder_device(&r, "inside", 0x102, 1);
    struct pio_device around = recorder_device(&r, "around", 0x0f0, 0x20);
    assert_int_equal(pio_bus_add(&bus, &base), 0);
    assert_int_equal(pio_bus_add(&bus, &same), -EEXIST);
    assert_int_equal(pio_bus_add(&bus, &tail), -EEXIST);
    assert_int_equal(pio_bus_add(&bus, &head), -EEXIST);
    assert_int_equal(pio_bus_add(&bus, &inside), -EEXIST);
    assert_int_equal(pio_bus_add(&bus, &around), -EEXIST);
    assert_int_equal(bus.ndevices, 1);
}

static void test_pio_add_overlap_at_top_of_port_space(void **state)
{
    (void)state;
    struct pio_bus bus = { 0 };
    struct recorder r = { 0 };
    struct pio_device top = recorder_device(&r, "top", 0xfff8, 8);    /* ends at 0x10000 */
    struct pio_device clash = recorder_device(&r, "clash", 0xffff, 1);
    struct pio_device below = recorder_device(&r, "below", 0xfff0, 8);
    assert_int_equal(pio_bus_add(&bus, &top), 0);
    assert_int_equal(pio_bus_add(&bus, &clash), -EEXIST);
    assert_int_equal(pio_bus_add(&bus, &below), 0);
}

static void test_pio_add_full_bus_rejected(void **state)
{
    (void)state;
    struct pio_bus bus = { 0 };
    struct recorder r = { 0 };
    struct pio_device devices[PIO_BUS_MAX + 1];
    for (unsigned i = 0; i <= PIO_BUS_MAX; i++)
        devices[i] = recorder_device(&r, "d", (uint16_t)(0x1000 + i * 0x10), 4);
    for (unsigned i = 0; i < PIO_BUS_MAX; i++)
        assert_int_equal(pio_bus_add(&bus, &devices[i]), 0);
    assert_int_equal(pio_bus_add(&bus, &devices[PIO_BUS_MAX]), -ENOSPC);
    assert_int_equal(bus.ndevices, PIO_BUS_MAX);
}

static void test_pio_write_dispatched_with_offset(void **state)
{
    (void)state;
    struct pio_bus bus = { 0 };
    struct recorder a = { 0 }, b = { 0 };
    struct pio_device da = recorder_device(&a, "a", 0x3f8, 8);
    struct pio_device db = recorder_device(&b, "b", 0x500, 4);
    assert_int_equal(pio_bus_add(&bus, &da), 0);
    assert_int_equal(pio_bus_add(&bus, &db), 0);

    uint8_t data[4] = { 0x11, 0x22, 0x33, 0x44 };
    assert_true(pio_bus_access(&bus, 0x501, true, data, 4));
    assert_int_equal(b.nwrites, 1);
    assert_int_equal(b.offset, 1);
    assert_int_equal(b.size, 4);
    assert_memory_equal(b.data, data, 4);
    assert_int_equal(a.nwrites, 0);

    uint8_t byte = 'x';
    assert_true(pio_bus_access(&bus, 0x3f8, true, &byte, 1));
    assert_int_equal(a.nwrites, 1);
    assert_int_equal(a.offset, 0);
    assert_int_equal(a.data[0], 'x');
    assert_int_equal(b.nwrites, 1);
}

static void test_pio_read_dispatched_with_offset(void **state)
{
    (void)state;
    struct pio_bus bus = { 0 };
    struct recorder a = { .read_value = 0x60 };
    struct pio_device da = recorder_device(&a, "a", 0x3f8, 8);
    assert_int_equal(pio_bus_add(&bus, &da), 0);

    uint8_t data[2] = { 0, 0 };
    assert_true(pio_bus_access(&bus, 0x3fd, false, data, 2));
    assert_int_equal(a.nreads, 1);
    assert_int_equal(a.offset, 5);
    assert_int_equal(a.size, 2);
    assert_int_equal(data[0], 0x60);
    assert_int_equal(data[1], 0x60);
}

static void test_pio_last_port_of_device(void **state)
{
    (void)state;
    struct pio_bus bus = { 0 };
    struct recorder a = { 0 };
    struct pio_device da = recorder_device(&a, "a", 0x3f8, 8);
    assert_int_equal(pio_bus_add(&bus, &da), 0);
    uint8_t byte = 1;
    assert_true(pio_bus_access(&bus, 0x3ff, true, &byte, 1));
    assert_int_equal(a.offset, 7);
    assert_false(pio_bus_access(&bus, 0x400, true, &byte, 1));
    assert_false(pio_bus_access(&bus, 0x3f7, true, &byte, 1));
    assert_int_equal(a.nwrites, 1);
}

static void test_pio_unknown_port_read_is_all_ones(void **state)
{
    (void)state;
    struct pio_bus bus = { 0 };
    struct recorder a = { 0 };
    struct pio_device da = recorder_device(&a, "a", 0x3f8, 8);
    assert_int_equal(pio_bus_add(&bus, &da), 0);
    uint8_t data[4] = { 0, 0, 0, 0 };
    assert_false(pio_bus_access(&bus, 0x80, false, data, 4));
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(data[i], 0xff);
    assert_int_equal(a.nreads, 0);
}

static void test_pio_unknown_port_write_ignored(void **state)
{
    (void)state;
    struct pio_bus bus = { 0 };
    struct recorder a = { 0 };
    struct pio_device da = recorder_device(&a, "a", 0x3f8, 8);
    assert_int_equal(pio_bus_add(&bus, &da), 0);
    uint8_t data[2] = { 0x12, 0x34 };
    assert_false(pio_bus_access(&bus, 0x80, true, data, 2));
    assert_int_equal(data[0], 0x12);    /* a write's buffer is not clobbered */
    assert_int_equal(data[1], 0x34);
    assert_int_equal(a.nwrites, 0);
}

static void test_pio_empty_bus(void **state)
{
    (void)state;
    struct pio_bus bus = { 0 };
    uint8_t byte = 0;
    assert_false(pio_bus_access(&bus, 0x3f8, false, &byte, 1));
    assert_int_equal(byte, 0xff);
}

static void test_pio_device_without_read_handler(void **state)
{
    (void)state;
    struct pio_bus bus = { 0 };
    struct recorder a = { 0 };
    struct pio_device da = recorder_device(&a, "write-only", 0x501, 4);
    da.read = NULL;
    assert_int_equal(pio_bus_add(&bus, &da), 0);
    uint8_t data[4] = { 0, 0, 0, 0 };
    assert_true(pio_bus_access(&bus, 0x501, false, data, 4));
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(data[i], 0xff);
}

static void test_pio_device_without_write_handler(void **state)
{
    (void)state;
    struct pio_bus bus = { 0 };
    struct recorder a = { 0 };
    struct pio_device da = recorder_device(&a, "read-only", 0x60, 1);
    da.write = NULL;
    assert_int_equal(pio_bus_add(&bus, &da), 0);
    uint8_t byte = 1;
    assert_true(pio_bus_access(&bus, 0x60, true, &byte, 1));
    assert_int_equal(a.nwrites, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pio_add_disjoint_devices),
        cmocka_unit_test(test_pio_add_adjacent_devices),
        cmocka_unit_test(test_pio_add_overlap_rejected),
        cmocka_unit_test(test_pio_add_overlap_at_top_of_port_space),
        cmocka_unit_test(test_pio_add_full_bus_rejected),
        cmocka_unit_test(test_pio_write_dispatched_with_offset),
        cmocka_unit_test(test_pio_read_dispatched_with_offset),
        cmocka_unit_test(test_pio_last_port_of_device),
        cmocka_unit_test(test_pio_unknown_port_read_is_all_ones),
        cmocka_unit_test(test_pio_unknown_port_write_ignored),
        cmocka_unit_test(test_pio_empty_bus),
        cmocka_unit_test(test_pio_device_without_read_handler),
        cmocka_unit_test(test_pio_device_without_write_handler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
