/* The guest's way to end the VM with an exit code; see exitdev.h. */
#include "dev/exitdev.h"

#include <string.h>

static void exitdev_write(void *opaque, uint16_t offset, const uint8_t *data, unsigned size)
{
    struct exitdev *dev = opaque;
    uint32_t code = 0;
    (void)offset;
    memcpy(&code, data, size < sizeof code ? size : sizeof code);
    dev->on_exit(dev->opaque, (int)(code & 0xff));
}

void exitdev_init(struct exitdev *dev, uint16_t port, void (*on_exit)(void *, int), void *opaque)
{
    *dev = (struct exitdev){
        .pio = { .name = "exit", .base = port, .nports = 4, .opaque = dev, .write = exitdev_write },
        .on_exit = on_exit,
        .opaque = opaque,
    };
}
