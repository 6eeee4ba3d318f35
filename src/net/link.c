/*
 * Links: the host bridge, the VXLAN device of the overlay, attaching ports
 * to the bridge, and what the agent reads back (MAC, transmit counter).
 *
 * Bridge-port policy for the VXLAN port (set by net_vxlan_create and by
 * net_link_attach whenever the port is a vxlan device):
 *   - learning off: the bridge never learns a MAC behind the overlay.
 *     During a migration the VM's MAC is reachable through the overlay
 *     from both hosts; had the destination's bridge learnt that MAC on the
 *     vxlan port (from a frame the still-running source VM sent), it would
 *     drop every frame for the MAC that arrives from the overlay (a bridge
 *     never forwards out of the ingress port), so nothing would queue in
 *     the pre-created TAP and the probe of the ready barrier would fail.
 *   - unicast, multicast and broadcast flooding on: a frame for a MAC the
 *     bridge does not know locally is flooded, reaches the vxlan device,
 *     and the vxlan FDB the agents program decides where it goes (and
 *     drops it if no entry, nor the all-zeros default entry, matches).
 * The cost: frames from a local VM to a remote MAC are also flooded to the
 * other local ports.  Local ports (TAPs) keep the bridge's defaults.
 *
 * The vxlan device itself learns nothing (IFLA_VXLAN_LEARNING 0).
 */
#include "net.h"
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/gen_stats.h>
#include <linux/if_bridge.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define VXLAN_DEFAULT_PORT 4789     /* IANA */

bool net_link_exists(const char *ifname)
{
    if (!ifname || !*ifname || strnlen(ifname, IFNAMSIZ) >= IFNAMSIZ)
        return false;
    return if_nametoindex(ifname) != 0;
}

/* A RTM_NEWLINK that creates ifname (NLM_F_EXCL: -EEXIST if it exists). */
static struct nlmsghdr *put_create(char *buf, const char *ifname, bool up)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ifinfomsg *ifi;

    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    if (up) {
        ifi->ifi_change = IFF_UP;
        ifi->ifi_flags = IFF_UP;
    }
    mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
    return nlh;
}

int net_bridge_create(const char *ifname, struct gw_error *err)
{
    char buf[NL_REQ_BYTES] = {0}, why[NL_WHY_BYTES];
    struct nlmsghdr *nlh;
    struct nlattr *linkinfo, *data;
    int rc;

    rc = net_check_ifname("create bridge", ifname, err);
    if (rc < 0)
        return rc;
    nlh = put_create(buf, ifname, true);
    linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    mnl_attr_put_u32(nlh, IFLA_BR_STP_STATE, 0);
    mnl_attr_put_u32(nlh, IFLA_BR_FORWARD_DELAY, 0);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, linkinfo);
    rc = nl_request(nlh, NULL, NULL, why, sizeof why);
    if (rc < 0)
        return gw_error_set(err, rc, "cannot create bridge %s: %s", ifname, why);
    return 0;
}

/* Looks up the bridge that an operation needs; ctx names the operation
 * ("attach tap0 to bridge gwbr0") for the error sentence. */
static int find_bridge(const char *bridge, const char *ctx, struct nl_link *br,
                       struct gw_error *err)
{
    char why[NL_WHY_BYTES];
    int rc;

    if (!bridge || !*bridge || strnlen(bridge, IFNAMSIZ) >= IFNAMSIZ)
        return gw_error_set(err, -EINVAL, "cannot %s: invalid bridge name", ctx);
    rc = nl_link_get(bridge, br, why, sizeof why);
    if (rc == -ENODEV)
        return gw_error_set(err, rc, "cannot %s: bridge %s does not exist", ctx, bridge);
    if (rc < 0)
        return gw_error_set(err, rc, "cannot %s: cannot look up bridge %s: %s", ctx, bridge,
                            why);
    if (strcmp(br->kind, "bridge") != 0)
        return gw_error_set(err, -EINVAL, "cannot %s: %s is not a bridge", ctx, bridge);
    return 0;
}

/* Applies the overlay port policy described at the top of this file. */
static int set_overlay_port(int ifindex, char *why, size_t whylen)
{
    char buf[NL_REQ_BYTES] = {0};
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ifinfomsg *ifi;
    struct nlattr *prot;

    nlh->nlmsg_type = RTM_SETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
    ifi->ifi_family = AF_BRIDGE;
    ifi->ifi_index = ifindex;
    prot = mnl_attr_nest_start(nlh, IFLA_PROTINFO);     /* sets NLA_F_NESTED */
    mnl_attr_put_u8(nlh, IFLA_BRPORT_LEARNING, 0);
    mnl_attr_put_u8(nlh, IFLA_BRPORT_UNICAST_FLOOD, 1);
    mnl_attr_put_u8(nlh, IFLA_BRPORT_MCAST_FLOOD, 1);
    mnl_attr_put_u8(nlh, IFLA_BRPORT_BCAST_FLOOD, 1);
    mnl_attr_nest_end(nlh, prot);
    return nl_request(nlh, NULL, NULL, why, whylen);
}

int net_vxlan_create(const char *ifname, uint32_t vni, struct in_addr local, uint16_t dstport,
                     const char *dev, const char *bridge, struct gw_error *err)
{
    char buf[NL_REQ_BYTES] = {0}, why[NL_WHY_BYTES];
    struct nl_link br = {0}, vx;
    struct nlmsghdr *nlh;
    struct nlattr *linkinfo, *data;
    unsigned int dev_index = 0;
    int rc;

    rc = net_check_ifname("create vxlan", ifname, err);
    if (rc < 0)
        return rc;
    if (vni == 0 || vni >= 1u << 24)
        return gw_error_set(err, -EINVAL, "cannot create vxlan %s: VNI %u is not in 1..16777215",
                            ifname, vni);
    if (dev) {
        dev_index = net_link_exists(dev) ? if_nametoindex(dev) : 0;
        if (!dev_index)
            return gw_error_set(err, -ENODEV,
                                "cannot create vxlan %s: underlay device %s does not exist",
                                ifname, dev);
    }
    if (bridge) {
        char ctx[64];

        snprintf(ctx, sizeof ctx, "create vxlan %s", ifname);
        rc = find_bridge(bridge, ctx, &br, err);
        if (rc < 0)
            return rc;
    }

    /* Created down and already a port, so that it carries no frame before
     * the port policy is in place. */
    nlh = put_create(buf, ifname, false);
    if (bridge)
        mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)br.ifindex);
    linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "vxlan");
    data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    mnl_attr_put_u32(nlh, IFLA_VXLAN_ID, vni);
    if (local.s_addr != htonl(INADDR_ANY))
        mnl_attr_put(nlh, IFLA_VXLAN_LOCAL, sizeof local.s_addr, &local.s_addr);
    mnl_attr_put_u16(nlh, IFLA_VXLAN_PORT, htons(dstport ? dstport : VXLAN_DEFAULT_PORT));
    if (dev)
        mnl_attr_put_u32(nlh, IFLA_VXLAN_LINK, dev_index);
    mnl_attr_put_u8(nlh, IFLA_VXLAN_LEARNING, 0);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, linkinfo);
    rc = nl_request(nlh, NULL, NULL, why, sizeof why);
    if (rc < 0)
        return gw_error_set(err, rc, "cannot create vxlan %s: %s", ifname, why);

    rc = nl_link_get(ifname, &vx, why, sizeof why);
    if (rc == 0 && bridge)
        rc = set_overlay_port(vx.ifindex, why, sizeof why);
    if (rc == 0)
        rc = nl_link_set_up(vx.ifindex, true, why, sizeof why);
    if (rc < 0) {
        gw_error_set(err, rc, "cannot set up vxlan %s: %s", ifname, why);
        nl_link_del(ifname, NULL, 0);
        return rc;
    }
    return 0;
}

int net_link_delete(const char *ifname, struct gw_error *err)
{
    char why[NL_WHY_BYTES];
    int rc;

    rc = net_check_ifname("delete link", ifname, err);
    if (rc < 0)
        return rc;
    rc = nl_link_del(ifname, why, sizeof why);
    if (rc < 0)
        return gw_error_set(err, rc, "cannot delete link %s: %s", ifname, why);
    return 0;
}

int net_link_attach(const char *ifname, const char *bridge, struct gw_error *err)
{
    char buf[NL_REQ_BYTES] = {0}, why[NL_WHY_BYTES], ctx[64];
    struct nl_link br, port;
    struct nlmsghdr *nlh;
    struct ifinfomsg *ifi;
    int rc;

    rc = net_check_ifname("attach", ifname, err);
    if (rc < 0)
        return rc;
    snprintf(ctx, sizeof ctx, "attach %s to bridge %s", ifname, bridge ? bridge : "(null)");
    rc = find_bridge(bridge, ctx, &br, err);
    if (rc < 0)
        return rc;
    rc = nl_link_get(ifname, &port, why, sizeof why);
    if (rc < 0)
        return gw_error_set(err, rc, "cannot attach %s to bridge %s: %s", ifname, bridge,
                            rc == -ENODEV ? "no such link" : why);

    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = port.ifindex;
    mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)br.ifindex);
    rc = nl_request(nlh, NULL, NULL, why, sizeof why);
    if (rc == 0 && strcmp(port.kind, "vxlan") == 0)
        rc = set_overlay_port(port.ifindex, why, sizeof why);
    if (rc == 0)
        rc = nl_link_set_up(port.ifindex, true, why, sizeof why);
    if (rc < 0)
        return gw_error_set(err, rc, "cannot attach %s to bridge %s: %s", ifname, bridge, why);
    return 0;
}

int net_link_mac(const char *ifname, uint8_t mac[6], struct gw_error *err)
{
    char why[NL_WHY_BYTES];
    struct nl_link link;
    int rc;

    rc = net_check_ifname("read the MAC of", ifname, err);
    if (rc < 0)
        return rc;
    rc = nl_link_get(ifname, &link, why, sizeof why);
    if (rc < 0)
        return gw_error_set(err, rc, "cannot read the MAC of %s: %s", ifname, why);
    if (!link.has_mac)
        return gw_error_set(err, -EINVAL, "cannot read the MAC of %s: it has no Ethernet address",
                            ifname);
    memcpy(mac, link.mac, 6);
    return 0;
}

struct qdisc_walk {
    int ifindex;
    bool found;
    uint64_t packets;
};

/* Takes the packet count of the root qdisc of w->ifindex. */
static int qdisc_reply(const struct nlmsghdr *nlh, void *data)
{
    struct qdisc_walk *w = data;
    const struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *attr, *st;

    if (nlh->nlmsg_type != RTM_NEWQDISC || mnl_nlmsg_get_payload_len(nlh) < sizeof *tcm ||
        tcm->tcm_ifindex != w->ifindex || tcm->tcm_parent != TC_H_ROOT)
        return 0;
    mnl_attr_for_each(attr, nlh, sizeof *tcm) {
        if (mnl_attr_get_type(attr) != TCA_STATS2)
            continue;
        mnl_attr_for_each_nested(st, attr) {
            if (mnl_attr_get_type(st) == TCA_STATS_PKT64 &&
                mnl_attr_validate(st, MNL_TYPE_U64) == 0) {
                w->packets = mnl_attr_get_u64(st);
                w->found = true;
                return 0;       /* the 64-bit count wins over the basic one */
            }
            if (mnl_attr_get_type(st) == TCA_STATS_BASIC &&
                mnl_attr_get_payload_len(st) >= sizeof(struct gnet_stats_basic)) {
                struct gnet_stats_basic b;

                memcpy(&b, mnl_attr_get_payload(st), sizeof b);
                w->packets = b.packets;
                w->found = true;
            }
        }
    }
    return 0;
}

/* Packets the root qdisc of ifindex handed to the driver; -ENOENT if the
 * link has no root qdisc with statistics. */
static int root_qdisc_packets(int ifindex, uint64_t *packets, char *why, size_t whylen)
{
    char buf[NL_REQ_BYTES] = {0};
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct qdisc_walk w = {.ifindex = ifindex};
    struct tcmsg *tcm;
    int rc;

    nlh->nlmsg_type = RTM_GETQDISC;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    tcm = mnl_nlmsg_put_extra_header(nlh, sizeof *tcm);
    tcm->tcm_family = AF_UNSPEC;
    tcm->tcm_ifindex = ifindex;
    rc = nl_request(nlh, qdisc_reply, &w, why, whylen);
    if (rc < 0)
        return rc;
    if (!w.found)
        return -ENOENT;
    *packets = w.packets;
    return 0;
}

int net_link_tx_packets(const char *ifname, uint64_t *packets, struct gw_error *err)
{
    char why[NL_WHY_BYTES];
    struct nl_link link;
    uint64_t handed;
    int rc;

    rc = net_check_ifname("read the counters of", ifname, err);
    if (rc < 0)
        return rc;
    rc = nl_link_get(ifname, &link, why, sizeof why);
    if (rc < 0)
        return gw_error_set(err, rc, "cannot read the counters of %s: %s", ifname, why);
    if (!link.has_stats)
        return gw_error_set(err, -EOPNOTSUPP, "cannot read the counters of %s: no IFLA_STATS64",
                            ifname);
    *packets = link.stats.tx_packets;

    /* A TAP counts tx_packets only when its reader takes a frame; a frame
     * waiting in its queue (a VMM that has not resumed yet) is not counted.
     * Frames its root qdisc handed to the driver, less those the driver
     * dropped (no reader, queue full), are the frames queued towards the
     * reader, read or not. */
    if (strcmp(link.kind, "tun") == 0 &&
        root_qdisc_packets(link.ifindex, &handed, why, sizeof why) == 0 &&
        handed >= link.stats.tx_dropped && handed - link.stats.tx_dropped > *packets)
        *packets = handed - link.stats.tx_dropped;
    return 0;
}
