/* VMM control-socket client (see client.h). */
#include "ctl/client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/proto.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events until deadline; 0 or -ETIMEDOUT/-errno. */
static int wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

static int send_all(int fd, const char *data, size_t len, long long deadline)
{
    while (len) {
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc)
            return rc;
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return -errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one line (without the newline) into a malloc'd string. */
static int read_line(int fd, char **line, long long deadline)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc) {
            free(buf);
            return rc;
        }
        if (len + 1 >= cap) {
            if (cap >= CTL_LINE_MAX * 4) {
                free(buf);
                return -EMSGSIZE;
            }
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                return -ENOMEM;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
        if (n == 0) {
            free(buf);
            return -ECONNRESET;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            free(buf);
            return -errno;
        }
        char *newline = memchr(buf + len, '\n', (size_t)n);
        len += (size_t)n;
        if (newline) {
            *newline = '\0';
            *line = buf;
            return 0;
        }
    }
}

static int connect_unix(const char *path, int *fd_out)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof addr.sun_path)
        return -ENAMETOOLONG;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

/* Decodes the reply line into call; 0, -EREMOTEIO (error reply) or -EPROTO. */
static int decode_reply(const char *line, struct ctl_call *call, struct gw_error *err)
{
    json_t *reply = json_loads(line, 0, NULL);
    json_t *ok = json_object_get(reply, "ok");
    int rc;
    if (json_is_true(ok)) {
        call->result = json_incref(json_object_get(reply, "result"));
        if (!call->result)
            call->result = json_object();
        rc = 0;
    } else if (json_is_false(ok)) {
        json_t *error = json_object_get(reply, "error");
        const char *code = json_string_value(json_object_get(error, "code"));
        const char *message = json_string_value(json_object_get(error, "message"));
        snprintf(call->error_code, sizeof call->error_code, "%s", code ? code : "failed");
        rc = gw_error_set(err, -EREMOTEIO, "%s", message ? message : "the VMM refused");
    } else {
        rc = gw_error_set(err, -EPROTO, "the VMM sent a reply that is not a control reply");
    }
    json_decref(reply);
    return rc;
}

int ctl_call(const char *path, const char *cmd, json_t *args, int timeout_ms,
             struct ctl_call *call, struct gw_error *err)
{
    memset(call, 0, sizeof *call);
    long long deadline = now_ms() + timeout_ms;
    int fd = -1;
    int rc = connect_unix(path, &fd);
    if (rc)
        return gw_error_set(err, rc, "cannot connect to %s: %s", path, strerror(-rc));

    json_t *request = json_pack("{s:s}", "cmd", cmd);
    if (args)
        json_object_set(request, "args", args);
    char *text = json_dumps(request, JSON_COMPACT);
    json_decref(request);
    char *line = NULL;
    size_t len = text ? strlen(text) : 0;
    if (!text) {
        rc = gw_error_set(err, -ENOMEM, "out of memory");
    } else {
        text[len] = '\n';      /* the line ends where the string's NUL was */
        rc = send_all(fd, text, len + 1, deadline);
        if (!rc)
            rc = read_line(fd, &line, deadline);
        if (rc)
            gw_error_set(err, rc, "%s to %s: %s", cmd, path,
                         rc == -ETIMEDOUT ? "no reply in time" : strerror(-rc));
        else
            rc = decode_reply(line, call, err);
    }
    free(text);
    free(line);
    close(fd);
    return rc;
}

void ctl_call_uninit(struct ctl_call *call)
{
    json_decref(call->result);
    call->result = NULL;
}
