/*
 * Port I/O bus: routes a vCPU's IN/OUT exit to the device owning the port.
 *
 * Devices register before vCPUs start; afterwards the bus is read-only, so
 * vCPU threads dispatch without a lock.  Each device serialises its own
 * state.  Ports nobody owns read as all-ones and ignore writes (as on real
 * hardware), with a rate-limited log line.
 */
#ifndef GW_DEV_PIO_H
#define GW_DEV_PIO_H

#include <stdbool.h>
#include <stdint.h>

struct pio_device {
    const char *name;
    uint16_t base;
    uint16_t nports;
    void *opaque;
    /* size is 1, 2 or 4; data points at size bytes, little-endian. */
    void (*write)(void *opaque, uint16_t offset, const uint8_t *data, unsigned size);
    void (*read)(void *opaque, uint16_t offset, uint8_t *data, unsigned size);
};

#define PIO_BUS_MAX 16

struct pio_bus {
    const struct pio_device *devices[PIO_BUS_MAX];
    unsigned ndevices;
};

/* Adds dev (not owned, must outlive the bus).  Returns 0, -EEXIST if its
 * ports overlap another device's, -ENOSPC if the bus is full. */
int pio_bus_add(struct pio_bus *bus, const struct pio_device *dev);

/* Performs one access; returns false if no device owns port. */
bool pio_bus_access(const struct pio_bus *bus, uint16_t port, bool is_write, uint8_t *data,
                    unsigned size);

#endif
