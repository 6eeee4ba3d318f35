/*
 * Host networking for the agent: the Linux bridge, the VXLAN overlay and
 * its forwarding entries, TAP devices, and raw probe frames.
 *
 * Every call works in the calling process's network namespace, speaks
 * rtnetlink through libmnl (never by running `ip` or `bridge`), and
 * returns 0 or a negative errno with a sentence in err (the kernel's
 * extended ack message when it sent one).  Thread-safe: each call opens
 * its own netlink socket.  Needs CAP_NET_ADMIN.
 *
 * MAC addresses are 6 bytes; IPv4 addresses are in network byte order
 * (struct in_addr).
 */
#ifndef GW_NET_NET_H
#define GW_NET_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

#define NET_IFNAME_MAX 16   /* IFNAMSIZ, including the NUL */

/* --- links --- */

/* Whether a network interface of that name exists. */
bool net_link_exists(const char *ifname);
/* Creates a bridge (no STP, forward delay 0) and sets it up.  -EEXIST if
 * a link of that name exists. */
int net_bridge_create(const char *ifname, struct gw_error *err);
/* Creates a VXLAN device: id vni (1..2^24-1), local address (INADDR_ANY:
 * none), UDP port dstport in host byte order (0: 4789), over the underlay
 * interface dev (may be NULL), with learning off (the agents program every
 * entry); attaches it to bridge (may be NULL) and sets it up.  -EEXIST if
 * the name is taken, or if another vxlan has the same VNI and port.
 * As a bridge port it has learning off and flooding on (see link.c): the
 * bridge never learns a MAC behind the overlay, so frames for any MAC
 * that is not on a local port reach the vxlan device, whose FDB decides.
 * Its MTU is the underlay's less 50 bytes, and the bridge takes the
 * smallest MTU of its ports. */
int net_vxlan_create(const char *ifname, uint32_t vni, struct in_addr local, uint16_t dstport,
                     const char *dev, const char *bridge, struct gw_error *err);
/* Deletes any link.  -ENODEV if it does not exist. */
int net_link_delete(const char *ifname, struct gw_error *err);
/* Attaches ifname to bridge (the bridge must exist; -ENODEV otherwise, and
 * -EINVAL if it is not a bridge) and sets ifname up.  A vxlan port gets
 * the overlay port settings described at net_vxlan_create. */
int net_link_attach(const char *ifname, const char *bridge, struct gw_error *err);
/* The link's MAC address. */
int net_link_mac(const char *ifname, uint8_t mac[6], struct gw_error *err);
/* Frames the kernel has handed to the link for transmission, from
 * IFLA_STATS64.  For a TAP: frames queued towards its reader, read or not.
 * The TAP driver itself counts a frame only once its reader has taken it,
 * so for a TAP this is the count of its root qdisc (frames handed to the
 * driver) less the driver's tx_dropped (no reader, queue full), when that
 * is larger.  It counts every frame, flooded broadcasts too: a probe that
 * must prove one path should compare before and after on a quiet TAP. */
int net_link_tx_packets(const char *ifname, uint64_t *packets, struct gw_error *err);

/* --- TAP devices --- */

/* Creates a persistent TAP (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), so it
 * outlives this call and a VMM opens it later by name.  -EEXIST if a link
 * of that name exists. */
int net_tap_create(const char *ifname, struct gw_error *err);
/* Opens an existing TAP by name for reading and writing frames, with a
 * 12-byte virtio-net header (TUNSETVNETHDRSZ), O_NONBLOCK and O_CLOEXEC
 * (so that no other child inherits it: dup2 it into the VMM's child, or
 * pass it over a unix socket).  Never creates a TAP.  Returns the fd, or
 * -errno (-ENODEV: no such TAP; -EBUSY: an fd onto it is open already, in
 * this process or another; -EINVAL: the link is not a TAP). */
int net_tap_open(const char *ifname, struct gw_error *err);
/* Removes a TAP; the link is gone when this returns.  When nobody holds it
 * open this clears TUNSETPERSIST; when someone does (the persist flag can
 * then not be reached), it deletes the link with RTM_DELLINK and the
 * holder's fd fails from then on.  -ENODEV if there is no such link,
 * -EINVAL if it is not a TAP. */
int net_tap_delete(const char *ifname, struct gw_error *err);

/* --- VXLAN forwarding entries (the FDB of a vxlan device) ---
 *
 * The kernel's vxlan keeps ONE destination per unicast MAC.  Several
 * destinations, each sent a copy of every frame, exist only for the
 * all-zeros MAC 00:00:00:00:00:00 (the default entry: frames for any MAC
 * without an entry of its own, broadcasts included, go to all of its
 * destinations) and for multicast MACs.  To send a migrating VM's frames
 * to both hosts with these primitives: list every host in the default
 * entry, remove the VM MAC's own entry for the migration (its frames then
 * go to every host; each bridge floods them to its local ports, so the
 * destination's pre-created TAP gets them), and at commit set it to the
 * destination with net_fdb_replace. */

/* Adds remote as a destination for frames to mac on vxlan_if (NLM_F_APPEND),
 * keeping the other destinations of the all-zeros or a multicast MAC; 0 if
 * it is there already.  For a unicast MAC that has another destination,
 * -EOPNOTSUPP (the kernel would keep the old one and claim success; this
 * reads the entry back). */
int net_fdb_append(const char *vxlan_if, const uint8_t mac[6], struct in_addr remote,
                   struct gw_error *err);
/* Sets the one destination of a unicast mac (creating the entry or moving
 * it, in one step: NLM_F_REPLACE); -EINVAL for the all-zeros or a
 * multicast MAC. */
int net_fdb_replace(const char *vxlan_if, const uint8_t mac[6], struct in_addr remote,
                    struct gw_error *err);
/* Removes one destination of mac; -ENOENT if it was not there. */
int net_fdb_remove(const char *vxlan_if, const uint8_t mac[6], struct in_addr remote,
                   struct gw_error *err);
/* The IPv4 destinations of mac on vxlan_if: stores up to max of them and
 * returns how many it stored (0: no entry), or -errno. */
int net_fdb_lookup(const char *vxlan_if, const uint8_t mac[6], struct in_addr *remotes,
                   int max, struct gw_error *err);

/* --- frames --- */

/* A send-only AF_PACKET socket for net_send_frame: a file descriptor, or
 * -errno with err.  Keep it open: closing a packet socket waits for an
 * RCU grace period (synchronize_net), about 10 ms here. */
int net_frame_socket(struct gw_error *err);

/* Sends one Ethernet frame (14 to 65535 bytes, header included) out of
 * ifname through fd (from net_frame_socket).  Sent on the bridge device,
 * the bridge forwards it like any frame from the host; sent on the vxlan
 * device, it goes straight to the vxlan FDB's destinations. */
int net_send_frame(int fd, const char *ifname, const void *frame, size_t len,
                   struct gw_error *err);

/* Parses "52:54:00:12:34:56" (exactly: two hex digits per byte, either
 * case); 0 or -EINVAL, leaving mac untouched.  Formats into 18 bytes,
 * lower case. */
int net_parse_mac(const char *text, uint8_t mac[6]);
void net_format_mac(const uint8_t mac[6], char out[18]);

#endif
