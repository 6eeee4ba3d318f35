/*
 * Raw Ethernet frames (the probe of the migration's ready barrier, RARP
 * announcements) sent through an AF_PACKET socket, and the textual form
 * of MAC addresses.
 */
#include "net.h"
#include "netlink.h"

#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FRAME_MAX_BYTES 65535

int net_frame_socket(struct gw_error *err)
{
    /* Protocol 0: this socket only sends, it never queues what it sees. */
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int rc = -errno;
        return gw_error_set(err, rc, "cannot open an AF_PACKET socket: %s", nl_strerror(rc));
    }
    return fd;
}

int net_send_frame(int fd, const char *ifname, const void *frame, size_t len,
                   struct gw_error *err)
{
    struct sockaddr_ll sll;
    unsigned int ifindex;
    ssize_t n;
    int rc;

    rc = net_check_ifname("send a frame on", ifname, err);
    if (rc < 0)
        return rc;
    if (!frame || len < ETH_HLEN || len > FRAME_MAX_BYTES)
        return gw_error_set(err, -EINVAL, "cannot send a frame on %s: length %zu is not in %d..%d",
                            ifname, len, ETH_HLEN, FRAME_MAX_BYTES);
    ifindex = if_nametoindex(ifname);
    if (!ifindex)
        return gw_error_set(err, -ENODEV, "cannot send a frame on %s: no such link", ifname);
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = (int)ifindex;
    sll.sll_halen = ETH_ALEN;
    memcpy(sll.sll_addr, frame, ETH_ALEN);
    n = sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof sll);
    if (n < 0) {
        rc = -errno;
        return gw_error_set(err, rc, "cannot send a frame on %s: %s", ifname, nl_strerror(rc));
    }
    if ((size_t)n != len)
        return gw_error_set(err, -EIO, "cannot send a frame on %s: sent %zd of %zu bytes", ifname,
                            n, len);
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int net_parse_mac(const char *text, uint8_t mac[6])
{
    uint8_t out[6];

    if (!text)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        const char *p = text + 3 * i;
        int hi, lo;

        hi = hex_digit(p[0]);
        lo = hi < 0 ? -1 : hex_digit(p[1]);
        if (lo < 0 || p[2] != (i < 5 ? ':' : '\0'))
            return -EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(mac, out, 6);
    return 0;
}

void net_format_mac(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}
