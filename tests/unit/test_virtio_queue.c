/*
 * Unit tests for split virtqueues (dev/virtqueue.h) against a fake guest:
 * 1 MiB of malloc'd "RAM" with the rings at fixed addresses.  Chains are
 * walked and bounded; every hostile descriptor (loops, indices or
 * addresses out of range, wrapping lengths, indirect, readable after
 * writable) is refused with -EINVAL; the used ring is written, published
 * and marked dirty.
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

#include "dev/virtqueue.h"

#define RAM_BYTES (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define BUF 0x10000
#define NUM 8

struct fake {
    struct guest_memory mem;
    struct vq_guest g;
    struct virtq vq;
    uint64_t dirty_lo, dirty_hi;    /* union of dirty ranges */
    unsigned ndirty;
};

static void record_dirty(void *opaque, uint64_t gpa, uint64_t len)
{
    struct fake *f = opaque;
    if (!f->ndirty || gpa < f->dirty_lo)
        f->dirty_lo = gpa;
    if (!f->ndirty || gpa + len > f->dirty_hi)
        f->dirty_hi = gpa + len;
    f->ndirty++;
}

static int setup(void **state)
{
    struct fake *f = calloc(1, sizeof *f);
    f->mem = (struct guest_memory){ .memfd = -1, .host = calloc(1, RAM_BYTES), .bytes = RAM_BYTES };
    f->g = (struct vq_guest){ .mem = &f->mem, .mark_dirty = record_dirty, .opaque = f };
    virtq_reset(&f->vq, NUM);
    f->vq.desc_gpa = DESC;
    f->vq.avail_gpa = AVAIL;
    f->vq.used_gpa = USED;
    assert_int_equal(virtq_check(&f->vq, &f->g), 0);
    f->vq.ready = true;
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

static void set_desc(struct fake *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t *d = f->mem.host + DESC + 16 * i;
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

/* Makes head available as the next entry. */
static void offer(struct fake *f, uint16_t head)
{
    uint16_t *avail = (uint16_t *)(f->mem.host + AVAIL);
    avail[2 + avail[1] % NUM] = head;
    avail[1]++;
}

static void test_empty_ring_pops_nothing(void **state)
{
    struct fake *f = *state;
    struct vq_chain c;
    assert_int_equal(virtq_pop(&f->vq, &f->g, &c), 0);
    assert_false(virtq_has_avail(&f->vq, &f->g));
}

static void test_chain_of_readable_and_writable(void **state)
{
    struct fake *f = *state;
    set_desc(f, 3, BUF, 12, VIRTQ_DESC_F_NEXT, 5);
    set_desc(f, 5, BUF + 100, 50, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 1, BUF + 1000, 200, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 3);
    assert_true(virtq_has_avail(&f->vq, &f->g));
    struct vq_chain c;
    assert_int_equal(virtq_pop(&f->vq, &f->g, &c), 1);
    assert_int_equal(c.head, 3);
    assert_int_equal(c.nsegs, 3);
    assert_int_equal(c.out_bytes, 62);
    assert_int_equal(c.in_bytes, 200);
    assert_ptr_equal(c.segs[1].host, f->mem.host + BUF + 100);
    assert_true(c.segs[2].writable);
    assert_int_equal(f->vq.last_avail_idx, 1);
    assert_int_equal(virtq_pop(&f->vq, &f->g, &c), 0);

    /* unpop gives it back */
    virtq_unpop(&f->vq);
    assert_int_equal(virtq_pop(&f->vq, &f->g, &c), 1);
    assert_int_equal(c.head, 3);
}

static void expect_bad(struct fake *f)
{
    struct vq_chain c;
    uint16_t before = f->vq.last_avail_idx;
    assert_int_equal(virtq_pop(&f->vq, &f->g, &c), -EINVAL);
    assert_int_equal(f->vq.last_avail_idx, before);
}

static void test_loop_is_refused(void **state)
{
    struct fake *f = *state;
    set_desc(f, 0, BUF, 10, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 1, BUF, 10, VIRTQ_DESC_F_NEXT, 0);
    offer(f, 0);
    expect_bad(f);
}

static void test_self_loop_is_refused(void **state)
{
    struct fake *f = *state;
    set_desc(f, 2, BUF, 10, VIRTQ_DESC_F_NEXT, 2);
    offer(f, 2);
    expect_bad(f);
}

static void test_next_out_of_range(void **state)
{
    struct fake *f = *state;
    set_desc(f, 0, BUF, 10, VIRTQ_DESC_F_NEXT, NUM);
    offer(f, 0);
    expect_bad(f);
}

static void test_head_out_of_range(void **state)
{
    struct fake *f = *state;
    offer(f, 0xffff);
    expect_bad(f);
}

static void test_address_outside_ram(void **state)
{
    struct fake *f = *state;
    set_desc(f, 0, RAM_BYTES - 4, 8, 0, 0);     /* straddles the end */
    offer(f, 0);
    expect_bad(f);
}

static void test_wrapping_address(void **state)
{
    struct fake *f = *state;
    set_desc(f, 0, UINT64_MAX - 3, 16, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0);
    expect_bad(f);
}

static void test_huge_length(void **state)
{
    struct fake *f = *state;
    set_desc(f, 0, BUF, UINT32_MAX, 0, 0);
    offer(f, 0);
    expect_bad(f);
}

static void test_indirect_is_refused(void **state)
{
    struct fake *f = *state;
    set_desc(f, 0, BUF, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    expect_bad(f);
}

static void test_readable_after_writable(void **state)
{
    struct fake *f = *state;
    set_desc(f, 0, BUF, 32, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 1, BUF + 32, 32, 0, 0);
    offer(f, 0);
    expect_bad(f);
}

static void test_avail_index_too_far_ahead(void **state)
{
    struct fake *f = *state;
    uint16_t *avail = (uint16_t *)(f->mem.host + AVAIL);
    avail[1] = NUM + 1;     /* claims 9 buffers in a ring of 8 */
    expect_bad(f);
}

static void test_push_writes_used_ring_and_marks_dirty(void **state)
{
    struct fake *f = *state;
    for (uint16_t i = 0; i < NUM + 2; i++)      /* wraps the ring */
        assert_int_equal(virtq_push(&f->vq, &f->g, i % NUM, 100 + i), 0);
    uint8_t *used = f->mem.host + USED;
    uint16_t idx;
    memcpy(&idx, used + 2, 2);
    assert_int_equal(idx, NUM + 2);
    uint32_t id, len;
    memcpy(&id, used + 4 + 8 * 1, 4);           /* slot 1: the 10th push (i = 9) */
    memcpy(&len, used + 4 + 8 * 1 + 4, 4);
    assert_int_equal(id, 9 % NUM);
    assert_int_equal(len, 109);
    assert_true(f->ndirty > 0);
    assert_true(f->dirty_lo >= USED && f->dirty_hi <= USED + 6 + 8 * NUM);
}

static void test_check_rejects_bad_rings(void **state)
{
    struct fake *f = *state;
    struct virtq q = f->vq;
    q.num = 6;                      /* not a power of 2 */
    assert_int_equal(virtq_check(&q, &f->g), -EINVAL);
    q.num = 0;
    assert_int_equal(virtq_check(&q, &f->g), -EINVAL);
    q.num = 512;                    /* over QueueNumMax */
    assert_int_equal(virtq_check(&q, &f->g), -EINVAL);
    q = f->vq;
    q.desc_gpa = DESC + 8;          /* descriptors are 16-aligned */
    assert_int_equal(virtq_check(&q, &f->g), -EINVAL);
    q = f->vq;
    q.used_gpa = USED + 2;          /* used ring is 4-aligned */
    assert_int_equal(virtq_check(&q, &f->g), -EINVAL);
    q = f->vq;
    q.avail_gpa = RAM_BYTES - 4;    /* runs off the end of RAM */
    assert_int_equal(virtq_check(&q, &f->g), -EINVAL);
    q = f->vq;
    q.used_gpa = UINT64_MAX - 3;
    assert_int_equal(virtq_check(&q, &f->g), -EINVAL);
}

static void test_chain_read_write_and_iov(void **state)
{
    struct fake *f = *state;
    set_desc(f, 0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 1, BUF + 64, 4, VIRTQ_DESC_F_NEXT, 2);
    set_desc(f, 2, BUF + 128, 3, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
    set_desc(f, 3, BUF + 256, 5, VIRTQ_DESC_F_WRITE, 0);
    memcpy(f->mem.host + BUF, "abcd", 4);
    memcpy(f->mem.host + BUF + 64, "efgh", 4);
    offer(f, 0);
    struct vq_chain c;
    assert_int_equal(virtq_pop(&f->vq, &f->g, &c), 1);

    char out[6] = { 0 };
    assert_int_equal(vq_chain_read(&c, 2, out, 5), 0);
    assert_string_equal(out, "cdefg");
    assert_int_equal(vq_chain_read(&c, 4, out, 5), -EINVAL);  /* only 8 readable bytes */

    f->ndirty = 0;
    assert_int_equal(vq_chain_write(&c, &f->g, 1, "WXYZ", 4), 0);
    assert_memory_equal(f->mem.host + BUF + 129, "WX", 2);
    assert_memory_equal(f->mem.host + BUF + 256, "YZ", 2);
    assert_int_equal(f->ndirty, 2);
    assert_int_equal(f->dirty_lo, BUF + 129);
    assert_int_equal(f->dirty_hi, BUF + 258);
    assert_int_equal(vq_chain_write(&c, &f->g, 6, "123", 3), -EINVAL);  /* 8 writable bytes */

    struct iovec iov[4];
    assert_int_equal(vq_chain_iov(&c, false, 5, iov, 4), 1);
    assert_ptr_equal(iov[0].iov_base, f->mem.host + BUF + 65);
    assert_int_equal(iov[0].iov_len, 3);
    assert_int_equal(vq_chain_iov(&c, true, 0, iov, 4), 2);
    assert_int_equal(iov[1].iov_len, 5);
}

static void test_interrupt_suppression_flag(void **state)
{
    struct fake *f = *state;
    assert_true(virtq_wants_interrupt(&f->vq, &f->g));
    uint16_t *avail = (uint16_t *)(f->mem.host + AVAIL);
    avail[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
    assert_false(virtq_wants_interrupt(&f->vq, &f->g));
}

static void test_not_ready_queue_pops_nothing(void **state)
{
    struct fake *f = *state;
    f->vq.ready = false;
    offer(f, 0);
    struct vq_chain c;
    assert_int_equal(virtq_pop(&f->vq, &f->g, &c), -EINVAL);
    assert_false(virtq_has_avail(&f->vq, &f->g));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_empty_ring_pops_nothing),
        T(test_chain_of_readable_and_writable),
        T(test_loop_is_refused),
        T(test_self_loop_is_refused),
        T(test_next_out_of_range),
        T(test_head_out_of_range),
        T(test_address_outside_ram),
        T(test_wrapping_address),
        T(test_huge_length),
        T(test_indirect_is_refused),
        T(test_readable_after_writable),
        T(test_avail_index_too_far_ahead),
        T(test_push_writes_used_ring_and_marks_dirty),
        T(test_check_rejects_bad_rings),
        T(test_chain_read_write_and_iov),
        T(test_interrupt_suppression_flag),
        T(test_not_ready_queue_pops_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
