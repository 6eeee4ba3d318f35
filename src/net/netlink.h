/*
 * Private to src/net: the rtnetlink plumbing under net.h.
 *
 * nl_request() sends one request on a socket of its own (so any thread may
 * call it), collects the replies through a callback and ends at the ACK or
 * at the end of a dump.  On failure it returns -errno and writes into `why`
 * the kernel's extended ack message, or strerror() when the kernel sent
 * none; callers prefix it with the object ("cannot create bridge gwbr0: ").
 */
#ifndef GW_NET_NETLINK_H
#define GW_NET_NETLINK_H

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define NL_REQ_BYTES 4096   /* every request we build fits easily */
#define NL_WHY_BYTES 160

/* Called for each reply message that is not an ACK, error or end of dump.
 * Returns 0 to go on or -errno to stop (nl_request then returns it). */
typedef int (*nl_reply_fn)(const struct nlmsghdr *nlh, void *data);

/* Sends req (built in the caller's buffer with mnl_nlmsg_put_header; this
 * sets its sequence number) and waits for the answer.  cb may be NULL. */
int nl_request(struct nlmsghdr *req, nl_reply_fn cb, void *data, char *why, size_t whylen);

/* A link as RTM_GETLINK describes it. */
struct nl_link {
    int ifindex;
    int master;                         /* ifindex of the bridge, 0 if none */
    bool has_mac;
    uint8_t mac[6];
    char kind[16];                      /* IFLA_INFO_KIND: "bridge", "vxlan", "tun"; "" if none */
    bool has_stats;
    struct rtnl_link_stats64 stats;
};

/* Looks ifname up; -ENODEV if there is no such link. */
int nl_link_get(const char *ifname, struct nl_link *link, char *why, size_t whylen);

/* Sets a link up (or down) by index. */
int nl_link_set_up(int ifindex, bool up, char *why, size_t whylen);

/* Deletes a link by name; -ENODEV if there is none. */
int nl_link_del(const char *ifname, char *why, size_t whylen);

/* strerror(-code), safe in any thread. */
const char *nl_strerror(int code);

/* Checks an interface name: non-empty, shorter than IFNAMSIZ, no '/',
 * ':' or white space.  Returns 0 or fills err with "cannot <what> <name>:
 * invalid interface name" and returns -EINVAL. */
int net_check_ifname(const char *what, const char *ifname, struct gw_error *err);

#endif
