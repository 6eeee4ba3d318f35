/* Records over TCP for migrations; see conn.h. */
#include "mig/conn.h"

#include <endian.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "mig/proto.h"

int mig_uri_parse(const char *uri, char *host, size_t host_size, char *port, size_t port_size,
                  struct gw_error *err)
{
    if (strncmp(uri, "tcp:", 4))
        return gw_error_set(err, -EINVAL, "migration URI '%s' must look like tcp:HOST:PORT", uri);
    const char *rest = uri + 4, *colon = strrchr(rest, ':');
    if (!colon || !colon[1])
        return gw_error_set(err, -EINVAL, "migration URI '%s' must look like tcp:HOST:PORT", uri);
    size_t hlen = colon - rest;
    if (hlen >= 2 && rest[0] == '[' && colon[-1] == ']') {     /* tcp:[::1]:4444 */
        rest++;
        hlen -= 2;
    }
    if (hlen == 0 || memchr(rest, '[', hlen) || memchr(rest, ']', hlen))
        return gw_error_set(err, -EINVAL, "migration URI '%s' must look like tcp:HOST:PORT", uri);
    long p = 0;
    const char *d = colon + 1;
    for (; *d >= '0' && *d <= '9' && p <= 65535; d++)
        p = p * 10 + (*d - '0');
    if (*d || p <= 0 || p > 65535)
        return gw_error_set(err, -EINVAL, "migration URI '%s': port must be 1..65535", uri);
    if (hlen >= host_size || strlen(colon + 1) >= port_size)
        return gw_error_set(err, -EINVAL, "migration URI '%s' is too long", uri);
    memcpy(host, rest, hlen);
    host[hlen] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

static int resolve(const char *uri, int passive, struct addrinfo **res, struct gw_error *err)
{
    char host[256], port[16];
    int rc = mig_uri_parse(uri, host, sizeof host, port, sizeof port, err);
    if (rc)
        return rc;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0 };
    int gai = getaddrinfo(host, port, &hints, res);
    if (gai)
        return gw_error_set(err, -EINVAL, "cannot resolve %s: %s", uri, gai_strerror(gai));
    return 0;
}

static void tune_socket(int fd)
{
    int one = 1, bufsize = 8 << 20;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
}

static int conn_init(struct mig_conn *c, int fd, struct gw_error *err)
{
    *c = (struct mig_conn){ .fd = fd, .in = malloc(MIG_RECORD_MAX_BYTES) };
    if (!c->in) {
        close(fd);
        c->fd = -1;
        return gw_error_set(err, -ENOMEM, "out of memory for the receive buffer");
    }
    tune_socket(fd);
    return 0;
}

int mig_conn_connect(struct mig_conn *c, const char *uri, int timeout_ms, struct gw_error *err)
{
    struct addrinfo *res;
    int rc = resolve(uri, 0, &res, err);
    if (rc)
        return rc;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        rc = gw_error_set(err, -errno, "cannot connect to %s: %s", uri, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return rc;
    }
    freeaddrinfo(res);
    /* Sends may block on a slow or dead peer: give up after a while so a
     * lost destination fails the migration instead of hanging it. */
    tv = (struct timeval){ .tv_sec = 30 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return conn_init(c, fd, err);
}

int mig_listen(const char *uri, struct gw_error *err)
{
    struct addrinfo *res;
    int rc = resolve(uri, 1, &res, err);
    if (rc)
        return rc;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1) < 0) {
        rc = gw_error_set(err, -errno, "cannot listen on %s: %s", uri, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return rc;
    }
    freeaddrinfo(res);
    return fd;
}

int mig_conn_accept(struct mig_conn *c, int listen_fd, struct gw_error *err)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    close(listen_fd);
    if (fd < 0)
        return gw_error_set(err, -errno, "accept: %s", strerror(errno));
    return conn_init(c, fd, err);
}

void mig_conn_close(struct mig_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->in);
    *c = (struct mig_conn){ .fd = -1 };
}

int mig_conn_send(struct mig_conn *c, uint16_t type, const struct wbuf *payload,
                  struct gw_error *err)
{
    if (payload && payload->err)
        return gw_error_set(err, payload->err, "cannot build %s record", mig_record_name(type));
    uint32_t len = payload ? (uint32_t)payload->len : 0;
    uint8_t header[MIG_RECORD_HEADER_BYTES];
    uint16_t t = htole16(type), flags = 0;
    uint32_t l = htole32(len);
    memcpy(header, &t, 2);
    memcpy(header + 2, &flags, 2);
    memcpy(header + 4, &l, 4);

    struct iovec iov[2] = { { header, sizeof header }, { payload ? payload->data : NULL, len } };
    size_t total = sizeof header + len, done = 0;
    while (done < total) {
        ssize_t n = writev(c->fd, iov, len ? 2 : 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return gw_error_set(err, n < 0 ? -errno : -ECONNRESET,
                                "lost the migration connection while sending %s: %s",
                                mig_record_name(type), n < 0 ? strerror(errno) : "closed");
        done += n;
        for (int i = 0; i < 2 && n > 0; i++) {
            size_t step = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + step;
            iov[i].iov_len -= step;
            n -= step;
        }
    }
    c->bytes_sent += total;
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly n bytes within timeout_ms in all (a peer that trickles a
 * byte now and then cannot hold us forever). */
static int read_exact(struct mig_conn *c, uint8_t *buf, size_t n, int timeout_ms,
                      struct gw_error *err)
{
    size_t done = 0;
    int64_t deadline = mono_ms() + timeout_ms;
    while (done < n) {
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int64_t left = deadline - mono_ms();
        int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0)
            return gw_error_set(err, -ETIMEDOUT, "the peer sent nothing for %d ms", timeout_ms);
        ssize_t got = recv(c->fd, buf + done, n - done, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return gw_error_set(err, -ECONNRESET, "the peer closed the migration connection%s%s",
                                got < 0 ? ": " : "", got < 0 ? strerror(errno) : "");
        done += got;
    }
    c->bytes_received += n;
    return 0;
}

int mig_conn_recv(struct mig_conn *c, uint16_t *type, struct rbuf *payload, int timeout_ms,
                  struct gw_error *err)
{
    uint8_t header[MIG_RECORD_HEADER_BYTES];
    int rc = read_exact(c, header, sizeof header, timeout_ms, err);
    if (rc)
        return rc;
    uint16_t t;
    uint32_t len;
    memcpy(&t, header, 2);
    memcpy(&len, header + 4, 4);
    *type = le16toh(t);
    len = le32toh(len);
    if (len > MIG_RECORD_MAX_BYTES)
        return gw_error_set(err, -EPROTO, "%s record of %u bytes exceeds the %u-byte limit",
                            mig_record_name(*type), len, MIG_RECORD_MAX_BYTES);
    rc = read_exact(c, c->in, len, timeout_ms, err);
    if (rc)
        return rc;
    rbuf_init(payload, c->in, len);
    return 0;
}
