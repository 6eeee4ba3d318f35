/*
 * virtio-net over virtio-mmio with a TAP backend (virtio 1.1, 5.1).
 *
 * Queues 0 = RX, 1 = TX, 2 = control.  Offered: MAC, STATUS, CTRL_VQ,
 * GUEST_ANNOUNCE, VERSION_1; no offloads, no mergeable RX buffers.  Every
 * buffer starts with the 12-byte virtio_net_hdr_v1, which the TAP (opened
 * with a 12-byte vnet header) shares, so frames pass through unchanged; on
 * RX the device writes a clean header with num_buffers = 1.
 *
 * Threads and locks: one I/O thread per device waits in epoll on the TAP,
 * a kick eventfd (QueueNotify through ioeventfd, or the MMIO exit path,
 * and state changes), a timerfd (announce rounds) and a stop eventfd.
 * vCPU threads call the MMIO handlers.  dev->lock guards the transport
 * registers, the rings' positions, every access to guest RAM and the
 * stats; the I/O thread holds it for a bounded batch (at most 256 frames
 * per queue).  The device never takes the VM's lock.
 *
 * Pause and freeze: the device touches guest RAM only while "running".
 * virtio_net_quiesce() (called by the VM when it leaves RUNNING) takes the
 * lock, so it returns only after any batch in progress ended; from then on
 * nothing is read or written in guest RAM and frames wait in the TAP's
 * queue.  virtio_net_run() (VM enters RUNNING) lets it go again, and after
 * an incoming migration's state was loaded, starts the announce: RARP
 * rounds from the VMM (rarp.h), and, if the driver negotiated
 * GUEST_ANNOUNCE, the ANNOUNCE config bit the guest acknowledges with
 * VIRTIO_NET_CTRL_ANNOUNCE_ACK.
 *
 * Dirty tracking: every byte written into guest RAM (RX buffers, the
 * control ack, used rings) is reported through the vq_guest's mark_dirty
 * (vm_mark_dirty) so migration re-sends those pages.
 */
#ifndef GW_DEV_VIRTIO_NET_H
#define GW_DEV_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "dev/virtio_mmio.h"
#include "godwit/ready_probe.h"
#include "godwit/virtio.h"
#include "vmm/mmio.h"
#include "wire/buf.h"

#define VIRTIO_NET_CONFIG_BYTES 10      /* mac[6], status u16, max_virtqueue_pairs u16 */
#define VIRTIO_NET_NQUEUES 3
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
#define VIRTIO_NET_CTRLQ 2

#define VIRTIO_NET_FEATURES                                                               \
    ((1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) |                         \
     (1ULL << VIRTIO_NET_F_CTRL_VQ) | (1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE) |             \
     (1ULL << VIRTIO_F_VERSION_1))

/* The migration state section of one device. */
#define VIRTIO_NET_SECTION "virtio-net"
#define VIRTIO_NET_SECTION_VERSION 1
#define VIRTIO_NET_STATE_FORMAT 1

struct virtio_net_params {
    uint32_t index;                 /* device n of the VM: names, logs */
    int tap_fd;                     /* set up by tap_open/tap_adopt_fd; owned on success */
    const char *tap_name;           /* for logs and stats; copied */
    uint8_t mac[6];
    uint64_t mmio_base;             /* GW_VIRTIO_MMIO_BASE + index * stride */
    const struct guest_memory *mem; /* not owned, outlives the device */
    void (*mark_dirty)(void *opaque, uint64_t gpa, uint64_t len);
    void *dirty_opaque;
    /* The VM arrives by migration: until it first runs, keep the newest
     * frames from the TAP (see "early frames" in virtio_net.c). */
    bool hold_early_frames;
};

struct virtio_net_stats {
    uint64_t rx_frames, rx_bytes, rx_dropped;   /* dropped: the TAP gave a frame we refused */
    uint64_t early_held, early_discarded;       /* frames kept before the first run; older
                                                   ones let go to keep the newest */
    uint64_t ready_probes;                      /* agents' ready probes read before it */
    char last_ready_probe[READY_PROBE_TEXT_MAX]; /* the last one's text, "" if none */
    uint64_t tx_frames, tx_bytes, tx_dropped;
    uint64_t ctrl_commands;
    uint64_t announce_rounds;
    uint32_t status;                            /* virtio device status */
    uint16_t config_status;
    uint64_t driver_features;
};

/* The saved state: plain data, separate from the live device. */
struct virtio_net_state {
    struct virtio_mmio_state transport;
    uint8_t mac[6];
    uint16_t config_status;
};

struct virtio_net;

/* Creates the device and starts its I/O thread (which stays idle until
 * virtio_net_run).  Returns NULL with err on failure; the caller still
 * owns params->tap_fd then. */
struct virtio_net *virtio_net_create(const struct virtio_net_params *params,
                                     struct gw_error *err);
/* Stops the thread, closes the TAP and eventfds.  NULL ok. */
void virtio_net_destroy(struct virtio_net *dev);

/* The register window to put on the VM's MMIO bus (lives in dev). */
const struct mmio_device *virtio_net_mmio(const struct virtio_net *dev);
/* An eventfd the device signals to raise its interrupt: register it with
 * KVM_IRQFD on the device's GSI. */
int virtio_net_irq_fd(const struct virtio_net *dev);
/* An eventfd that wakes the I/O thread: register it with KVM_IOEVENTFD on
 * the QueueNotify register so notifications skip userspace. */
int virtio_net_kick_fd(const struct virtio_net *dev);

/* VM state hooks; any thread except the device's own.  quiesce returns
 * once the device no longer touches guest RAM. */
void virtio_net_run(struct virtio_net *dev);
void virtio_net_quiesce(struct virtio_net *dev);

void virtio_net_get_stats(struct virtio_net *dev, struct virtio_net_stats *stats);
const uint8_t *virtio_net_mac(const struct virtio_net *dev);
const char *virtio_net_tap_name(const struct virtio_net *dev);

/* Migration: save on a quiesced device; load checks everything first
 * (MAC, features, queues against guest RAM) and applies nothing on error
 * (-EINVAL with err).  A loaded device announces itself when it next runs. */
void virtio_net_save(struct virtio_net *dev, struct virtio_net_state *state);
int virtio_net_load(struct virtio_net *dev, const struct virtio_net_state *state,
                    struct gw_error *err);
/* The checks of virtio_net_load without applying anything. */
int virtio_net_check(struct virtio_net *dev, const struct virtio_net_state *state,
                     struct gw_error *err);

/* The section body: TLV items (documented in docs/protocol.md).  decode
 * fills *state only if the whole body checked out; -EPROTO with err. */
void virtio_net_state_encode(const struct virtio_net_state *state, struct wbuf *w);
int virtio_net_state_decode(struct rbuf *r, struct virtio_net_state *state,
                            struct gw_error *err);

/* Parses "52:54:00:12:34:56" (a unicast, non-zero MAC).  0 or -EINVAL. */
int virtio_net_parse_mac(const char *text, uint8_t mac[6]);
/* Formats mac into buf (18 bytes). */
void virtio_net_format_mac(const uint8_t mac[6], char buf[18]);

#endif
