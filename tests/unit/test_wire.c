/*
 * Unit tests for wire/: the latched-error byte buffers (buf.h) and the TLV
 * items built on them (tlv.h).  Writers grow and stay little-endian; a
 * failed write or a read past the end latches one error and every later
 * call is a no-op that returns zeros; a TLV walk stops cleanly at the end
 * and fails on a truncated header or body; the exact-length helpers refuse
 * any other length.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire/buf.h"
#include "wire/tlv.h"

/* ---- wbuf -------------------------------------------------------------- */

static void test_wbuf_starts_empty_and_grows(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w);
    assert_null(w.data);
    assert_int_equal(w.len, 0);
    assert_int_equal(w.cap, 0);

    for (uint32_t i = 0; i < 1000; i++)
        wbuf_put_u32(&w, i);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.len, 4000);
    assert_true(w.cap >= 4000);
    for (uint32_t i = 0; i < 1000; i++) {
        const uint8_t *p = w.data + 4 * i;
        assert_int_equal(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24, i);
    }

    /* One large write past the current capacity. */
    static uint8_t big[100000];
    memset(big, 0x5a, sizeof big);
    wbuf_put(&w, big, sizeof big);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.len, 4000 + sizeof big);
    assert_true(w.cap >= w.len);
    assert_memory_equal(w.data + 4000, big, sizeof big);
    wbuf_uninit(&w);
    assert_null(w.data);
    assert_int_equal(w.len, 0);
}

static void test_wbuf_reserve_returns_the_appended_span(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w);
    wbuf_put_u8(&w, 0x11);
    uint8_t *p = wbuf_reserve(&w, 3);
    assert_non_null(p);
    assert_ptr_equal(p, w.data + 1);
    memcpy(p, "\x22\x33\x44", 3);
    assert_int_equal(w.len, 4);
    assert_memory_equal(w.data, "\x11\x22\x33\x44", 4);

    /* Zero bytes: a valid no-op, even from a NULL source. */
    wbuf_put(&w, NULL, 0);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.len, 4);
    wbuf_uninit(&w);
}

static void test_wbuf_integers_are_little_endian(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w);
    wbuf_put_u8(&w, 0x01);
    wbuf_put_u16(&w, 0x0302);
    wbuf_put_u32(&w, 0x07060504);
    wbuf_put_u64(&w, 0x0f0e0d0c0b0a0908ULL);
    static const uint8_t golden[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                      0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
    assert_int_equal(w.err, 0);
    assert_int_equal(w.len, sizeof golden);
    assert_memory_equal(w.data, golden, sizeof golden);
    wbuf_uninit(&w);
}

static void test_wbuf_error_latches_until_reset(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w);
    wbuf_put_u32(&w, 0xdeadbeef);
    assert_null(wbuf_reserve(&w, SIZE_MAX));   /* cannot be satisfied */
    assert_int_equal(w.err, -ENOMEM);
    assert_int_equal(w.len, 4);

    /* Latched: later writes neither fail differently nor append. */
    assert_null(wbuf_reserve(&w, 1));
    wbuf_put_u64(&w, 1);
    wbuf_put(&w, "abc", 3);
    assert_int_equal(w.err, -ENOMEM);
    assert_int_equal(w.len, 4);

    /* Reset clears the error and the length, keeps the memory. */
    uint8_t *data = w.data;
    size_t cap = w.cap;
    wbuf_reset(&w);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.len, 0);
    assert_ptr_equal(w.data, data);
    assert_int_equal(w.cap, cap);
    wbuf_put_u16(&w, 0xbeef);
    assert_int_equal(w.len, 2);
    assert_memory_equal(w.data, "\xef\xbe", 2);
    wbuf_uninit(&w);
}

static void test_wbuf_overflowing_size_rejected(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w);
    wbuf_put_u8(&w, 1);
    assert_null(wbuf_reserve(&w, SIZE_MAX / 2));    /* len + n would pass SIZE_MAX / 2 */
    assert_int_equal(w.err, -ENOMEM);
    wbuf_uninit(&w);
}

/* ---- rbuf -------------------------------------------------------------- */

static void test_rbuf_integers_are_little_endian(void **state)
{
    (void)state;
    static const uint8_t bytes[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                     0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
    struct rbuf r;
    rbuf_init(&r, bytes, sizeof bytes);
    assert_int_equal(rbuf_left(&r), 15);
    assert_int_equal(rbuf_get_u8(&r), 0x01);
    assert_int_equal(rbuf_get_u16(&r), 0x0302);
    assert_int_equal(rbuf_get_u32(&r), 0x07060504);
    assert_true(rbuf_get_u64(&r) == 0x0f0e0d0c0b0a0908ULL);
    assert_int_equal(r.err, 0);
    assert_int_equal(rbuf_left(&r), 0);
}

static void test_rbuf_take_consumes_exactly(void **state)
{
    (void)state;
    static const uint8_t bytes[] = "abcdef";
    struct rbuf r;
    rbuf_init(&r, bytes, 6);
    const uint8_t *p = rbuf_take(&r, 2);
    assert_ptr_equal(p, bytes);
    assert_ptr_equal(rbuf_take(&r, 0), bytes + 2);
    assert_ptr_equal(rbuf_take(&r, 4), bytes + 2);
    assert_int_equal(rbuf_left(&r), 0);
    assert_non_null(rbuf_take(&r, 0));          /* empty take at the end is fine */
    assert_int_equal(r.err, 0);
}

static void test_rbuf_read_past_end_latches(void **state)
{
    (void)state;
    static const uint8_t bytes[] = { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
    struct rbuf r;
    rbuf_init(&r, bytes, sizeof bytes);
    assert_int_equal(rbuf_get_u16(&r), 0xbbaa);
    assert_int_equal(rbuf_get_u64(&r), 0);      /* 4 left, 8 wanted */
    assert_int_equal(r.err, -EPROTO);
    assert_int_equal(rbuf_left(&r), 0);

    /* Latched: even reads that would fit now fail and return zeros. */
    assert_int_equal(rbuf_get_u8(&r), 0);
    assert_int_equal(rbuf_get_u16(&r), 0);
    assert_int_equal(rbuf_get_u32(&r), 0);
    assert_null(rbuf_take(&r, 0));
    assert_null(rbuf_take(&r, 1));
    assert_int_equal(r.err, -EPROTO);
}

static void test_rbuf_get_zero_fills_on_error(void **state)
{
    (void)state;
    static const uint8_t bytes[] = { 1, 2, 3 };
    struct rbuf r;
    rbuf_init(&r, bytes, sizeof bytes);
    uint8_t out[8];
    memset(out, 0x77, sizeof out);
    rbuf_get(&r, out, sizeof out);
    static const uint8_t zeros[8] = { 0 };
    assert_memory_equal(out, zeros, sizeof out);
    assert_int_equal(r.err, -EPROTO);
}

static void test_rbuf_every_short_read_fails(void **state)
{
    (void)state;
    static const uint8_t bytes[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    for (size_t len = 0; len < 8; len++) {
        struct rbuf r;
        rbuf_init(&r, bytes, len);
        assert_int_equal(rbuf_get_u64(&r), 0);
        assert_int_equal(r.err, -EPROTO);
        rbuf_init(&r, bytes, len);
        rbuf_get_u32(&r);
        assert_int_equal(r.err, len < 4 ? -EPROTO : 0);
    }
    struct rbuf r;
    rbuf_init(&r, NULL, 0);
    assert_int_equal(rbuf_left(&r), 0);
    assert_int_equal(rbuf_get_u8(&r), 0);
    assert_int_equal(r.err, -EPROTO);
}

/* ---- tlv --------------------------------------------------------------- */

static void test_tlv_put_layout(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w);
    tlv_put(&w, 0x0102, TLV_CRITICAL, "xyz", 3);
    tlv_put_u64(&w, 7, 0, 0x1122334455667788ULL);
    tlv_put(&w, 9, 0, NULL, 0);
    static const uint8_t golden[] = {
        0x02, 0x01, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 'x', 'y', 'z',
        0x07, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00,
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
        0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    assert_int_equal(w.err, 0);
    assert_int_equal(w.len, sizeof golden);
    assert_memory_equal(w.data, golden, sizeof golden);
    wbuf_uninit(&w);
}

static void test_tlv_next_walks_items_then_ends(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w);
    tlv_put(&w, 1, TLV_CRITICAL, "hello", 5);
    tlv_put(&w, 2, 0, NULL, 0);
    tlv_put_u64(&w, 3, 0, 42);

    struct rbuf r;
    rbuf_init(&r, w.data, w.len);
    struct tlv_item it;
    assert_int_equal(tlv_next(&r, &it), 1);
    assert_int_equal(it.tag, 1);
    assert_int_equal(it.flags, TLV_CRITICAL);
    assert_int_equal(it.len, 5);
    assert_memory_equal(it.data, "hello", 5);
    assert_ptr_equal(it.data, w.data + 8);      /* points into the buffer */

    assert_int_equal(tlv_next(&r, &it), 1);
    assert_int_equal(it.tag, 2);
    assert_int_equal(it.len, 0);

    assert_int_equal(tlv_next(&r, &it), 1);
    assert_int_equal(it.tag, 3);
    uint64_t v = 0;
    assert_int_equal(tlv_get_u64(&it, &v), 0);
    assert_true(v == 42);

    assert_int_equal(tlv_next(&r, &it), 0);
    assert_int_equal(tlv_next(&r, &it), 0);     /* stays at the end */
    assert_int_equal(r.err, 0);

    rbuf_init(&r, NULL, 0);                     /* an empty body has no items */
    assert_int_equal(tlv_next(&r, &it), 0);
    wbuf_uninit(&w);
}

static void test_tlv_truncated_item_rejected_at_every_length(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w);
    tlv_put(&w, 5, 0, "0123456789", 10);
    for (size_t len = 1; len < w.len; len++) {
        struct rbuf r;
        rbuf_init(&r, w.data, len);
        struct tlv_item it;
        assert_int_equal(tlv_next(&r, &it), -EPROTO);
        assert_int_equal(r.err, -EPROTO);
        assert_int_equal(tlv_next(&r, &it), -EPROTO);   /* latched */
    }
    wbuf_uninit(&w);
}

static void test_tlv_huge_length_rejected(void **state)
{
    (void)state;
    static const uint8_t item[] = { 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 'a', 'b' };
    struct rbuf r;
    rbuf_init(&r, item, sizeof item);
    struct tlv_item it;
    assert_int_equal(tlv_next(&r, &it), -EPROTO);
}

static void test_tlv_error_before_walk_is_returned(void **state)
{
    (void)state;
    static const uint8_t bytes[] = { 1, 0, 0, 0, 0, 0, 0, 0 };
    struct rbuf r;
    rbuf_init(&r, bytes, sizeof bytes);
    rbuf_get_u64(&r);
    rbuf_get_u8(&r);                            /* latches -EPROTO */
    struct tlv_item it;
    assert_int_equal(tlv_next(&r, &it), -EPROTO);
}

static void test_tlv_copy_exact_checks_length(void **state)
{
    (void)state;
    uint8_t src[6] = { 1, 2, 3, 4, 5, 6 }, dst[6];
    struct tlv_item it = { .tag = 1, .len = 6, .data = src };
    memset(dst, 0, sizeof dst);
    assert_int_equal(tlv_copy_exact(&it, dst, 6), 0);
    assert_memory_equal(dst, src, 6);

    memset(dst, 0xee, sizeof dst);
    assert_int_equal(tlv_copy_exact(&it, dst, 5), -EPROTO);
    it.len = 5;
    assert_int_equal(tlv_copy_exact(&it, dst, 6), -EPROTO);
    static const uint8_t untouched[6] = { 0xee, 0xee, 0xee, 0xee, 0xee, 0xee };
    assert_memory_equal(dst, untouched, 6);
}

static void test_tlv_get_u64_checks_length(void **state)
{
    (void)state;
    static const uint8_t bytes[9] = { 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0xff };
    struct tlv_item it = { .tag = 1, .len = 8, .data = bytes };
    uint64_t v = 0;
    assert_int_equal(tlv_get_u64(&it, &v), 0);
    assert_true(v == 0x0102030405060708ULL);

    const uint32_t bad[] = { 0, 4, 7, 9 };
    for (unsigned i = 0; i < 4; i++) {
        it.len = bad[i];
        v = 0x1234;
        assert_int_equal(tlv_get_u64(&it, &v), -EPROTO);
        assert_true(v == 0x1234);               /* untouched */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wbuf_starts_empty_and_grows),
        cmocka_unit_test(test_wbuf_reserve_returns_the_appended_span),
        cmocka_unit_test(test_wbuf_integers_are_little_endian),
        cmocka_unit_test(test_wbuf_error_latches_until_reset),
        cmocka_unit_test(test_wbuf_overflowing_size_rejected),
        cmocka_unit_test(test_rbuf_integers_are_little_endian),
        cmocka_unit_test(test_rbuf_take_consumes_exactly),
        cmocka_unit_test(test_rbuf_read_past_end_latches),
        cmocka_unit_test(test_rbuf_get_zero_fills_on_error),
        cmocka_unit_test(test_rbuf_every_short_read_fails),
        cmocka_unit_test(test_tlv_put_layout),
        cmocka_unit_test(test_tlv_next_walks_items_then_ends),
        cmocka_unit_test(test_tlv_truncated_item_rejected_at_every_length),
        cmocka_unit_test(test_tlv_huge_length_rejected),
        cmocka_unit_test(test_tlv_error_before_walk_is_returned),
        cmocka_unit_test(test_tlv_copy_exact_checks_length),
        cmocka_unit_test(test_tlv_get_u64_checks_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
