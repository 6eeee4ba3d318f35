/*
 * Unit tests for the codec half of vmm/x86/cpustate.h (no /dev/kvm): a
 * synthetic vCPU and VM state survive encode -> decode unchanged; the MSR
 * item has the documented little-endian layout; and decode, which reads
 * hostile bytes, rejects every truncation, unknown critical tags, wrong
 * lengths, missing and duplicate items, too many or unknown MSRs, and bad
 * xsave sizes, bad PIT modes -- leaving the caller's struct untouched --
 * while skipping unknown optional tags.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/x86/cpustate.h"
#include "wire/tlv.h"

static void fill_pattern(void *p, size_t n, uint8_t seed)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed + i * 7);
}

/* A state with every byte non-trivial, the way save would leave it. */
static void make_vcpu_state(struct x86_vcpu_state *s, uint32_t xsave_bytes)
{
    x86_vcpu_state_init(s);
    fill_pattern(&s->regs, sizeof s->regs, 1);
    fill_pattern(&s->sregs, sizeof s->sregs, 2);
    s->xsave = malloc(xsave_bytes);
    assert_non_null(s->xsave);
    s->xsave_bytes = xsave_bytes;
    fill_pattern(s->xsave, xsave_bytes, 3);
    fill_pattern(&s->xcrs, sizeof s->xcrs, 4);
    s->xcrs.nr_xcrs = 1;
    fill_pattern(&s->lapic, sizeof s->lapic, 5);
    fill_pattern(&s->events, sizeof s->events, 6);
    s->mp_state.mp_state = KVM_MP_STATE_HALTED;
    fill_pattern(&s->debugregs, sizeof s->debugregs, 7);
    s->nmsrs = x86_saved_msr_count;
    for (uint32_t i = 0; i < s->nmsrs; i++) {
        s->msrs[i].index = x86_saved_msr_list[i];
        s->msrs[i].value = 0x0123456789abcdefULL ^ ((uint64_t)i << 40);
    }
}

static void make_vm_state(struct x86_vm_state *s)
{
    fill_pattern(s, sizeof *s, 9);
    s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
    s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
    s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
    s->pit.flags = KVM_PIT_FLAGS_HPET_LEGACY;
    for (int i = 0; i < 3; i++)
        s->pit.channels[i].mode = (uint8_t)(i + 1);
}

static void assert_vcpu_equal(const struct x86_vcpu_state *a, const struct x86_vcpu_state *b)
{
    assert_memory_equal(&a->regs, &b->regs, sizeof a->regs);
    assert_memory_equal(&a->sregs, &b->sregs, sizeof a->sregs);
    assert_int_equal(a->xsave_bytes, b->xsave_bytes);
    assert_memory_equal(a->xsave, b->xsave, a->xsave_bytes);
    assert_memory_equal(&a->xcrs, &b->xcrs, sizeof a->xcrs);
    assert_memory_equal(&a->lapic, &b->lapic, sizeof a->lapic);
    assert_memory_equal(&a->events, &b->events, sizeof a->events);
    assert_int_equal(a->mp_state.mp_state, b->mp_state.mp_state);
    assert_memory_equal(&a->debugregs, &b->debugregs, sizeof a->debugregs);
    assert_int_equal(a->nmsrs, b->nmsrs);
    for (uint32_t i = 0; i < a->nmsrs; i++) {
        assert_int_equal(a->msrs[i].index, b->msrs[i].index);
        assert_int_equal(a->msrs[i].value, b->msrs[i].value);
    }
}

/* Decodes len bytes into a state that already holds `canary` values and
 * returns decode's code; on failure checks err and that nothing changed. */
static int decode_vcpu_bytes(const uint8_t *data, size_t len, struct gw_error *err)
{
    struct x86_vcpu_state s;
    make_vcpu_state(&s, 4096);
    struct x86_vcpu_state before;
    make_vcpu_state(&before, 4096);
    struct rbuf r;
    rbuf_init(&r, data, len);
    gw_error_clear(err);
    int rc = x86_vcpu_state_decode(&r, &s, err);
    if (rc) {
        assert_int_equal(err->code, rc);
        assert_true(err->msg[0] != '\0');
        assert_vcpu_equal(&s, &before);
    }
    x86_vcpu_state_uninit(&s);
    x86_vcpu_state_uninit(&before);
    return rc;
}

static void expect_vcpu_rejected(const struct wbuf *w, const char *phrase)
{
    struct gw_error err;
    assert_int_equal(w->err, 0);
    assert_int_equal(decode_vcpu_bytes(w->data, w->len, &err), -EPROTO);
    if (!strstr(err.msg, phrase))
        fail_msg("message '%s' lacks '%s'", err.msg, phrase);
}

/* Encodes s into out, but with item `tag` replaced by (flags, data, len),
 * dropped when data is NULL and len 0, or written twice when dup is set. */
static void encode_vcpu_with(const struct x86_vcpu_state *s, struct wbuf *out, uint16_t tag,
                             uint16_t flags, const void *data, uint32_t len, int dup)
{
    struct wbuf w;
    wbuf_init(&w);
    x86_vcpu_state_encode(s, &w);
    assert_int_equal(w.err, 0);
    struct rbuf r;
    rbuf_init(&r, w.data, w.len);
    struct tlv_item it;
    while (tlv_next(&r, &it) == 1) {
        if (it.tag != tag) {
            tlv_put(out, it.tag, it.flags, it.data, it.len);
            continue;
        }
        if (dup) {
            tlv_put(out, it.tag, it.flags, it.data, it.len);
            tlv_put(out, it.tag, it.flags, it.data, it.len);
        } else if (data || len) {
            tlv_put(out, tag, flags, data, len);
        }                   /* else: dropped */
    }
    wbuf_uninit(&w);
}

static void test_vcpu_state_round_trips_unchanged(void **state)
{
    (void)state;
    const uint32_t sizes[] = { 4096, 4096 + 64, 11008 };
    for (unsigned k = 0; k < 3; k++) {
        struct x86_vcpu_state a, b;
        make_vcpu_state(&a, sizes[k]);
        x86_vcpu_state_init(&b);
        struct wbuf w;
        wbuf_init(&w);
        x86_vcpu_state_encode(&a, &w);
        assert_int_equal(w.err, 0);
        struct rbuf r;
        rbuf_init(&r, w.data, w.len);
        struct gw_error err = { 0 };
        assert_int_equal(x86_vcpu_state_decode(&r, &b, &err), 0);
        assert_vcpu_equal(&a, &b);
        wbuf_uninit(&w);
        x86_vcpu_state_uninit(&a);
        x86_vcpu_state_uninit(&b);
    }
}

static void test_vcpu_decode_replaces_previous_xsave(void **state)
{
    (void)state;
    struct x86_vcpu_state a, b;
    make_vcpu_state(&a, 8192);
    make_vcpu_state(&b, 4096);      /* decode frees this one's xsave */
    struct wbuf w;
    wbuf_init(&w);
    x86_vcpu_state_encode(&a, &w);
    struct rbuf r;
    rbuf_init(&r, w.data, w.len);
    assert_int_equal(x86_vcpu_state_decode(&r, &b, NULL), 0);
    assert_vcpu_equal(&a, &b);
    wbuf_uninit(&w);
    x86_vcpu_state_uninit(&a);
    x86_vcpu_state_uninit(&b);
}

static void test_msr_item_is_count_then_index_value_pairs(void **state)
{
    (void)state;
    struct x86_vcpu_state s;
    make_vcpu_state(&s, 4096);
    s.nmsrs = 2;
    s.msrs[0].index = 0xc0000082;
    s.msrs[0].value = 0xffffffff81000000ULL;
    s.msrs[1].index = 0x10;
    s.msrs[1].value = 0x1122334455667788ULL;
    struct wbuf w;
    wbuf_init(&w);
    x86_vcpu_state_encode(&s, &w);

    static const uint8_t golden[] = {
        0x0a, 0x00, 0x01, 0x00, 0x1c, 0x00, 0x00, 0x00,     /* tag 10, critical, 28 bytes */
        0x02, 0x00, 0x00, 0x00,                             /* 2 MSRs */
        0x82, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x81, 0xff, 0xff, 0xff, 0xff,
        0x10, 0x00, 0x00, 0x00, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
    };
    assert_true(w.len >= sizeof golden);
    assert_memory_equal(w.data + w.len - sizeof golden, golden, sizeof golden);

    static const uint8_t format[] = { 0x01, 0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00,
                                      0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
    assert_memory_equal(w.data, format, sizeof format);
    wbuf_uninit(&w);
    x86_vcpu_state_uninit(&s);
}

static void test_vcpu_truncated_input_rejected_at_every_length(void **state)
{
    (void)state;
    struct x86_vcpu_state s;
    make_vcpu_state(&s, 4096);
    struct wbuf w;
    wbuf_init(&w);
    x86_vcpu_state_encode(&s, &w);
    for (size_t len = 0; len < w.len; len++) {
        /* A private copy of exactly len bytes lets ASan see any overread. */
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, w.data, len);
        struct gw_error err;
        if (decode_vcpu_bytes(copy, len, &err) != -EPROTO)
            fail_msg("a %zu-byte prefix of %zu was accepted", len, w.len);
        free(copy);
    }
    struct gw_error err;
    assert_int_equal(decode_vcpu_bytes(w.data, w.len, &err), 0);
    wbuf_uninit(&w);
    x86_vcpu_state_uninit(&s);
}

static void test_vcpu_unknown_optional_tag_skipped(void **state)
{
    (void)state;
    struct x86_vcpu_state a, b;
    make_vcpu_state(&a, 4096);
    x86_vcpu_state_init(&b);
    struct wbuf w;
    wbuf_init(&w);
    tlv_put(&w, 200, 0, "future", 6);
    x86_vcpu_state_encode(&a, &w);
    tlv_put(&w, 31, 0, NULL, 0);
    struct rbuf r;
    rbuf_init(&r, w.data, w.len);
    struct gw_error err = { 0 };
    assert_int_equal(x86_vcpu_state_decode(&r, &b, &err), 0);
    assert_vcpu_equal(&a, &b);
    wbuf_uninit(&w);
    x86_vcpu_state_uninit(&a);
    x86_vcpu_state_uninit(&b);
}

static void test_vcpu_unknown_critical_tag_rejected(void **state)
{
    (void)state;
    struct x86_vcpu_state s;
    make_vcpu_state(&s, 4096);
    struct wbuf w;
    wbuf_init(&w);
    x86_vcpu_state_encode(&s, &w);
    tlv_put(&w, 200, TLV_CRITICAL, "future", 6);
    expect_vcpu_rejected(&w, "unknown critical item (tag 200)");
    wbuf_uninit(&w);
    x86_vcpu_state_uninit(&s);
}

static void test_vcpu_wrong_item_length_rejected(void **state)
{
    (void)state;
    struct x86_vcpu_state s;
    make_vcpu_state(&s, 4096);
    static const struct { uint16_t tag; uint32_t len; const char *phrase; } cases[] = {
        { X86_VCPU_TAG_REGS, sizeof(struct kvm_regs) - 1, "regs is 143 bytes, expected 144" },
        { X86_VCPU_TAG_REGS, sizeof(struct kvm_regs) + 8, "regs is 152 bytes" },
        { X86_VCPU_TAG_SREGS, 0, "sregs is 0 bytes" },
        { X86_VCPU_TAG_LAPIC, 1023, "lapic is 1023 bytes" },
        { X86_VCPU_TAG_MP_STATE, 8, "mp_state is 8 bytes" },
        { X86_VCPU_TAG_FORMAT, 4, "format item is 4 bytes" },
        { X86_VCPU_TAG_XSAVE, 4095, "xsave item is 4095 bytes" },
        { X86_VCPU_TAG_XSAVE, (64u << 10) + 1, "xsave item is 65537 bytes" },
        { X86_VCPU_TAG_MSRS, 3, "msrs item is 3 bytes" },
    };
    uint8_t *junk = calloc(1, (64u << 10) + 1);
    assert_non_null(junk);
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct wbuf w;
        wbuf_init(&w);
        encode_vcpu_with(&s, &w, cases[i].tag, TLV_CRITICAL, junk, cases[i].len, 0);
        expect_vcpu_rejected(&w, cases[i].phrase);
        wbuf_uninit(&w);
    }
    free(junk);
    x86_vcpu_state_uninit(&s);
}

static void test_vcpu_missing_item_rejected(void **state)
{
    (void)state;
    struct x86_vcpu_state s;
    make_vcpu_state(&s, 4096);
    static const struct { uint16_t tag; const char *phrase; } cases[] = {
        { X86_VCPU_TAG_REGS, "lacks its regs item" },
        { X86_VCPU_TAG_SREGS, "lacks its sregs item" },
        { X86_VCPU_TAG_XSAVE, "lacks its xsave item" },
        { X86_VCPU_TAG_MSRS, "lacks its msrs item" },
        { X86_VCPU_TAG_FORMAT, "lacks its format item" },
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct wbuf w;
        wbuf_init(&w);
        encode_vcpu_with(&s, &w, cases[i].tag, 0, NULL, 0, 0);
        expect_vcpu_rejected(&w, cases[i].phrase);
        wbuf_uninit(&w);
    }
    x86_vcpu_state_uninit(&s);
}

static void test_vcpu_duplicate_item_rejected(void **state)
{
    (void)state;
    struct x86_vcpu_state s;
    make_vcpu_state(&s, 4096);
    struct wbuf w;
    wbuf_init(&w);
    encode_vcpu_with(&s, &w, X86_VCPU_TAG_REGS, 0, NULL, 0, 1);
    expect_vcpu_rejected(&w, "regs item twice");
    wbuf_uninit(&w);
    x86_vcpu_state_uninit(&s);
}

static void test_vcpu_unknown_format_rejected(void **state)
{
    (void)state;
    struct x86_vcpu_state s;
    make_vcpu_state(&s, 4096);
    uint64_t v = htole64(2);
    struct wbuf w;
    wbuf_init(&w);
    encode_vcpu_with(&s, &w, X86_VCPU_TAG_FORMAT, TLV_CRITICAL, &v, 8, 0);
    expect_vcpu_rejected(&w, "format 2; this build reads 1");
    wbuf_uninit(&w);
    x86_vcpu_state_uninit(&s);
}

/* An MSR item of n entries, each a known MSR unless index is given. */
static uint32_t msr_item(uint8_t *buf, uint32_t count, uint32_t n_written, const uint32_t *indices)
{
    uint32_t v = htole32(count);
    memcpy(buf, &v, 4);
    for (uint32_t i = 0; i < n_written; i++) {
        uint32_t idx = htole32(indices[i]);
        uint64_t val = htole64(i);
        memcpy(buf + 4 + 12 * i, &idx, 4);
        memcpy(buf + 8 + 12 * i, &val, 8);
    }
    return 4 + 12 * n_written;
}

static void test_vcpu_msr_count_too_large_rejected(void **state)
{
    (void)state;
    struct x86_vcpu_state s;
    make_vcpu_state(&s, 4096);
    uint32_t indices[X86_MAX_SAVED_MSRS + 1];
    for (unsigned i = 0; i <= X86_MAX_SAVED_MSRS; i++)
        indices[i] = x86_saved_msr_list[i % x86_saved_msr_count];
    uint8_t buf[4 + 12 * (X86_MAX_SAVED_MSRS + 1)];

    struct wbuf w;
    wbuf_init(&w);
    uint32_t len = msr_item(buf, X86_MAX_SAVED_MSRS + 1, X86_MAX_SAVED_MSRS + 1, indices);
    encode_vcpu_with(&s, &w, X86_VCPU_TAG_MSRS, TLV_CRITICAL, buf, len, 0);
    expect_vcpu_rejected(&w, "carries 33 MSRs, more than 32");

    /* A huge count with few bytes behind it must not be believed either. */
    wbuf_reset(&w);
    len = msr_item(buf, 0xffffffffu, 1, indices);
    encode_vcpu_with(&s, &w, X86_VCPU_TAG_MSRS, TLV_CRITICAL, buf, len, 0);
    expect_vcpu_rejected(&w, "more than 32");

    /* A count that disagrees with the length. */
    wbuf_reset(&w);
    len = msr_item(buf, 3, 2, indices);
    encode_vcpu_with(&s, &w, X86_VCPU_TAG_MSRS, TLV_CRITICAL, buf, len, 0);
    expect_vcpu_rejected(&w, "expected 40 for 3");
    wbuf_uninit(&w);
    x86_vcpu_state_uninit(&s);
}

static void test_vcpu_unknown_or_repeated_msr_rejected(void **state)
{
    (void)state;
    struct x86_vcpu_state s;
    make_vcpu_state(&s, 4096);
    uint8_t buf[4 + 12 * 2];
    struct wbuf w;
    wbuf_init(&w);

    const uint32_t feature_msr[] = { 0x10, 0x480 /* IA32_VMX_BASIC */ };
    uint32_t len = msr_item(buf, 2, 2, feature_msr);
    encode_vcpu_with(&s, &w, X86_VCPU_TAG_MSRS, TLV_CRITICAL, buf, len, 0);
    expect_vcpu_rejected(&w, "MSR 0x480, which is not one this build migrates");

    wbuf_reset(&w);
    const uint32_t twice[] = { 0xc0000082, 0xc0000082 };
    len = msr_item(buf, 2, 2, twice);
    encode_vcpu_with(&s, &w, X86_VCPU_TAG_MSRS, TLV_CRITICAL, buf, len, 0);
    expect_vcpu_rejected(&w, "MSR LSTAR twice");
    wbuf_uninit(&w);
    x86_vcpu_state_uninit(&s);
}

static void test_vcpu_bad_xcr_count_and_mp_state_rejected(void **state)
{
    (void)state;
    struct x86_vcpu_state s;
    make_vcpu_state(&s, 4096);
    struct wbuf w;
    wbuf_init(&w);
    s.xcrs.nr_xcrs = KVM_MAX_XCRS + 1;
    x86_vcpu_state_encode(&s, &w);
    expect_vcpu_rejected(&w, "17 XCRs");

    s.xcrs.nr_xcrs = 1;
    s.mp_state.mp_state = KVM_MP_STATE_OPERATING;     /* an s390 state */
    wbuf_reset(&w);
    x86_vcpu_state_encode(&s, &w);
    expect_vcpu_rejected(&w, "mp_state 7");
    wbuf_uninit(&w);
    x86_vcpu_state_uninit(&s);
}

static void test_vm_state_round_trips_unchanged(void **state)
{
    (void)state;
    struct x86_vm_state a, b;
    make_vm_state(&a);
    memset(&b, 0, sizeof b);
    struct wbuf w;
    wbuf_init(&w);
    x86_vm_state_encode(&a, &w);
    assert_int_equal(w.err, 0);
    struct rbuf r;
    rbuf_init(&r, w.data, w.len);
    struct gw_error err = { 0 };
    assert_int_equal(x86_vm_state_decode(&r, &b, &err), 0);
    assert_memory_equal(&a, &b, sizeof a);
    wbuf_uninit(&w);
}

static void test_vm_truncated_input_rejected_at_every_length(void **state)
{
    (void)state;
    struct x86_vm_state a, b, zero;
    make_vm_state(&a);
    memset(&zero, 0, sizeof zero);
    struct wbuf w;
    wbuf_init(&w);
    x86_vm_state_encode(&a, &w);
    for (size_t len = 0; len < w.len; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, w.data, len);
        struct rbuf r;
        rbuf_init(&r, copy, len);
        memset(&b, 0, sizeof b);
        struct gw_error err = { 0 };
        if (x86_vm_state_decode(&r, &b, &err) != -EPROTO)
            fail_msg("a %zu-byte prefix of %zu was accepted", len, w.len);
        assert_memory_equal(&b, &zero, sizeof b);
        free(copy);
    }
    wbuf_uninit(&w);
}

static void test_vm_irqchip_in_wrong_slot_rejected(void **state)
{
    (void)state;
    struct x86_vm_state a, b;
    make_vm_state(&a);
    a.ioapic.chip_id = KVM_IRQCHIP_PIC_MASTER;
    struct wbuf w;
    wbuf_init(&w);
    x86_vm_state_encode(&a, &w);
    tlv_put(&w, 99, TLV_CRITICAL, NULL, 0);
    struct rbuf r;
    rbuf_init(&r, w.data, w.len);
    struct gw_error err = { 0 };
    assert_int_equal(x86_vm_state_decode(&r, &b, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "unknown critical item (tag 99)"));

    rbuf_init(&r, w.data, w.len - 8);       /* without the critical item */
    assert_int_equal(x86_vm_state_decode(&r, &b, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "wrong chip id"));
    wbuf_uninit(&w);
}

static void test_vm_pit_modes_checked(void **state)
{
    (void)state;
    struct x86_vm_state a, b;
    struct gw_error err = { 0 };
    struct wbuf w;
    wbuf_init(&w);
    const struct { uint8_t mode; int rc; } cases[] = {
        { 0, 0 }, { 5, 0 }, { 0xff, 0 },    /* 0xff: a channel never programmed */
        { 6, -EPROTO }, { 0xfe, -EPROTO },
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_vm_state(&a);
        a.pit.channels[1].mode = cases[i].mode;
        wbuf_reset(&w);
        x86_vm_state_encode(&a, &w);
        struct rbuf r;
        rbuf_init(&r, w.data, w.len);
        assert_int_equal(x86_vm_state_decode(&r, &b, &err), cases[i].rc);
        if (cases[i].rc)
            assert_non_null(strstr(err.msg, "PIT channel 1 in mode"));
    }
    make_vm_state(&a);
    a.pit.flags = 0x4;
    wbuf_reset(&w);
    x86_vm_state_encode(&a, &w);
    struct rbuf r;
    rbuf_init(&r, w.data, w.len);
    assert_int_equal(x86_vm_state_decode(&r, &b, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "unknown PIT flags 0x4"));
    wbuf_uninit(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vcpu_state_round_trips_unchanged),
        cmocka_unit_test(test_vcpu_decode_replaces_previous_xsave),
        cmocka_unit_test(test_msr_item_is_count_then_index_value_pairs),
        cmocka_unit_test(test_vcpu_truncated_input_rejected_at_every_length),
        cmocka_unit_test(test_vcpu_unknown_optional_tag_skipped),
        cmocka_unit_test(test_vcpu_unknown_critical_tag_rejected),
        cmocka_unit_test(test_vcpu_wrong_item_length_rejected),
        cmocka_unit_test(test_vcpu_missing_item_rejected),
        cmocka_unit_test(test_vcpu_duplicate_item_rejected),
        cmocka_unit_test(test_vcpu_unknown_format_rejected),
        cmocka_unit_test(test_vcpu_msr_count_too_large_rejected),
        cmocka_unit_test(test_vcpu_unknown_or_repeated_msr_rejected),
        cmocka_unit_test(test_vcpu_bad_xcr_count_and_mp_state_rejected),
        cmocka_unit_test(test_vm_state_round_trips_unchanged),
        cmocka_unit_test(test_vm_truncated_input_rejected_at_every_length),
        cmocka_unit_test(test_vm_irqchip_in_wrong_slot_rejected),
        cmocka_unit_test(test_vm_pit_modes_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
