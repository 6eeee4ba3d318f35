/* Agent-to-agent requests over TCP (see peer.h). */
#include "agent/peer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl/http.h"

/* The errno that stands for a peer's error code (the inverse of api.c). */
static int errno_of_code(const char *code)
{
    static const struct { const char *code; int err; } map[] = {
        { "not-found", -ENOENT }, { "already-exists", -EEXIST }, { "wrong-state", -EBUSY },
        { "busy", -EAGAIN }, { "bad-request", -EINVAL }, { "bad-json", -EINVAL },
        { "unknown-host", -ENXIO },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i].code, code))
            return map[i].err;
    return -EIO;
}

int peer_request(struct agent *agent, const struct agent_host *host, const char *method,
                 const char *path, json_t *body, long timeout_ms, json_t **reply,
                 struct gw_error *err)
{
    char url[256];
    struct http_response resp;
    struct gw_error http_err = { 0 };
    snprintf(url, sizeof url, "http://%s%s", host->address, path);
    *reply = NULL;
    int rc = http_request(method, NULL, url, body, timeout_ms, &resp, &http_err);
    if (rc) {
        http_response_uninit(&resp);
        return gw_error_set(err, -EHOSTUNREACH, "the agent of %s (%s) does not answer: %s",
                            host->name, host->address, http_err.msg);
    }
    if (resp.status >= 200 && resp.status < 300) {
        *reply = json_incref(resp.json);
    } else {
        rc = gw_error_set(err, errno_of_code(http_error_code(&resp)), "%s: %s", host->name,
                          http_error_message(&resp));
    }
    (void)agent;
    http_response_uninit(&resp);
    return rc;
}
