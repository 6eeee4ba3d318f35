/*
 * A migration connection: records (proto.h) over one TCP socket.
 *
 * Sends are blocking writes of whole records; receives wait at most
 * timeout_ms for each record, check its length against
 * MIG_RECORD_MAX_BYTES before reading the payload, and hand the payload
 * out as an rbuf valid until the next receive.  Counts bytes both ways.
 * Owned by one thread at a time.
 */
#ifndef GW_MIG_CONN_H
#define GW_MIG_CONN_H

#include <stdint.h>

#include "base/error.h"
#include "wire/buf.h"

struct mig_conn {
    int fd;                     /* owned */
    uint8_t *in;                /* receive buffer, MIG_RECORD_MAX_BYTES */
    uint64_t bytes_sent, bytes_received;
};

/* "tcp:HOST:PORT" -> host, port.  Returns 0 or -EINVAL with err. */
int mig_uri_parse(const char *uri, char *host, size_t host_size, char *port, size_t port_size,
                  struct gw_error *err);

int mig_conn_connect(struct mig_conn *c, const char *uri, int timeout_ms, struct gw_error *err);
/* Binds and listens on uri; returns the listening fd or -errno with err. */
int mig_listen(const char *uri, struct gw_error *err);
/* Waits for one connection on listen_fd (then closes it). */
int mig_conn_accept(struct mig_conn *c, int listen_fd, struct gw_error *err);
void mig_conn_close(struct mig_conn *c);

int mig_conn_send(struct mig_conn *c, uint16_t type, const struct wbuf *payload,
                  struct gw_error *err);
/* Receives one record.  -ETIMEDOUT, -ECONNRESET (peer closed) or -EPROTO
 * (oversized) with err. */
int mig_conn_recv(struct mig_conn *c, uint16_t *type, struct rbuf *payload, int timeout_ms,
                  struct gw_error *err);

#endif
