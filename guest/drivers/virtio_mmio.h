/*
 * virtio-mmio transport, version 2 (virtio 1.1, section 4.2.2), driver
 * side: device discovery from the boot block, the initialisation sequence
 * of section 3.1.1, queue setup and notification.
 *
 * Every register access is an MMIO exit to the VMM (about 40 us from
 * ring 3 under PVM), so callers touch registers only to set up, to notify
 * and, rarely, to read config space; the hot path lives in the rings in
 * RAM (virtqueue.h).  Works from ring 0 and ring 3.
 */
#ifndef GW_GUEST_VIRTIO_MMIO_H
#define GW_GUEST_VIRTIO_MMIO_H

#include <stdint.h>

#include "drivers/virtqueue.h"
#include "godwit/abi.h"
#include "godwit/virtio.h"

struct vmmio {
    uintptr_t base;             /* the register window (identity-mapped) */
    uint32_t irq;               /* unused: we poll */
};

static inline uint32_t vmmio_read32(const struct vmmio *d, unsigned off)
{
    return *(volatile uint32_t *)(d->base + off);
}
static inline void vmmio_write32(const struct vmmio *d, unsigned off, uint32_t v)
{
    *(volatile uint32_t *)(d->base + off) = v;
}
static inline uint8_t vmmio_config8(const struct vmmio *d, unsigned off)
{
    return *(volatile uint8_t *)(d->base + VIRTIO_MMIO_CONFIG + off);
}
static inline uint16_t vmmio_config16(const struct vmmio *d, unsigned off)
{
    return *(volatile uint16_t *)(d->base + VIRTIO_MMIO_CONFIG + off);
}

/* Finds the index-th virtio-mmio device in the boot block whose registers
 * say magic, version 2 and device_id.  Returns 0 and fills d, or -1. */
int vmmio_find(const struct gw_boot_info *bi, uint32_t device_id, unsigned index, struct vmmio *d);

/* Reset, ACKNOWLEDGE, DRIVER, then offers the device the features in
 * wanted that it offers (VIRTIO_F_VERSION_1 must be among them) and sets
 * FEATURES_OK.  Returns 0 and the accepted set, or -1 (status FAILED). */
int vmmio_negotiate(const struct vmmio *d, uint64_t wanted, uint64_t *accepted);

/* Sets up queue q with vq_init over mem, sized by vq_pick_size from the
 * device's QueueNumMax, and marks it ready.  Returns 0, or -1 if the
 * device has no such queue. */
int vmmio_queue_setup(const struct vmmio *d, unsigned q, struct virtqueue *vq, struct vq_mem *mem);

/* Sets DRIVER_OK: the device is live. */
void vmmio_driver_ok(const struct vmmio *d);

/* Marks the device FAILED (the driver gives up on it). */
void vmmio_fail(const struct vmmio *d);

/* Tells the device that queue q has new buffers (one MMIO write). */
static inline void vmmio_notify(const struct vmmio *d, unsigned q)
{
    vmmio_write32(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

#endif
