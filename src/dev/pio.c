/* Port I/O dispatch; see pio.h. */
#include "dev/pio.h"

#include <errno.h>
#include <string.h>

static bool owns(const struct pio_device *dev, uint16_t port)
{
    return port >= dev->base && port - dev->base < dev->nports;
}

int pio_bus_add(struct pio_bus *bus, const struct pio_device *dev)
{
    if (bus->ndevices == PIO_BUS_MAX)
        return -ENOSPC;
    for (unsigned i = 0; i < bus->ndevices; i++) {
        const struct pio_device *other = bus->devices[i];
        if (dev->base < other->base + other->nports && other->base < dev->base + dev->nports)
            return -EEXIST;
    }
    bus->devices[bus->ndevices++] = dev;
    return 0;
}

bool pio_bus_access(const struct pio_bus *bus, uint16_t port, bool is_write, uint8_t *data,
                    unsigned size)
{
    for (unsigned i = 0; i < bus->ndevices; i++) {
        const struct pio_device *dev = bus->devices[i];
        if (!owns(dev, port))
            continue;
        uint16_t offset = port - dev->base;
        if (is_write) {
            if (dev->write)
                dev->write(dev->opaque, offset, data, size);
        } else if (dev->read) {
            dev->read(dev->opaque, offset, data, size);
        } else {
            memset(data, 0xff, size);
        }
        return true;
    }
    if (!is_write)
        memset(data, 0xff, size);
    return false;
}
