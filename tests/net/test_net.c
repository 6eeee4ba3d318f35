/*
 * Tests of src/net against the real kernel.
 *
 * main() moves the process into a network namespace of its own
 * (unshare(CLONE_NEWNET)), so every bridge, vxlan, TAP and veth made here
 * vanishes with the process and nothing touches the host's network.  The
 * overlay test builds three more namespaces (hosts A, B and C on one
 * underlay switch) and switches between them with setns().  Without root
 * or without namespaces the whole executable exits 77 (skipped).
 *
 * veth pairs and IPv4 addresses are not part of the library's API; the
 * small helpers below make them with the library's private netlink.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/net.h"
#include "net/netlink.h"

#define PROBE_ETHERTYPE 0x88b5      /* IEEE local experimental */
#define FRAME_BYTES 60
#define VNET_HDR_BYTES 12

static const uint8_t vm_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t zero_mac[6];
static const uint8_t src_mac[6] = {0x52, 0x54, 0x00, 0xaa, 0x00, 0x01};

static int root_ns = -1;    /* the namespace main() made; tests return to it */

/* --- helpers --- */

static struct in_addr ip4(const char *text)
{
    struct in_addr a;

    assert_int_equal(inet_pton(AF_INET, text, &a), 1);
    return a;
}

static void link_up(const char *ifname)
{
    char why[NL_WHY_BYTES];
    struct nl_link link;

    assert_int_equal(nl_link_get(ifname, &link, why, sizeof why), 0);
    assert_int_equal(nl_link_set_up(link.ifindex, true, why, sizeof why), 0);
}

/* A veth pair name <-> peer, the peer moved into peer_ns (or here if -1). */
static void veth_create(const char *name, const char *peer, int peer_ns)
{
    char buf[NL_REQ_BYTES] = {0}, why[NL_WHY_BYTES];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ifinfomsg *ifi, *pifi;
    struct nlattr *linkinfo, *data, *peerinfo;
    int rc;

    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    peerinfo = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    pifi = (struct ifinfomsg *)((char *)nlh + nlh->nlmsg_len);
    memset(pifi, 0, sizeof *pifi);
    nlh->nlmsg_len += MNL_ALIGN(sizeof *pifi);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
    if (peer_ns >= 0)
        mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_ns);
    mnl_attr_nest_end(nlh, peerinfo);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, linkinfo);
    rc = nl_request(nlh, NULL, NULL, why, sizeof why);
    if (rc < 0)
        fail_msg("veth %s/%s: %s", name, peer, why);
}

static void addr_add(const char *ifname, const char *ip, int prefix)
{
    char buf[NL_REQ_BYTES] = {0}, why[NL_WHY_BYTES];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ifaddrmsg *ifa;
    struct in_addr a = ip4(ip);

    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    ifa = mnl_nlmsg_put_extra_header(nlh, sizeof *ifa);
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_index = if_nametoindex(ifname);
    assert_true(ifa->ifa_index != 0);
    mnl_attr_put(nlh, IFA_LOCAL, sizeof a, &a);
    mnl_attr_put(nlh, IFA_ADDRESS, sizeof a, &a);
    if (nl_request(nlh, NULL, NULL, why, sizeof why) < 0)
        fail_msg("address %s on %s: %s", ip, ifname, why);
}

struct brport_walk {
    int ifindex;
    int learning, unicast_flood;    /* -1: not reported */
};

static int brport_reply(const struct nlmsghdr *nlh, void *data)
{
    struct brport_walk *w = data;
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *attr, *p;

    if (nlh->nlmsg_type != RTM_NEWLINK || ifi->ifi_index != w->ifindex)
        return 0;
    mnl_attr_for_each(attr, nlh, sizeof *ifi) {
        if (mnl_attr_get_type(attr) != IFLA_PROTINFO)
            continue;
        mnl_attr_for_each_nested(p, attr) {
            if (mnl_attr_get_type(p) == IFLA_BRPORT_LEARNING)
                w->learning = mnl_attr_get_u8(p);
            if (mnl_attr_get_type(p) == IFLA_BRPORT_UNICAST_FLOOD)
                w->unicast_flood = mnl_attr_get_u8(p);
        }
    }
    return 0;
}

/* The learning and unicast-flood flags of a bridge port. */
static struct brport_walk brport_flags(const char *ifname)
{
    char buf[NL_REQ_BYTES] = {0}, why[NL_WHY_BYTES];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct brport_walk w = {.ifindex = (int)if_nametoindex(ifname), -1, -1};
    struct ifinfomsg *ifi;

    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
    ifi->ifi_family = AF_BRIDGE;
    assert_int_equal(nl_request(nlh, brport_reply, &w, why, sizeof why), 0);
    return w;
}

static void make_frame(uint8_t frame[FRAME_BYTES], const uint8_t dst[6], int seq)
{
    memset(frame, 0, FRAME_BYTES);
    memcpy(frame, dst, 6);
    memcpy(frame + 6, src_mac, 6);
    frame[12] = PROBE_ETHERTYPE >> 8;
    frame[13] = PROBE_ETHERTYPE & 0xff;
    snprintf((char *)frame + 14, FRAME_BYTES - 14, "godwit-probe-%d", seq);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads frames from fd (skipping `skip` header bytes: the vnet header of a
 * TAP) until one equals want, for up to timeout_ms. */
static bool wait_frame(int fd, size_t skip, const uint8_t want[FRAME_BYTES], int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    uint8_t buf[2048];

    for (;;) {
        int64_t left = deadline - now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return false;
        n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0)
            n = read(fd, buf, sizeof buf);      /* a TAP fd is not a socket */
        if (n >= (ssize_t)(skip + FRAME_BYTES) && memcmp(buf + skip, want, FRAME_BYTES) == 0)
            return true;
    }
}

/* net_send_frame through a socket of the current namespace (the tests
 * change namespace, and a packet socket belongs to the one it was made in). */
static int send_frame(const char *ifname, const void *frame, size_t len, struct gw_error *err)
{
    int fd = net_frame_socket(err);
    if (fd < 0)
        return fd;
    int rc = net_send_frame(fd, ifname, frame, len, err);
    close(fd);
    return rc;
}

/* An AF_PACKET socket that receives every frame arriving on ifname. */
static int packet_socket(const char *ifname)
{
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

    assert_true(fd >= 0);
    sll.sll_ifindex = (int)if_nametoindex(ifname);
    assert_true(sll.sll_ifindex != 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof sll), 0);
    return fd;
}

/* --- MAC text --- */

static void test_mac_text(void **state)
{
    static const char *junk[] = {
        "", "52:54:00:12:34", "52:54:00:12:34:56:", "52:54:00:12:34:567", "52-54-00-12-34-56",
        "5:54:00:12:34:56", "52:54:00:12:34:5g", "52:54:00:12:34: 6", " 52:54:00:12:34:56",
        "525400123456", "52:54:00:12:34:56\n",
    };
    uint8_t mac[6], back[6];
    char text[18];

    (void)state;
    assert_int_equal(net_parse_mac("52:54:00:12:34:56", mac), 0);
    assert_memory_equal(mac, vm_mac, 6);
    net_format_mac(mac, text);
    assert_string_equal(text, "52:54:00:12:34:56");
    assert_int_equal(net_parse_mac("FE:ff:0A:bc:De:01", mac), 0);
    net_format_mac(mac, text);
    assert_string_equal(text, "fe:ff:0a:bc:de:01");
    assert_int_equal(net_parse_mac(text, back), 0);
    assert_memory_equal(mac, back, 6);

    memcpy(back, vm_mac, 6);
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        assert_int_equal(net_parse_mac(junk[i], back), -EINVAL);
        assert_memory_equal(back, vm_mac, 6);   /* untouched on failure */
    }
    assert_int_equal(net_parse_mac(NULL, back), -EINVAL);
}

/* --- links --- */

static void test_bridge(void **state)
{
    struct gw_error err = {0};
    uint8_t mac[6];

    (void)state;
    assert_false(net_link_exists("gwdup0"));
    assert_int_equal(net_bridge_create("gwdup0", &err), 0);
    assert_true(net_link_exists("gwdup0"));
    assert_int_equal(net_link_mac("gwdup0", mac, &err), 0);

    assert_int_equal(net_bridge_create("gwdup0", &err), -EEXIST);
    assert_int_equal(err.code, -EEXIST);
    assert_string_equal(err.msg, "cannot create bridge gwdup0: File exists");

    assert_int_equal(net_bridge_create("a-name-far-too-long", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "invalid interface name"));
    assert_int_equal(net_bridge_create("bad/name", &err), -EINVAL);

    assert_int_equal(net_link_delete("gwdup0", &err), 0);
    assert_false(net_link_exists("gwdup0"));
    assert_int_equal(net_link_delete("gwdup0", &err), -ENODEV);
    assert_non_null(strstr(err.msg, "cannot delete link gwdup0: "));
    assert_int_equal(net_link_mac("gwdup0", mac, &err), -ENODEV);
    assert_false(net_link_exists(""));
    assert_false(net_link_exists(NULL));
}

static void test_attach(void **state)
{
    struct gw_error err = {0};
    struct nl_link port, br;
    char why[NL_WHY_BYTES];

    (void)state;
    veth_create("gwat0", "gwat1", -1);
    assert_int_equal(net_link_attach("gwat0", "gwnobr", &err), -ENODEV);
    assert_string_equal(err.msg,
                        "cannot attach gwat0 to bridge gwnobr: bridge gwnobr does not exist");
    assert_int_equal(net_link_attach("gwat0", "gwat1", &err), -EINVAL);
    assert_string_equal(err.msg, "cannot attach gwat0 to bridge gwat1: gwat1 is not a bridge");

    assert_int_equal(net_bridge_create("gwatbr", &err), 0);
    assert_int_equal(net_link_attach("gwnolink", "gwatbr", &err), -ENODEV);
    assert_string_equal(err.msg, "cannot attach gwnolink to bridge gwatbr: no such link");
    assert_int_equal(net_link_attach("gwat0", "gwatbr", &err), 0);
    assert_int_equal(nl_link_get("gwat0", &port, why, sizeof why), 0);
    assert_int_equal(nl_link_get("gwatbr", &br, why, sizeof why), 0);
    assert_int_equal(port.master, br.ifindex);
    /* Local ports keep the bridge's defaults. */
    assert_int_equal(brport_flags("gwat0").learning, 1);

    assert_int_equal(net_link_delete("gwat0", &err), 0);
    assert_int_equal(net_link_delete("gwatbr", &err), 0);
}

/* --- VXLAN and its FDB --- */

static void test_vxlan_fdb(void **state)
{
    struct gw_error err = {0};
    struct in_addr local = ip4("10.1.0.1"), r2 = ip4("10.1.0.2"), r3 = ip4("10.1.0.3");
    struct in_addr got[4];
    static const uint8_t other[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x09};
    struct nl_link vx, br;
    char why[NL_WHY_BYTES];
    struct brport_walk flags;

    (void)state;
    veth_create("gwul0", "gwul1", -1);
    addr_add("gwul0", "10.1.0.1", 24);
    link_up("gwul0");
    assert_int_equal(net_bridge_create("gwbr1", &err), 0);

    assert_int_equal(net_vxlan_create("gwvx1", 0, local, 4789, "gwul0", "gwbr1", &err), -EINVAL);
    assert_int_equal(net_vxlan_create("gwvx1", 100, local, 4789, "gwnoul", "gwbr1", &err), -ENODEV);
    assert_string_equal(err.msg,
                        "cannot create vxlan gwvx1: underlay device gwnoul does not exist");
    assert_int_equal(net_vxlan_create("gwvx1", 100, local, 4789, "gwul0", "gwnobr", &err), -ENODEV);
    assert_string_equal(err.msg, "cannot create vxlan gwvx1: bridge gwnobr does not exist");
    assert_false(net_link_exists("gwvx1"));

    assert_int_equal(net_vxlan_create("gwvx1", 100, local, 4789, "gwul0", "gwbr1", &err), 0);
    assert_int_equal(nl_link_get("gwvx1", &vx, why, sizeof why), 0);
    assert_int_equal(nl_link_get("gwbr1", &br, why, sizeof why), 0);
    assert_string_equal(vx.kind, "vxlan");
    assert_int_equal(vx.master, br.ifindex);
    flags = brport_flags("gwvx1");
    assert_int_equal(flags.learning, 0);
    assert_int_equal(flags.unicast_flood, 1);

    assert_int_equal(net_vxlan_create("gwvx1", 101, local, 4789, "gwul0", NULL, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "cannot create vxlan gwvx1: "));
    /* Same VNI and port twice: the kernel explains in its extended ack. */
    assert_int_equal(net_vxlan_create("gwvx2", 100, local, 4789, "gwul0", NULL, &err), -EEXIST);
    print_message("      same VNI: %s\n", err.msg);
    assert_false(net_link_exists("gwvx2"));

    /* A unicast MAC has one destination: append refuses a second one
     * rather than let the kernel drop it silently; replace moves it. */
    assert_int_equal(net_fdb_lookup("gwvx1", vm_mac, got, 4, &err), 0);
    assert_int_equal(net_fdb_append("gwvx1", vm_mac, r2, &err), 0);
    assert_int_equal(net_fdb_append("gwvx1", vm_mac, r2, &err), 0);   /* idempotent */
    assert_int_equal(net_fdb_append("gwvx1", vm_mac, r3, &err), -EOPNOTSUPP);
    print_message("      second unicast destination: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "(it has 10.1.0.2)"));
    assert_int_equal(net_fdb_lookup("gwvx1", vm_mac, got, 4, &err), 1);
    assert_int_equal(got[0].s_addr, r2.s_addr);
    assert_int_equal(net_fdb_replace("gwvx1", vm_mac, r3, &err), 0);
    assert_int_equal(net_fdb_lookup("gwvx1", vm_mac, got, 4, &err), 1);
    assert_int_equal(got[0].s_addr, r3.s_addr);
    assert_int_equal(net_fdb_replace("gwvx1", other, r2, &err), 0);     /* creates */
    assert_int_equal(net_fdb_lookup("gwvx1", other, got, 4, &err), 1);
    assert_int_equal(net_fdb_replace("gwvx1", zero_mac, r2, &err), -EINVAL);

    /* The default entry takes several: two remotes (2), remove one (1),
     * remove a missing one (-ENOENT). */
    assert_int_equal(net_fdb_append("gwvx1", zero_mac, r2, &err), 0);
    assert_int_equal(net_fdb_append("gwvx1", zero_mac, r3, &err), 0);
    assert_int_equal(net_fdb_append("gwvx1", zero_mac, r3, &err), 0);  /* idempotent */
    assert_int_equal(net_fdb_lookup("gwvx1", zero_mac, got, 4, &err), 2);
    assert_true((got[0].s_addr == r2.s_addr && got[1].s_addr == r3.s_addr) ||
                (got[0].s_addr == r3.s_addr && got[1].s_addr == r2.s_addr));
    assert_int_equal(net_fdb_lookup("gwvx1", zero_mac, got, 1, &err), 1);
    assert_int_equal(net_fdb_remove("gwvx1", zero_mac, r2, &err), 0);
    assert_int_equal(net_fdb_lookup("gwvx1", zero_mac, got, 4, &err), 1);
    assert_int_equal(got[0].s_addr, r3.s_addr);
    assert_int_equal(net_fdb_remove("gwvx1", zero_mac, r2, &err), -ENOENT);
    assert_string_equal(err.msg,
                        "cannot remove forwarding entry 00:00:00:00:00:00 -> 10.1.0.2 on gwvx1: "
                        "no such entry");

    assert_int_equal(net_fdb_remove("gwvx1", vm_mac, r2, &err), -ENOENT);
    assert_int_equal(net_fdb_remove("gwvx1", vm_mac, r3, &err), 0);
    assert_int_equal(net_fdb_lookup("gwvx1", vm_mac, got, 4, &err), 0);
    assert_int_equal(net_fdb_lookup("gwvx1", other, got, 4, &err), 1);

    assert_int_equal(net_fdb_append("gwbr1", vm_mac, r2, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not a vxlan device"));
    assert_int_equal(net_fdb_lookup("gwnovx", vm_mac, got, 4, &err), -ENODEV);

    assert_int_equal(net_link_delete("gwvx1", &err), 0);
    assert_int_equal(net_link_delete("gwbr1", &err), 0);
    assert_int_equal(net_link_delete("gwul0", &err), 0);
}

/* --- TAP --- */

static void test_tap(void **state)
{
    struct gw_error err = {0};
    uint8_t frame[FRAME_BYTES], buf[2048];
    uint64_t before, after = 0;
    int fd, fd2, seq = 0;
    int64_t deadline;

    (void)state;
    assert_int_equal(net_tap_open("gwtap0", &err), -ENODEV);
    assert_false(net_link_exists("gwtap0"));        /* opening did not create it */
    assert_int_equal(net_tap_delete("gwtap0", &err), -ENODEV);

    assert_int_equal(net_tap_create("gwtap0", &err), 0);
    assert_true(net_link_exists("gwtap0"));         /* persistent */
    assert_int_equal(net_tap_create("gwtap0", &err), -EEXIST);
    assert_string_equal(err.msg, "cannot create TAP gwtap0: a link of that name exists");

    assert_int_equal(net_bridge_create("gwbr2", &err), 0);
    assert_int_equal(net_tap_delete("gwbr2", &err), -EINVAL);
    assert_int_equal(net_link_attach("gwtap0", "gwbr2", &err), 0);
    veth_create("gwpt0", "gwpt1", -1);
    assert_int_equal(net_link_attach("gwpt0", "gwbr2", &err), 0);
    link_up("gwpt1");

    fd = net_tap_open("gwtap0", &err);
    assert_true(fd >= 0);
    fd2 = net_tap_open("gwtap0", &err);
    assert_int_equal(fd2, -EBUSY);
    assert_string_equal(err.msg, "cannot open TAP gwtap0: another process has it open");

    /* Frames to an unknown MAC flood to the TAP; nobody reads it, yet the
     * counter rises. */
    assert_int_equal(net_link_tx_packets("gwtap0", &before, &err), 0);
    deadline = now_ms() + 3000;
    while (now_ms() < deadline) {
        make_frame(frame, vm_mac, seq++);
        assert_int_equal(send_frame("gwpt1", frame, sizeof frame, &err), 0);
        usleep(20000);
        assert_int_equal(net_link_tx_packets("gwtap0", &after, &err), 0);
        if (seq >= 3 && after >= before + 3)   /* three of ours, whatever else came */
            break;
    }
    print_message("      TAP tx_packets %llu -> %llu after %d frames, unread\n",
                  (unsigned long long)before, (unsigned long long)after, seq);
    assert_true(after >= before + 3);
    /* The frames are there, behind the 12-byte virtio-net header. */
    assert_true(wait_frame(fd, VNET_HDR_BYTES, frame, 1000));
    while (read(fd, buf, sizeof buf) > 0)
        ;
    assert_int_equal(net_link_tx_packets("gwtap0", &before, &err), 0);
    assert_true(before >= after);

    /* Delete while it is held open: the link goes at once. */
    assert_int_equal(net_tap_delete("gwtap0", &err), 0);
    assert_false(net_link_exists("gwtap0"));
    close(fd);

    /* Delete when nobody holds it: persistence is cleared, it goes. */
    assert_int_equal(net_tap_create("gwtap1", &err), 0);
    fd = net_tap_open("gwtap1", &err);
    assert_true(fd >= 0);
    close(fd);
    assert_true(net_link_exists("gwtap1"));
    assert_int_equal(net_tap_delete("gwtap1", &err), 0);
    assert_false(net_link_exists("gwtap1"));

    assert_int_equal(net_link_delete("gwpt0", &err), 0);
    assert_int_equal(net_link_delete("gwbr2", &err), 0);
}

/* --- frames --- */

static void test_send_frame(void **state)
{
    struct gw_error err = {0};
    uint8_t frame[FRAME_BYTES];
    int sock;

    (void)state;
    veth_create("gwfr0", "gwfr1", -1);
    link_up("gwfr0");
    link_up("gwfr1");
    sock = packet_socket("gwfr1");
    make_frame(frame, vm_mac, 7);
    int fd = net_frame_socket(&err);
    assert_true(fd >= 0);
    assert_int_equal(net_send_frame(fd, "gwfr0", frame, sizeof frame, &err), 0);
    assert_true(wait_frame(sock, 0, frame, 2000));
    close(sock);

    assert_int_equal(net_send_frame(fd, "gwfr0", frame, 10, &err), -EINVAL);
    assert_int_equal(net_send_frame(fd, "gwnofr", frame, sizeof frame, &err), -ENODEV);
    close(fd);
    assert_string_equal(err.msg, "cannot send a frame on gwnofr: no such link");
    assert_int_equal(net_link_delete("gwfr0", &err), 0);
}

/* --- the overlay, end to end --- */

struct host {
    const char *name, *ip;
    int ns;
};

static void enter(int ns)
{
    assert_int_equal(setns(ns, CLONE_NEWNET), 0);
}

/* A host: a namespace with lo, an underlay port on the switch in the root
 * namespace, a bridge and a vxlan on it. */
static void host_init(struct host *h)
{
    struct gw_error err = {0};
    char sw_port[IFNAMSIZ];

    assert_int_equal(unshare(CLONE_NEWNET), 0);
    h->ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    assert_true(h->ns >= 0);
    link_up("lo");
    enter(root_ns);
    snprintf(sw_port, sizeof sw_port, "gwsw-%s", h->name);
    veth_create(sw_port, "gwul", h->ns);
    assert_int_equal(net_link_attach(sw_port, "gwsw", &err), 0);

    enter(h->ns);
    addr_add("gwul", h->ip, 24);
    link_up("gwul");
    assert_int_equal(net_bridge_create("gwbr0", &err), 0);
    if (net_vxlan_create("gwvx0", 42, ip4(h->ip), 4789, "gwul", "gwbr0", &err) < 0)
        fail_msg("%s", err.msg);
}

/* Sends frames for the VM's MAC into A's bridge until each TAP that
 * should get one has (retrying while the underlay resolves ARP), then
 * checks that a TAP that should not get one did not.  Leaves the process
 * in A's namespace. */
static bool overlay_send(struct host *a, int tap_b, int tap_c, int *seq, bool want_b, bool want_c)
{
    struct gw_error err = {0};
    uint8_t frame[FRAME_BYTES];
    bool at_b = false, at_c = false;
    int64_t deadline = now_ms() + 5000;
    int first = *seq;

    /* Empty both queues of earlier frames. */
    while (wait_frame(tap_b, VNET_HDR_BYTES, frame, 0) ||
           wait_frame(tap_c, VNET_HDR_BYTES, frame, 0))
        ;
    enter(a->ns);
    while (now_ms() < deadline && (at_b != want_b || at_c != want_c)) {
        make_frame(frame, vm_mac, (*seq)++);
        if (send_frame("gwin1", frame, sizeof frame, &err) < 0)
            fail_msg("%s", err.msg);
        at_b = at_b || wait_frame(tap_b, VNET_HDR_BYTES, frame, want_b ? 200 : 0);
        at_c = at_c || wait_frame(tap_c, VNET_HDR_BYTES, frame, want_c ? 200 : 0);
    }
    /* Every frame sent so far had time to arrive: one more, and a pause. */
    make_frame(frame, vm_mac, (*seq)++);
    if (send_frame("gwin1", frame, sizeof frame, &err) < 0)
        fail_msg("%s", err.msg);
    if (want_b)
        at_b = wait_frame(tap_b, VNET_HDR_BYTES, frame, 1000);
    if (want_c)
        at_c = wait_frame(tap_c, VNET_HDR_BYTES, frame, 1000);
    if (!want_b)
        at_b = wait_frame(tap_b, VNET_HDR_BYTES, frame, 300);
    if (!want_c)
        at_c = wait_frame(tap_c, VNET_HDR_BYTES, frame, 300);
    print_message("      overlay: %d frames from A; last reached B %s, C %s\n", *seq - first,
                  at_b ? "yes" : "no", at_c ? "yes" : "no");
    return at_b == want_b && at_c == want_c;
}

static void test_overlay(void **state)
{
    struct host a = {"a", "10.9.0.1", -1}, b = {"b", "10.9.0.2", -1}, c = {"c", "10.9.0.3", -1};
    struct gw_error err = {0};
    uint64_t queued = 0;
    int tap_b, tap_c, seq = 100;

    (void)state;
    assert_int_equal(net_bridge_create("gwsw", &err), 0);      /* the underlay switch */
    host_init(&a);
    host_init(&b);
    host_init(&c);

    /* B and C: a pre-created TAP for the VM, open but never read until the
     * end, as the incoming VMM holds it before resume. */
    enter(b.ns);
    assert_int_equal(net_tap_create("gwtap0", &err), 0);
    assert_int_equal(net_link_attach("gwtap0", "gwbr0", &err), 0);
    tap_b = net_tap_open("gwtap0", &err);
    assert_true(tap_b >= 0);
    enter(c.ns);
    assert_int_equal(net_tap_create("gwtap0", &err), 0);
    assert_int_equal(net_link_attach("gwtap0", "gwbr0", &err), 0);
    tap_c = net_tap_open("gwtap0", &err);
    assert_true(tap_c >= 0);

    /* A: a local port to inject frames; the default entry lists every
     * other host, and the VM (on B) has its own entry. */
    enter(a.ns);
    veth_create("gwin0", "gwin1", -1);
    assert_int_equal(net_link_attach("gwin0", "gwbr0", &err), 0);
    link_up("gwin1");
    assert_int_equal(net_fdb_append("gwvx0", zero_mac, ip4(b.ip), &err), 0);
    assert_int_equal(net_fdb_append("gwvx0", zero_mac, ip4(c.ip), &err), 0);
    assert_int_equal(net_fdb_replace("gwvx0", vm_mac, ip4(b.ip), &err), 0);

    /* Before: frames for the VM reach B only. */
    assert_true(overlay_send(&a, tap_b, tap_c, &seq, true, false));

    /* During the migration from B to C: without its own entry the VM's
     * frames take the default entry, to both. */
    enter(a.ns);
    assert_int_equal(net_fdb_remove("gwvx0", vm_mac, ip4(b.ip), &err), 0);
    assert_true(overlay_send(&a, tap_b, tap_c, &seq, true, true));

    /* The destination saw them queue on its unread TAP. */
    enter(c.ns);
    assert_int_equal(net_link_tx_packets("gwtap0", &queued, &err), 0);
    assert_true(queued >= 1);

    /* Commit: the VM's MAC goes to C only. */
    enter(a.ns);
    assert_int_equal(net_fdb_replace("gwvx0", vm_mac, ip4(c.ip), &err), 0);
    assert_true(overlay_send(&a, tap_b, tap_c, &seq, false, true));

    close(tap_b);
    close(tap_c);
    enter(root_ns);
    close(a.ns);
    close(b.ns);
    close(c.ns);
    assert_int_equal(net_link_delete("gwsw", &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mac_text),
        cmocka_unit_test(test_bridge),
        cmocka_unit_test(test_attach),
        cmocka_unit_test(test_vxlan_fdb),
        cmocka_unit_test(test_tap),
        cmocka_unit_test(test_send_frame),
        cmocka_unit_test(test_overlay),
    };

    if (geteuid() != 0) {
        fprintf(stderr, "test_net: skipped: needs root (network namespaces)\n");
        return 77;
    }
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "test_net: skipped: unshare(CLONE_NEWNET): %s\n", strerror(errno));
        return 77;
    }
    /* No IPv6 here: a link coming up would send router and multicast
     * solicitations, frames the tests did not send (test_tap once counted
     * four of them and took them for its own). */
    static const char *const no_ipv6[] = { "/proc/sys/net/ipv6/conf/all/disable_ipv6",
                                           "/proc/sys/net/ipv6/conf/default/disable_ipv6" };
    for (size_t i = 0; i < sizeof no_ipv6 / sizeof no_ipv6[0]; i++) {
        FILE *f = fopen(no_ipv6[i], "w");
        if (f) {
            fputs("1\n", f);
            fclose(f);
        }
    }
    root_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (root_ns < 0) {
        perror("test_net: /proc/self/ns/net");
        return 1;
    }
    if (!net_link_exists("lo") || access("/dev/net/tun", R_OK | W_OK) < 0) {
        fprintf(stderr, "test_net: skipped: no loopback or no /dev/net/tun\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
