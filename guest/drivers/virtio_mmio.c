/*
 * virtio-mmio transport, version 2: discovery, initialisation and queue
 * setup (see virtio_mmio.h).  Runs once at start-up, so it is written for
 * clarity: every register access here costs an exit to the VMM.
 */
#include "drivers/virtio_mmio.h"

int vmmio_find(const struct gw_boot_info *bi, uint32_t device_id, unsigned index, struct vmmio *d)
{
    unsigned n = bi->ndevices < GW_MAX_DEVICES ? bi->ndevices : GW_MAX_DEVICES;
    for (unsigned i = 0; i < n; i++) {
        const struct gw_device_desc *dev = &bi->devices[i];
        if (dev->type != GW_DEV_VIRTIO_MMIO || dev->size < 0x200 || dev->base < GW_MMIO_BASE ||
            dev->base >= GW_MMIO_BASE + (1ULL << 30) - 0x1000 || (dev->base & 0xfff))
            continue;       /* not one, or outside the window the kernel maps */
        struct vmmio cand = { .base = (uintptr_t)dev->base, .irq = dev->irq };
        if (vmmio_read32(&cand, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC ||
            vmmio_read32(&cand, VIRTIO_MMIO_VERSION_REG) != VIRTIO_MMIO_VERSION ||
            vmmio_read32(&cand, VIRTIO_MMIO_DEVICE_ID) != device_id)
            continue;
        if (index-- == 0) {
            *d = cand;
            return 0;
        }
    }
    return -1;
}

static void set_status(const struct vmmio *d, uint32_t bits)
{
    vmmio_write32(d, VIRTIO_MMIO_STATUS, vmmio_read32(d, VIRTIO_MMIO_STATUS) | bits);
}

void vmmio_fail(const struct vmmio *d) { set_status(d, VIRTIO_STATUS_FAILED); }

int vmmio_negotiate(const struct vmmio *d, uint64_t wanted, uint64_t *accepted)
{
    vmmio_write32(d, VIRTIO_MMIO_STATUS, 0);                /* reset */
    for (int tries = 0; vmmio_read32(d, VIRTIO_MMIO_STATUS) != 0; tries++)
        if (tries == 1000)
            return -1;                                      /* the reset never completed */
    set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
    set_status(d, VIRTIO_STATUS_DRIVER);

    uint64_t offered = 0;
    for (uint32_t sel = 0; sel < 2; sel++) {
        vmmio_write32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
        offered |= (uint64_t)vmmio_read32(d, VIRTIO_MMIO_DEVICE_FEATURES) << (32 * sel);
    }
    uint64_t features = offered & wanted;
    if (!(features & (1ULL << VIRTIO_F_VERSION_1))) {
        vmmio_fail(d);      /* a legacy-only device: not ours */
        return -1;
    }
    for (uint32_t sel = 0; sel < 2; sel++) {
        vmmio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
        vmmio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> (32 * sel)));
    }
    set_status(d, VIRTIO_STATUS_FEATURES_OK);
    if (!(vmmio_read32(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK)) {
        vmmio_fail(d);      /* the device refused our subset */
        return -1;
    }
    *accepted = features;
    return 0;
}

static void write64(const struct vmmio *d, unsigned low, uint64_t v)
{
    vmmio_write32(d, low, (uint32_t)v);
    vmmio_write32(d, low + 4, (uint32_t)(v >> 32));
}

int vmmio_queue_setup(const struct vmmio *d, unsigned q, struct virtqueue *vq, struct vq_mem *mem)
{
    vmmio_write32(d, VIRTIO_MMIO_QUEUE_SEL, q);
    if (vmmio_read32(d, VIRTIO_MMIO_QUEUE_READY))
        return -1;          /* cannot be after a reset */
    unsigned size = vq_pick_size(vmmio_read32(d, VIRTIO_MMIO_QUEUE_NUM_MAX));
    if (!size)
        return -1;
    vq_init(vq, mem, size);
    vmmio_write32(d, VIRTIO_MMIO_QUEUE_NUM, size);
    /* Identity map: these addresses are guest-physical. */
    write64(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint64_t)(uintptr_t)mem->desc);
    write64(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint64_t)(uintptr_t)&mem->avail);
    write64(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint64_t)(uintptr_t)&mem->used);
    vmmio_write32(d, VIRTIO_MMIO_QUEUE_READY, 1);
    return 0;
}

void vmmio_driver_ok(const struct vmmio *d) { set_status(d, VIRTIO_STATUS_DRIVER_OK); }
