/*
 * Unit tests for the virtio-mmio register file (dev/virtio_mmio.h): the
 * identity registers, feature negotiation (FEATURES_OK refused for
 * unoffered features or without VERSION_1), queue set-up (registers
 * locked while ready, bad rings set DEVICE_NEEDS_RESET), notify, interrupt
 * status and ack, config space bounds, reset, and the checks a migrated
 * transport state must pass.  The device below is a recorder of the ops.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dev/virtio_mmio.h"

#define RAM_BYTES (1u << 20)

struct fake {
    struct guest_memory mem;
    struct vq_guest g;
    struct virtio_mmio t;
    unsigned notifies, resets, changes, irqs;
    uint32_t last_notify;
};

static void op_notify(void *o, uint32_t q) { struct fake *f = o; f->notifies++; f->last_notify = q; }
static void op_reset(void *o) { ((struct fake *)o)->resets++; }
static void op_changed(void *o) { ((struct fake *)o)->changes++; }
static void op_irq(void *o) { ((struct fake *)o)->irqs++; }
static void op_config(void *o, uint32_t off, uint8_t *data, unsigned size)
{
    (void)o;
    static const uint8_t cfg[10] = { 0x52, 0x54, 0, 1, 2, 3, 1, 0, 1, 0 };
    memcpy(data, cfg + off, size);
}

static const struct virtio_mmio_ops ops = { op_notify, op_reset, op_changed, op_config, op_irq };

static int setup(void **state)
{
    struct fake *f = calloc(1, sizeof *f);
    f->mem = (struct guest_memory){ .memfd = -1, .host = calloc(1, RAM_BYTES), .bytes = RAM_BYTES };
    f->g = (struct vq_guest){ .mem = &f->mem };
    virtio_mmio_init(&f->t, 1, 1ULL << 5, 3, 10, &f->g, &ops, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fake *f = *state;
    free(f->mem.host);
    free(f);
    return 0;
}

static uint32_t rd(struct fake *f, uint64_t off)
{
    uint32_t v;
    virtio_mmio_read(&f->t, off, (uint8_t *)&v, 4);
    return v;
}

static void wr(struct fake *f, uint64_t off, uint32_t v)
{
    virtio_mmio_write(&f->t, off, (const uint8_t *)&v, 4);
}

static void test_identity(void **state)
{
    struct fake *f = *state;
    assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
    assert_int_equal(rd(f, VIRTIO_MMIO_VERSION_REG), 2);
    assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), 1);
    assert_int_equal(rd(f, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
    assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
}

static void negotiate(struct fake *f, uint64_t features)
{
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                              VIRTIO_STATUS_FEATURES_OK);
}

static void test_features(void **state)
{
    struct fake *f = *state;
    wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 1u << 5);
    wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 1);    /* VERSION_1 */
    wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
    assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 0);

    negotiate(f, (1ULL << 32) | (1ULL << 5));
    assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    assert_int_equal(f->t.s.driver_features, (1ULL << 32) | (1ULL << 5));
    /* Features are frozen after FEATURES_OK. */
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 0);
    assert_int_equal(f->t.s.driver_features, (1ULL << 32) | (1ULL << 5));
    wr(f, VIRTIO_MMIO_STATUS, 0x0f);
    assert_true(virtio_mmio_live(&f->t));
}

static void test_features_without_version_1_refused(void **state)
{
    struct fake *f = *state;
    negotiate(f, 1ULL << 5);
    assert_false(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    wr(f, VIRTIO_MMIO_STATUS, 0x0f);    /* DRIVER_OK without FEATURES_OK */
    assert_false(virtio_mmio_live(&f->t));
}

static void test_unoffered_feature_refused(void **state)
{
    struct fake *f = *state;
    negotiate(f, (1ULL << 32) | (1ULL << 0));  /* CSUM: not offered */
    assert_false(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
}

static void setup_queue(struct fake *f, uint32_t q, uint32_t num, uint64_t desc, uint64_t avail,
                        uint64_t used)
{
    wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
    wr(f, VIRTIO_MMIO_QUEUE_NUM, num);
    wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
    wr(f, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
    wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
    wr(f, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
    wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
}

static void test_queue_setup(void **state)
{
    struct fake *f = *state;
    negotiate(f, (1ULL << 32));
    wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
    wr(f, VIRTIO_MMIO_QUEUE_SEL, 3);
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);     /* no such queue */

    setup_queue(f, 1, 128, 0x1000, 0x2000, 0x3000);
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
    const struct virtq *vq = &f->t.s.queues[1];
    assert_true(vq->ready);
    assert_int_equal(vq->num, 128);
    assert_int_equal(vq->desc_gpa, 0x1000);
    assert_int_equal(vq->used_gpa, 0x3000);
    /* Locked while ready. */
    wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
    wr(f, VIRTIO_MMIO_QUEUE_NUM, 16);
    assert_int_equal(vq->desc_gpa, 0x1000);
    assert_int_equal(vq->num, 128);
    assert_false(f->t.s.status & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_bad_queue_needs_reset(void **state)
{
    struct fake *f = *state;
    negotiate(f, (1ULL << 32));
    wr(f, VIRTIO_MMIO_STATUS, 0x0f);
    unsigned irqs = f->irqs;
    setup_queue(f, 0, 256, 0xfff00000ULL, 0x2000, 0x3000);     /* outside RAM */
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    assert_false(virtio_mmio_live(&f->t));
    assert_int_equal(f->irqs, irqs + 1);
    assert_true(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
    /* Reset clears it and the queues. */
    wr(f, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(f->resets, 1);
    assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    assert_int_equal(f->t.s.driver_features, 0);
}

static void test_misaligned_and_odd_sizes(void **state)
{
    struct fake *f = *state;
    setup_queue(f, 0, 100, 0x1000, 0x2000, 0x3000);     /* not a power of 2 */
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
    wr(f, VIRTIO_MMIO_STATUS, 0);
    setup_queue(f, 0, 256, 0x1008, 0x2000, 0x3000);     /* desc misaligned */
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
    wr(f, VIRTIO_MMIO_STATUS, 0);
    setup_queue(f, 0, 0x10000, 0x1000, 0x2000, 0x3000); /* over 16 bits */
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
}

static void test_notify_and_interrupts(void **state)
{
    struct fake *f = *state;
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
    assert_int_equal(f->notifies, 1);
    assert_int_equal(f->last_notify, 2);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 7);                 /* no such queue */
    assert_int_equal(f->notifies, 1);

    virtio_mmio_raise(&f->t, VIRTIO_INT_VRING);
    virtio_mmio_config_changed(&f->t);
    assert_int_equal(f->irqs, 2);
    assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 3);
    assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), 1);
    wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_VRING);
    assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 2);
}

static void test_config_space(void **state)
{
    struct fake *f = *state;
    uint8_t b[8];
    virtio_mmio_read(&f->t, VIRTIO_MMIO_CONFIG, b, 1);
    assert_int_equal(b[0], 0x52);
    virtio_mmio_read(&f->t, VIRTIO_MMIO_CONFIG + 6, b, 2);
    assert_int_equal(b[0] | b[1] << 8, 1);
    virtio_mmio_read(&f->t, VIRTIO_MMIO_CONFIG + 4, b, 4);
    assert_memory_equal(b, "\x02\x03\x01\x00", 4);
    /* Past the end: zeros, and the device is not asked. */
    memset(b, 0xaa, sizeof b);
    virtio_mmio_read(&f->t, VIRTIO_MMIO_CONFIG + 8, b, 4);
    assert_memory_equal(b, "\0\0\0\0", 4);
    virtio_mmio_read(&f->t, 0xffc, b, 4);
    assert_memory_equal(b, "\0\0\0\0", 4);
}

static void test_narrow_register_access_ignored(void **state)
{
    struct fake *f = *state;
    uint8_t b[2] = { 0xff, 0xff };
    virtio_mmio_read(&f->t, VIRTIO_MMIO_MAGIC_VALUE, b, 2);
    assert_int_equal(b[0] | b[1], 0);
    uint8_t one = 1;
    virtio_mmio_write(&f->t, VIRTIO_MMIO_STATUS, &one, 1);
    assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
    wr(f, VIRTIO_MMIO_STATUS + 2, 1);                   /* misaligned */
    assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
}

static void test_state_check(void **state)
{
    struct fake *f = *state;
    char msg[160];
    struct virtio_mmio_state s = f->t.s;
    assert_int_equal(virtio_mmio_state_check(&f->t, &s, msg, sizeof msg), 0);

    s.status = 0x10;
    assert_int_equal(virtio_mmio_state_check(&f->t, &s, msg, sizeof msg), -EINVAL);
    s = f->t.s;
    s.driver_features = 1ULL << 0;
    assert_int_equal(virtio_mmio_state_check(&f->t, &s, msg, sizeof msg), -EINVAL);
    s = f->t.s;
    s.interrupt_status = 4;
    assert_int_equal(virtio_mmio_state_check(&f->t, &s, msg, sizeof msg), -EINVAL);
    s = f->t.s;
    s.queues[0] = (struct virtq){ .num = 256, .ready = true, .desc_gpa = RAM_BYTES,
                                  .avail_gpa = 0x2000, .used_gpa = 0x3000 };
    assert_int_equal(virtio_mmio_state_check(&f->t, &s, msg, sizeof msg), -EINVAL);
    s.queues[0].desc_gpa = 0x1000;
    assert_int_equal(virtio_mmio_state_check(&f->t, &s, msg, sizeof msg), 0);
    s.queues[0].last_avail_idx = 300;       /* 300 in flight in a ring of 256 */
    assert_int_equal(virtio_mmio_state_check(&f->t, &s, msg, sizeof msg), -EINVAL);
    s.queues[0].used_idx = 290;
    assert_int_equal(virtio_mmio_state_check(&f->t, &s, msg, sizeof msg), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_identity),
        T(test_features),
        T(test_features_without_version_1_refused),
        T(test_unoffered_feature_refused),
        T(test_queue_setup),
        T(test_bad_queue_needs_reset),
        T(test_misaligned_and_odd_sizes),
        T(test_notify_and_interrupts),
        T(test_config_space),
        T(test_narrow_register_access_ignored),
        T(test_state_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
