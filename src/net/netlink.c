/*
 * The rtnetlink plumbing for src/net: one libmnl socket per request, with
 * extended acks turned on so that a failure comes back as the kernel's
 * own sentence ("A VXLAN device with the specified VNI already exists"),
 * and the RTM_GETLINK query that link.c, tap.c and fdb.c share.
 *
 * Nothing here keeps state between calls, so every function may be called
 * from any thread.
 */
#include "netlink.h"

#include <ctype.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define NL_RECV_BYTES 32768     /* dumps fill up to this much per read */

const char *nl_strerror(int code)
{
    const char *s = strerrordesc_np(-code);

    return s ? s : "Unknown error";
}

static void set_why(char *why, size_t whylen, int code, const char *msg)
{
    size_t n;

    if (!why || !whylen)
        return;
    snprintf(why, whylen, "%s", msg && *msg ? msg : nl_strerror(code));
    n = strlen(why);
    while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == '.'))
        why[--n] = '\0';
}

/* The error carried by an NLMSG_ERROR (0 for an ACK) or an NLMSG_DONE
 * (a dump that failed), with its extended ack message into why. */
static int reply_error(const struct nlmsghdr *nlh, char *why, size_t whylen)
{
    size_t len = mnl_nlmsg_get_payload_len(nlh);
    const struct nlattr *attr;
    const char *msg = NULL;
    size_t off;
    int code;

    if (nlh->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

        if (len < sizeof *e) {
            set_why(why, whylen, -EBADMSG, "truncated netlink error");
            return -EBADMSG;
        }
        code = e->error;
        off = sizeof *e;
        if (!(nlh->nlmsg_flags & NLM_F_CAPPED) && e->msg.nlmsg_len >= sizeof(struct nlmsghdr))
            off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
    } else {
        if (len < sizeof(int))
            return 0;
        memcpy(&code, mnl_nlmsg_get_payload(nlh), sizeof code);
        off = sizeof(int);
    }
    if (code >= 0)
        return 0;
    if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && off <= len) {
        mnl_attr_for_each(attr, nlh, off) {
            if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
                mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
                msg = mnl_attr_get_str(attr);
        }
    }
    set_why(why, whylen, code, msg);
    return code;
}

int nl_request(struct nlmsghdr *req, nl_reply_fn cb, void *data, char *why, size_t whylen)
{
    static unsigned int next_seq;
    struct mnl_socket *nl;
    unsigned int portid, seq;
    char *buf = NULL;
    int one = 1, rc = 0;
    bool done = false;

    nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl) {
        rc = -errno;
        set_why(why, whylen, rc, "cannot open a netlink socket");
        return rc;
    }
    /* Both are best effort: without them we still get the errno. */
    mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof one);
    mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof one);
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        rc = -errno;
        set_why(why, whylen, rc, NULL);
        goto out;
    }
    portid = mnl_socket_get_portid(nl);
    seq = __atomic_add_fetch(&next_seq, 1, __ATOMIC_RELAXED);
    req->nlmsg_seq = seq;
    if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0) {
        rc = -errno;
        set_why(why, whylen, rc, NULL);
        goto out;
    }
    buf = malloc(NL_RECV_BYTES);
    if (!buf) {
        rc = -ENOMEM;
        set_why(why, whylen, rc, NULL);
        goto out;
    }
    while (!done) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, NL_RECV_BYTES);
        int left;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            set_why(why, whylen, rc, NULL);
            break;
        }
        left = (int)n;
        for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, left);
             nlh = mnl_nlmsg_next(nlh, &left)) {
            if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != portid)
                continue;
            if (nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_DONE) {
                rc = reply_error(nlh, why, whylen);
                done = true;
                break;
            }
            if (nlh->nlmsg_type < NLMSG_MIN_TYPE || !cb)
                continue;
            rc = cb(nlh, data);
            if (rc < 0) {
                set_why(why, whylen, rc, NULL);
                done = true;
                break;
            }
        }
    }
out:
    free(buf);
    mnl_socket_close(nl);
    return rc;
}

static int link_reply(const struct nlmsghdr *nlh, void *data)
{
    struct nl_link *link = data;
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *attr, *info;

    if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof *ifi)
        return 0;
    link->ifindex = ifi->ifi_index;
    mnl_attr_for_each(attr, nlh, sizeof *ifi) {
        switch (mnl_attr_get_type(attr)) {
        case IFLA_MASTER:
            if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
                link->master = (int)mnl_attr_get_u32(attr);
            break;
        case IFLA_ADDRESS:
            if (mnl_attr_get_payload_len(attr) == 6) {
                memcpy(link->mac, mnl_attr_get_payload(attr), 6);
                link->has_mac = true;
            }
            break;
        case IFLA_STATS64:
            if (mnl_attr_get_payload_len(attr) >= sizeof link->stats) {
                memcpy(&link->stats, mnl_attr_get_payload(attr), sizeof link->stats);
                link->has_stats = true;
            }
            break;
        case IFLA_LINKINFO:
            mnl_attr_for_each_nested(info, attr) {
                if (mnl_attr_get_type(info) == IFLA_INFO_KIND &&
                    mnl_attr_validate(info, MNL_TYPE_STRING) == 0)
                    snprintf(link->kind, sizeof link->kind, "%.*s",
                             (int)strnlen(mnl_attr_get_payload(info),
                                          mnl_attr_get_payload_len(info)),
                             (const char *)mnl_attr_get_payload(info));
            }
            break;
        }
    }
    return 0;
}

int nl_link_get(const char *ifname, struct nl_link *link, char *why, size_t whylen)
{
    char buf[NL_REQ_BYTES] = {0};
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ifinfomsg *ifi;
    int rc;

    memset(link, 0, sizeof *link);
    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
    rc = nl_request(nlh, link_reply, link, why, whylen);
    if (rc == 0 && link->ifindex == 0) {
        rc = -ENODEV;
        set_why(why, whylen, rc, NULL);
    }
    return rc;
}

int nl_link_set_up(int ifindex, bool up, char *why, size_t whylen)
{
    char buf[NL_REQ_BYTES] = {0};
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ifinfomsg *ifi;

    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    ifi->ifi_change = IFF_UP;
    ifi->ifi_flags = up ? IFF_UP : 0;
    return nl_request(nlh, NULL, NULL, why, whylen);
}

int nl_link_del(const char *ifname, char *why, size_t whylen)
{
    char buf[NL_REQ_BYTES] = {0};
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ifinfomsg *ifi;

    nlh->nlmsg_type = RTM_DELLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
    return nl_request(nlh, NULL, NULL, why, whylen);
}

int net_check_ifname(const char *what, const char *ifname, struct gw_error *err)
{
    size_t n = ifname ? strnlen(ifname, IFNAMSIZ) : 0;

    if (n == 0 || n >= IFNAMSIZ)
        return gw_error_set(err, -EINVAL, "cannot %s %s: invalid interface name (1 to %d bytes)",
                            what, ifname ? ifname : "(null)", IFNAMSIZ - 1);
    for (size_t i = 0; i < n; i++) {
        if (ifname[i] == '/' || ifname[i] == ':' || isspace((unsigned char)ifname[i]))
            return gw_error_set(err, -EINVAL, "cannot %s %s: invalid interface name", what,
                                ifname);
    }
    return 0;
}
