/*
 * TAP backend: opens an existing TAP interface (or adopts an inherited fd)
 * for a virtio-net device.  The fd is non-blocking and carries the 12-byte
 * virtio-net header in front of every frame (IFF_VNET_HDR with
 * TUNSETVNETHDRSZ 12), the same layout as struct virtio_net_hdr_v1, so
 * frames pass between the TAP and the guest's buffers unchanged.
 *
 * No virtio knowledge beyond the header size; no threads.  The TAP itself
 * belongs to whoever created it (the agent makes it persistent): we never
 * create one, so a missing interface is an error, not a new device.
 */
#ifndef GW_DEV_BACKEND_TAP_H
#define GW_DEV_BACKEND_TAP_H

#include "base/error.h"

#define TAP_VNET_HDR_BYTES 12

/* Opens the TAP named ifname.  Returns the fd, or -errno with a sentence
 * in err (no such interface, not a TAP, busy, no permission). */
int tap_open(const char *ifname, struct gw_error *err);

/* Checks that fd is a TAP with a vnet header, sets the header size and
 * O_NONBLOCK.  Takes ownership of fd only on success.  Returns 0 or -errno
 * with err. */
int tap_adopt_fd(int fd, struct gw_error *err);

/* The interface name behind a TAP fd into name (IFNAMSIZ bytes); 0 or -errno. */
int tap_ifname(int fd, char *name);

#endif
