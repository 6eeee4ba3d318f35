/*
 * echo: the network workload.  vCPU 0 runs a polling virtio-net driver and
 * a small IPv4 stack in ring 3: it answers ARP, ping, and UDP datagrams to
 * its port by sending the same payload back (clients put a sequence
 * number in it, so they see what a migration lost).  After a live
 * migration the device sets the ANNOUNCE status bit; echo then sends a
 * gratuitous ARP, so the network learns the VM's new place, and
 * acknowledges on the control queue.
 *
 * With memtouch's keys on the command line, vCPUs 1..n-1 also run
 * memtouch's sweeps and checks (vCPU 0 reports for them), so one guest
 * proves that both its memory and its traffic survive a migration.
 *
 * Command line:
 *   ip=A.B.C.D/LEN   our address (required)
 *   port=N           UDP echo port (default 7)
 *   peer=A.B.C.D     also talk to another VM: resolve its MAC by ARP, then
 *                    send it numbered UDP requests on port 7 from port
 *                    40000 and count distinct answers and duplicates
 *                    (VM-to-VM traffic)
 *   peer_rate=N      requests a second to the peer (default 100)
 *   mem= rate= check= verify= progress=   memtouch's (see memtouch.c);
 *                    any of mem, rate, check or verify turns the sweeps on
 *
 * Console: "echo: A.B.C.D on MAC ..." at start, a progress line a second
 * ("echo: t=Ns rx=.. tx=.. udp=.. ping=.. arp=.. drops=.. ..."; with a
 * peer also "peer_sent=.. peer_answered=.. peer_duplicated=.. peer_stray=.."),
 * and "echo: announce" for each gratuitous ARP.
 */
#include "apps/memtouch_core.h"
#include "drivers/virtio_net.h"
#include "net/net.h"
#include "sdk.h"

#define RX_BUDGET 64                    /* frames per poll, then one TX notify */
#define CONFIG_POLL_NS 10000000ULL      /* read the config status every 10 ms */
#define SECOND_NS 1000000000ULL
#define PEER_ECHO_PORT 7
#define PEER_CLIENT_PORT 40000
#define ARP_RETRY_NS 100000000ULL      /* ask for the peer's MAC again after 100 ms */

static struct vnet nic;
static struct net_if nif;

/* The VM-to-VM client: numbered requests to another VM's echo port.  A
 * bit per sequence number in a sliding window tells a first answer from
 * a duplicate (a migration may deliver a request to both copies). */
#define PEER_WINDOW 65536               /* sequence numbers remembered */
struct peer {
    uint32_t ip;            /* 0: no peer */
    uint64_t interval_ns;
    uint64_t next_ns;       /* next request, or next ARP request while unresolved */
    uint64_t sent;          /* requests sent: sequence numbers 0..sent-1 */
    uint64_t answered;      /* distinct sequence numbers answered */
    uint64_t duplicated;    /* answers to a sequence number already answered */
    uint64_t stray;         /* answers we never asked for, or too old to tell */
    uint8_t seen[PEER_WINDOW / 8];
};
static struct peer peer;

static void peer_answer(void *ctx, uint32_t src, const uint8_t *payload, size_t len)
{
    (void)ctx;
    uint64_t seq;
    if (src != peer.ip || len != sizeof seq) {
        peer.stray++;
        return;
    }
    memcpy(&seq, payload, sizeof seq);
    if (seq >= peer.sent || peer.sent - seq > PEER_WINDOW) {
        peer.stray++;
        return;
    }
    uint8_t *byte = &peer.seen[seq % PEER_WINDOW / 8], bit = (uint8_t)(1u << (seq % 8));
    if (*byte & bit) {
        peer.duplicated++;
        return;
    }
    *byte |= bit;
    peer.answered++;
}

static int memtouch_wanted(void)
{
    char buf[64];
    return cmdline_get("mem", buf, sizeof buf) || cmdline_get("rate", buf, sizeof buf) ||
           cmdline_get("check", buf, sizeof buf) || cmdline_get("verify", buf, sizeof buf);
}

static uint8_t *tx_alloc(void *ctx) { return vnet_tx_alloc(ctx); }
static void tx_send(void *ctx, uint8_t *frame, size_t len) { vnet_tx_send(ctx, frame, len); }

static void rx_frame(void *ctx, const uint8_t *frame, size_t len, unsigned hdr_flags)
{
    net_input(ctx, frame, len, hdr_flags & VIRTIO_NET_HDR_F_NEEDS_CSUM ? NET_RX_CSUM_PARTIAL : 0);
}

static void peer_setup(void)
{
    char buf[32];
    unsigned prefix;
    if (!cmdline_get("peer", buf, sizeof buf))
        return;
    if (net_parse_cidr(buf, &peer.ip, &prefix) || prefix != 32 || peer.ip == 0) {
        printf("echo: peer=%s is not an IPv4 address\n", buf);
        sdk_exit(2);
    }
    if ((peer.ip ^ nif.ip) & nif.netmask || peer.ip == nif.ip) {
        printf("echo: peer=%s is not another address on our subnet (no routing here)\n", buf);
        sdk_exit(2);
    }
    uint64_t rate = cmdline_get_u64("peer_rate", 100);
    if (rate == 0 || rate > 100000) {
        printf("echo: peer_rate=%lu must be 1..100000 requests a second\n", (unsigned long)rate);
        sdk_exit(2);
    }
    peer.interval_ns = SECOND_NS / rate;
    nif.client_port = PEER_CLIENT_PORT;
    nif.client_rx = peer_answer;
}

/* Sends the peer its next request when one is due; until its MAC is
 * known, an ARP request every ARP_RETRY_NS instead. */
static void peer_poll(uint64_t now)
{
    if (!peer.ip || now < peer.next_ns)
        return;
    uint64_t seq = peer.sent;
    /* Forget the answer to the number this one reuses a bit with. */
    peer.seen[seq % PEER_WINDOW / 8] &= (uint8_t)~(1u << (seq % 8));
    int err = net_send_udp(&nif, peer.ip, PEER_CLIENT_PORT, PEER_ECHO_PORT, &seq, sizeof seq);
    if (err == -2) {
        net_send_arp_request(&nif, peer.ip);
        peer.next_ns = now + ARP_RETRY_NS;
    } else {
        peer.sent += err == 0;
        peer.next_ns += peer.interval_ns;
        if (peer.next_ns <= now)        /* paused or behind: no burst */
            peer.next_ns = now + peer.interval_ns;
    }
    vnet_tx_flush(&nic);
}

static void setup(void)
{
    char ipbuf[32];
    uint32_t ip;
    unsigned prefix;
    if (!cmdline_get("ip", ipbuf, sizeof ipbuf) || net_parse_cidr(ipbuf, &ip, &prefix)) {
        printf("echo: needs ip=A.B.C.D/LEN on the command line\n");
        sdk_exit(2);
    }
    uint64_t port = cmdline_get_u64("port", 7);
    if (port == 0 || port > 65535) {
        printf("echo: port=%lu is not a UDP port\n", (unsigned long)port);
        sdk_exit(2);
    }
    int err = vnet_open(&nic, sdk_boot_info());
    if (err) {
        static const char *const why[] = { "", "no virtio-net device",
                                           "the device refused our features",
                                           "the device lacks a queue" };
        printf("echo: %s\n", why[-err]);
        sdk_exit(3);
    }
    struct net_tx tx = { tx_alloc, tx_send, &nic };
    net_init(&nif, nic.mac, ip, prefix, (uint16_t)port, &tx);
    peer_setup();
    printf("echo: %u.%u.%u.%u on %02x:%02x:%02x:%02x:%02x:%02x, udp port %u, features 0x%lx\n",
           ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, nic.mac[0], nic.mac[1],
           nic.mac[2], nic.mac[3], nic.mac[4], nic.mac[5], (unsigned)port,
           (unsigned long)nic.features);
}

/* After a migration: tell the network where we are, then the device. */
struct announcer {
    uint64_t next_ns;
    int unacked;        /* announced, but the device cannot take the ack */
};

static void announce_check(struct announcer *a, uint64_t now)
{
    if (vnet_ctrl_poll(&nic) < 0)
        printf("echo: the device refused the announce ack\n");
    if (now < a->next_ns || nic.ctrl_busy)
        return;
    a->next_ns = now + CONFIG_POLL_NS;
    if (!(vnet_config_status(&nic) & VIRTIO_NET_S_ANNOUNCE)) {
        a->unacked = 0;
        return;
    }
    if (a->unacked)
        return;
    if (net_send_garp(&nif) == 0) {
        vnet_tx_flush(&nic);
        printf("echo: announce\n");
    }
    if (vnet_announce_ack(&nic))
        a->unacked = 1;
}

static void report(uint64_t start_ns, uint64_t now)
{
    static uint64_t last_udp;
    const struct net_stats *s = &nif.stats;
    printf("echo: t=%lus rx=%lu tx=%lu udp=%lu udp/s=%lu ping=%lu arp=%lu drops=%lu "
           "ignored=%lu notifies=%lu\n",
           (unsigned long)((now - start_ns) / SECOND_NS), (unsigned long)s->rx_frames,
           (unsigned long)s->tx_frames, (unsigned long)s->udp_echoed,
           (unsigned long)(s->udp_echoed - last_udp), (unsigned long)s->pings,
           (unsigned long)s->arp_replies, (unsigned long)(s->drops + nic.stats.rx_bad),
           (unsigned long)s->ignored, (unsigned long)nic.stats.notifies);
    last_udp = s->udp_echoed;
    if (peer.ip)
        printf("echo: peer_sent=%lu peer_answered=%lu peer_duplicated=%lu peer_stray=%lu\n",
               (unsigned long)peer.sent, (unsigned long)peer.answered,
               (unsigned long)peer.duplicated, (unsigned long)peer.stray);
}

static void net_loop(int memtouch)
{
    struct announcer announcer = { 0 };
    uint64_t start_ns = clock_ns(), next_report = start_ns + SECOND_NS;
    for (;;) {
        if (vnet_rx_poll(&nic, RX_BUDGET, rx_frame, &nif))
            vnet_tx_flush(&nic);
        uint64_t now = clock_ns();
        announce_check(&announcer, now);
        peer_poll(now);
        if (memtouch)
            mt_poll(now);
        if (now >= next_report) {
            report(start_ns, now);
            next_report += SECOND_NS;
            if (next_report <= now)     /* we were paused: no burst of stale lines */
                next_report = now + SECOND_NS;
        }
    }
}

void app_main(unsigned cpu)
{
    int memtouch = memtouch_wanted();
    if (cpu != 0) {
        if (memtouch)
            mt_run(cpu);
        return;
    }
    setup();
    if (memtouch) {
        if (sdk_ncpus() < 2) {
            printf("echo: memtouch's sweeps need a second vCPU (vCPU 0 runs the network)\n");
            sdk_exit(2);
        }
        mt_setup(1);
    }
    net_loop(memtouch);
}
