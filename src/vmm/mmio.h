/*
 * MMIO bus: routes a vCPU's KVM_EXIT_MMIO to the device whose window holds
 * the address (the port I/O bus's twin, dev/pio.h).
 *
 * Devices register before vCPUs start; afterwards the bus is read-only, so
 * vCPU threads dispatch without a lock.  Each device serialises its own
 * state.  Addresses nobody owns read as all-ones and ignore writes.
 */
#ifndef GW_VMM_MMIO_H
#define GW_VMM_MMIO_H

#include <stdbool.h>
#include <stdint.h>

struct mmio_device {
    const char *name;
    uint64_t base;
    uint64_t size;
    void *opaque;
    /* size is 1, 2, 4 or 8; data points at size bytes, little-endian;
     * offset is relative to base. */
    void (*write)(void *opaque, uint64_t offset, const uint8_t *data, unsigned size);
    void (*read)(void *opaque, uint64_t offset, uint8_t *data, unsigned size);
};

#define MMIO_BUS_MAX 8

struct mmio_bus {
    const struct mmio_device *devices[MMIO_BUS_MAX];
    unsigned ndevices;
};

/* Adds dev (not owned, must outlive the bus).  Returns 0, -EEXIST if its
 * window overlaps another device's, -EINVAL for an empty or wrapping
 * window, -ENOSPC if the bus is full. */
int mmio_bus_add(struct mmio_bus *bus, const struct mmio_device *dev);

/* Performs one access; returns false if no device owns [addr, addr+size). */
bool mmio_bus_access(const struct mmio_bus *bus, uint64_t addr, bool is_write, uint8_t *data,
                     unsigned size);

#endif
