/*
 * The exit device: a 32-bit write to its port ends the VM with that value
 * as the exit code (like QEMU's isa-debug-exit, without the shift).
 * The device only reports; what "ending" means belongs to its owner's
 * callback, called on the writing vCPU's thread.
 */
#ifndef GW_DEV_EXITDEV_H
#define GW_DEV_EXITDEV_H

#include "dev/pio.h"

struct exitdev {
    struct pio_device pio;
    void (*on_exit)(void *opaque, int code);
    void *opaque;
};

void exitdev_init(struct exitdev *dev, uint16_t port, void (*on_exit)(void *, int), void *opaque);

#endif
