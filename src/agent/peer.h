/*
 * Requests from one agent to another (the peer API in docs/agent-api.md).
 * Blocking, safe from any thread, never called with agent.lock held.
 */
#ifndef GW_AGENT_PEER_H
#define GW_AGENT_PEER_H

#include <jansson.h>

#include "agent/agent.h"

/*
 * Sends METHOD path (e.g. "/v1/peer/prepare") to host's agent with body
 * (borrowed, may be NULL).  Returns 0 and the reply's JSON in *reply
 * (owned, may be NULL) for a 2xx answer.  Otherwise a negative errno with
 * a sentence in err: -EHOSTUNREACH if the agent did not answer, or the
 * errno matching the peer's error code (-EEXIST, -EAGAIN, -EBUSY,
 * -ENOENT, -EIO for anything else).
 */
int peer_request(struct agent *agent, const struct agent_host *host, const char *method,
                 const char *path, json_t *body, long timeout_ms, json_t **reply,
                 struct gw_error *err);

#endif
