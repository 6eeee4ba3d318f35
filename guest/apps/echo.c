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
 *   mem= rate= check= verify= progress=   memtouch's (see memtouch.c);
 *                    any of mem, rate, check or verify turns the sweeps on
 *
 * Console: "echo: A.B.C.D on MAC ..." at start, a progress line a second
 * ("echo: t=Ns rx=.. tx=.. udp=.. ping=.. arp=.. drops=.. ..."), and
 * "echo: announce" for each gratuitous ARP.
 */
#include "apps/memtouch_core.h"
#include "drivers/virtio_net.h"
#include "net/net.h"
#include "sdk.h"

#define RX_BUDGET 64                    /* frames per poll, then one TX notify */
#define CONFIG_POLL_NS 10000000ULL      /* read the config status every 10 ms */
#define SECOND_NS 1000000000ULL

static struct vnet nic;
static struct net_if nif;

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
    net_input(ctx, frame, len, hdr_flags & VNET_HDR_F_NEEDS_CSUM ? NET_RX_CSUM_PARTIAL : 0);
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
