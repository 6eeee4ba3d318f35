/*
 * A control server: accepts clients on a Unix stream socket and answers
 * each request line through a handler (protocol in proto.h).
 *
 * Single-threaded: everything happens in ctl_server_dispatch(), which the
 * owner calls when ctl_server_fd() is readable (it is an epoll fd, so the
 * owner can poll it together with its own fds).  Owns the socket, its
 * path and its clients.
 */
#ifndef GW_CTL_SERVER_H
#define GW_CTL_SERVER_H

#include <jansson.h>

#include "base/error.h"
#include "ctl/proto.h"

/* What a handler fills: either result (owned by the reply) or error_code
 * with a message. */
struct ctl_reply {
    json_t *result;
    const char *error_code;
    char message[256];
};

typedef void (*ctl_handler_fn)(void *opaque, const struct ctl_request *req,
                               struct ctl_reply *reply);

struct ctl_server;

/* Binds path (replacing a stale socket file).  NULL with err on failure. */
struct ctl_server *ctl_server_create(const char *path, ctl_handler_fn handler, void *opaque,
                                     struct gw_error *err);
void ctl_server_destroy(struct ctl_server *server);     /* unlinks path; NULL ok */

int ctl_server_fd(const struct ctl_server *server);
/* Accepts, reads and answers whatever is ready; never blocks. */
void ctl_server_dispatch(struct ctl_server *server);

/* Helper for handlers: sets an error reply.  Returns reply for chaining. */
void ctl_reply_set_error(struct ctl_reply *reply, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
