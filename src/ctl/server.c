/* Unix-socket JSON-lines control server; see server.h. */
#include "ctl/server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"

#define CTL_MAX_CLIENTS 16

struct ctl_client {
    int fd;                     /* -1 when the slot is free */
    char *buf;                  /* CTL_LINE_MAX bytes */
    size_t len;
};

struct ctl_server {
    int listen_fd;
    int epoll_fd;
    char *path;
    ctl_handler_fn handler;
    void *opaque;
    struct ctl_client clients[CTL_MAX_CLIENTS];
};

void ctl_reply_set_error(struct ctl_reply *reply, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reply->message, sizeof reply->message, fmt, ap);
    va_end(ap);
    reply->error_code = code;
}

struct ctl_server *ctl_server_create(const char *path, ctl_handler_fn handler, void *opaque,
                                     struct gw_error *err)
{
    /* Bind under a temporary name and rename it into place once listening:
     * whoever waits for the path to appear can connect at once. */
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    char tmp_path[sizeof addr.sun_path];
    if (strlen(path) + 16 >= sizeof addr.sun_path) {
        gw_error_set(err, -ENAMETOOLONG, "control socket path %s is too long", path);
        return NULL;
    }
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp%d", path, (int)getpid());
    strcpy(addr.sun_path, tmp_path);

    struct ctl_server *server = calloc(1, sizeof *server);
    if (!server) {
        gw_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    server->handler = handler;
    server->opaque = opaque;
    server->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < CTL_MAX_CLIENTS; i++)
        server->clients[i].fd = -1;

    server->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    unlink(tmp_path);
    if (server->listen_fd < 0 || bind(server->listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(server->listen_fd, 8) < 0 || rename(tmp_path, path) < 0) {
        gw_error_set(err, -errno, "cannot listen on control socket %s: %s", path, strerror(errno));
        unlink(tmp_path);
        ctl_server_destroy(server);
        return NULL;
    }
    server->path = strdup(path);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, server->listen_fd, &ev);
    return server;
}

static void client_close(struct ctl_server *server, struct ctl_client *client)
{
    epoll_ctl(server->epoll_fd, EPOLL_CTL_DEL, client->fd, NULL);
    close(client->fd);
    free(client->buf);
    *client = (struct ctl_client){ .fd = -1 };
}

void ctl_server_destroy(struct ctl_server *server)
{
    if (!server)
        return;
    for (int i = 0; i < CTL_MAX_CLIENTS; i++)
        if (server->clients[i].fd >= 0)
            client_close(server, &server->clients[i]);
    if (server->listen_fd >= 0)
        close(server->listen_fd);
    if (server->epoll_fd >= 0)
        close(server->epoll_fd);
    if (server->path) {
        unlink(server->path);
        free(server->path);
    }
    free(server);
}

int ctl_server_fd(const struct ctl_server *server) { return server->epoll_fd; }

/* Replies are small; a blocking send keeps this simple.  A client that
 * stops reading only hurts itself (its socket buffer fills, we drop it). */
static void send_line(struct ctl_client *client, char *line)
{
    if (!line)
        return;
    size_t len = strlen(line), done = 0;
    while (done < len) {
        ssize_t n = send(client->fd, line + done, len - done, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        done += n;
    }
    free(line);
}

static void answer(struct ctl_server *server, struct ctl_client *client, const char *line,
                   size_t len)
{
    struct ctl_request req;
    const char *code;
    struct gw_error err = { 0 };
    if (ctl_request_parse(line, len, &req, &code, &err)) {
        send_line(client, ctl_reply_error(&req, code, err.msg));
    } else {
        struct ctl_reply reply = { 0 };
        server->handler(server->opaque, &req, &reply);
        if (reply.error_code) {
            json_decref(reply.result);
            send_line(client, ctl_reply_error(&req, reply.error_code, reply.message));
        } else {
            send_line(client, ctl_reply_ok(&req, reply.result));
        }
    }
    ctl_request_uninit(&req);
}

static void accept_clients(struct ctl_server *server)
{
    for (;;) {
        int fd = accept4(server->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        struct ctl_client *slot = NULL;
        for (int i = 0; i < CTL_MAX_CLIENTS && !slot; i++)
            if (server->clients[i].fd < 0)
                slot = &server->clients[i];
        char *buf = slot ? malloc(CTL_LINE_MAX) : NULL;
        if (!buf) {
            LOG_WARN("ctl", "refusing control client: %d clients already connected",
                     CTL_MAX_CLIENTS);
            close(fd);
            continue;
        }
        *slot = (struct ctl_client){ .fd = fd, .buf = buf };
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = slot };
        epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
    }
}

/* Reads what is there and answers every complete line. */
static void serve_client(struct ctl_server *server, struct ctl_client *client)
{
    ssize_t n = recv(client->fd, client->buf + client->len, CTL_LINE_MAX - client->len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        client_close(server, client);
        return;
    }
    if (n < 0)
        return;
    client->len += n;

    char *start = client->buf, *end = client->buf + client->len, *nl;
    while ((nl = memchr(start, '\n', end - start))) {
        answer(server, client, start, nl - start);
        if (client->fd < 0)
            return;
        start = nl + 1;
    }
    client->len = end - start;
    memmove(client->buf, start, client->len);
    if (client->len == CTL_LINE_MAX) {
        send_line(client, ctl_reply_error(NULL, CTL_ERR_BAD_REQUEST,
                                          "request line longer than 65536 bytes"));
        client_close(server, client);
    }
}

void ctl_server_dispatch(struct ctl_server *server)
{
    struct epoll_event events[CTL_MAX_CLIENTS + 1];
    int n = epoll_wait(server->epoll_fd, events, CTL_MAX_CLIENTS + 1, 0);
    for (int i = 0; i < n; i++) {
        struct ctl_client *client = events[i].data.ptr;
        if (!client)
            accept_clients(server);
        else if (client->fd >= 0)
            serve_client(server, client);
    }
}
