/*
 * Unit tests for virtio-net (dev/virtio_net.h) and its helpers:
 *  - the "virtio-net" migration state codec: golden bytes, round trip,
 *    every truncation, unknown critical and optional items, duplicates,
 *    hostile values;
 *  - the RARP announce frame and its schedule (dev/rarp.h);
 *  - MAC parsing;
 *  - the live device end to end, with a datagram socketpair standing in
 *    for the TAP and 1 MiB of malloc'd guest RAM: RX and TX frames through
 *    the rings, dirty marking of what the device wrote, no RX while
 *    quiesced, the control queue, and the announce after a state load.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dev/rarp.h"
#include "dev/virtio_net.h"
#include "wire/tlv.h"

/* ---- state codec ---- */

static struct virtio_net_state sample_state(void)
{
    struct virtio_net_state s = { 0 };
    s.transport = (struct virtio_mmio_state){
        .status = 0x0f, .device_features_sel = 1, .driver_features_sel = 1, .queue_sel = 2,
        .interrupt_status = 1, .config_generation = 3, .driver_features = 0x100230020ULL };
    s.transport.queues[0] = (struct virtq){ .num = 256, .ready = true, .desc_gpa = 0x10000,
                                            .avail_gpa = 0x11000, .used_gpa = 0x12000,
                                            .last_avail_idx = 5, .used_idx = 4 };
    s.transport.queues[1] = (struct virtq){ .num = 256, .ready = true, .desc_gpa = 0x20000,
                                            .avail_gpa = 0x21000, .used_gpa = 0x22000,
                                            .last_avail_idx = 7, .used_idx = 7 };
    s.transport.queues[2] = (struct virtq){ .num = 16 };
    memcpy(s.mac, "\x52\x54\x00\x12\x34\x56", 6);
    s.config_status = 3;
    return s;
}

static const char golden_hex[] =
    "0100" "0100" "08000000" "0100000000000000"
    "0200" "0100" "20000000"
    "0f000000" "01000000" "01000000" "02000000" "01000000" "03000000" "2000230001000000"
    "0300" "0100" "64000000" "03000000"
    "0001" "01" "00" "0000010000000000" "0010010000000000" "0020010000000000" "0500" "0400"
    "0001" "01" "00" "0000020000000000" "0010020000000000" "0020020000000000" "0700" "0700"
    "1000" "00" "00" "0000000000000000" "0000000000000000" "0000000000000000" "0000" "0000"
    "0400" "0100" "06000000" "525400123456"
    "0500" "0100" "02000000" "0300";

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

static void test_state_golden_bytes(void **state)
{
    (void)state;
    struct virtio_net_state s = sample_state();
    struct wbuf w;
    wbuf_init(&w);
    virtio_net_state_encode(&s, &w);
    uint8_t golden[512];
    size_t n = unhex(golden_hex, golden);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.len, n);
    assert_memory_equal(w.data, golden, n);

    struct rbuf r;
    rbuf_init(&r, golden, n);
    struct virtio_net_state back;
    struct gw_error err = { 0 };
    assert_int_equal(virtio_net_state_decode(&r, &back, &err), 0);
    assert_memory_equal(&back.transport.queues, &s.transport.queues, sizeof s.transport.queues);
    assert_int_equal(back.transport.driver_features, s.transport.driver_features);
    assert_int_equal(back.transport.config_generation, 3);
    assert_int_equal(back.transport.queue_sel, 2);
    assert_memory_equal(back.mac, s.mac, 6);
    assert_int_equal(back.config_status, 3);
    wbuf_uninit(&w);
}

static int decode_hex_variant(const uint8_t *data, size_t len, struct virtio_net_state *out,
                              struct gw_error *err)
{
    struct rbuf r;
    rbuf_init(&r, data, len);
    return virtio_net_state_decode(&r, out, err);
}

static void test_state_every_truncation_fails(void **state)
{
    (void)state;
    uint8_t golden[512];
    size_t n = unhex(golden_hex, golden);
    for (size_t len = 0; len < n; len++) {
        struct virtio_net_state out;
        memset(&out, 0x5a, sizeof out);
        struct gw_error err = { 0 };
        assert_int_equal(decode_hex_variant(golden, len, &out, &err), -EPROTO);
        assert_int_equal(((uint8_t *)&out)[0], 0x5a);   /* untouched */
    }
}

static void test_state_unknown_items(void **state)
{
    (void)state;
    uint8_t buf[600];
    size_t n = unhex(golden_hex, buf);
    struct virtio_net_state out;
    struct gw_error err = { 0 };

    /* An optional item of a future version is skipped. */
    uint8_t optional[] = { 0x63, 0, 0, 0, 3, 0, 0, 0, 1, 2, 3 };
    memcpy(buf + n, optional, sizeof optional);
    assert_int_equal(decode_hex_variant(buf, n + sizeof optional, &out, &err), 0);

    /* A critical one fails the section. */
    optional[2] = TLV_CRITICAL;
    memcpy(buf + n, optional, sizeof optional);
    assert_int_equal(decode_hex_variant(buf, n + sizeof optional, &out, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "unknown critical"));

    /* Tag 0 flagged critical too. */
    optional[0] = 0;
    memcpy(buf + n, optional, sizeof optional);
    assert_int_equal(decode_hex_variant(buf, n + sizeof optional, &out, &err), -EPROTO);
}

static void test_state_duplicate_and_missing_items(void **state)
{
    (void)state;
    uint8_t buf[600];
    size_t n = unhex(golden_hex, buf);
    struct virtio_net_state out;
    struct gw_error err = { 0 };
    /* The net_status item again. */
    memcpy(buf + n, buf + n - 10, 10);
    assert_int_equal(decode_hex_variant(buf, n + 10, &out, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "twice"));
    /* Without the last item (net_status): missing. */
    assert_int_equal(decode_hex_variant(buf, n - 10, &out, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "lacks"));
}

/* Re-encodes sample_state() after mutate() and expects decode to fail. */
static void expect_hostile(void (*mutate)(uint8_t *buf, size_t n), const char *what)
{
    uint8_t buf[600];
    size_t n = unhex(golden_hex, buf);
    mutate(buf, n);
    struct virtio_net_state out;
    struct gw_error err = { 0 };
    assert_int_equal(decode_hex_variant(buf, n, &out, &err), -EPROTO);
    assert_non_null(strstr(err.msg, what));
}

/* Offsets into the golden body. */
#define OFF_FORMAT_VALUE 8
#define OFF_STATUS (16 + 8)
#define OFF_QUEUES_N (16 + 40 + 8)
#define OFF_Q0 (OFF_QUEUES_N + 4)

static void m_format(uint8_t *b, size_t n) { (void)n; b[OFF_FORMAT_VALUE] = 2; }
static void m_status(uint8_t *b, size_t n) { (void)n; b[OFF_STATUS] = 0x30; }
static void m_nqueues(uint8_t *b, size_t n) { (void)n; b[OFF_QUEUES_N] = 2; }
static void m_ready(uint8_t *b, size_t n) { (void)n; b[OFF_Q0 + 2] = 2; }
static void m_pad(uint8_t *b, size_t n) { (void)n; b[OFF_Q0 + 3] = 1; }
static void m_num(uint8_t *b, size_t n) { (void)n; b[OFF_Q0 + 1] = 2; }   /* 512 */
static void m_mac_len(uint8_t *b, size_t n) { b[n - 10 - 14 + 4] = 5; }

static void test_state_hostile_values(void **state)
{
    (void)state;
    expect_hostile(m_format, "format");
    expect_hostile(m_status, "status");
    expect_hostile(m_nqueues, "queues");
    expect_hostile(m_ready, "ready byte");
    expect_hostile(m_pad, "reserved");
    expect_hostile(m_num, "size 512");
    expect_hostile(m_mac_len, "mac");
}

/* ---- RARP and MACs ---- */

static void test_rarp_frame(void **state)
{
    (void)state;
    static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
    uint8_t f[RARP_FRAME_BYTES];
    assert_int_equal(rarp_build(f, mac), 60);
    uint8_t golden[60];
    size_t n = unhex("ffffffffffff" "525400abcdef" "8035"
                     "0001" "0800" "06" "04" "0003"
                     "525400abcdef" "00000000" "525400abcdef" "00000000"
                     "000000000000000000000000000000000000", golden);
    assert_int_equal(n, 60);
    assert_memory_equal(f, golden, 60);
}

static void test_rarp_schedule(void **state)
{
    (void)state;
    static const int want[] = { 0, 50, 150, 250, 350, -1, -1 };
    for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(rarp_round_delay_ms(i), want[i]);
}

static void test_mac_parse(void **state)
{
    (void)state;
    uint8_t mac[6];
    assert_int_equal(virtio_net_parse_mac("52:54:00:12:34:56", mac), 0);
    assert_memory_equal(mac, "\x52\x54\x00\x12\x34\x56", 6);
    assert_int_equal(virtio_net_parse_mac("52:54:00:AB:cd:Ef", mac), 0);
    static const char *const bad[] = {
        "", "52:54:00:12:34", "52:54:00:12:34:56:78", "53:54:00:12:34:56" /* multicast */,
        "00:00:00:00:00:00", "52-54-00-12-34-56", "52:54:00:12:34:5g", " 2:54:00:12:34:56",
        "+2:54:00:12:34:56", "52:54:00:12:34:567", "5254:00:12:34:56:",
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(virtio_net_parse_mac(bad[i], mac), -EINVAL);
    char text[18];
    virtio_net_format_mac((const uint8_t *)"\x52\x54\x00\x0a\x0b\x0c", text);
    assert_string_equal(text, "52:54:00:0a:0b:0c");
}

/* ---- the live device over a socketpair ---- */

#define RAM_BYTES (1u << 20)
#define QNUM 16
static const uint64_t ring_base[3] = { 0x1000, 0x4000, 0x7000 };  /* desc; +0x1000 avail; +0x2000 used */
#define RXBUF 0x10000
#define TXBUF 0x20000
#define CTRLBUF 0x30000

struct rig {
    struct guest_memory mem;
    int peer;                       /* our end of the "TAP" */
    struct virtio_net *dev;
    uint64_t dirty[RAM_BYTES / 4096 / 64];
};

static void rig_dirty(void *opaque, uint64_t gpa, uint64_t len)
{
    struct rig *r = opaque;
    for (uint64_t p = gpa / 4096; p <= (gpa + len - 1) / 4096; p++)
        __atomic_fetch_or(&r->dirty[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
}

static bool page_dirty(struct rig *r, uint64_t gpa)
{
    uint64_t p = gpa / 4096;
    return __atomic_load_n(&r->dirty[p / 64], __ATOMIC_RELAXED) & (1ULL << (p % 64));
}

static void mmio_wr(struct rig *r, uint64_t off, uint32_t v)
{
    const struct mmio_device *m = virtio_net_mmio(r->dev);
    m->write(m->opaque, off, (const uint8_t *)&v, 4);
}

static uint32_t mmio_rd(struct rig *r, uint64_t off, unsigned size)
{
    const struct mmio_device *m = virtio_net_mmio(r->dev);
    uint32_t v = 0;
    m->read(m->opaque, off, (uint8_t *)&v, size);
    return v;
}

static struct rig *rig_create(const char *mac)
{
    struct rig *r = calloc(1, sizeof *r);
    r->mem = (struct guest_memory){ .memfd = -1, .host = calloc(1, RAM_BYTES), .bytes = RAM_BYTES };
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    r->peer = sv[1];
    struct virtio_net_params p = { .index = 0, .tap_fd = sv[0], .tap_name = "fake0",
                                   .mmio_base = 0x10000000000ULL, .mem = &r->mem,
                                   .mark_dirty = rig_dirty, .dirty_opaque = r };
    assert_int_equal(virtio_net_parse_mac(mac, p.mac), 0);
    struct gw_error err = { 0 };
    r->dev = virtio_net_create(&p, &err);
    assert_non_null(r->dev);
    return r;
}

static void rig_destroy(struct rig *r)
{
    virtio_net_destroy(r->dev);
    close(r->peer);
    free(r->mem.host);
    free(r);
}

/* The driver's side of bring-up: features, three queues, DRIVER_OK. */
static void rig_bring_up(struct rig *r)
{
    uint64_t f = VIRTIO_NET_FEATURES;
    mmio_wr(r, VIRTIO_MMIO_STATUS, 1);
    mmio_wr(r, VIRTIO_MMIO_STATUS, 3);
    mmio_wr(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    mmio_wr(r, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
    mmio_wr(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    mmio_wr(r, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
    mmio_wr(r, VIRTIO_MMIO_STATUS, 11);
    assert_int_equal(mmio_rd(r, VIRTIO_MMIO_STATUS, 4), 11);
    for (uint32_t q = 0; q < 3; q++) {
        mmio_wr(r, VIRTIO_MMIO_QUEUE_SEL, q);
        mmio_wr(r, VIRTIO_MMIO_QUEUE_NUM, QNUM);
        mmio_wr(r, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)ring_base[q]);
        mmio_wr(r, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)ring_base[q] + 0x1000);
        mmio_wr(r, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)ring_base[q] + 0x2000);
        mmio_wr(r, VIRTIO_MMIO_QUEUE_READY, 1);
        assert_int_equal(mmio_rd(r, VIRTIO_MMIO_QUEUE_READY, 4), 1);
    }
    mmio_wr(r, VIRTIO_MMIO_STATUS, 15);
}

/* Adds a one- or two-descriptor chain to queue q and notifies. */
static void post(struct rig *r, uint32_t q, uint16_t d, uint64_t addr, uint32_t len,
                 bool writable, uint64_t addr2, uint32_t len2)
{
    uint8_t *desc = r->mem.host + ring_base[q] + 16 * d;
    uint16_t flags = (writable ? VIRTQ_DESC_F_WRITE : 0) | (len2 ? VIRTQ_DESC_F_NEXT : 0);
    uint16_t next = (uint16_t)(d + 1);
    memcpy(desc, &addr, 8);
    memcpy(desc + 8, &len, 4);
    memcpy(desc + 12, &flags, 2);
    memcpy(desc + 14, &next, 2);
    if (len2) {
        uint16_t f2 = VIRTQ_DESC_F_WRITE;
        memcpy(desc + 16, &addr2, 8);
        memcpy(desc + 24, &len2, 4);
        memcpy(desc + 28, &f2, 2);
    }
    uint16_t *avail = (uint16_t *)(r->mem.host + ring_base[q] + 0x1000);
    avail[2 + avail[1] % QNUM] = d;
    __atomic_store_n(&avail[1], avail[1] + 1, __ATOMIC_RELEASE);
    mmio_wr(r, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static uint16_t used_idx(struct rig *r, uint32_t q)
{
    return __atomic_load_n((uint16_t *)(r->mem.host + ring_base[q] + 0x2002), __ATOMIC_ACQUIRE);
}

static void used_elem(struct rig *r, uint32_t q, uint16_t slot, uint32_t *id, uint32_t *len)
{
    uint8_t *e = r->mem.host + ring_base[q] + 0x2004 + 8 * (slot % QNUM);
    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
}

static bool wait_used(struct rig *r, uint32_t q, uint16_t want, int ms)
{
    for (int i = 0; i < ms; i++) {
        if (used_idx(r, q) == want)
            return true;
        usleep(1000);
    }
    return used_idx(r, q) == want;
}

static void test_device_rx_tx_and_pause(void **state)
{
    (void)state;
    struct rig *r = rig_create("52:54:00:12:34:56");
    assert_int_equal(mmio_rd(r, VIRTIO_MMIO_MAGIC_VALUE, 4), VIRTIO_MMIO_MAGIC);
    assert_int_equal(mmio_rd(r, VIRTIO_MMIO_CONFIG + 0, 4), 0x12005452);      /* 52:54:00:12 */
    assert_int_equal(mmio_rd(r, VIRTIO_MMIO_CONFIG + 6, 2), VIRTIO_NET_S_LINK_UP);
    assert_int_equal(mmio_rd(r, VIRTIO_MMIO_CONFIG + 8, 2), 1);
    rig_bring_up(r);
    virtio_net_run(r->dev);

    /* RX: a frame from the "TAP" lands in the posted buffer. */
    uint8_t frame[12 + 60];
    memset(frame, 0, sizeof frame);
    frame[0] = 0x2;                         /* junk flags from the TAP: cleared */
    for (int i = 12; i < 72; i++)
        frame[i] = (uint8_t)i;
    post(r, VIRTIO_NET_RXQ, 0, RXBUF, 1526, true, 0, 0);
    assert_int_equal(send(r->peer, frame, sizeof frame, 0), (ssize_t)sizeof frame);
    assert_true(wait_used(r, VIRTIO_NET_RXQ, 1, 2000));
    uint32_t id, len;
    used_elem(r, VIRTIO_NET_RXQ, 0, &id, &len);
    assert_int_equal(id, 0);
    assert_int_equal(len, 72);
    uint8_t *buf = r->mem.host + RXBUF;
    assert_int_equal(buf[0], 0);
    assert_int_equal(buf[10] | buf[11] << 8, 1);        /* num_buffers */
    assert_memory_equal(buf + 12, frame + 12, 60);
    assert_true(page_dirty(r, RXBUF));
    assert_true(page_dirty(r, ring_base[VIRTIO_NET_RXQ] + 0x2000));
    assert_false(page_dirty(r, TXBUF));

    /* TX: a frame with a header split from its data reaches the peer
     * with a clean header. */
    uint8_t *tx = r->mem.host + TXBUF;
    memset(tx, 0, 12);
    tx[0] = 1;                              /* NEEDS_CSUM, not negotiated: cleared */
    for (int i = 0; i < 60; i++)
        tx[100 + i] = (uint8_t)(0xa0 + i);
    uint8_t *d = r->mem.host + ring_base[VIRTIO_NET_TXQ];
    uint64_t a0 = TXBUF, a1 = TXBUF + 100;
    uint32_t l0 = 12, l1 = 60;
    uint16_t f0 = VIRTQ_DESC_F_NEXT, f1 = 0, n0 = 1;
    memcpy(d, &a0, 8), memcpy(d + 8, &l0, 4), memcpy(d + 12, &f0, 2), memcpy(d + 14, &n0, 2);
    memcpy(d + 16, &a1, 8), memcpy(d + 24, &l1, 4), memcpy(d + 28, &f1, 2);
    uint16_t *avail = (uint16_t *)(r->mem.host + ring_base[VIRTIO_NET_TXQ] + 0x1000);
    avail[2] = 0;
    __atomic_store_n(&avail[1], 1, __ATOMIC_RELEASE);
    mmio_wr(r, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_NET_TXQ);
    struct pollfd pfd = { .fd = r->peer, .events = POLLIN };
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    uint8_t got[200];
    assert_int_equal(recv(r->peer, got, sizeof got, 0), 72);
    assert_memory_equal(got, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
    assert_memory_equal(got + 12, tx + 100, 60);
    assert_true(wait_used(r, VIRTIO_NET_TXQ, 1, 2000));

    /* Quiesced: frames wait in the "TAP"; nothing is written. */
    virtio_net_quiesce(r->dev);
    post(r, VIRTIO_NET_RXQ, 1, RXBUF + 0x1000, 1526, true, 0, 0);
    assert_int_equal(send(r->peer, frame, sizeof frame, 0), (ssize_t)sizeof frame);
    usleep(100000);
    assert_int_equal(used_idx(r, VIRTIO_NET_RXQ), 1);
    assert_int_equal(r->mem.host[RXBUF + 0x1000 + 12], 0);
    virtio_net_run(r->dev);
    assert_true(wait_used(r, VIRTIO_NET_RXQ, 2, 2000));

    /* No RX buffer: the frame waits until one is posted. */
    assert_int_equal(send(r->peer, frame, sizeof frame, 0), (ssize_t)sizeof frame);
    usleep(50000);
    assert_int_equal(used_idx(r, VIRTIO_NET_RXQ), 2);
    post(r, VIRTIO_NET_RXQ, 2, RXBUF + 0x2000, 1526, true, 0, 0);
    assert_true(wait_used(r, VIRTIO_NET_RXQ, 3, 2000));

    /* A buffer whose header ends just before a page boundary: the page
     * holding only frame bytes is marked dirty too. */
    assert_false(page_dirty(r, RXBUF + 0x4000));
    post(r, VIRTIO_NET_RXQ, 3, RXBUF + 0x3ff0, 1526, true, 0, 0);
    assert_int_equal(send(r->peer, frame, sizeof frame, 0), (ssize_t)sizeof frame);
    assert_true(wait_used(r, VIRTIO_NET_RXQ, 4, 2000));
    assert_true(page_dirty(r, RXBUF + 0x4000));
    assert_false(page_dirty(r, RXBUF + 0x5000));

    struct virtio_net_stats st;
    virtio_net_get_stats(r->dev, &st);
    assert_int_equal(st.rx_frames, 4);
    assert_int_equal(st.tx_frames, 1);
    assert_int_equal(st.rx_bytes, 240);
    assert_int_equal(st.tx_bytes, 60);
    assert_int_equal(st.status, 15);
    rig_destroy(r);
}

static void test_device_bad_descriptor_needs_reset(void **state)
{
    (void)state;
    struct rig *r = rig_create("52:54:00:12:34:56");
    rig_bring_up(r);
    virtio_net_run(r->dev);
    post(r, VIRTIO_NET_TXQ, 0, RAM_BYTES - 8, 64, false, 0, 0);    /* runs off RAM */
    for (int i = 0; i < 2000 && !(mmio_rd(r, VIRTIO_MMIO_STATUS, 4) & 64); i++)
        usleep(1000);
    assert_true(mmio_rd(r, VIRTIO_MMIO_STATUS, 4) & VIRTIO_STATUS_NEEDS_RESET);
    assert_true(mmio_rd(r, VIRTIO_MMIO_INTERRUPT_STATUS, 4) & VIRTIO_INT_CONFIG);
    /* A reset brings it back. */
    mmio_wr(r, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(mmio_rd(r, VIRTIO_MMIO_STATUS, 4), 0);
    rig_destroy(r);
}

/* Sends a control command; returns the ack byte. */
static uint8_t ctrl(struct rig *r, uint16_t d, uint8_t cls, uint8_t cmd, uint16_t want_used)
{
    uint8_t *b = r->mem.host + CTRLBUF + 64 * d;
    b[0] = cls, b[1] = cmd, b[32] = 0xee;
    post(r, VIRTIO_NET_CTRLQ, d, CTRLBUF + 64 * d, 2, false, CTRLBUF + 64 * d + 32, 1);
    assert_true(wait_used(r, VIRTIO_NET_CTRLQ, want_used, 2000));
    return b[32];
}

static void test_device_announce_after_load(void **state)
{
    (void)state;
    struct rig *src = rig_create("52:54:00:12:34:56");
    rig_bring_up(src);
    virtio_net_quiesce(src->dev);
    struct virtio_net_state st;
    virtio_net_save(src->dev, &st);
    assert_int_equal(st.transport.status, 15);
    assert_int_equal(st.transport.queues[2].num, QNUM);

    /* A destination with another MAC refuses the state. */
    struct rig *wrong = rig_create("52:54:00:12:34:57");
    struct gw_error err = { 0 };
    assert_int_equal(virtio_net_load(wrong->dev, &st, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "MAC"));
    rig_destroy(wrong);

    struct rig *dst = rig_create("52:54:00:12:34:56");
    memcpy(dst->mem.host, src->mem.host, RAM_BYTES);        /* "RAM arrived" */
    assert_int_equal(virtio_net_load(dst->dev, &st, &err), 0);
    assert_int_equal(mmio_rd(dst, VIRTIO_MMIO_STATUS, 4), 15);
    uint32_t gen = mmio_rd(dst, VIRTIO_MMIO_CONFIG_GENERATION, 4);

    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    virtio_net_run(dst->dev);
    uint8_t frame[200], want[RARP_FRAME_BYTES];
    rarp_build(want, (const uint8_t *)"\x52\x54\x00\x12\x34\x56");
    double at[RARP_ROUNDS];
    for (int i = 0; i < RARP_ROUNDS; i++) {
        struct pollfd pfd = { .fd = dst->peer, .events = POLLIN };
        assert_int_equal(poll(&pfd, 1, 2000), 1);
        assert_int_equal(recv(dst->peer, frame, sizeof frame, 0), 12 + RARP_FRAME_BYTES);
        assert_memory_equal(frame + 12, want, RARP_FRAME_BYTES);
        clock_gettime(CLOCK_MONOTONIC, &t);
        at[i] = (t.tv_sec - t0.tv_sec) * 1e3 + (t.tv_nsec - t0.tv_nsec) / 1e6;
    }
    /* 0, 50, 200, 450, 800 ms after the run */
    assert_true(at[0] < 40);
    assert_true(at[1] >= 45 && at[4] >= 790 && at[4] < 1500);

    /* The guest was asked to announce too, and its ack clears the bit. */
    assert_int_equal(mmio_rd(dst, VIRTIO_MMIO_CONFIG + 6, 2),
                     VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
    assert_true(mmio_rd(dst, VIRTIO_MMIO_CONFIG_GENERATION, 4) != gen);
    assert_true(mmio_rd(dst, VIRTIO_MMIO_INTERRUPT_STATUS, 4) & VIRTIO_INT_CONFIG);
    assert_int_equal(ctrl(dst, 0, 1, 0, 1), VIRTIO_NET_ERR);     /* RX mode: not supported */
    assert_int_equal(mmio_rd(dst, VIRTIO_MMIO_CONFIG + 6, 2),
                     VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
    assert_int_equal(ctrl(dst, 2, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, 2),
                     VIRTIO_NET_OK);
    assert_int_equal(mmio_rd(dst, VIRTIO_MMIO_CONFIG + 6, 2), VIRTIO_NET_S_LINK_UP);
    assert_true(page_dirty(dst, CTRLBUF));

    struct virtio_net_stats s;
    virtio_net_get_stats(dst->dev, &s);
    assert_int_equal(s.announce_rounds, RARP_ROUNDS);
    assert_int_equal(s.ctrl_commands, 2);
    rig_destroy(dst);
    rig_destroy(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_golden_bytes),
        cmocka_unit_test(test_state_every_truncation_fails),
        cmocka_unit_test(test_state_unknown_items),
        cmocka_unit_test(test_state_duplicate_and_missing_items),
        cmocka_unit_test(test_state_hostile_values),
        cmocka_unit_test(test_rarp_frame),
        cmocka_unit_test(test_rarp_schedule),
        cmocka_unit_test(test_mac_parse),
        cmocka_unit_test(test_device_rx_tx_and_pause),
        cmocka_unit_test(test_device_bad_descriptor_needs_reset),
        cmocka_unit_test(test_device_announce_after_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
