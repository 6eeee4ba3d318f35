/* The TAP backend; see tap.h. */
#include "dev/backend/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int setup_fd(int fd, const char *what, struct gw_error *err)
{
    struct ifreq ifr = { 0 };
    if (ioctl(fd, TUNGETIFF, &ifr) < 0)
        return gw_error_set(err, -errno, "%s is not a TUN/TAP fd: %s", what, strerror(errno));
    if (!(ifr.ifr_flags & IFF_TAP) || !(ifr.ifr_flags & IFF_NO_PI))
        return gw_error_set(err, -EINVAL, "%s is not a TAP without packet info (flags 0x%x)",
                            what, ifr.ifr_flags);
    if (!(ifr.ifr_flags & IFF_VNET_HDR))
        return gw_error_set(err, -EINVAL, "%s was opened without IFF_VNET_HDR", what);
    int hdr = TAP_VNET_HDR_BYTES;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
        return gw_error_set(err, -errno, "%s: TUNSETVNETHDRSZ: %s", what, strerror(errno));
    /* No offloads: the guest is offered none, so the kernel must hand us
     * complete, checksummed frames. */
    if (ioctl(fd, TUNSETOFFLOAD, 0) < 0)
        return gw_error_set(err, -errno, "%s: TUNSETOFFLOAD: %s", what, strerror(errno));
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return gw_error_set(err, -errno, "%s: cannot make it non-blocking: %s", what,
                            strerror(errno));
    return 0;
}

int tap_open(const char *ifname, struct gw_error *err)
{
    if (!ifname[0] || strlen(ifname) >= IFNAMSIZ)
        return gw_error_set(err, -EINVAL, "'%s' is not a valid interface name", ifname);
    /* TUNSETIFF creates a TAP that does not exist: look first. */
    if (if_nametoindex(ifname) == 0)
        return gw_error_set(err, -ENODEV, "TAP %s does not exist", ifname);
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/sys/class/net/%s/tun_flags", ifname);
    if (stat(path, &st) < 0)
        return gw_error_set(err, -EINVAL, "interface %s is not a TAP", ifname);

    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return gw_error_set(err, -errno, "cannot open /dev/net/tun: %s", strerror(errno));
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
    memcpy(ifr.ifr_name, ifname, strlen(ifname));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        if (e == EBUSY)
            return gw_error_set(err, -EBUSY, "TAP %s is busy (another process has it open)",
                                ifname);
        if (e == EINVAL)
            return gw_error_set(err, -EINVAL, "interface %s is not a TAP (or is multi-queue)",
                                ifname);
        return gw_error_set(err, -e, "cannot attach to TAP %s: %s", ifname, strerror(e));
    }
    char what[IFNAMSIZ + 8];
    snprintf(what, sizeof what, "TAP %s", ifname);
    int rc = setup_fd(fd, what, err);
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}

int tap_adopt_fd(int fd, struct gw_error *err)
{
    char what[32];
    snprintf(what, sizeof what, "fd %d", fd);
    if (fcntl(fd, F_GETFD) < 0)
        return gw_error_set(err, -EBADF, "fd %d is not open", fd);
    int rc = setup_fd(fd, what, err);
    if (!rc)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return rc;
}

int tap_ifname(int fd, char *name)
{
    struct ifreq ifr = { 0 };
    if (ioctl(fd, TUNGETIFF, &ifr) < 0)
        return -errno;
    memcpy(name, ifr.ifr_name, IFNAMSIZ);
    name[IFNAMSIZ - 1] = 0;
    return 0;
}
