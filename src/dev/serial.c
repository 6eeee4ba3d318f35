/* Serial console transmit path; see serial.h. */
#include "dev/serial.h"

#include <unistd.h>

#define UART_THR 0      /* transmit holding register (DLAB = 0) */
#define UART_LCR 3
#define UART_LSR 5
#define UART_LCR_DLAB 0x80
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

static void flush_line(struct serial *serial)
{
    size_t done = 0;
    while (done < serial->len) {
        ssize_t n = write(serial->out_fd, serial->line + done, serial->len - done);
        if (n <= 0)
            break;  /* console output is best effort: never stall a vCPU */
        done += n;
    }
    serial->len = 0;
}

static void serial_write(void *opaque, uint16_t offset, const uint8_t *data, unsigned size)
{
    struct serial *serial = opaque;
    (void)size;
    pthread_mutex_lock(&serial->lock);
    if (offset == UART_LCR) {
        serial->lcr = data[0];
    } else if (offset == UART_THR && !(serial->lcr & UART_LCR_DLAB)) {
        serial->line[serial->len++] = (char)data[0];
        if (data[0] == '\n' || serial->len == SERIAL_LINE_MAX)
            flush_line(serial);
    }
    pthread_mutex_unlock(&serial->lock);
}

static void serial_read(void *opaque, uint16_t offset, uint8_t *data, unsigned size)
{
    struct serial *serial = opaque;
    for (unsigned i = 0; i < size; i++)
        data[i] = 0;
    if (offset == UART_LSR) {
        data[0] = UART_LSR_THRE | UART_LSR_TEMT;
    } else if (offset == UART_LCR) {
        pthread_mutex_lock(&serial->lock);
        data[0] = serial->lcr;
        pthread_mutex_unlock(&serial->lock);
    }
}

void serial_init(struct serial *serial, uint16_t base, int out_fd)
{
    *serial = (struct serial){
        .pio = { .name = "serial", .base = base, .nports = 8, .opaque = serial,
                 .write = serial_write, .read = serial_read },
        .out_fd = out_fd,
    };
    pthread_mutex_init(&serial->lock, NULL);
}

void serial_uninit(struct serial *serial)
{
    pthread_mutex_lock(&serial->lock);
    if (serial->len)
        flush_line(serial);
    pthread_mutex_unlock(&serial->lock);
    pthread_mutex_destroy(&serial->lock);
}
