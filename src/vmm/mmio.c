/*
 * The MMIO bus; see mmio.h.  A linear search over at most MMIO_BUS_MAX
 * windows: an MMIO exit already costs tens of microseconds here (KVM's
 * instruction emulator), so the lookup is not what matters.
 */
#include "vmm/mmio.h"

#include <errno.h>

int mmio_bus_add(struct mmio_bus *bus, const struct mmio_device *dev)
{
    if (dev->size == 0 || dev->base + dev->size < dev->base)
        return -EINVAL;
    if (bus->ndevices == MMIO_BUS_MAX)
        return -ENOSPC;
    for (unsigned i = 0; i < bus->ndevices; i++) {
        const struct mmio_device *o = bus->devices[i];
        if (dev->base < o->base + o->size && o->base < dev->base + dev->size)
            return -EEXIST;
    }
    bus->devices[bus->ndevices++] = dev;
    return 0;
}

bool mmio_bus_access(const struct mmio_bus *bus, uint64_t addr, bool is_write, uint8_t *data,
                     unsigned size)
{
    for (unsigned i = 0; i < bus->ndevices; i++) {
        const struct mmio_device *d = bus->devices[i];
        if (addr < d->base || addr - d->base >= d->size || size > d->size - (addr - d->base))
            continue;
        if (is_write) {
            if (d->write)
                d->write(d->opaque, addr - d->base, data, size);
        } else if (d->read) {
            d->read(d->opaque, addr - d->base, data, size);
        } else {
            for (unsigned b = 0; b < size; b++)
                data[b] = 0xff;
        }
        return true;
    }
    return false;
}
