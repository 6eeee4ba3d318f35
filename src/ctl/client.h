/*
 * A client for a VMM's control socket (protocol in proto.h): one request,
 * one reply, one short-lived connection per call.
 *
 * The agent uses it to drive its VMMs.  Blocking, with a deadline;
 * thread-safe (no shared state).
 */
#ifndef GW_CTL_CLIENT_H
#define GW_CTL_CLIENT_H

#include <jansson.h>

#include "base/error.h"

struct ctl_call {
    json_t *result;         /* on success: the reply's "result"; owned */
    char error_code[32];    /* on an error reply: its code ("wrong-state", ...) */
};

/*
 * Sends {"cmd": cmd, "args": args} (args borrowed, may be NULL) to the
 * socket at path and waits up to timeout_ms for the reply.  Returns 0 with
 * call->result set; -EREMOTEIO for an error reply (code in
 * call->error_code, message in err); or another negative errno when the
 * VMM cannot be reached (-ENOENT, -ECONNREFUSED: no VMM listens) or did
 * not answer in time (-ETIMEDOUT).  Call ctl_call_uninit() afterwards.
 */
int ctl_call(const char *path, const char *cmd, json_t *args, int timeout_ms,
             struct ctl_call *call, struct gw_error *err);
void ctl_call_uninit(struct ctl_call *call);

#endif
