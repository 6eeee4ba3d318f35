/*
 * virtio-net driver for a polling ring-3 workload (virtio 1.1, section
 * 5.1) over virtio-mmio.  Queue 0 receives, 1 transmits, 2 is the control
 * queue.  Every buffer starts with the 12-byte virtio_net_hdr_v1; TX
 * headers are zero (no offloads), RX buffers are 2 KiB, one device-writable
 * descriptor each.  The rings and buffers are static in the image (guest
 * RAM, identity-mapped).
 *
 * The hot path touches only RAM: vnet_rx_poll reads used->idx, vnet_tx_*
 * fill TX buffers in place.  MMIO happens in vnet_tx_flush (one
 * QueueNotify per batch), in vnet_rx_poll when the device is running low
 * on buffers it knows of, and in vnet_config_status (call it rarely).
 *
 * One struct vnet, one thread: the driver has no locks.  Only one device
 * per image (the buffers are static).
 */
#ifndef GW_GUEST_VIRTIO_NET_H
#define GW_GUEST_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#include "drivers/virtio_mmio.h"
#include "drivers/virtqueue.h"

#define VNET_BUF_LEN 2048

enum vnet_queue { VNET_RX = 0, VNET_TX = 1, VNET_CTRL = 2 };

struct vnet_stats {
    uint64_t notifies;      /* QueueNotify writes */
    uint64_t rx_bad;        /* used entries with a bad id or length (device bug) */
    uint64_t tx_full;       /* vnet_tx_alloc found no free buffer */
};

struct vnet {
    struct vmmio mmio;
    uint64_t features;      /* accepted feature bits */
    uint8_t mac[6];         /* from config space, or zeros without VIRTIO_NET_F_MAC */
    struct virtqueue rx, tx, ctrl;
    uint16_t tx_free[VQ_SIZE_MAX];  /* stack of free TX descriptor ids */
    unsigned tx_nfree;
    int ctrl_busy;          /* a control command is with the device */
    struct vnet_stats stats;
};

/* Finds the first virtio-net device of the boot block and brings it up
 * (features, queues, RX buffers posted, DRIVER_OK).  Returns 0, or a
 * negative number: -1 no device, -2 features refused, -3 a queue missing. */
int vnet_open(struct vnet *n, const struct gw_boot_info *bi);

static inline int vnet_has(const struct vnet *n, unsigned feature)
{
    return (n->features >> feature) & 1;
}

/* Receives what the device has delivered, at most budget frames: calls
 * rx(ctx, frame, len, hdr_flags) for each (frame valid only during the
 * call), then gives the buffers back to the device.  Returns the number of
 * frames. */
typedef void vnet_rx_fn(void *ctx, const uint8_t *frame, size_t len, unsigned hdr_flags);
unsigned vnet_rx_poll(struct vnet *n, unsigned budget, vnet_rx_fn *rx, void *ctx);

/* A TX buffer for one frame of up to VNET_BUF_LEN - VIRTIO_NET_HDR_BYTES bytes, or
 * NULL if every buffer is with the device. */
uint8_t *vnet_tx_alloc(struct vnet *n);
/* Queues the frame (from vnet_tx_alloc) of len bytes; the device sees it
 * at the next vnet_tx_flush. */
void vnet_tx_send(struct vnet *n, uint8_t *frame, size_t len);
/* Hands the queued frames to the device: one notify for the batch. */
void vnet_tx_flush(struct vnet *n);

/* The config space's status field (MMIO read: call it rarely), or 0
 * without VIRTIO_NET_F_STATUS. */
uint16_t vnet_config_status(const struct vnet *n);

/* Sends VIRTIO_NET_CTRL_ANNOUNCE_ACK on the control queue (non-blocking).
 * Returns 0, or -1 without a control queue or if a command is pending. */
int vnet_announce_ack(struct vnet *n);
/* Checks the pending control command: returns 1 once it completed with
 * VIRTIO_NET_OK, -1 once it completed with an error, 0 if pending or none. */
int vnet_ctrl_poll(struct vnet *n);

#endif
