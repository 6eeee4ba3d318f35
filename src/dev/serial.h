/*
 * Serial console: the transmit side of a 16550 UART at port 0x3f8.
 *
 * The guest writes bytes to the transmit register; the device gathers them
 * into lines and writes each line to its output fd (a file or stdout), so
 * that lines from several vCPUs do not interleave mid-line.  The line
 * status register always reports "transmitter empty": the guest never
 * waits.  There is no receive side yet.  Thread-safe (one mutex guards the
 * line buffer and the output).
 */
#ifndef GW_DEV_SERIAL_H
#define GW_DEV_SERIAL_H

#include <pthread.h>
#include <stddef.h>

#include "dev/pio.h"

#define SERIAL_LINE_MAX 512

struct serial {
    struct pio_device pio;
    int out_fd;                 /* not owned */
    pthread_mutex_t lock;       /* guards line, len, lcr */
    char line[SERIAL_LINE_MAX];
    size_t len;
    uint8_t lcr;                /* line control; bit 7 selects the divisor latch */
};

void serial_init(struct serial *serial, uint16_t base, int out_fd);
/* Writes out a partial last line. */
void serial_uninit(struct serial *serial);

#endif
