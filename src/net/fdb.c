/*
 * The forwarding entries of the VXLAN device: for each VM MAC, the host
 * (VTEP address) that frames for it go to.  The kernel keeps one
 * destination per unicast MAC (it ignores NLM_F_APPEND there, and says
 * yes, so net_fdb_append reads the entry back and fails loudly); only the
 * all-zeros default entry and multicast MACs take several, and the vxlan
 * driver sends a copy to each: that is the head-end replication of
 * broadcast and unknown unicast, and the way a migrating VM's frames can
 * reach both hosts (see net.h).
 *
 * These are the vxlan device's own entries (NTF_SELF), not the bridge's;
 * see link.c for how the bridge port in front of the device is set up.
 */
#include "net.h"
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>

#define FDB_CHECK_MAX 64    /* destinations read back to check an append */

/* Looks up vxlan_if and checks that it is a vxlan device. */
static int find_vxlan(const char *vxlan_if, const char *what, const uint8_t mac[6],
                      struct nl_link *link, struct gw_error *err)
{
    char why[NL_WHY_BYTES], text[18];
    int rc;

    rc = net_check_ifname("program the FDB of", vxlan_if, err);
    if (rc < 0)
        return rc;
    net_format_mac(mac, text);
    rc = nl_link_get(vxlan_if, link, why, sizeof why);
    if (rc < 0)
        return gw_error_set(err, rc, "cannot %s %s on %s: %s", what, text, vxlan_if,
                            rc == -ENODEV ? "no such link" : why);
    if (strcmp(link->kind, "vxlan") != 0)
        return gw_error_set(err, -EINVAL, "cannot %s %s on %s: it is not a vxlan device", what,
                            text, vxlan_if);
    return 0;
}

struct fdb_walk {
    int ifindex;
    const uint8_t *mac;
    struct in_addr *remotes;
    int max, n;
};

static int fdb_reply(const struct nlmsghdr *nlh, void *data)
{
    struct fdb_walk *w = data;
    const struct ndmsg *ndm = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *attr, *lladdr = NULL, *dst = NULL;

    if (nlh->nlmsg_type != RTM_NEWNEIGH || mnl_nlmsg_get_payload_len(nlh) < sizeof *ndm ||
        ndm->ndm_family != AF_BRIDGE || ndm->ndm_ifindex != w->ifindex)
        return 0;
    mnl_attr_for_each(attr, nlh, sizeof *ndm) {
        if (mnl_attr_get_type(attr) == NDA_LLADDR)
            lladdr = attr;
        else if (mnl_attr_get_type(attr) == NDA_DST)
            dst = attr;
    }
    /* The bridge's own entries for this port carry no NDA_DST; IPv6
     * remotes (which we never add) are 16 bytes. */
    if (!lladdr || !dst || mnl_attr_get_payload_len(lladdr) != 6 ||
        mnl_attr_get_payload_len(dst) != sizeof(struct in_addr) ||
        memcmp(mnl_attr_get_payload(lladdr), w->mac, 6) != 0)
        return 0;
    if (w->n < w->max)
        memcpy(&w->remotes[w->n++], mnl_attr_get_payload(dst), sizeof(struct in_addr));
    return 0;
}

/* The IPv4 destinations of mac on the vxlan device ifindex (up to max). */
static int fdb_collect(int ifindex, const uint8_t mac[6], struct in_addr *remotes, int max,
                       char *why, size_t whylen)
{
    char buf[NL_REQ_BYTES] = {0};
    struct fdb_walk w = {.ifindex = ifindex, .mac = mac, .remotes = remotes,
                         .max = max > 0 ? max : 0};
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ndmsg *ndm;
    int rc;

    nlh->nlmsg_type = RTM_GETNEIGH;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    ndm = mnl_nlmsg_put_extra_header(nlh, sizeof *ndm);
    ndm->ndm_family = AF_BRIDGE;
    rc = nl_request(nlh, fdb_reply, &w, why, whylen);
    return rc < 0 ? rc : w.n;
}

static bool mac_takes_several(const uint8_t mac[6])
{
    static const uint8_t zero[6];

    return (mac[0] & 1) || memcmp(mac, zero, 6) == 0;
}

static int fdb_change(int type, uint16_t flags, const char *vxlan_if, const uint8_t mac[6],
                      struct in_addr remote, const char *what, struct gw_error *err)
{
    char buf[NL_REQ_BYTES] = {0}, why[NL_WHY_BYTES], text[18], addr[INET_ADDRSTRLEN];
    struct nl_link link;
    struct nlmsghdr *nlh;
    struct ndmsg *ndm;
    int rc;

    rc = find_vxlan(vxlan_if, what, mac, &link, err);
    if (rc < 0)
        return rc;
    if (type == RTM_DELNEIGH) {
        /* The kernel says yes to removing a destination that an existing
         * entry does not have: look first. */
        struct in_addr have[FDB_CHECK_MAX];
        int n = fdb_collect(link.ifindex, mac, have, FDB_CHECK_MAX, why, sizeof why);
        bool found = false;

        for (int i = 0; i < n; i++)
            found = found || have[i].s_addr == remote.s_addr;
        rc = n < 0 ? n : found ? 0 : -ENOENT;
    }
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (uint16_t)type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    ndm = mnl_nlmsg_put_extra_header(nlh, sizeof *ndm);
    ndm->ndm_family = AF_BRIDGE;
    ndm->ndm_ifindex = link.ifindex;
    ndm->ndm_state = NUD_PERMANENT;
    ndm->ndm_flags = NTF_SELF;
    mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
    mnl_attr_put(nlh, NDA_DST, sizeof remote.s_addr, &remote.s_addr);
    if (rc == 0)
        rc = nl_request(nlh, NULL, NULL, why, sizeof why);
    if (rc == 0 && (flags & NLM_F_APPEND)) {
        /* The kernel ignores NLM_F_APPEND, and still says yes, for a
         * unicast MAC that already has a destination: look. */
        struct in_addr have[FDB_CHECK_MAX];
        int n = fdb_collect(link.ifindex, mac, have, FDB_CHECK_MAX, why, sizeof why);
        bool found = false;

        for (int i = 0; i < n; i++)
            found = found || have[i].s_addr == remote.s_addr;
        if (n >= 0 && !found) {
            char other[INET_ADDRSTRLEN] = "?";

            if (n > 0)
                inet_ntop(AF_INET, &have[0], other, sizeof other);
            snprintf(why, sizeof why,
                     "the kernel keeps one destination per unicast MAC (it has %s); "
                     "use net_fdb_replace, or the all-zeros default entry", other);
            rc = -EOPNOTSUPP;
        } else if (n < 0) {
            rc = n;
        }
    }
    if (rc < 0) {
        net_format_mac(mac, text);
        inet_ntop(AF_INET, &remote, addr, sizeof addr);
        return gw_error_set(err, rc, "cannot %s %s -> %s on %s: %s", what, text, addr, vxlan_if,
                            rc == -ENOENT ? "no such entry" : why);
    }
    return 0;
}

int net_fdb_append(const char *vxlan_if, const uint8_t mac[6], struct in_addr remote,
                   struct gw_error *err)
{
    return fdb_change(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, vxlan_if, mac, remote,
                      "add forwarding entry", err);
}

int net_fdb_replace(const char *vxlan_if, const uint8_t mac[6], struct in_addr remote,
                    struct gw_error *err)
{
    char text[18];

    if (mac_takes_several(mac)) {
        net_format_mac(mac, text);
        return gw_error_set(err, -EINVAL,
                            "cannot replace forwarding entry %s on %s: only unicast MACs have "
                            "a single destination",
                            text, vxlan_if ? vxlan_if : "(null)");
    }
    return fdb_change(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, vxlan_if, mac, remote,
                      "set forwarding entry", err);
}

int net_fdb_remove(const char *vxlan_if, const uint8_t mac[6], struct in_addr remote,
                   struct gw_error *err)
{
    return fdb_change(RTM_DELNEIGH, 0, vxlan_if, mac, remote, "remove forwarding entry", err);
}

int net_fdb_lookup(const char *vxlan_if, const uint8_t mac[6], struct in_addr *remotes,
                   int max, struct gw_error *err)
{
    char why[NL_WHY_BYTES], text[18];
    struct nl_link link;
    int rc;

    rc = find_vxlan(vxlan_if, "look up", mac, &link, err);
    if (rc < 0)
        return rc;
    rc = fdb_collect(link.ifindex, mac, remotes, max, why, sizeof why);
    if (rc < 0) {
        net_format_mac(mac, text);
        return gw_error_set(err, rc, "cannot look up %s on %s: %s", text, vxlan_if, why);
    }
    return rc;
}
