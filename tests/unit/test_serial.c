/*
 * Unit tests for the serial console (dev/serial.h), the transmit side of a
 * 16550 UART.  The device sits on a pio bus and writes to a pipe: bytes
 * the guest sends to the transmit register are gathered into lines and
 * written out on '\n' (or when the line buffer fills, or at uninit), the
 * line status register always reports an empty transmitter, and while the
 * divisor latch is selected writes to offset 0 are not output.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "dev/pio.h"
#include "dev/serial.h"

#define TEST_PORT 0x3f8
#define UART_THR 0
#define UART_IER 1
#define UART_LCR 3
#define UART_LSR 5

struct serial_fixture {
    struct serial serial;
    struct pio_bus bus;
    int fds[2];             /* fds[0]: non-blocking read end; fds[1]: the device's out_fd */
    bool uninit_done;
};

static int setup_with(void **state, bool seqpacket)
{
    struct serial_fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    int rc = seqpacket ? socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fx->fds) : pipe(fx->fds);
    if (rc < 0 || fcntl(fx->fds[0], F_SETFL, O_NONBLOCK) < 0) {
        free(fx);
        return -1;
    }
    serial_init(&fx->serial, TEST_PORT, fx->fds[1]);
    if (pio_bus_add(&fx->bus, &fx->serial.pio)) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int setup_pipe(void **state)
{
    return setup_with(state, false);
}

static int setup_seqpacket(void **state)
{
    return setup_with(state, true);
}

static int teardown(void **state)
{
    struct serial_fixture *fx = *state;
    if (!fx->uninit_done)
        serial_uninit(&fx->serial);
    close(fx->fds[0]);
    close(fx->fds[1]);
    free(fx);
    return 0;
}

static void uart_write(struct serial_fixture *fx, uint16_t offset, uint8_t value)
{
    assert_true(pio_bus_access(&fx->bus, TEST_PORT + offset, true, &value, 1));
}

static uint8_t uart_read(struct serial_fixture *fx, uint16_t offset)
{
    uint8_t value = 0xee;
    assert_true(pio_bus_access(&fx->bus, TEST_PORT + offset, false, &value, 1));
    return value;
}

static void guest_puts(struct serial_fixture *fx, const char *text)
{
    for (; *text; text++)
        uart_write(fx, UART_THR, (uint8_t)*text);
}

/* Reads what is waiting on the output (one message for SOCK_SEQPACKET),
 * NUL-terminated; returns its length, 0 if nothing is waiting. */
static size_t read_output(struct serial_fixture *fx, char *buf, size_t size)
{
    ssize_t n = read(fx->fds[0], buf, size - 1);
    if (n < 0) {
        assert_int_equal(errno, EAGAIN);
        n = 0;
    }
    buf[n] = '\0';
    return (size_t)n;
}

static void test_serial_partial_line_not_written(void **state)
{
    struct serial_fixture *fx = *state;
    char buf[64];
    guest_puts(fx, "hello");
    assert_int_equal(read_output(fx, buf, sizeof buf), 0);
}

static void test_serial_line_written_on_newline(void **state)
{
    struct serial_fixture *fx = *state;
    char buf[64];
    guest_puts(fx, "hello");
    guest_puts(fx, "\n");
    assert_int_equal(read_output(fx, buf, sizeof buf), 6);
    assert_string_equal(buf, "hello\n");
}

static void test_serial_each_line_is_one_write(void **state)
{
    struct serial_fixture *fx = *state;
    char buf[64];
    guest_puts(fx, "first line\nsecond\n\n");
    assert_int_equal(read_output(fx, buf, sizeof buf), 11);
    assert_string_equal(buf, "first line\n");
    assert_int_equal(read_output(fx, buf, sizeof buf), 7);
    assert_string_equal(buf, "second\n");
    assert_int_equal(read_output(fx, buf, sizeof buf), 1);
    assert_string_equal(buf, "\n");
    assert_int_equal(read_output(fx, buf, sizeof buf), 0);
}

static void test_serial_full_line_buffer_flushed(void **state)
{
    struct serial_fixture *fx = *state;
    char buf[SERIAL_LINE_MAX + 16];
    for (unsigned i = 0; i < SERIAL_LINE_MAX; i++)
        uart_write(fx, UART_THR, 'a');
    assert_int_equal(read_output(fx, buf, sizeof buf), SERIAL_LINE_MAX);
    for (unsigned i = 0; i < SERIAL_LINE_MAX; i++)
        assert_int_equal(buf[i], 'a');
    guest_puts(fx, "b\n");
    assert_int_equal(read_output(fx, buf, sizeof buf), 2);
    assert_string_equal(buf, "b\n");
}

static void test_serial_lsr_reports_transmitter_empty(void **state)
{
    struct serial_fixture *fx = *state;
    assert_int_equal(uart_read(fx, UART_LSR), 0x60);
    guest_puts(fx, "x");
    assert_int_equal(uart_read(fx, UART_LSR), 0x60);
}

static void test_serial_lcr_reads_back(void **state)
{
    struct serial_fixture *fx = *state;
    assert_int_equal(uart_read(fx, UART_LCR), 0);
    uart_write(fx, UART_LCR, 0x03);
    assert_int_equal(uart_read(fx, UART_LCR), 0x03);
}

static void test_serial_other_registers_read_zero(void **state)
{
    struct serial_fixture *fx = *state;
    assert_int_equal(uart_read(fx, UART_THR), 0);
    assert_int_equal(uart_read(fx, UART_IER), 0);
    assert_int_equal(uart_read(fx, 7), 0);
}

static void test_serial_dlab_write_not_output(void **state)
{
    struct serial_fixture *fx = *state;
    char buf[64];
    uart_write(fx, UART_LCR, 0x80);     /* DLAB on: offsets 0/1 are the divisor */
    uart_write(fx, UART_THR, 0x01);
    uart_write(fx, UART_THR, '\n');
    uart_write(fx, UART_IER, 0x00);
    assert_int_equal(read_output(fx, buf, sizeof buf), 0);

    uart_write(fx, UART_LCR, 0x03);     /* DLAB off, 8N1 */
    guest_puts(fx, "ok\n");
    assert_int_equal(read_output(fx, buf, sizeof buf), 3);
    assert_string_equal(buf, "ok\n");
}

static void test_serial_other_register_writes_not_output(void **state)
{
    struct serial_fixture *fx = *state;
    char buf[64];
    uart_write(fx, UART_IER, 'i');
    uart_write(fx, 2, 'f');             /* FCR */
    uart_write(fx, 4, 'm');             /* MCR */
    uart_write(fx, 7, 's');             /* scratch */
    guest_puts(fx, "\n");
    assert_int_equal(read_output(fx, buf, sizeof buf), 1);
    assert_string_equal(buf, "\n");
}

static void test_serial_uninit_flushes_partial_line(void **state)
{
    struct serial_fixture *fx = *state;
    char buf[64];
    guest_puts(fx, "no newline");
    assert_int_equal(read_output(fx, buf, sizeof buf), 0);
    serial_uninit(&fx->serial);
    fx->uninit_done = true;
    assert_int_equal(read_output(fx, buf, sizeof buf), 10);
    assert_string_equal(buf, "no newline");
}

static void test_serial_uninit_without_partial_line_writes_nothing(void **state)
{
    struct serial_fixture *fx = *state;
    char buf[64];
    guest_puts(fx, "done\n");
    assert_int_equal(read_output(fx, buf, sizeof buf), 5);
    serial_uninit(&fx->serial);
    fx->uninit_done = true;
    assert_int_equal(read_output(fx, buf, sizeof buf), 0);
}

#define PIPE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_pipe, teardown)
#define PACKET_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_seqpacket, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        PIPE_TEST(test_serial_partial_line_not_written),
        PIPE_TEST(test_serial_line_written_on_newline),
        PACKET_TEST(test_serial_each_line_is_one_write),
        PIPE_TEST(test_serial_full_line_buffer_flushed),
        PIPE_TEST(test_serial_lsr_reports_transmitter_empty),
        PIPE_TEST(test_serial_lcr_reads_back),
        PIPE_TEST(test_serial_other_registers_read_zero),
        PIPE_TEST(test_serial_dlab_write_not_output),
        PIPE_TEST(test_serial_other_register_writes_not_output),
        PIPE_TEST(test_serial_uninit_flushes_partial_line),
        PIPE_TEST(test_serial_uninit_without_partial_line_writes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
