/*
 * The guest's IPv4 stack: Ethernet in, answers out (see net.h).
 *
 *   net_input -> arp_input  -> ARP reply for our address; learn senders
 *             -> ipv4_input -> icmp_input -> echo reply
 *                           -> udp_input  -> the same payload back to its sender
 *
 * Answers go to the Ethernet source of the frame that asked, so the hot
 * path never waits on ARP.  Replies are built directly in a TX buffer:
 * fresh headers (no IP options) and the request's payload copied once.
 */
#include "net.h"

#define ARP_LEN 28
#define IP_HLEN 20
#define UDP_HLEN 8
#define ICMP_HLEN 8
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define IP_TTL 64

static const uint8_t mac_broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

void net_init(struct net_if *nif, const uint8_t mac[6], uint32_t ip, unsigned prefix_len,
              uint16_t udp_port, const struct net_tx *tx)
{
    memset(nif, 0, sizeof *nif);
    memcpy(nif->mac, mac, 6);
    nif->ip = ip;
    nif->netmask = prefix_len == 0 ? 0 : prefix_len >= 32 ? 0xffffffffu
                                                           : ~((1u << (32 - prefix_len)) - 1);
    nif->udp_port = udp_port;
    nif->tx = *tx;
}

static int mac_is_group(const uint8_t *mac) { return mac[0] & 1; }

/* A source address we may answer: not 0.0.0.0/8, multicast, class E or
 * broadcast, and not our own. */
static int ip_is_unicast_peer(const struct net_if *nif, uint32_t ip)
{
    if ((ip >> 24) == 0 || (ip >> 28) >= 0xe || ip == nif->ip)
        return 0;
    if (nif->netmask != 0xffffffffu && (ip & ~nif->netmask) == ~nif->netmask &&
        (ip & nif->netmask) == (nif->ip & nif->netmask))
        return 0;       /* our subnet's broadcast address */
    return 1;
}

static uint8_t *tx_alloc(struct net_if *nif)
{
    uint8_t *buf = nif->tx.alloc(nif->tx.ctx);
    if (!buf)
        nif->stats.drops++;     /* the answer is lost: TX ring full */
    return buf;
}

static void tx_send(struct net_if *nif, uint8_t *frame, size_t len)
{
    if (len < NET_ETH_MIN) {
        memset(frame + len, 0, NET_ETH_MIN - len);
        len = NET_ETH_MIN;
    }
    nif->tx.send(nif->tx.ctx, frame, len);
    nif->stats.tx_frames++;
}

static void eth_build(const struct net_if *nif, uint8_t *frame, const uint8_t *dst, uint16_t type)
{
    memcpy(frame, dst, 6);
    memcpy(frame + 6, nif->mac, 6);
    net_wr16(frame + 12, type);
}

/* --- ARP --- */

const uint8_t *net_arp_lookup(const struct net_if *nif, uint32_t ip)
{
    for (unsigned i = 0; i < NET_ARP_ENTRIES; i++)
        if (ip && nif->arp[i].ip == ip)
            return nif->arp[i].mac;
    return NULL;
}

/* Records ip -> mac: updates an entry we have; adds one (replacing the
 * oldest) only if insert, i.e. the peer talked to us (RFC 826). */
static void arp_learn(struct net_if *nif, uint32_t ip, const uint8_t *mac, int insert)
{
    for (unsigned i = 0; i < NET_ARP_ENTRIES; i++) {
        if (nif->arp[i].ip == ip) {
            memcpy(nif->arp[i].mac, mac, 6);
            return;
        }
    }
    if (!insert)
        return;
    struct net_arp_entry *e = &nif->arp[nif->arp_next];
    nif->arp_next = (nif->arp_next + 1) % NET_ARP_ENTRIES;
    e->ip = ip;
    memcpy(e->mac, mac, 6);
}

static void arp_build(const struct net_if *nif, uint8_t *frame, const uint8_t *eth_dst,
                      uint16_t op, const uint8_t *tha, uint32_t tpa)
{
    eth_build(nif, frame, eth_dst, NET_ETHERTYPE_ARP);
    uint8_t *a = frame + NET_ETH_HLEN;
    net_wr16(a, 1);                     /* Ethernet */
    net_wr16(a + 2, NET_ETHERTYPE_IPV4);
    a[4] = 6;
    a[5] = 4;
    net_wr16(a + 6, op);
    memcpy(a + 8, nif->mac, 6);
    net_wr32(a + 14, nif->ip);
    memcpy(a + 18, tha, 6);
    net_wr32(a + 24, tpa);
}

static void arp_input(struct net_if *nif, const uint8_t *a, size_t len)
{
    if (len < ARP_LEN || net_rd16(a) != 1 || net_rd16(a + 2) != NET_ETHERTYPE_IPV4 || a[4] != 6 ||
        a[5] != 4) {
        nif->stats.drops++;
        return;
    }
    uint16_t op = net_rd16(a + 6);
    const uint8_t *sha = a + 8;
    uint32_t spa = net_rd32(a + 14), tpa = net_rd32(a + 24);
    if ((op != 1 && op != 2) || mac_is_group(sha)) {
        nif->stats.drops++;
        return;
    }
    int for_us = tpa == nif->ip;
    if (ip_is_unicast_peer(nif, spa))
        arp_learn(nif, spa, sha, for_us);
    if (op != 1 || !for_us || spa == nif->ip) {
        nif->stats.ignored += !for_us;
        return;
    }
    uint8_t *frame = tx_alloc(nif);
    if (!frame)
        return;
    arp_build(nif, frame, sha, 2, sha, spa);
    tx_send(nif, frame, NET_ETH_HLEN + ARP_LEN);
    nif->stats.arp_replies++;
}

int net_send_arp_request(struct net_if *nif, uint32_t ip)
{
    static const uint8_t zero[6];
    uint8_t *frame = tx_alloc(nif);
    if (!frame)
        return -1;
    arp_build(nif, frame, mac_broadcast, 1, zero, ip);
    tx_send(nif, frame, NET_ETH_HLEN + ARP_LEN);
    return 0;
}

int net_send_garp(struct net_if *nif)
{
    static const uint8_t zero[6];
    uint8_t *frame = tx_alloc(nif);
    if (!frame)
        return -1;
    arp_build(nif, frame, mac_broadcast, 1, zero, nif->ip);
    tx_send(nif, frame, NET_ETH_HLEN + ARP_LEN);
    return 0;
}

/* --- IPv4 --- */

static uint32_t pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}

/* Starts an IPv4 frame to dst at dst_mac: Ethernet and a 20-byte IP
 * header carrying payload_len bytes.  Returns the frame, or NULL
 * (counted) if it would not fit or no buffer was free. */
static uint8_t *ipv4_start(struct net_if *nif, const uint8_t *dst_mac, uint32_t dst, uint8_t proto,
                           size_t payload_len)
{
    if (NET_ETH_HLEN + IP_HLEN + payload_len > NET_FRAME_MAX) {
        nif->stats.drops++;     /* it came in with options and would not fit without */
        return NULL;
    }
    uint8_t *frame = tx_alloc(nif);
    if (!frame)
        return NULL;
    eth_build(nif, frame, dst_mac, NET_ETHERTYPE_IPV4);
    uint8_t *ip = frame + NET_ETH_HLEN;
    ip[0] = 0x45;
    ip[1] = 0;
    net_wr16(ip + 2, (uint16_t)(IP_HLEN + payload_len));
    net_wr16(ip + 4, nif->ip_id++);
    net_wr16(ip + 6, 0x4000);           /* don't fragment */
    ip[8] = IP_TTL;
    ip[9] = proto;
    net_wr16(ip + 10, 0);
    net_wr32(ip + 12, nif->ip);
    net_wr32(ip + 16, dst);
    net_wr16(ip + 10, csum_fold(csum_add(0, ip, IP_HLEN)));
    return frame;
}

/* An answer to the IPv4 frame req goes back to its Ethernet sender. */
static uint8_t *ipv4_answer(struct net_if *nif, const uint8_t *req, uint32_t dst, uint8_t proto,
                            size_t payload_len)
{
    return ipv4_start(nif, req + 6, dst, proto, payload_len);
}

static void icmp_input(struct net_if *nif, const uint8_t *req, uint32_t src, const uint8_t *icmp,
                       size_t len, unsigned rx_flags)
{
    if (len < ICMP_HLEN ||
        (!(rx_flags & NET_RX_CSUM_PARTIAL) && csum_fold(csum_add(0, icmp, len)) != 0)) {
        nif->stats.drops++;
        return;
    }
    if (icmp[0] != ICMP_ECHO_REQUEST || icmp[1] != 0) {
        nif->stats.ignored++;
        return;
    }
    uint8_t *frame = ipv4_answer(nif, req, src, NET_IPPROTO_ICMP, len);
    if (!frame)
        return;
    uint8_t *out = frame + NET_ETH_HLEN + IP_HLEN;
    memcpy(out, icmp, len);
    out[0] = ICMP_ECHO_REPLY;
    out[1] = 0;
    net_wr16(out + 2, 0);
    net_wr16(out + 2, csum_fold(csum_add(0, out, len)));
    tx_send(nif, frame, NET_ETH_HLEN + IP_HLEN + len);
    nif->stats.pings++;
}

static void udp_input(struct net_if *nif, const uint8_t *req, uint32_t src, uint32_t dst,
                      const uint8_t *udp, size_t len, unsigned rx_flags)
{
    if (len < UDP_HLEN) {
        nif->stats.drops++;
        return;
    }
    uint16_t ulen = net_rd16(udp + 4);
    if (ulen < UDP_HLEN || ulen > len) {
        nif->stats.drops++;
        return;
    }
    if (net_rd16(udp + 6) != 0 && !(rx_flags & NET_RX_CSUM_PARTIAL) &&
        csum_fold(csum_add(pseudo_sum(src, dst, NET_IPPROTO_UDP, ulen), udp, ulen)) != 0) {
        nif->stats.drops++;
        return;
    }
    uint16_t sport = net_rd16(udp), dport = net_rd16(udp + 2);
    if (nif->client_port && dport == nif->client_port) {
        nif->stats.client_replies++;
        if (nif->client_rx)
            nif->client_rx(nif->client_ctx, src, udp + UDP_HLEN, ulen - UDP_HLEN);
        return;
    }
    if (!nif->udp_port || dport != nif->udp_port || sport == 0) {
        nif->stats.ignored++;
        return;
    }
    uint8_t *frame = ipv4_answer(nif, req, src, NET_IPPROTO_UDP, ulen);
    if (!frame)
        return;
    uint8_t *out = frame + NET_ETH_HLEN + IP_HLEN;
    net_wr16(out, dport);
    net_wr16(out + 2, sport);
    net_wr16(out + 4, ulen);
    net_wr16(out + 6, 0);
    memcpy(out + UDP_HLEN, udp + UDP_HLEN, ulen - UDP_HLEN);
    uint16_t sum = csum_fold(csum_add(pseudo_sum(nif->ip, src, NET_IPPROTO_UDP, ulen), out, ulen));
    net_wr16(out + 6, sum ? sum : 0xffff);
    tx_send(nif, frame, NET_ETH_HLEN + IP_HLEN + ulen);
    nif->stats.udp_echoed++;
}

static void ipv4_input(struct net_if *nif, const uint8_t *frame, const uint8_t *ip, size_t len,
                       unsigned rx_flags)
{
    if (len < IP_HLEN) {
        nif->stats.drops++;
        return;
    }
    size_t hlen = (size_t)(ip[0] & 0xf) * 4, total = net_rd16(ip + 2);
    if ((ip[0] >> 4) != 4 || hlen < IP_HLEN || hlen > len || total < hlen || total > len ||
        csum_fold(csum_add(0, ip, hlen)) != 0) {
        nif->stats.drops++;
        return;
    }
    if (net_rd16(ip + 6) & 0x3fff) {    /* more fragments, or a fragment offset */
        nif->stats.drops++;
        return;
    }
    uint32_t src = net_rd32(ip + 12), dst = net_rd32(ip + 16);
    if (dst != nif->ip || !ip_is_unicast_peer(nif, src)) {
        nif->stats.ignored++;
        return;
    }
    switch (ip[9]) {
    case NET_IPPROTO_ICMP:
        icmp_input(nif, frame, src, ip + hlen, total - hlen, rx_flags);
        break;
    case NET_IPPROTO_UDP:
        udp_input(nif, frame, src, dst, ip + hlen, total - hlen, rx_flags);
        break;
    default:
        nif->stats.ignored++;
    }
}

/* --- Ethernet --- */

void net_input(struct net_if *nif, const uint8_t *frame, size_t len, unsigned rx_flags)
{
    nif->stats.rx_frames++;
    if (len < NET_ETH_HLEN) {
        nif->stats.drops++;
        return;
    }
    if (memcmp(frame, nif->mac, 6) && memcmp(frame, mac_broadcast, 6)) {
        nif->stats.ignored++;
        return;
    }
    if (mac_is_group(frame + 6)) {      /* a group address cannot send */
        nif->stats.drops++;
        return;
    }
    switch (net_rd16(frame + 12)) {
    case NET_ETHERTYPE_ARP:
        arp_input(nif, frame + NET_ETH_HLEN, len - NET_ETH_HLEN);
        break;
    case NET_ETHERTYPE_IPV4:
        ipv4_input(nif, frame, frame + NET_ETH_HLEN, len - NET_ETH_HLEN, rx_flags);
        break;
    default:
        nif->stats.ignored++;
    }
}

/* --- configuration --- */

int net_parse_cidr(const char *s, uint32_t *ip, unsigned *prefix_len)
{
    uint32_t addr = 0;
    for (int octet = 0; octet < 4; octet++) {
        if (octet && *s++ != '.')
            return -1;
        unsigned v = 0, digits = 0;
        for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
            v = v * 10 + (unsigned)(*s - '0');
        if (!digits || digits > 3 || v > 255)
            return -1;
        addr = addr << 8 | v;
    }
    unsigned len = 32;
    if (*s == '/') {
        s++;
        len = 0;
        unsigned digits = 0;
        for (; *s >= '0' && *s <= '9' && digits < 3; s++, digits++)
            len = len * 10 + (unsigned)(*s - '0');
        if (!digits || len > 32)
            return -1;
    }
    if (*s)
        return -1;
    *ip = addr;
    *prefix_len = len;
    return 0;
}

int net_send_udp(struct net_if *nif, uint32_t dst, uint16_t sport, uint16_t dport,
                 const void *payload, size_t len)
{
    const uint8_t *mac = net_arp_lookup(nif, dst);
    if (!mac)
        return -2;
    size_t ulen = UDP_HLEN + len;
    uint8_t *frame = ipv4_start(nif, mac, dst, NET_IPPROTO_UDP, ulen);
    if (!frame)
        return -1;
    uint8_t *out = frame + NET_ETH_HLEN + IP_HLEN;
    net_wr16(out, sport);
    net_wr16(out + 2, dport);
    net_wr16(out + 4, (uint16_t)ulen);
    net_wr16(out + 6, 0);
    memcpy(out + UDP_HLEN, payload, len);
    uint16_t sum = csum_fold(csum_add(pseudo_sum(nif->ip, dst, NET_IPPROTO_UDP, (uint16_t)ulen),
                                      out, ulen));
    net_wr16(out + 6, sum ? sum : 0xffff);
    tx_send(nif, frame, NET_ETH_HLEN + IP_HLEN + ulen);
    return 0;
}
