/*
 * virtio-net driver for a polling workload (see virtio_net.h).
 *
 * RX: descriptor i always points at rx_bufs[i] (2 KiB, device-writable);
 * a used buffer goes back to the device as soon as the stack is done with
 * it.  Notifying the device costs an MMIO exit, so after a refill we
 * notify only when fewer than half of the ring's buffers are known to the
 * device and unused (the device learns of refills at each notify, or
 * earlier if it rereads avail->idx): one notify per half ring, not one
 * per frame, and the device never runs dry while we keep up.
 *
 * TX: descriptor i always points at tx_bufs[i], whose header stays zero;
 * the stack builds the frame right after it.  Free ids sit on a stack; the
 * ids the device has used are reclaimed when the stack runs low and at
 * every flush.  One notify per flush.
 *
 * Control: one command at a time, descriptors 0 (class, cmd: read by the
 * device) and 1 (ack: written by the device).
 */
#include "drivers/virtio_net.h"

static struct vq_mem rx_mem, tx_mem, ctrl_mem;
static uint8_t rx_bufs[VQ_SIZE_MAX][VNET_BUF_LEN] __attribute__((aligned(4096)));
static uint8_t tx_bufs[VQ_SIZE_MAX][VNET_BUF_LEN] __attribute__((aligned(4096)));
static struct {
    uint8_t class, cmd;
    uint8_t ack __attribute__((aligned(64)));
} ctrl_buf __attribute__((aligned(64)));

static void notify(struct vnet *n, struct virtqueue *vq, unsigned q)
{
    vmmio_notify(&n->mmio, q);
    vq_notified(vq);
    n->stats.notifies++;
}

int vnet_open(struct vnet *n, const struct gw_boot_info *bi)
{
    *n = (struct vnet){ 0 };
    if (vmmio_find(bi, VIRTIO_ID_NET, 0, &n->mmio))
        return -1;
    uint64_t wanted = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_NET_F_MAC |
                      1ULL << VIRTIO_NET_F_STATUS | 1ULL << VIRTIO_NET_F_CTRL_VQ |
                      1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE;
    if (vmmio_negotiate(&n->mmio, wanted, &n->features))
        return -2;
    if (vmmio_queue_setup(&n->mmio, VNET_RX, &n->rx, &rx_mem) ||
        vmmio_queue_setup(&n->mmio, VNET_TX, &n->tx, &tx_mem) ||
        (vnet_has(n, VIRTIO_NET_F_CTRL_VQ) &&
         vmmio_queue_setup(&n->mmio, VNET_CTRL, &n->ctrl, &ctrl_mem))) {
        vmmio_fail(&n->mmio);
        return -3;
    }
    if (vnet_has(n, VIRTIO_NET_F_MAC))
        for (unsigned i = 0; i < 6; i++)
            n->mac[i] = vmmio_config8(&n->mmio, i);

    for (uint16_t i = 0; i < n->rx.size; i++) {
        rx_mem.desc[i] = (struct vring_desc){ (uintptr_t)rx_bufs[i], VNET_BUF_LEN,
                                              VIRTQ_DESC_F_WRITE, 0 };
        vq_push(&n->rx, i);
    }
    vq_publish(&n->rx);
    for (uint16_t i = 0; i < n->tx.size; i++) {
        tx_mem.desc[i] = (struct vring_desc){ (uintptr_t)tx_bufs[i], 0, 0, 0 };
        for (unsigned b = 0; b < VIRTIO_NET_HDR_BYTES; b++)
            tx_bufs[i][b] = 0;
        n->tx_free[n->tx_nfree++] = (uint16_t)(n->tx.size - 1 - i);
    }
    if (vnet_has(n, VIRTIO_NET_F_CTRL_VQ)) {
        ctrl_mem.desc[0] = (struct vring_desc){ (uintptr_t)&ctrl_buf.class, 2,
                                                VIRTQ_DESC_F_NEXT, 1 };
        ctrl_mem.desc[1] = (struct vring_desc){ (uintptr_t)&ctrl_buf.ack, 1,
                                                VIRTQ_DESC_F_WRITE, 0 };
    }
    vmmio_driver_ok(&n->mmio);
    if (vq_should_notify(&n->rx))
        notify(n, &n->rx, VNET_RX);
    return 0;
}

unsigned vnet_rx_poll(struct vnet *n, unsigned budget, vnet_rx_fn *rx, void *ctx)
{
    unsigned got = 0;
    uint32_t id, len;
    while (got < budget && vq_pop_used(&n->rx, &id, &len)) {
        if (id >= n->rx.size) {
            n->stats.rx_bad++;          /* not ours to give back */
            continue;
        }
        got++;
        if (len < VIRTIO_NET_HDR_BYTES || len > VNET_BUF_LEN)
            n->stats.rx_bad++;
        else
            rx(ctx, rx_bufs[id] + VIRTIO_NET_HDR_BYTES, len - VIRTIO_NET_HDR_BYTES, rx_bufs[id][0]);
        vq_push(&n->rx, (uint16_t)id);
    }
    if (got) {
        vq_publish(&n->rx);
        if (vq_known_unused(&n->rx) < n->rx.size / 2 && vq_should_notify(&n->rx))
            notify(n, &n->rx, VNET_RX);
    }
    return got;
}

static void tx_reclaim(struct vnet *n)
{
    uint32_t id, len;
    while (vq_pop_used(&n->tx, &id, &len))
        if (id < n->tx.size && n->tx_nfree < n->tx.size)
            n->tx_free[n->tx_nfree++] = (uint16_t)id;
}

uint8_t *vnet_tx_alloc(struct vnet *n)
{
    if (!n->tx_nfree)
        tx_reclaim(n);
    if (!n->tx_nfree) {
        n->stats.tx_full++;
        return NULL;
    }
    return tx_bufs[n->tx_free[--n->tx_nfree]] + VIRTIO_NET_HDR_BYTES;
}

void vnet_tx_send(struct vnet *n, uint8_t *frame, size_t len)
{
    uint16_t id = (uint16_t)((size_t)(frame - VIRTIO_NET_HDR_BYTES - tx_bufs[0]) / VNET_BUF_LEN);
    tx_mem.desc[id].len = (uint32_t)(VIRTIO_NET_HDR_BYTES + len);
    vq_push(&n->tx, id);
}

void vnet_tx_flush(struct vnet *n)
{
    tx_reclaim(n);
    vq_publish(&n->tx);
    if (vq_should_notify(&n->tx))
        notify(n, &n->tx, VNET_TX);
}

uint16_t vnet_config_status(const struct vnet *n)
{
    if (!vnet_has(n, VIRTIO_NET_F_STATUS))
        return 0;
    return vmmio_config16(&n->mmio, 6);     /* struct virtio_net_config: mac[6], status */
}

int vnet_announce_ack(struct vnet *n)
{
    if (!vnet_has(n, VIRTIO_NET_F_CTRL_VQ) || n->ctrl_busy)
        return -1;
    ctrl_buf.class = VIRTIO_NET_CTRL_ANNOUNCE;
    ctrl_buf.cmd = VIRTIO_NET_CTRL_ANNOUNCE_ACK;
    ctrl_buf.ack = 0xff;
    vq_push(&n->ctrl, 0);
    vq_publish(&n->ctrl);
    if (vq_should_notify(&n->ctrl))
        notify(n, &n->ctrl, VNET_CTRL);
    n->ctrl_busy = 1;
    return 0;
}

int vnet_ctrl_poll(struct vnet *n)
{
    uint32_t id, len;
    if (!n->ctrl_busy || !vq_pop_used(&n->ctrl, &id, &len))
        return 0;
    n->ctrl_busy = 0;
    return *(volatile uint8_t *)&ctrl_buf.ack == VIRTIO_NET_OK ? 1 : -1;
}
