/*
 * Unit tests of the guest's network code, compiled for the host: the
 * IPv4 stack (guest/net: checksum, ARP, IPv4, ICMP, UDP, hostile input)
 * and the split virtqueue (guest/drivers/virtqueue.c) against a fake
 * device.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../guest/drivers/virtqueue.h"
#include "../../guest/net/net.h"

static const uint8_t our_mac[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x10 };
static const uint8_t peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
#define OUR_IP 0x0a00000au      /* 10.0.0.10 */
#define PEER_IP 0x0a000001u     /* 10.0.0.1 */

/* A fake TX ring: records what the stack sends. */
#define FAKE_TX_MAX 4
struct fake_tx {
    uint8_t bufs[FAKE_TX_MAX][NET_FRAME_MAX];
    size_t lens[FAKE_TX_MAX];
    unsigned allocated, sent, limit;
};

static uint8_t *fake_alloc(void *ctx)
{
    struct fake_tx *t = ctx;
    if (t->allocated >= t->limit)
        return NULL;
    return t->bufs[t->allocated++];
}

static void fake_send(void *ctx, uint8_t *frame, size_t len)
{
    struct fake_tx *t = ctx;
    assert_ptr_equal(frame, t->bufs[t->sent]);
    assert_true(len <= NET_FRAME_MAX);
    t->lens[t->sent++] = len;
}

struct fixture {
    struct net_if nif;
    struct fake_tx tx;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->tx.limit = FAKE_TX_MAX;
    struct net_tx tx = { fake_alloc, fake_send, &f->tx };
    net_init(&f->nif, our_mac, OUR_IP, 24, 7, &tx);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

/* --- frame builders --- */

static size_t eth(uint8_t *p, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    memcpy(p, dst, 6);
    memcpy(p + 6, src, 6);
    net_wr16(p + 12, type);
    return 14;
}

static size_t ipv4(uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto, size_t payload)
{
    memset(p, 0, 20);
    p[0] = 0x45;
    net_wr16(p + 2, (uint16_t)(20 + payload));
    net_wr16(p + 4, 0x1234);
    p[8] = 64;
    p[9] = proto;
    net_wr32(p + 12, src);
    net_wr32(p + 16, dst);
    net_wr16(p + 10, csum_fold(csum_add(0, p, 20)));
    return 20;
}

static uint32_t pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    uint8_t ph[12];
    net_wr32(ph, src);
    net_wr32(ph + 4, dst);
    ph[8] = 0;
    ph[9] = proto;
    net_wr16(ph + 10, len);
    return csum_add(0, ph, sizeof ph);
}

/* An Ethernet + IPv4 + UDP frame from the peer to us. */
static size_t udp_frame(uint8_t *p, uint16_t sport, uint16_t dport, const void *payload, size_t n)
{
    size_t off = eth(p, our_mac, peer_mac, NET_ETHERTYPE_IPV4);
    off += ipv4(p + off, PEER_IP, OUR_IP, NET_IPPROTO_UDP, 8 + n);
    uint8_t *u = p + off;
    net_wr16(u, sport);
    net_wr16(u + 2, dport);
    net_wr16(u + 4, (uint16_t)(8 + n));
    net_wr16(u + 6, 0);
    memcpy(u + 8, payload, n);
    uint16_t sum = csum_fold(csum_add(pseudo(PEER_IP, OUR_IP, 17, (uint16_t)(8 + n)), u, 8 + n));
    net_wr16(u + 6, sum ? sum : 0xffff);
    return off + 8 + n;
}

static size_t ping_frame(uint8_t *p, uint16_t id, uint16_t seq, size_t data)
{
    size_t off = eth(p, our_mac, peer_mac, NET_ETHERTYPE_IPV4);
    off += ipv4(p + off, PEER_IP, OUR_IP, NET_IPPROTO_ICMP, 8 + data);
    uint8_t *c = p + off;
    c[0] = 8;
    c[1] = 0;
    net_wr16(c + 2, 0);
    net_wr16(c + 4, id);
    net_wr16(c + 6, seq);
    for (size_t i = 0; i < data; i++)
        c[8 + i] = (uint8_t)i;
    net_wr16(c + 2, csum_fold(csum_add(0, c, 8 + data)));
    return off + 8 + data;
}

static size_t arp_frame(uint8_t *p, const uint8_t *dst, uint16_t op, uint32_t spa, uint32_t tpa)
{
    size_t off = eth(p, dst, peer_mac, NET_ETHERTYPE_ARP);
    uint8_t *a = p + off;
    net_wr16(a, 1);
    net_wr16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    net_wr16(a + 6, op);
    memcpy(a + 8, peer_mac, 6);
    net_wr32(a + 14, spa);
    memset(a + 18, 0, 6);
    net_wr32(a + 24, tpa);
    return off + 28;
}

/* Feeds exactly len bytes from a heap copy, so an over-read is a real
 * out-of-bounds access (visible under ASan/valgrind). */
static void feed(struct net_if *nif, const uint8_t *frame, size_t len, unsigned flags)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, frame, len);
    net_input(nif, copy, len, flags);
    free(copy);
}

/* --- tests --- */

static void test_checksum_known_values(void **state)
{
    (void)state;
    /* A textbook IPv4 header whose checksum is 0xb861. */
    uint8_t h[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                      0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
    assert_int_equal(csum_fold(csum_add(0, h, 20)), 0xb861);
    net_wr16(h + 10, 0xb861);
    assert_int_equal(csum_fold(csum_add(0, h, 20)), 0);
    /* Odd length: the last byte counts as the high half of a word. */
    uint8_t odd[3] = { 0x01, 0x02, 0x03 };
    assert_int_equal(csum_fold(csum_add(0, odd, 3)), (uint16_t)~(0x0102 + 0x0300));
    /* Split sums equal one sum (even split points). */
    uint8_t big[1500];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(csum_fold(csum_add(csum_add(0, big, 600), big + 600, 900)),
                     csum_fold(csum_add(0, big, 1500)));
    /* All ones: carries fold back in. */
    uint8_t ones[4000];
    memset(ones, 0xff, sizeof ones);
    assert_int_equal(csum_fold(csum_add(0, ones, sizeof ones)), 0);
}

static void test_parse_cidr(void **state)
{
    (void)state;
    uint32_t ip;
    unsigned len;
    assert_int_equal(net_parse_cidr("10.0.0.10/24", &ip, &len), 0);
    assert_int_equal(ip, OUR_IP);
    assert_int_equal(len, 24);
    assert_int_equal(net_parse_cidr("192.168.1.255", &ip, &len), 0);
    assert_int_equal(ip, 0xc0a801ffu);
    assert_int_equal(len, 32);
    assert_int_equal(net_parse_cidr("0.0.0.0/0", &ip, &len), 0);
    const char *bad[] = { "", "10.0.0", "10.0.0.256/24", "10.0.0.1/33", "10.0.0.1/", "1.2.3.4.5",
                          "10.0.0.0001", "a.b.c.d", "10.0.0.1/24x", "10..0.1", "10.0.0.1 " };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(net_parse_cidr(bad[i], &ip, &len), -1);
}

static void test_arp_request_for_us_is_answered(void **state)
{
    struct fixture *f = *state;
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint8_t req[64];
    size_t n = arp_frame(req, bcast, 1, PEER_IP, OUR_IP);
    feed(&f->nif, req, n, 0);
    assert_int_equal(f->tx.sent, 1);
    assert_int_equal(f->tx.lens[0], NET_ETH_MIN);
    const uint8_t *r = f->tx.bufs[0];
    assert_memory_equal(r, peer_mac, 6);
    assert_memory_equal(r + 6, our_mac, 6);
    assert_int_equal(net_rd16(r + 12), NET_ETHERTYPE_ARP);
    const uint8_t *a = r + 14;
    assert_int_equal(net_rd16(a + 6), 2);
    assert_memory_equal(a + 8, our_mac, 6);
    assert_int_equal(net_rd32(a + 14), OUR_IP);
    assert_memory_equal(a + 18, peer_mac, 6);
    assert_int_equal(net_rd32(a + 24), PEER_IP);
    assert_int_equal(f->nif.stats.arp_replies, 1);
    /* The asker was learnt. */
    const uint8_t *mac = net_arp_lookup(&f->nif, PEER_IP);
    assert_non_null(mac);
    assert_memory_equal(mac, peer_mac, 6);
}

static void test_arp_for_others_is_ignored_and_not_learnt(void **state)
{
    struct fixture *f = *state;
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint8_t req[64];
    size_t n = arp_frame(req, bcast, 1, PEER_IP, 0x0a000063u);
    feed(&f->nif, req, n, 0);
    assert_int_equal(f->tx.sent, 0);
    assert_int_equal(f->nif.stats.ignored, 1);
    assert_null(net_arp_lookup(&f->nif, PEER_IP));
    /* Truncated or wrong-typed ARP is dropped. */
    n = arp_frame(req, bcast, 1, PEER_IP, OUR_IP);
    feed(&f->nif, req, n - 1, 0);
    req[14 + 4] = 8;    /* hlen */
    feed(&f->nif, req, n, 0);
    assert_int_equal(f->tx.sent, 0);
    assert_int_equal(f->nif.stats.drops, 2);
}

static void test_arp_cache_keeps_the_last_entries(void **state)
{
    struct fixture *f = *state;
    uint8_t req[64];
    for (uint32_t i = 0; i < NET_ARP_ENTRIES + 3; i++) {
        size_t n = arp_frame(req, our_mac, 2, 0x0a000020u + i, OUR_IP);
        feed(&f->nif, req, n, 0);
    }
    assert_int_equal(f->tx.sent, 0);
    assert_null(net_arp_lookup(&f->nif, 0x0a000020u));
    assert_non_null(net_arp_lookup(&f->nif, 0x0a000020u + NET_ARP_ENTRIES + 2));
}

static void test_garp(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(net_send_garp(&f->nif), 0);
    assert_int_equal(f->tx.sent, 1);
    const uint8_t *r = f->tx.bufs[0];
    for (int i = 0; i < 6; i++)
        assert_int_equal(r[i], 0xff);
    const uint8_t *a = r + 14;
    assert_int_equal(net_rd16(a + 6), 1);
    assert_int_equal(net_rd32(a + 14), OUR_IP);
    assert_int_equal(net_rd32(a + 24), OUR_IP);
    f->tx.limit = 1;
    assert_int_equal(net_send_garp(&f->nif), -1);
}

struct client_answer {
    uint32_t src;
    uint8_t payload[16];
    size_t len;
    unsigned calls;
};

static void record_answer(void *ctx, uint32_t src, const uint8_t *payload, size_t len)
{
    struct client_answer *a = ctx;
    a->src = src;
    a->len = len;
    memcpy(a->payload, payload, len < sizeof a->payload ? len : sizeof a->payload);
    a->calls++;
}

/* The VM-to-VM client: ask for the peer's MAC, send it a datagram, and
 * hand its answers on the client port to the client, not echo them. */
static void test_client_resolves_sends_and_counts_answers(void **state)
{
    struct fixture *f = *state;
    const uint64_t seq = 42;
    struct client_answer answer = { 0 };
    f->nif.client_port = 40000;
    f->nif.client_rx = record_answer;
    f->nif.client_ctx = &answer;
    assert_int_equal(net_send_udp(&f->nif, PEER_IP, 40000, 7, &seq, sizeof seq), -2);
    assert_int_equal(f->tx.sent, 0);

    assert_int_equal(net_send_arp_request(&f->nif, PEER_IP), 0);
    assert_int_equal(f->tx.sent, 1);
    const uint8_t *r = f->tx.bufs[0], *a = r + 14;
    for (int i = 0; i < 6; i++)
        assert_int_equal(r[i], 0xff);
    assert_int_equal(net_rd16(a + 6), 1);
    assert_memory_equal(a + 8, our_mac, 6);
    assert_int_equal(net_rd32(a + 14), OUR_IP);
    assert_int_equal(net_rd32(a + 24), PEER_IP);

    uint8_t frame[NET_FRAME_MAX];
    size_t n = arp_frame(frame, our_mac, 2, PEER_IP, OUR_IP);
    feed(&f->nif, frame, n, 0);
    assert_int_equal(f->tx.sent, 1);    /* a reply is not answered */

    assert_int_equal(net_send_udp(&f->nif, PEER_IP, 40000, 7, &seq, sizeof seq), 0);
    assert_int_equal(f->tx.sent, 2);
    r = f->tx.bufs[1];
    const uint8_t *ip = r + 14, *u = ip + 20;
    assert_int_equal(f->tx.lens[1], NET_ETH_MIN);
    assert_memory_equal(r, peer_mac, 6);
    assert_memory_equal(r + 6, our_mac, 6);
    assert_int_equal(csum_fold(csum_add(0, ip, 20)), 0);
    assert_int_equal(ip[9], NET_IPPROTO_UDP);
    assert_int_equal(net_rd32(ip + 12), OUR_IP);
    assert_int_equal(net_rd32(ip + 16), PEER_IP);
    assert_int_equal(net_rd16(u), 40000);
    assert_int_equal(net_rd16(u + 2), 7);
    assert_int_equal(net_rd16(u + 4), 8 + sizeof seq);
    assert_memory_equal(u + 8, &seq, sizeof seq);
    assert_int_equal(csum_fold(csum_add(pseudo(OUR_IP, PEER_IP, 17, 8 + sizeof seq), u,
                                        8 + sizeof seq)),
                     0);

    /* The peer's answer is counted, not echoed back. */
    n = udp_frame(frame, 7, 40000, &seq, sizeof seq);
    feed(&f->nif, frame, n, 0);
    assert_int_equal(f->tx.sent, 2);
    assert_int_equal(f->nif.stats.client_replies, 1);
    assert_int_equal(f->nif.stats.udp_echoed, 0);
    assert_int_equal(answer.calls, 1);
    assert_int_equal(answer.src, PEER_IP);
    assert_int_equal(answer.len, sizeof seq);
    assert_memory_equal(answer.payload, &seq, sizeof seq);

    /* Too long for one frame, or no buffer: -1, nothing sent. */
    static uint8_t big[1473];
    assert_int_equal(net_send_udp(&f->nif, PEER_IP, 40000, 7, big, sizeof big), -1);
    f->tx.limit = f->tx.allocated;
    assert_int_equal(net_send_udp(&f->nif, PEER_IP, 40000, 7, &seq, sizeof seq), -1);
    assert_int_equal(net_send_arp_request(&f->nif, PEER_IP), -1);
    assert_int_equal(f->tx.sent, 2);
}

static void test_ping_is_answered(void **state)
{
    struct fixture *f = *state;
    uint8_t req[200];
    size_t n = ping_frame(req, 0x77, 5, 56);
    feed(&f->nif, req, n, 0);
    assert_int_equal(f->tx.sent, 1);
    assert_int_equal(f->nif.stats.pings, 1);
    const uint8_t *r = f->tx.bufs[0], *ip = r + 14, *c = ip + 20;
    assert_int_equal(f->tx.lens[0], n);
    assert_memory_equal(r, peer_mac, 6);
    assert_int_equal(csum_fold(csum_add(0, ip, 20)), 0);
    assert_int_equal(net_rd32(ip + 12), OUR_IP);
    assert_int_equal(net_rd32(ip + 16), PEER_IP);
    assert_int_equal(c[0], 0);
    assert_int_equal(csum_fold(csum_add(0, c, 64)), 0);
    assert_memory_equal(c + 4, req + 34 + 4, 60);
    /* A bad ICMP checksum is dropped, unless the header says it is partial. */
    req[34 + 10] ^= 1;
    feed(&f->nif, req, n, 0);
    assert_int_equal(f->tx.sent, 1);
    assert_int_equal(f->nif.stats.drops, 1);
    feed(&f->nif, req, n, NET_RX_CSUM_PARTIAL);
    assert_int_equal(f->tx.sent, 2);
}

static void test_udp_echo(void **state)
{
    struct fixture *f = *state;
    uint8_t req[NET_FRAME_MAX];
    const char payload[] = "seq=000042 hello";
    size_t n = udp_frame(req, 40000, 7, payload, sizeof payload);
    feed(&f->nif, req, n, 0);
    assert_int_equal(f->tx.sent, 1);
    assert_int_equal(f->nif.stats.udp_echoed, 1);
    const uint8_t *r = f->tx.bufs[0], *ip = r + 14, *u = ip + 20;
    assert_int_equal(f->tx.lens[0], n < NET_ETH_MIN ? NET_ETH_MIN : n);
    assert_memory_equal(r, peer_mac, 6);
    assert_memory_equal(r + 6, our_mac, 6);
    assert_int_equal(net_rd16(ip + 2), 20 + 8 + sizeof payload);
    assert_int_equal(csum_fold(csum_add(0, ip, 20)), 0);
    assert_int_equal(net_rd16(u), 7);
    assert_int_equal(net_rd16(u + 2), 40000);
    assert_int_equal(net_rd16(u + 4), 8 + sizeof payload);
    assert_memory_equal(u + 8, payload, sizeof payload);
    assert_int_equal(
        csum_fold(csum_add(pseudo(OUR_IP, PEER_IP, 17, 8 + sizeof payload), u, 8 + sizeof payload)),
        0);

    /* The largest datagram that fits the MTU comes back whole. */
    static uint8_t big[1472];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i ^ 0x5a);
    n = udp_frame(req, 40000, 7, big, sizeof big);
    assert_int_equal(n, NET_FRAME_MAX);
    feed(&f->nif, req, n, 0);
    assert_int_equal(f->tx.sent, 2);
    assert_int_equal(f->tx.lens[1], NET_FRAME_MAX);
    assert_memory_equal(f->tx.bufs[1] + 42, big, sizeof big);

    /* A zero UDP checksum means none: still answered. */
    n = udp_frame(req, 40000, 7, payload, sizeof payload);
    net_wr16(req + 40, 0);
    feed(&f->nif, req, n, 0);
    assert_int_equal(f->tx.sent, 3);
}

static void test_udp_to_other_ports_and_hosts_is_ignored(void **state)
{
    struct fixture *f = *state;
    uint8_t req[200];
    size_t n = udp_frame(req, 40000, 9, "x", 1);
    feed(&f->nif, req, n, 0);
    n = udp_frame(req, 0, 7, "x", 1);      /* source port 0: nowhere to answer */
    feed(&f->nif, req, n, 0);
    n = udp_frame(req, 40000, 7, "x", 1);
    req[0] ^= 0x02;                         /* another host's MAC */
    feed(&f->nif, req, n, 0);
    n = udp_frame(req, 40000, 7, "x", 1);
    net_wr16(req + 12, 0x86dd);             /* IPv6 */
    feed(&f->nif, req, n, 0);
    assert_int_equal(f->tx.sent, 0);
    assert_int_equal(f->nif.stats.ignored, 4);
    assert_int_equal(f->nif.stats.drops, 0);
}

static void test_malformed_ip_is_dropped(void **state)
{
    struct fixture *f = *state;
    uint8_t req[200], bad[200];
    size_t n = udp_frame(req, 40000, 7, "payload", 7);
    struct {
        size_t off;
        uint8_t val;
    } pokes[] = {
        { 14, 0x44 },           /* IHL 4 */
        { 14, 0x65 },           /* version 6 */
        { 14, 0x4f },           /* IHL 15: longer than the packet */
        { 16, 0xff },           /* total length > frame */
        { 17, 10 },             /* total length < header */
        { 20, 0x20 },           /* more fragments */
        { 21, 0x01 },           /* fragment offset */
        { 24, 0x00 },           /* header checksum */
        { 38, 0xff },           /* UDP length > IP payload */
        { 39, 3 },              /* UDP length < 8 (with 38 = 0) */
        { 40, 0x00 },           /* UDP checksum */
    };
    for (size_t i = 0; i < sizeof pokes / sizeof pokes[0]; i++) {
        memcpy(bad, req, n);
        if (pokes[i].off == 39)
            bad[38] = 0;
        if (bad[pokes[i].off] == pokes[i].val)
            bad[pokes[i].off] ^= 0x80;
        else
            bad[pokes[i].off] = pokes[i].val;
        /* Keep the IP checksum right when we changed the header (but not
         * when the checksum itself is the fault). */
        if (pokes[i].off < 34 && pokes[i].off != 24 && pokes[i].off != 25 && (bad[14] & 0xf) == 5 &&
            (bad[14] >> 4) == 4) {
            net_wr16(bad + 24, 0);
            net_wr16(bad + 24, csum_fold(csum_add(0, bad + 14, 20)));
        }
        feed(&f->nif, bad, n, 0);
        assert_int_equal(f->tx.sent, 0);
        assert_int_equal(f->nif.stats.drops, i + 1);
    }
    /* Short frames. */
    feed(&f->nif, req, 13, 0);
    feed(&f->nif, req, 14 + 19, 0);
    assert_int_equal(f->tx.sent, 0);
}

static void test_answers_only_to_unicast_sources(void **state)
{
    struct fixture *f = *state;
    uint8_t req[200];
    size_t n = udp_frame(req, 40000, 7, "x", 1);
    uint32_t sources[] = { 0x0a0000ffu /* subnet broadcast */, 0xe0000001u, 0, OUR_IP };
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++) {
        net_wr32(req + 26, sources[i]);
        net_wr16(req + 24, 0);
        net_wr16(req + 24, csum_fold(csum_add(0, req + 14, 20)));
        net_wr16(req + 40, 0);      /* no UDP checksum */
        feed(&f->nif, req, n, 0);
    }
    assert_int_equal(f->tx.sent, 0);
    /* A multicast Ethernet source is dropped. */
    n = udp_frame(req, 40000, 7, "x", 1);
    req[6] |= 1;
    feed(&f->nif, req, n, 0);
    assert_int_equal(f->tx.sent, 0);
}

static void test_tx_full_counts_a_drop(void **state)
{
    struct fixture *f = *state;
    f->tx.limit = 0;
    uint8_t req[200];
    size_t n = udp_frame(req, 40000, 7, "x", 1);
    feed(&f->nif, req, n, 0);
    assert_int_equal(f->nif.stats.udp_echoed, 0);
    assert_int_equal(f->nif.stats.drops, 1);
}

/* Every truncation and every single-byte corruption of valid frames:
 * nothing crashes, nothing over-reads, every answer fits a frame. */
static void test_truncations_and_corruptions(void **state)
{
    struct fixture *f = *state;
    uint8_t frames[3][NET_FRAME_MAX];
    size_t lens[3];
    lens[0] = udp_frame(frames[0], 40000, 7, "0123456789abcdef", 16);
    lens[1] = ping_frame(frames[1], 1, 2, 40);
    lens[2] = arp_frame(frames[2], our_mac, 1, PEER_IP, OUR_IP);
    for (int k = 0; k < 3; k++) {
        for (size_t len = 0; len <= lens[k]; len++) {
            f->tx.allocated = f->tx.sent = 0;
            feed(&f->nif, frames[k], len, 0);
        }
        for (size_t pos = 0; pos < lens[k]; pos++) {
            for (int bit = 0; bit < 8; bit++) {
                uint8_t bad[NET_FRAME_MAX];
                memcpy(bad, frames[k], lens[k]);
                bad[pos] ^= (uint8_t)(1 << bit);
                f->tx.allocated = f->tx.sent = 0;
                feed(&f->nif, bad, lens[k], 0);
                assert_int_equal(f->tx.allocated, f->tx.sent);
            }
        }
    }
    /* Random garbage. */
    srand(1);
    for (int i = 0; i < 20000; i++) {
        uint8_t junk[128];
        size_t len = (size_t)rand() % sizeof junk;
        for (size_t j = 0; j < len; j++)
            junk[j] = (uint8_t)rand();
        if (len >= 14 && (i & 1)) {
            memcpy(junk, our_mac, 6);
            net_wr16(junk + 12, (i & 2) ? NET_ETHERTYPE_IPV4 : NET_ETHERTYPE_ARP);
            junk[6] &= 0xfe;
        }
        f->tx.allocated = f->tx.sent = 0;
        feed(&f->nif, junk, len, 0);
        assert_int_equal(f->tx.allocated, f->tx.sent);
    }
}

/* --- the virtqueue against a fake device --- */

static void test_vq_pick_size(void **state)
{
    (void)state;
    assert_int_equal(vq_pick_size(0), 0);
    assert_int_equal(vq_pick_size(1), 1);
    assert_int_equal(vq_pick_size(1024), 256);
    assert_int_equal(vq_pick_size(256), 256);
    assert_int_equal(vq_pick_size(200), 128);
    assert_int_equal(vq_pick_size(3), 2);
}

static void test_vq_push_publish_pop(void **state)
{
    (void)state;
    static struct vq_mem mem;
    struct virtqueue vq;
    vq_init(&vq, &mem, 4);
    assert_int_equal(mem.avail.flags, VIRTQ_AVAIL_F_NO_INTERRUPT);
    assert_int_equal(vq_should_notify(&vq), 0);     /* nothing new */

    /* Wrap the 16-bit indices and the ring several times. */
    uint16_t device_seen = 0;
    for (unsigned round = 0; round < 70000; round++) {
        uint16_t id = (uint16_t)(round % 4);
        vq_push(&vq, id);
        assert_int_equal(mem.avail.idx, (uint16_t)(vq.avail_idx - 1));  /* not yet visible */
        vq_publish(&vq);
        assert_int_equal(mem.avail.idx, vq.avail_idx);
        assert_int_equal(vq_should_notify(&vq), 1);
        vq_notified(&vq);
        assert_int_equal(vq_should_notify(&vq), 0);
        /* The device takes the entry and uses it. */
        assert_int_equal(mem.avail.ring[device_seen % 4], id);
        mem.used.ring[mem.used.idx % 4] = (struct vring_used_elem){ id, 100 + id };
        device_seen++;
        mem.used.idx++;
        uint32_t got_id, got_len;
        assert_int_equal(vq_pop_used(&vq, &got_id, &got_len), 1);
        assert_int_equal(got_id, id);
        assert_int_equal(got_len, 100 + id);
        assert_int_equal(vq_pop_used(&vq, &got_id, &got_len), 0);
    }

    /* A device that polls asks for no notifications. */
    mem.used.flags = VIRTQ_USED_F_NO_NOTIFY;
    vq_push(&vq, 1);
    vq_publish(&vq);
    assert_int_equal(vq_should_notify(&vq), 0);
    assert_int_equal(vq_known_unused(&vq), 1);
}

/* A device that rereads avail->idx uses entries it was never notified
 * of: the count of known entries is then 0, not a wrapped 16-bit value,
 * so the driver notifies after its next refill. */
static void test_vq_known_unused_never_wraps(void **state)
{
    (void)state;
    static struct vq_mem mem;
    struct virtqueue vq;
    vq_init(&vq, &mem, 8);
    for (uint16_t i = 0; i < 8; i++)
        vq_push(&vq, i);
    vq_publish(&vq);
    assert_int_equal(vq_should_notify(&vq), 1);
    vq_notified(&vq);
    assert_int_equal(vq_known_unused(&vq), 8);
    uint32_t id, len;
    for (int round = 0; round < 3; round++) {
        /* The device uses all 8; we give each back, publish, no notify. */
        for (uint16_t i = 0; i < 8; i++) {
            mem.used.ring[mem.used.idx % 8] = (struct vring_used_elem){ i, 64 };
            mem.used.idx++;
        }
        for (uint16_t i = 0; i < 8; i++) {
            assert_int_equal(vq_pop_used(&vq, &id, &len), 1);
            vq_push(&vq, (uint16_t)id);
        }
        vq_publish(&vq);
        assert_int_equal(vq_known_unused(&vq), 0);
    }
    assert_int_equal(vq_should_notify(&vq), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksum_known_values),
        cmocka_unit_test(test_parse_cidr),
        cmocka_unit_test_setup_teardown(test_arp_request_for_us_is_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arp_for_others_is_ignored_and_not_learnt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_arp_cache_keeps_the_last_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_resolves_sends_and_counts_answers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ping_is_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp_to_other_ports_and_hosts_is_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_malformed_ip_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answers_only_to_unicast_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_full_counts_a_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncations_and_corruptions, setup, teardown),
        cmocka_unit_test(test_vq_pick_size),
        cmocka_unit_test(test_vq_push_publish_pop),
        cmocka_unit_test(test_vq_known_unused_never_wraps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
