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
/* Creates a VXLAN device: id vni, local address, UDP port dstport, over
 * the underlay interface dev (may be NULL), with learning off (the agents
 * program every entry); sets it up and attaches it to bridge (may be
 * NULL).  -EEXIST if the name is taken. */
int net_vxlan_create(const char *ifname, uint32_t vni, struct in_addr local, uint16_t dstport,
                     const char *dev, const char *bridge, struct gw_error *err);
/* Deletes any link.  -ENODEV if it does not exist. */
int net_link_delete(const char *ifname, struct gw_error *err);
/* Attaches ifname to bridge (the bridge must exist) and sets ifname up. */
int net_link_attach(const char *ifname, const char *bridge, struct gw_error *err);
/* The link's MAC address. */
int net_link_mac(const char *ifname, uint8_t mac[6], struct gw_error *err);
/* Frames the kernel has handed to the link for transmission (for a TAP:
 * frames queued towards its reader), from IFLA_STATS64. */
int net_link_tx_packets(const char *ifname, uint64_t *packets, struct gw_error *err);

/* --- TAP devices --- */

/* Creates a persistent TAP (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), so it
 * outlives this call and a VMM opens it later by name.  -EEXIST if a link
 * of that name exists. */
int net_tap_create(const char *ifname, struct gw_error *err);
/* Opens an existing TAP by name for reading and writing frames, with a
 * 12-byte virtio-net header (TUNSETVNETHDRSZ) and O_NONBLOCK.  Returns
 * the fd, or -errno (-ENODEV: no such TAP; -EBUSY: another process has it
 * open). */
int net_tap_open(const char *ifname, struct gw_error *err);
/* Removes a persistent TAP (clears TUNSETPERSIST; the link goes once no
 * process holds it open). */
int net_tap_delete(const char *ifname, struct gw_error *err);

/* --- VXLAN forwarding entries (the FDB of a vxlan device) --- */

/* Adds remote as a destination for frames to mac on vxlan_if, keeping any
 * other destination of that MAC (NLM_F_APPEND): with two, the device
 * sends every frame to both hosts. */
int net_fdb_append(const char *vxlan_if, const uint8_t mac[6], struct in_addr remote,
                   struct gw_error *err);
/* Removes one destination of mac; -ENOENT if it was not there. */
int net_fdb_remove(const char *vxlan_if, const uint8_t mac[6], struct in_addr remote,
                   struct gw_error *err);
/* The destinations of mac on vxlan_if (up to max); returns how many, or -errno. */
int net_fdb_lookup(const char *vxlan_if, const uint8_t mac[6], struct in_addr *remotes,
                   int max, struct gw_error *err);

/* --- frames --- */

/* Sends one Ethernet frame out of ifname through an AF_PACKET socket. */
int net_send_frame(const char *ifname, const void *frame, size_t len, struct gw_error *err);

/* Parses "52:54:00:12:34:56"; 0 or -EINVAL.  Formats into 18 bytes. */
int net_parse_mac(const char *text, uint8_t mac[6]);
void net_format_mac(const uint8_t mac[6], char out[18]);

#endif
