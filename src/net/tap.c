/*
 * TAP devices for VM NICs: created persistent by the agent (so that one
 * exists, attached to the bridge, before the VMM that will use it starts),
 * opened by name to hand the fd to the VMM, and removed.
 *
 * Everything here goes through /dev/net/tun ioctls; link.c and
 * netlink.c answer the questions about the link itself (does it exist,
 * is it a TAP).
 */
#include "net.h"
#include "netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TAP_FLAGS (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)
#define TAP_VNET_HDR_BYTES 12   /* struct virtio_net_hdr_mrg_rxbuf */

/* Opens /dev/net/tun and attaches it to the TAP ifname with flags.
 * Returns the fd or -errno; what names the step for err. */
static int tap_attach(const char *ifname, short flags, int oflags, const char *what,
                      struct gw_error *err)
{
    struct ifreq ifr;
    int fd, rc;

    fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | oflags);
    if (fd < 0) {
        rc = -errno;
        return gw_error_set(err, rc, "cannot %s TAP %s: cannot open /dev/net/tun: %s", what,
                            ifname, nl_strerror(rc));
    }
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    ifr.ifr_flags = flags;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        rc = -errno;
        close(fd);
        if (rc == -EBUSY)
            return gw_error_set(err, rc, "cannot %s TAP %s: another process has it open", what,
                                ifname);
        if (rc == -EINVAL)
            return gw_error_set(err, rc, "cannot %s TAP %s: it is not a TAP device", what,
                                ifname);
        return gw_error_set(err, rc, "cannot %s TAP %s: TUNSETIFF: %s", what, ifname,
                            nl_strerror(rc));
    }
    return fd;
}

static int set_vnet_hdr(int fd, const char *what, const char *ifname, struct gw_error *err)
{
    int sz = TAP_VNET_HDR_BYTES;

    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
        int rc = -errno;

        return gw_error_set(err, rc, "cannot %s TAP %s: TUNSETVNETHDRSZ: %s", what, ifname,
                            nl_strerror(rc));
    }
    return 0;
}

int net_tap_create(const char *ifname, struct gw_error *err)
{
    int fd, rc;

    rc = net_check_ifname("create TAP", ifname, err);
    if (rc < 0)
        return rc;
    if (net_link_exists(ifname))
        return gw_error_set(err, -EEXIST, "cannot create TAP %s: a link of that name exists",
                            ifname);
    /* IFF_TUN_EXCL: fail rather than attach if the name was taken since. */
    fd = tap_attach(ifname, TAP_FLAGS | IFF_TUN_EXCL, 0, "create", err);
    if (fd == -EBUSY)
        return gw_error_set(err, -EEXIST, "cannot create TAP %s: a link of that name exists",
                            ifname);
    if (fd < 0)
        return fd;
    rc = set_vnet_hdr(fd, "create", ifname, err);
    if (rc == 0 && ioctl(fd, TUNSETPERSIST, 1) < 0) {
        rc = -errno;
        gw_error_set(err, rc, "cannot create TAP %s: TUNSETPERSIST: %s", ifname, nl_strerror(rc));
    }
    close(fd);      /* without TUNSETPERSIST, this also removes the link */
    return rc;
}

int net_tap_open(const char *ifname, struct gw_error *err)
{
    unsigned int before;
    int fd, rc;

    rc = net_check_ifname("open TAP", ifname, err);
    if (rc < 0)
        return rc;
    /* TUNSETIFF on a free name would create a TAP that goes away when the
     * fd closes: check first, and check again that it is the same link. */
    before = if_nametoindex(ifname);
    if (!before)
        return gw_error_set(err, -ENODEV, "cannot open TAP %s: no such link", ifname);
    fd = tap_attach(ifname, TAP_FLAGS, O_NONBLOCK, "open", err);
    if (fd < 0)
        return fd;
    if (if_nametoindex(ifname) != before) {
        close(fd);
        return gw_error_set(err, -ENODEV, "cannot open TAP %s: it was removed meanwhile", ifname);
    }
    rc = set_vnet_hdr(fd, "open", ifname, err);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int net_tap_delete(const char *ifname, struct gw_error *err)
{
    char why[NL_WHY_BYTES];
    struct nl_link link;
    int fd, rc;

    rc = net_check_ifname("delete TAP", ifname, err);
    if (rc < 0)
        return rc;
    rc = nl_link_get(ifname, &link, why, sizeof why);
    if (rc == -ENODEV)
        return gw_error_set(err, rc, "cannot delete TAP %s: no such link", ifname);
    if (rc < 0)
        return gw_error_set(err, rc, "cannot delete TAP %s: %s", ifname, why);
    if (strcmp(link.kind, "tun") != 0)
        return gw_error_set(err, -EINVAL, "cannot delete TAP %s: it is not a TAP device", ifname);

    fd = tap_attach(ifname, IFF_TAP | IFF_NO_PI, 0, "delete", err);
    if (fd >= 0) {
        rc = ioctl(fd, TUNSETPERSIST, 0) < 0 ? -errno : 0;
        close(fd);      /* the last holder of a non-persistent TAP: the link goes */
        if (rc < 0)
            return gw_error_set(err, rc, "cannot delete TAP %s: TUNSETPERSIST: %s", ifname,
                                nl_strerror(rc));
        return 0;
    }
    if (fd != -EBUSY)
        return fd;
    /* Someone holds it open, so its persist flag cannot be cleared from
     * here: remove the link itself; the holder's fd then fails. */
    rc = nl_link_del(ifname, why, sizeof why);
    if (rc == -ENODEV)
        return 0;       /* its holder closed it meanwhile */
    if (rc < 0)
        return gw_error_set(err, rc, "cannot delete TAP %s: %s", ifname, why);
    gw_error_clear(err);
    return 0;
}
