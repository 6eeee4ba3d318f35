/*
 * A small IPv4 stack for guest workloads: Ethernet, ARP, IPv4 (no
 * fragments), ICMP echo and UDP echo.  It is pure code: it neither knows
 * the NIC nor calls the SDK, so the host compiles it for unit tests too.
 *
 * The driver hands every received frame to net_input(); the stack answers
 * through the driver's net_tx hooks, building each reply straight into a
 * TX buffer (no copy through a staging area).  Every length and field
 * comes from the network: a frame that is short, malformed or carries a
 * bad checksum is counted in stats.drops and otherwise ignored.
 *
 * Single-threaded: one net_if belongs to the one loop that polls its NIC.
 */
#ifndef GW_GUEST_NET_H
#define GW_GUEST_NET_H

#include <stddef.h>
#include <stdint.h>

/* The few libc functions the stack uses (the SDK or the host libc). */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *s, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#define NET_ETH_HLEN 14
#define NET_FRAME_MAX 1514          /* Ethernet header + 1500 bytes of MTU */
#define NET_ETH_MIN 60              /* shortest frame on the wire (without FCS) */
#define NET_ETHERTYPE_IPV4 0x0800
#define NET_ETHERTYPE_ARP 0x0806
#define NET_IPPROTO_ICMP 1
#define NET_IPPROTO_UDP 17
#define NET_ARP_ENTRIES 8

/* The virtio_net_hdr flag that says the L4 checksum is partial (the
 * sender left it to the NIC): such a checksum cannot be verified. */
#define NET_RX_CSUM_PARTIAL 1u

struct net_stats {
    uint64_t rx_frames;     /* frames handed to net_input */
    uint64_t tx_frames;     /* frames queued for sending */
    uint64_t udp_echoed;    /* UDP datagrams sent back */
    uint64_t pings;         /* ICMP echo requests answered */
    uint64_t arp_replies;   /* ARP requests for our address answered */
    uint64_t ignored;       /* well-formed but not for us (other hosts, IPv6, ...) */
    uint64_t drops;         /* malformed, bad checksum, or no TX buffer for the answer */
    uint64_t client_replies;    /* datagrams to client_port (answers to our own requests) */
};

/* How the stack sends: alloc returns a buffer of at least NET_FRAME_MAX
 * bytes, owned by the stack until it passes it to send (or NULL when the
 * TX ring is full); send queues len bytes of it (the driver owns it
 * again).  Every alloc is followed by exactly one send. */
struct net_tx {
    uint8_t *(*alloc)(void *ctx);
    void (*send)(void *ctx, uint8_t *frame, size_t len);
    void *ctx;
};

struct net_arp_entry {
    uint32_t ip;            /* 0: unused */
    uint8_t mac[6];
};

struct net_if {
    uint8_t mac[6];
    uint32_t ip;            /* host byte order */
    uint32_t netmask;       /* host byte order */
    uint16_t udp_port;      /* UDP echo port, 0: none */
    uint16_t client_port;   /* the port our own requests leave from, 0: none */
    /* Called with the payload of each datagram to client_port (the
     * answers to our own requests); may be NULL. */
    void (*client_rx)(void *ctx, uint32_t src, const uint8_t *payload, size_t len);
    void *client_ctx;
    struct net_tx tx;
    struct net_arp_entry arp[NET_ARP_ENTRIES];
    unsigned arp_next;      /* next entry to replace */
    uint16_t ip_id;         /* identification of the next datagram we send */
    struct net_stats stats;
};

void net_init(struct net_if *nif, const uint8_t mac[6], uint32_t ip, unsigned prefix_len,
              uint16_t udp_port, const struct net_tx *tx);

/* Handles one received Ethernet frame (without the virtio-net header);
 * rx_flags are the header's flags (NET_RX_CSUM_PARTIAL).  May send
 * answers through nif->tx. */
void net_input(struct net_if *nif, const uint8_t *frame, size_t len, unsigned rx_flags);

/* Sends a gratuitous ARP (a broadcast request for our own address, sender
 * IP = target IP = ours), so switches and neighbours learn where we are
 * now.  Returns 0, or -1 if no TX buffer was free. */
int net_send_garp(struct net_if *nif);

/* Sends a broadcast ARP request for ip (to learn its MAC).  0, or -1 if
 * no TX buffer was free. */
int net_send_arp_request(struct net_if *nif, uint32_t ip);

/* Sends a UDP datagram of len bytes (at most 1472) from sport to dst:dport.
 * Returns 0; -1 if no TX buffer was free or it is too long; -2 if dst's MAC
 * is not known yet (send an ARP request first). */
int net_send_udp(struct net_if *nif, uint32_t dst, uint16_t sport, uint16_t dport,
                 const void *payload, size_t len);

/* The MAC learnt for ip from ARP traffic, or NULL. */
const uint8_t *net_arp_lookup(const struct net_if *nif, uint32_t ip);

/* Parses "a.b.c.d/len" (or "a.b.c.d", meaning /32).  Returns 0 or -1. */
int net_parse_cidr(const char *s, uint32_t *ip, unsigned *prefix_len);

/* Internet checksum (RFC 1071): csum_add sums 16-bit big-endian words
 * (an odd length only for the last piece); csum_fold folds the sum and
 * returns its complement, ready to store (in host order: write it
 * big-endian).  A region holding its own correct checksum folds to 0. */
uint32_t csum_add(uint32_t sum, const void *data, size_t len);
uint16_t csum_fold(uint32_t sum);

/* Big-endian field access on byte pointers (frames are not aligned). */
static inline uint16_t net_rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t net_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void net_wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void net_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
