/*
 * The control protocol: JSON lines over a Unix stream socket.
 *
 * A request is one JSON object on one line:
 *     {"cmd": "status", "id": 7, "args": {...}}
 * "cmd" is required; "id" (any JSON value) is echoed back; "args" is an
 * optional object.  The reply is one line:
 *     {"id": 7, "ok": true, "result": {...}}
 *     {"id": 7, "ok": false, "error": {"code": "unknown-command", "message": "..."}}
 * Error codes are stable strings (CTL_ERR_*); messages are for humans.
 * Pure logic over strings, unit-tested; the socket side is server.h.
 */
#ifndef GW_CTL_PROTO_H
#define GW_CTL_PROTO_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

#define CTL_LINE_MAX 65536
#define CTL_CMD_MAX 64

#define CTL_ERR_BAD_JSON "bad-json"             /* not a JSON object */
#define CTL_ERR_BAD_REQUEST "bad-request"       /* JSON, but not a valid request */
#define CTL_ERR_UNKNOWN_COMMAND "unknown-command"
#define CTL_ERR_WRONG_STATE "wrong-state"       /* command not allowed in this state */
#define CTL_ERR_FAILED "failed"                 /* the command ran and failed */

struct ctl_request {
    char cmd[CTL_CMD_MAX];
    json_t *id;         /* borrowed from root; NULL if absent */
    json_t *args;       /* borrowed from root; an object, never NULL after parse */
    json_t *root;       /* owned */
};

/* Parses one line (without its newline).  On failure returns -EINVAL and
 * sets *error_code to CTL_ERR_BAD_JSON or CTL_ERR_BAD_REQUEST, with a
 * sentence in err; req->id is still set when the object had one, so the
 * error reply can echo it.  Always call ctl_request_uninit afterwards. */
int ctl_request_parse(const char *line, size_t len, struct ctl_request *req,
                      const char **error_code, struct gw_error *err);
void ctl_request_uninit(struct ctl_request *req);

/* Reply lines, newline-terminated, malloc'd (caller frees).  req may be
 * NULL (no id to echo).  ctl_reply_ok steals result (NULL = {}). */
char *ctl_reply_ok(const struct ctl_request *req, json_t *result);
char *ctl_reply_error(const struct ctl_request *req, const char *code, const char *message);

#endif
