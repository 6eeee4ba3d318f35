/*
 * The HTTP side of the API: listeners, request bodies, routing, and the
 * one error shape.  Handlers (api_routes.c) see a parsed request and fill
 * a reply; they never touch libmicrohttpd.
 */
#include "agent/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/api_routes.h"
#include "base/log.h"

#define BODY_MAX (1u << 20)

struct api_server {
    struct agent *agent;
    struct MHD_Daemon *unix_daemon;
    struct MHD_Daemon *tcp_daemon;
    char socket_path[AGENT_PATH_MAX];
};

/* One request's body as it arrives. */
struct pending {
    char *body;
    size_t len;
    bool too_long;
};

static const struct { const char *code; unsigned status; } error_status[] = {
    { "bad-json", 400 }, { "bad-request", 400 }, { "not-found", 404 }, { "unknown-host", 404 },
    { "already-exists", 409 }, { "wrong-state", 409 }, { "busy", 429 },
    { "peer-unreachable", 502 }, { "failed", 500 },
};

void api_reply_error(struct api_reply *reply, const char *code, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    reply->status = 500;
    for (size_t i = 0; i < sizeof error_status / sizeof error_status[0]; i++)
        if (!strcmp(error_status[i].code, code))
            reply->status = error_status[i].status;
    json_decref(reply->json);
    reply->json = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}

void api_reply_gw_error(struct api_reply *reply, const struct gw_error *err)
{
    const char *code;
    switch (err->code) {
    case -ENOENT: code = "not-found"; break;
    case -ENXIO: code = "unknown-host"; break;
    case -EEXIST: code = "already-exists"; break;
    case -EBUSY: code = "wrong-state"; break;
    case -EAGAIN: code = "busy"; break;
    case -EINVAL: code = "bad-request"; break;
    case -EHOSTUNREACH: code = "peer-unreachable"; break;
    default: code = "failed"; break;
    }
    api_reply_error(reply, code, "%s", err->msg);
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct api_reply *reply)
{
    char *text;
    const char *type;
    if (reply->text) {
        text = reply->text;
        reply->text = NULL;
        type = "text/plain; charset=utf-8";
    } else {
        if (!reply->json)
            reply->json = json_object();
        text = json_dumps(reply->json, JSON_COMPACT);
        if (text) {                     /* one object per line, like curl users expect */
            size_t len = strlen(text);
            char *line = realloc(text, len + 2);
            if (line) {
                line[len] = '\n';
                line[len + 1] = '\0';
                text = line;
            }
        }
        type = "application/json";
    }
    json_decref(reply->json);
    reply->json = NULL;
    if (!text)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(conn, reply->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct api_server *server = cls;
    (void)version;
    struct pending *p = *con_cls;
    if (!p) {                           /* the headers: set up for the body */
        p = calloc(1, sizeof *p);
        if (!p)
            return MHD_NO;
        *con_cls = p;
        return MHD_YES;
    }
    if (*upload_data_size) {            /* a piece of the body */
        if (p->len + *upload_data_size > BODY_MAX) {
            p->too_long = true;
        } else {
            char *grown = realloc(p->body, p->len + *upload_data_size + 1);
            if (!grown)
                return MHD_NO;
            memcpy(grown + p->len, upload_data, *upload_data_size);
            p->body = grown;
            p->len += *upload_data_size;
            p->body[p->len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }

    struct api_reply reply = { .status = 200 };
    struct api_request req = { .method = method, .path = url, .conn = conn };
    if (p->too_long) {
        api_reply_error(&reply, "bad-request", "request body longer than %u bytes", BODY_MAX);
    } else if (p->len) {
        json_error_t jerr;
        req.body = json_loadb(p->body, p->len, 0, &jerr);
        if (!json_is_object(req.body))
            api_reply_error(&reply, "bad-json", "the body is not a JSON object%s%s",
                            req.body ? "" : ": ", req.body ? "" : jerr.text);
    }
    if (!reply.json)
        api_route(server->agent, &req, &reply);
    LOG_DEBUG("api", "%s %s -> %u", method, url, reply.status);
    json_decref(req.body);
    return send_reply(conn, &reply);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    struct pending *p = *con_cls;
    if (p) {
        free(p->body);
        free(p);
        *con_cls = NULL;
    }
}

const char *api_query(const struct api_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

static int listen_unix(const char *path, struct gw_error *err)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    char tmp[sizeof addr.sun_path];
    if (snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return gw_error_set(err, -ENAMETOOLONG, "api_socket %s: path too long", path);
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", tmp);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(tmp);
    /* Bind to a temporary name, then rename over the final one, so a
     * client never finds a socket file that nobody listens on. */
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 64) < 0 ||
        chmod(tmp, 0660) < 0 || rename(tmp, path) < 0) {
        int rc = gw_error_set(err, -errno, "cannot listen on %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return rc;
    }
    return fd;
}

static int listen_tcp(const char *address, struct gw_error *err)
{
    char host[AGENT_ADDR_MAX];
    uint16_t port;
    struct sockaddr_in addr = { .sin_family = AF_INET };
    if (agent_split_address(address, host, &port) || inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return gw_error_set(err, -EINVAL, "peer_listen %s: not IPv4:PORT", address);
    addr.sin_port = htons(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 64) < 0) {
        int rc = gw_error_set(err, -errno, "cannot listen on %s: %s", address, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    return fd;
}

static struct MHD_Daemon *serve(struct api_server *server, int fd)
{
    return MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                            MHD_USE_ERROR_LOG,
                            0, NULL, NULL, on_request, server,
                            MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                            MHD_OPTION_END);
}

struct api_server *api_server_start(struct agent *agent, struct gw_error *err)
{
    struct api_server *server = calloc(1, sizeof *server);
    if (!server) {
        gw_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    server->agent = agent;
    snprintf(server->socket_path, sizeof server->socket_path, "%s", agent->config.api_socket);
    int tcp_fd = listen_tcp(agent->config.peer_listen, err);
    if (tcp_fd < 0) {
        free(server);
        return NULL;
    }
    server->tcp_daemon = serve(server, tcp_fd);
    if (!server->tcp_daemon) {
        close(tcp_fd);
        gw_error_set(err, -EIO, "cannot serve HTTP on %s", agent->config.peer_listen);
        api_server_stop(server);
        return NULL;
    }
    int unix_fd = listen_unix(server->socket_path, err);
    if (unix_fd < 0) {
        server->socket_path[0] = '\0';      /* not ours to unlink */
        api_server_stop(server);
        return NULL;
    }
    server->unix_daemon = serve(server, unix_fd);
    if (!server->unix_daemon) {
        close(unix_fd);
        gw_error_set(err, -EIO, "cannot serve HTTP on %s", server->socket_path);
        api_server_stop(server);
        return NULL;
    }
    return server;
}

void api_server_stop(struct api_server *server)
{
    if (!server)
        return;
    if (server->socket_path[0])
        unlink(server->socket_path);
    if (server->unix_daemon)
        MHD_stop_daemon(server->unix_daemon);
    if (server->tcp_daemon)
        MHD_stop_daemon(server->tcp_daemon);
    free(server);
}
