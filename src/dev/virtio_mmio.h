/*
 * The virtio-mmio transport, version 2 registers (virtio 1.1, 4.2.2): the
 * register file a driver uses to negotiate features, set up virtqueues,
 * notify the device and acknowledge interrupts.  Device types (net) plug
 * in below it through struct virtio_mmio_ops.
 *
 * Device status, the driver's side of the state machine:
 *
 *   0 --ACKNOWLEDGE--> 1 --DRIVER--> 3 --FEATURES_OK--> 11 --DRIVER_OK--> 15
 *   FEATURES_OK is refused (reads back clear) if the driver asked for a
 *   feature we do not offer or left out VERSION_1;
 *   any state --write 0--> 0 (reset: features, queues and interrupts cleared)
 *   any state --device finds the guest broke a ring--> | DEVICE_NEEDS_RESET
 *
 * Pure register logic, no locking and no threads: the owning device takes
 * its lock around every call, and the ops are called with it held.
 * Unit-tested with fake ops over a malloc'd guest RAM.
 */
#ifndef GW_DEV_VIRTIO_MMIO_H
#define GW_DEV_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "dev/virtqueue.h"
#include "godwit/virtio.h"

#define VIRTIO_MMIO_VENDOR 0x54574447u     /* "GDWT" */
#define VIRTIO_MMIO_WINDOW_BYTES 0x1000

/* Every status bit the device accepts from the driver. */
#define VIRTIO_STATUS_KNOWN 0xcfu

#define VIRTIO_MMIO_MAX_QUEUES 3

struct virtio_mmio_ops {
    /* The driver wrote QueueNotify (only seen when ioeventfd is not used). */
    void (*notify)(void *opaque, uint32_t queue);
    /* The driver reset the device (status 0): drop device-type state. */
    void (*reset)(void *opaque);
    /* Status, a queue's readiness or the features changed: re-evaluate. */
    void (*changed)(void *opaque);
    /* Reads device config space; offset + size <= config_bytes checked. */
    void (*config_read)(void *opaque, uint32_t offset, uint8_t *data, unsigned size);
    /* Assert the interrupt line (InterruptStatus is already updated). */
    void (*irq)(void *opaque);
};

/* The transport state that migrates: plain data. */
struct virtio_mmio_state {
    uint32_t status;
    uint32_t device_features_sel;
    uint32_t driver_features_sel;
    uint32_t queue_sel;
    uint32_t interrupt_status;
    uint32_t config_generation;
    uint64_t driver_features;
    struct virtq queues[VIRTIO_MMIO_MAX_QUEUES];
};

struct virtio_mmio {
    uint32_t device_id;
    uint64_t device_features;           /* offered */
    uint32_t nqueues;                   /* <= VIRTIO_MMIO_MAX_QUEUES */
    uint32_t config_bytes;
    const struct vq_guest *guest;       /* not owned */
    const struct virtio_mmio_ops *ops;
    void *opaque;
    struct virtio_mmio_state s;
};

void virtio_mmio_init(struct virtio_mmio *t, uint32_t device_id, uint64_t device_features,
                      uint32_t nqueues, uint32_t config_bytes, const struct vq_guest *guest,
                      const struct virtio_mmio_ops *ops, void *opaque);

/* One register access of size 1, 2, 4 or 8 at offset into the window.
 * Registers below the config space take only 4-byte accesses; others read
 * as zero and are ignored. */
void virtio_mmio_read(struct virtio_mmio *t, uint64_t offset, uint8_t *data, unsigned size);
void virtio_mmio_write(struct virtio_mmio *t, uint64_t offset, const uint8_t *data,
                       unsigned size);

/* True once the driver said DRIVER_OK and the device does not need a reset. */
bool virtio_mmio_live(const struct virtio_mmio *t);
/* Sets InterruptStatus bits and asserts the line. */
void virtio_mmio_raise(struct virtio_mmio *t, uint32_t bits);
/* The config space changed: bump ConfigGeneration, raise the config interrupt. */
void virtio_mmio_config_changed(struct virtio_mmio *t);
/* The guest broke a ring: set DEVICE_NEEDS_RESET and tell the driver. */
void virtio_mmio_needs_reset(struct virtio_mmio *t);

/* Checks a saved transport state against this device and guest RAM
 * (offered features, queue sizes and addresses, known status bits).
 * Returns 0 or -EINVAL with a sentence in msg. */
int virtio_mmio_state_check(const struct virtio_mmio *t, const struct virtio_mmio_state *s,
                            char *msg, unsigned msg_bytes);

#endif
